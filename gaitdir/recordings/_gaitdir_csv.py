"""gaitdir's own CSV: what ``gaitdir live --record`` writes and what every tool of gaitdir reads.

Layout::

    # sensor: polar-h10                      optional metadata lines, ``# key: value``
    # placement: chest
    time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z,label
    0.000,0.12,9.79,0.33,0.01,0.00,-0.02,forward
    ...
    # gap: start_s=12.480 end_s=14.020        a live recording lost the stream here
    ...

``time_s`` in seconds (strictly increasing), acceleration in m/s² including gravity, the optional
gyroscope in rad/s, the optional ``label`` one of forward/backward/other. Metadata keys gaitdir
understands: ``sensor``, ``placement``, ``subject``, ``forward_axis``, ``rate_hz`` (informative),
``acc_unit`` (``m/s2`` or ``g``; ``g`` is converted), ``gyr_unit`` (``rad/s`` or ``deg/s``),
``gravity_removed`` (``true``/``false``). Any other key is kept in :attr:`Recording.meta`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from gaitdir.errors import RecordingError
from gaitdir.recordings._checks import STANDARD_GRAVITY_MPS2, check_file, check_recording
from gaitdir.recordings._recording import Recording
from gaitdir.recordings._table import ColumnSpec, read_table

NAME = "gaitdir"
DESCRIPTION = (
    "gaitdir CSV: comma-separated with header 'time_s,acc_x,acc_y,acc_z' (m/s² with gravity), "
    "optionally followed by 'gyr_x,gyr_y,gyr_z' (rad/s) and 'label'; optional '# key: value' "
    "metadata lines before the header"
)
REQUIRED_COLUMNS = ("time_s", "acc_x", "acc_y", "acc_z")
GYRO_COLUMNS = ("gyr_x", "gyr_y", "gyr_z")
LABEL_COLUMN = "label"
EXPECTED_HEADER = "time_s,acc_x,acc_y,acc_z[,gyr_x,gyr_y,gyr_z][,label]"

_META_LINE = re.compile(r"^#\s*([A-Za-z_][\w.-]*)\s*:\s*(.*?)\s*$")
_GAP_LINE = re.compile(r"^#\s*gap\s*:\s*start_s\s*=\s*(\S+)\s+end_s\s*=\s*(\S+)\s*$", re.IGNORECASE)
_ACC_UNITS = {"m/s2": 1.0, "m/s^2": 1.0, "m/s²": 1.0, "mps2": 1.0, "g": STANDARD_GRAVITY_MPS2}
_GYR_UNITS = {"rad/s": 1.0, "radps": 1.0, "deg/s": np.pi / 180.0, "dps": np.pi / 180.0}
_UNIT_HINT = (
    "gaitdir CSV wants m/s²: multiply by 9.80665, or add the line '# acc_unit: g' before the header "
    "and gaitdir converts it. If the values are m/s² with gravity removed (linear acceleration), add "
    "'# gravity_removed: true' instead."
)
_PREAMBLE_LIMIT_BYTES = 1 << 20


def format_gap_line(start_s: float, end_s: float) -> str:
    """The comment line that marks a gap in a live recording (no newline)."""
    return f"# gap: start_s={start_s:.6f} end_s={end_s:.6f}"


def read_preamble(path: Path) -> tuple[dict[str, str], dict[str, int], list[str], int, int]:
    """Metadata lines and the header.

    Returns
    -------
    meta, meta_lines, header_fields, data_offset, header_line
        Metadata (keys lower-cased), the line of each metadata key, the header's field names
        (stripped, lower-cased), the byte offset of the first data line, and the header's 1-based line.
    """
    meta: dict[str, str] = {}
    meta_lines: dict[str, int] = {}
    offset = 0
    with path.open("rb") as handle:
        line_no = 0
        while offset < _PREAMBLE_LIMIT_BYTES:
            raw = handle.readline()
            if not raw:
                break
            line_no += 1
            offset += len(raw)
            text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
            if not text:
                continue
            if text.startswith("#"):
                match = _META_LINE.match(text)
                if match:
                    key = match.group(1).lower()
                    meta[key] = match.group(2)
                    meta_lines[key] = line_no
                continue
            fields = [f.strip().strip('"').strip().lower() for f in text.split(",")]
            return meta, meta_lines, fields, offset, line_no
    raise RecordingError(
        f"no header line found; expected '{EXPECTED_HEADER}' after the '#' metadata lines", path=path
    )


def looks_like(head_text: str) -> bool:
    """True when the first non-comment line of ``head_text`` is a gaitdir header."""
    for line in head_text.splitlines():
        text = line.lstrip("\ufeff").strip()
        if not text or text.startswith("#"):
            continue
        return "time_s" in [f.strip().strip('"').strip().lower() for f in text.split(",")]
    return any(line.startswith("#") for line in head_text.splitlines())


def read(path: Path) -> Recording:
    """Read a gaitdir CSV file (see the module docstring for the layout).

    Raises
    ------
    RecordingError
        Naming the file, line and column of the first problem.
    """
    check_file(path)
    meta, meta_lines, header, data_offset, header_line = read_preamble(path)
    _check_header(header, path, header_line)
    has_gyro = all(c in header for c in GYRO_COLUMNS)
    has_label = LABEL_COLUMN in header
    known = set(REQUIRED_COLUMNS) | set(GYRO_COLUMNS) | {LABEL_COLUMN}
    unknown = [c for c in header if c not in known]
    if unknown:
        warnings.warn(f"{path}: ignoring unknown column(s) {', '.join(unknown)}", stacklevel=3)
    wanted = list(REQUIRED_COLUMNS) + (list(GYRO_COLUMNS) if has_gyro else [])
    specs = [ColumnSpec(header.index(name), name, "float") for name in wanted]
    if has_label:
        specs.append(ColumnSpec(header.index(LABEL_COLUMN), LABEL_COLUMN, "label"))
    table = read_table(
        path,
        data_offset=data_offset,
        first_line=header_line + 1,
        delimiter=",",
        n_fields=len(header),
        columns=specs,
        time_column="time_s",
        time_policy="strict",
        allow_comments=True,
        allow_truncated_tail=True,
        groups={"acc": ["acc_x", "acc_y", "acc_z"], **({"gyr": list(GYRO_COLUMNS)} if has_gyro else {})},
    )
    cols = table.columns
    acc_scale = _unit(meta, meta_lines, "acc_unit", _ACC_UNITS, path)
    gyr_scale = _unit(meta, meta_lines, "gyr_unit", _GYR_UNITS, path)
    acc = cols["acc"]
    if acc_scale != 1.0:
        acc *= acc_scale
    gyr = None
    if has_gyro:
        gyr = cols["gyr"]
        if gyr_scale != 1.0:
            gyr *= gyr_scale
    gaps = _gaps(table.comments, path)
    gravity_removed = meta.get("gravity_removed", "false").strip().lower() in ("true", "yes", "1")
    recording = Recording(
        time_s=cols["time_s"],
        acc_mps2=acc,
        gyr_radps=gyr,
        labels=cols[LABEL_COLUMN] if has_label else None,
        meta=_with_origin(meta, path),
        gravity_removed=gravity_removed,
        gaps_s=gaps,
    )
    return check_recording(recording, path, unit_hint=_UNIT_HINT, time_column="time_s")


def _with_origin(meta: dict[str, str], path: Path) -> dict[str, str]:
    """File metadata plus ``format``/``source``; a ``source`` line in the file is kept as ``origin``."""
    out = dict(meta)
    if "source" in out:
        out.setdefault("origin", out.pop("source"))
    out.pop("format", None)
    return {**out, "format": NAME, "source": str(path)}


def _check_header(header: list[str], path: Path, line: int) -> None:
    try:
        float(header[0])
        is_number = True
    except ValueError:
        is_number = False
    if is_number:
        raise RecordingError(
            "the first line after the metadata is data, not a header; "
            f"expected the header '{EXPECTED_HEADER}'",
            path=path,
            line=line,
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RecordingError(
            f"missing column(s) {', '.join(missing)}; expected the header '{EXPECTED_HEADER}'",
            path=path,
            line=line,
        )
    present_gyro = [c for c in GYRO_COLUMNS if c in header]
    if present_gyro and len(present_gyro) != 3:
        absent = [c for c in GYRO_COLUMNS if c not in header]
        raise RecordingError(
            f"missing column(s) {', '.join(absent)}: the gyroscope needs all of gyr_x,gyr_y,gyr_z; "
            f"expected the header '{EXPECTED_HEADER}'",
            path=path,
            line=line,
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise RecordingError(f"duplicated column(s) {', '.join(duplicated)}", path=path, line=line)


def _unit(
    meta: dict[str, str], meta_lines: dict[str, int], key: str, units: dict[str, float], path: Path
) -> float:
    if key not in meta:
        return 1.0
    value = meta[key].strip().lower().replace(" ", "")
    if value not in units:
        raise RecordingError(
            f"unknown {key} {meta[key]!r}; expected one of {', '.join(units)}",
            path=path,
            line=meta_lines[key],
        )
    return units[value]


def _gaps(comments: list[str], path: Path) -> np.ndarray | None:
    spans = []
    for text in comments:
        match = _GAP_LINE.match(text.strip())
        if not match:
            continue
        try:
            spans.append((float(match.group(1)), float(match.group(2))))
        except ValueError:
            warnings.warn(f"{path}: ignoring malformed gap line {text.strip()!r}", stacklevel=4)
    if not spans:
        return None
    return np.array(sorted(spans), dtype=np.float64).reshape(-1, 2)
