"""KU-HAR's trimmed layout (Sikder & Nahid 2021; Mendeley Data 10.17632/45f952y38r.5, CC BY 4.0).

``<root>/<k>.<Class>/<subject>_<L>_<trial>.csv``, no header, 8 comma-separated columns: acc time
(ms), acc x, y, z (m/s², gravity removed), gyro time (ms), gyro x, y, z (rad/s). The trimmed data is
interpolated to a constant 100 Hz. One activity per file: ``11.Walk`` is forward walking,
``12.Walk-backwards`` backward walking; other classes read as ``other``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gaitdir.errors import RecordingError
from gaitdir.recordings._checks import check_file, check_recording, keep_first_of_repeated_times
from gaitdir.recordings._recording import Recording
from gaitdir.recordings._table import ColumnSpec, count_numeric_fields, read_headerless_csv

NAME = "kuhar"
DESCRIPTION = (
    "KU-HAR trimmed: comma-separated, no header, 8 numbers per line (acc time ms, acc x y z m/s² "
    "without gravity, gyro time ms, gyro x y z rad/s), in a class folder such as '11.Walk'"
)
N_FIELDS = 8
WALK_FOLDER = "11.Walk"
BACKWARD_FOLDER = "12.Walk-backwards"
SENSOR = "smartphone in a waist bag (KU-HAR)"
_CLASS_FOLDER = re.compile(r"^\d+\.(?P<activity>[A-Za-z][\w-]*)$")
_NAME = re.compile(r"^(?P<subject>\d+)_(?P<letter>[A-Za-z]+)_(?P<trial>[\w-]+)\.csv$")
_LABELS = {"walk": "forward", "walk-backwards": "backward"}
_COLUMNS = [
    ColumnSpec(0, "1 (acc time ms)", "float"),
    ColumnSpec(1, "2 (acc x)", "float"),
    ColumnSpec(2, "3 (acc y)", "float"),
    ColumnSpec(3, "4 (acc z)", "float"),
    ColumnSpec(5, "6 (gyro x)", "float"),
    ColumnSpec(6, "7 (gyro y)", "float"),
    ColumnSpec(7, "8 (gyro z)", "float"),
]


def looks_like(head_text: str, path: Path) -> bool:
    """True for 8 comma-separated numbers per line, or a CSV file inside a KU-HAR class folder."""
    n_fields = count_numeric_fields(head_text)
    in_class_folder = _CLASS_FOLDER.match(path.parent.name) is not None and path.suffix.lower() == ".csv"
    return n_fields > 0 and (n_fields == N_FIELDS or in_class_folder)


def read(path: Path) -> Recording:
    """Read one KU-HAR trimmed file; the label comes from its class folder.

    Returns
    -------
    Recording
        ``gravity_removed=True``; labels all ``forward`` (``11.Walk``), all ``backward``
        (``12.Walk-backwards``) or all ``other``; subject ``kuhar-<id>``; placement ``waist``.
    """
    check_file(path)
    table = read_headerless_csv(path, n_fields=N_FIELDS, columns=_COLUMNS)
    cols = table.columns
    stamp_ms = cols[_COLUMNS[0].name]
    acc = np.column_stack([cols[c.name] for c in _COLUMNS[1:4]])
    gyr = np.column_stack([cols[c.name] for c in _COLUMNS[4:7]])
    keep = keep_first_of_repeated_times(stamp_ms, np.column_stack([acc, gyr]), path)
    stamp_ms, acc, gyr = stamp_ms[keep], acc[keep], gyr[keep]
    # The data set documents milliseconds; a file whose steps are far below 1 ms is in seconds
    # (no IMU here samples faster than 1 kHz), and is read as such rather than as a 100 kHz stream.
    to_s = 1.0 if stamp_ms.size > 1 and np.median(np.diff(stamp_ms)) < 1.0 else 1e-3
    time_s = (stamp_ms - stamp_ms[0]) * to_s if stamp_ms.size else np.empty(0)
    meta = {"format": NAME, "source": str(path), "sensor": SENSOR, "placement": "waist"}
    folder = _CLASS_FOLDER.match(path.parent.name)
    label = "other"
    if folder is not None:
        activity = folder.group("activity")
        meta["activity"] = activity
        label = _LABELS.get(activity.lower(), "other")
    name = _NAME.match(path.name)
    if name is not None:
        meta["subject"] = f"kuhar-{int(name.group('subject'))}"
        meta["trial"] = name.group("trial")
    recording = Recording(
        time_s=time_s,
        acc_mps2=acc,
        gyr_radps=gyr,
        labels=np.full(time_s.shape[0], label, dtype="<U8"),
        meta=meta,
        gravity_removed=True,
    )
    return check_recording(recording, path, unit_hint="")


def find_walking_folders(root: Path, *, max_depth: int = 3) -> list[Path]:
    """The ``11.Walk`` / ``12.Walk-backwards`` folders at ``root`` or up to ``max_depth`` levels below."""
    level = [root]
    for _ in range(max_depth + 1):
        found = sorted(
            p for folder in level for p in (folder / WALK_FOLDER, folder / BACKWARD_FOLDER) if p.is_dir()
        )
        if found:
            return found
        level = sorted(child for folder in level for child in folder.iterdir() if child.is_dir())
    return []


def read_dataset(root: str | Path) -> list[Recording]:
    """Read every file of KU-HAR's two walking folders under ``root``.

    Parameters
    ----------
    root : str or Path
        The folder holding ``11.Walk`` and ``12.Walk-backwards`` (or a folder a few levels above it,
        as unpacked from the archive).

    Returns
    -------
    list of Recording
        Sorted by folder, then file name.

    Raises
    ------
    RecordingError
        When ``root`` does not exist or holds no walking folder, or any file in them is bad.
    """
    root = Path(root)
    if not root.is_dir():
        raise RecordingError("no such directory", path=root)
    folders = find_walking_folders(root)
    if not folders:
        raise RecordingError(
            f"no KU-HAR walking folders ({WALK_FOLDER}, {BACKWARD_FOLDER}) found in this directory", path=root
        )
    return [read(f) for folder in folders for f in sorted(folder.glob("*.csv")) if f.is_file()]
