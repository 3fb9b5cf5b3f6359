"""Oxford step-counter validation CSVs (GitHub ``Oxford-step-counter/DataSet``, CC BY 4.0).

No header, 7 comma-separated columns: timestamp (ns since the phone booted), acc x, y, z (m/s² with
gravity), the app's step count, the ground-truth device's step count (a running count: +1 per step),
the phone's hardware step count. Files are named ``user<N>_<position>_<ms epoch>.csv``.

Repeated timestamps: the recordings hold a few rows written twice (same time, same values). A
repeated time carries no new information and no duration, so the first row of each run is kept and
the rest are dropped with a warning. Time going backwards is an error naming the line.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from gaitdir.recordings._checks import check_file, check_recording, keep_first_of_repeated_times
from gaitdir.recordings._recording import Recording
from gaitdir.recordings._table import ColumnSpec, count_numeric_fields, read_headerless_csv

NAME = "oxford"
DESCRIPTION = (
    "Oxford step-counter: comma-separated, no header, 7 numbers per line (timestamp ns, acc x y z "
    "m/s², app steps, ground-truth steps, hardware steps), named 'user<N>_<position>_<ms>.csv'"
)
N_FIELDS = 7
SENSOR = "Samsung Galaxy S6 (phone accelerometer)"
_NAME = re.compile(r"^user(?P<user>\d+)_(?P<position>[a-z]+)_\d+\.csv$", re.IGNORECASE)
#: Phone position in the file name → (placement, how it was worn).
PLACEMENTS: dict[str, tuple[str, str]] = {
    "armband": ("arm", "armband"),
    "frontpocket": ("pocket", "front trouser pocket"),
    "backpocket": ("pocket", "back trouser pocket"),
    "hand": ("hand", "held in the hand"),
    "neckpouch": ("chest", "neck pouch"),
    "bag": ("bag", "bag"),
}
_COLUMNS = [
    ColumnSpec(0, "1 (timestamp ns)", "int"),
    ColumnSpec(1, "2 (acc x)", "float"),
    ColumnSpec(2, "3 (acc y)", "float"),
    ColumnSpec(3, "4 (acc z)", "float"),
    ColumnSpec(5, "6 (ground-truth steps)", "float"),
]
_UNIT_HINT = "The Oxford step-counter files store m/s²; this file does not look like one."


def looks_like(head_text: str) -> bool:
    """True when the first line is 7 comma-separated numbers, the first an integer timestamp."""
    return count_numeric_fields(head_text) == N_FIELDS


def read(path: Path) -> Recording:
    """Read one Oxford step-counter CSV.

    Returns
    -------
    Recording
        Time in s from the first kept row; ``reference_steps_s`` = the times at which the
        ground-truth count increments (one entry per increment); ``reference_window_s`` = the whole
        recording; placement from the file name.
    """
    check_file(path)
    table = read_headerless_csv(path, n_fields=N_FIELDS, columns=_COLUMNS)
    cols = table.columns
    stamp_ns = cols[_COLUMNS[0].name]
    acc = np.column_stack([cols[c.name] for c in _COLUMNS[1:4]])
    truth = cols[_COLUMNS[4].name]
    if stamp_ns.shape[0] and not acc[0].any():
        # The app writes one all-zero row before the first real sample.
        stamp_ns, acc, truth = stamp_ns[1:], acc[1:], truth[1:]
    keep = keep_first_of_repeated_times(stamp_ns, np.column_stack([acc, truth]), path)
    stamp_ns, acc, truth = stamp_ns[keep], acc[keep], truth[keep]
    time_s = (stamp_ns - stamp_ns[0]).astype(np.float64) / 1e9 if stamp_ns.size else np.empty(0)
    meta = {"format": NAME, "source": str(path), "sensor": SENSOR}
    match = _NAME.match(path.name)
    if match:
        meta["subject"] = f"oxford-user{int(match.group('user'))}"
        position = match.group("position").lower()
        if position in PLACEMENTS:
            meta["placement"], meta["placement_detail"] = PLACEMENTS[position]
        else:
            meta["placement_detail"] = position
    recording = Recording(time_s=time_s, acc_mps2=acc, meta=meta)
    check_recording(recording, path, unit_hint=_UNIT_HINT)
    increments = np.diff(truth)
    if (increments < 0).any():
        warnings.warn(f"{path}: the ground-truth step count goes down; ignoring the decreases", stacklevel=3)
    counts = np.clip(np.rint(increments), 0, None).astype(np.int64)
    recording.reference_steps_s = np.repeat(time_s[1:], counts)
    recording.reference_window_s = (float(time_s[0]), float(time_s[-1]))
    return recording
