"""Sanity checks every reader applies to what it parsed, and the file-level checks before parsing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from gaitdir.errors import RecordingError
from gaitdir.recordings._recording import Recording

#: Standard gravity (m/s² per g).
STANDARD_GRAVITY_MPS2 = 9.80665

# Bounds on the median magnitude of acceleration-with-gravity that betray a unit mistake: a body
# wearing a sensor averages ~1 g over any stretch of walking or standing.
_LOOKS_LIKE_G = (0.5, 2.0)
_LOOKS_LIKE_MILLI_G = (500.0, 2000.0)
# The unit check needs a robust median, not every sample of a day-long file.
_UNIT_CHECK_SAMPLES = 200_000
# A median time between samples above this (s), i.e. sampling below 1 Hz, is no IMU stream in seconds.
_MAX_SAMPLE_INTERVAL_S = 1.0
# Which unit a time column probably is in, by its median step between samples (for a 1 Hz-1 kHz sensor).
_TIME_UNITS = ((1e3, "milliseconds", 1e3), (1e6, "microseconds", 1e6), (np.inf, "nanoseconds", 1e9))


def all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite, usually in one summing pass (no temporary array).

    A NaN or an infinity anywhere makes the sum NaN or infinite; only then (or when large finite values
    overflow the sum) is each value tested. Readers check parsed columns with it, and the step detector
    each update's samples.
    """
    return bool(np.isfinite(np.add.reduce(values, axis=None))) or bool(np.isfinite(values).all())


def check_file(path: Path) -> int:
    """Fail early and clearly on a path that is not a readable, non-empty file.

    Returns
    -------
    int
        The file size in bytes.
    """
    if not path.exists():
        raise RecordingError("no such file", path=path)
    if path.is_dir():
        raise RecordingError("is a directory, not a recording file", path=path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise RecordingError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    if size == 0 or not head.strip():
        raise RecordingError("the file is empty", path=path)
    return size


def check_recording(
    recording: Recording, path: Path, *, unit_hint: str, time_column: str | None = None
) -> Recording:
    """Checks common to all formats; returns the recording unchanged when it passes.

    Parameters
    ----------
    recording : Recording
        What a reader produced.
    path : Path
        The file (for messages).
    unit_hint : str
        How to fix a unit mistake in this format (appended to the g/mg message).
    time_column : str, optional
        The file's column the times were read from as seconds, named when they are plainly in
        another unit.
    """
    n = recording.n_samples
    if n == 0:
        raise RecordingError("no samples: the file has a header but no data rows", path=path)
    if n < 2:
        raise RecordingError(f"only {n} sample; a recording needs at least 2", path=path)
    if recording.acc_mps2.shape != (n, 3):
        raise RecordingError(
            f"acceleration has shape {recording.acc_mps2.shape}, expected ({n}, 3)", path=path
        )
    _check_time_unit(recording.time_s, path, time_column)
    if not recording.gravity_removed:
        step = max(1, n // _UNIT_CHECK_SAMPLES)
        sample = recording.acc_mps2[::step]
        median = float(np.median(np.sqrt(np.einsum("ij,ij->i", sample, sample))))
        if _LOOKS_LIKE_G[0] < median < _LOOKS_LIKE_G[1]:
            raise RecordingError(
                f"acceleration looks like it is in g, not m/s² (median magnitude {median:.2f}; "
                f"gravity alone is {STANDARD_GRAVITY_MPS2} m/s²). {unit_hint}",
                path=path,
            )
        if _LOOKS_LIKE_MILLI_G[0] < median < _LOOKS_LIKE_MILLI_G[1]:
            raise RecordingError(
                f"acceleration looks like it is in milli-g, not m/s² (median magnitude {median:.0f}). "
                f"{unit_hint}",
                path=path,
            )
    return recording


def _check_time_unit(time_s: np.ndarray, path: Path, column: str | None) -> None:
    """Refuse times that are plainly not seconds: a median step between samples over a second.

    A recording exported in milliseconds under a seconds column (0, 10, 20, ...) would otherwise be
    read as one sample every 10 s, in which no step can be found, without a word about why.
    """
    head = np.asarray(time_s[: _UNIT_CHECK_SAMPLES + 1], dtype=float)
    if head.size < 2:
        return
    interval = float(np.median(np.diff(head)))
    if not interval > _MAX_SAMPLE_INTERVAL_S:
        return
    unit, per_second = next((name, scale) for limit, name, scale in _TIME_UNITS if interval <= limit)
    raise RecordingError(
        f"time looks like it is in {unit}, not seconds: the median step between samples is "
        f"{interval:g}, which in seconds would be one sample every {interval:g} s; in {unit} it is "
        f"{per_second / interval:g} Hz. Write the times in seconds (divide by {per_second:g}).",
        path=path,
        column=column,
    )


def keep_first_of_repeated_times(time: np.ndarray, values: np.ndarray, path: Path) -> np.ndarray:
    """Mask that keeps the first of samples sharing a timestamp (dataset files only).

    Third-party exports (a phone app, a logger) sometimes write a sample twice, or two samples with
    one timestamp. A reader cannot know which of two different values is right, and a repeated time
    has no duration, so the first sample is kept, the rest dropped, and a warning says how many. Time
    going *backwards* is not handled here: the table reader already refused it, naming the line.

    Parameters
    ----------
    time : ndarray, shape (n,)
        Non-decreasing timestamps (any unit).
    values : ndarray, shape (n, m)
        The row values, to tell exact duplicates from conflicting ones in the warning.
    path : Path
        The file (for the warning).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    keep = np.ones(time.shape[0], dtype=bool)
    repeated = np.flatnonzero(np.diff(time) == 0) + 1
    if repeated.size:
        keep[repeated] = False
        exact = int(np.all(values[repeated] == values[repeated - 1], axis=1).sum())
        conflicting = repeated.size - exact
        detail = f"{exact} exact duplicate row(s)"
        if conflicting:
            detail += f" and {conflicting} row(s) repeating the previous timestamp with other values"
        warnings.warn(f"{path}: dropped {detail} (kept the first of each)", stacklevel=3)
    return keep
