"""One error hierarchy for everything gaitdir raises on purpose."""

from __future__ import annotations

from pathlib import Path


class GaitdirError(Exception):
    """Root of gaitdir's errors; the CLI turns these into a message and a non-zero exit."""


class RecordingError(GaitdirError):
    """A recording cannot be read: names the file and, where known, the line (1-based) and column."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class UnknownFormatError(RecordingError):
    """The file matches none of the formats gaitdir reads."""


class ModelError(GaitdirError):
    """A model file is missing, unverified, or does not fit the pipeline."""


class CalibrationError(GaitdirError):
    """A calibration walk gives no clear answer (too few steps, disagreeing steps, turning...)."""


class DeviceError(GaitdirError):
    """A sensor cannot be found, is not supported, or misbehaved beyond recovery."""


class DatasetError(GaitdirError):
    """A dataset download or check failed."""


class HistoryError(GaitdirError):
    """The session history cannot be opened, read or written (locked, read-only, newer, not a history)."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(message)
