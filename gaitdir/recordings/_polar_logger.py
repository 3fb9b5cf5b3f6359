"""Polar Sensor Logger accelerometer exports (``Polar_<model>_<id>_<datetime>_ACC.txt``).

Semicolon-separated with the header ``Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]``:
the phone's wall-clock time (text, unused: it is the arrival time of the whole frame), the sensor's
own timestamp in ns since 2000-01-01 (one per sample, read as an integer because float64 would round
it), and acceleration in milli-g including gravity.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gaitdir.errors import RecordingError
from gaitdir.recordings._checks import (
    STANDARD_GRAVITY_MPS2,
    check_file,
    check_recording,
    keep_first_of_repeated_times,
)
from gaitdir.recordings._recording import Recording
from gaitdir.recordings._table import ColumnSpec, read_table

NAME = "polar-logger"
EXPECTED_HEADER = "Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]"
DESCRIPTION = f"Polar Sensor Logger ACC export: semicolon-separated with the header '{EXPECTED_HEADER}'"
_TIME = "sensor timestamp [ns]"
_AXES = ("x [mg]", "y [mg]", "z [mg]")
_MILLI_G_TO_MPS2 = STANDARD_GRAVITY_MPS2 / 1000.0
_NAME = re.compile(r"^Polar_(?P<model>[A-Za-z0-9]+)_(?P<id>[0-9A-Fa-f]+)_.*_ACC\.txt$", re.IGNORECASE)
#: Polar model in the file name → (sensor name, where that model is worn).
MODELS: dict[str, tuple[str, str]] = {
    "h10": ("Polar H10", "chest"),
    "h9": ("Polar H9", "chest"),
    "veritysense": ("Polar Verity Sense", "arm"),
    "sense": ("Polar Verity Sense", "arm"),
    "oh1": ("Polar OH1", "arm"),
}
_UNIT_HINT = "Polar Sensor Logger exports are in mg; this file's values do not look like it."


def _normalise(field: str) -> str:
    return " ".join(field.strip().lower().split())


def looks_like(head_text: str) -> bool:
    """True when the first line is a Polar Sensor Logger ACC header."""
    lines = head_text.lstrip("\ufeff").splitlines()
    if not lines:
        return False
    fields = [_normalise(f) for f in lines[0].split(";")]
    return "phone timestamp" in fields and _TIME in fields


def read(path: Path) -> Recording:
    """Read a Polar Sensor Logger ACC export.

    Returns
    -------
    Recording
        Time in s from the first sample's sensor timestamp; acceleration converted from mg to m/s².
        Exact repeats of a sensor timestamp are dropped with a warning (first kept).
    """
    check_file(path)
    with path.open("rb") as handle:
        header_raw = handle.readline()
    header = [_normalise(f) for f in header_raw.decode("utf-8", errors="replace").lstrip("\ufeff").split(";")]
    while header and header[-1] == "":
        header.pop()
    missing = [name for name in (_TIME, *_AXES) if name not in header]
    if missing:
        raise RecordingError(
            f"missing column(s) {', '.join(missing)}; expected the header '{EXPECTED_HEADER}'",
            path=path,
            line=1,
        )
    specs = [ColumnSpec(header.index(_TIME), _TIME, "int")]
    specs += [ColumnSpec(header.index(axis), axis, "float") for axis in _AXES]
    table = read_table(
        path,
        data_offset=len(header_raw),
        first_line=2,
        delimiter=";",
        n_fields=len(header),
        columns=specs,
        time_column=_TIME,
        time_policy="repeats",
    )
    stamp_ns = table.columns[_TIME]
    acc = np.column_stack([table.columns[a] for a in _AXES]) * _MILLI_G_TO_MPS2
    keep = keep_first_of_repeated_times(stamp_ns, acc, path)
    stamp_ns, acc = stamp_ns[keep], acc[keep]
    time_s = (stamp_ns - stamp_ns[0]).astype(np.float64) / 1e9 if stamp_ns.size else np.empty(0)
    meta = {"format": NAME, "source": str(path)}
    match = _NAME.match(path.name)
    if match is not None:
        model = match.group("model").lower()
        meta["sensor"], meta["placement"] = MODELS.get(model, (f"Polar {match.group('model')}", ""))
        meta["sensor_id"] = match.group("id")
        if not meta["placement"]:
            del meta["placement"]
    return check_recording(Recording(time_s=time_s, acc_mps2=acc, meta=meta), path, unit_hint=_UNIT_HINT)
