"""IPOL healthy-gait files (Voisard et al., IPOL 2023): ``S-T_{lb,lf,rf}.txt`` plus ``S-T.json``.

Each signal file is tab-separated: line 1 ``Acquisition frequency: 100 Hz``, line 2 the header
``PacketCounter Acc_X Acc_Y Acc_Z Gyr_X Gyr_Y Gyr_Z Mag_X Mag_Y Mag_Z``. ``PacketCounter`` has gaps
from dropped radio packets (~4 % of samples).

Time base: ``(PacketCounter - first PacketCounter) / rate``, and an annotation index ``i`` is the
instant ``i / rate`` on that clock. The dataset's notes say the annotations index rows, but in trials
with many dropped packets the annotated heel strikes line up with the lower-back signal only on the
counter's clock: over the 38 trials with >= 100 dropped packets, the share of annotated heel strikes
with a vertical-acceleration peak within ±0.2 s is 0.96 on the counter's clock against 0.92 by row
(trial 2-3: 0.94 against 0.65), and the three sensors of a trial, whose files differ in length, share
one clock. ``read(path, time_base="row")`` keeps the row interpretation for comparison.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path

import numpy as np

from gaitdir.errors import RecordingError
from gaitdir.recordings._checks import check_file, check_recording
from gaitdir.recordings._recording import Recording
from gaitdir.recordings._table import ColumnSpec, read_table

NAME = "ipol"
DESCRIPTION = (
    "IPOL healthy-gait: tab-separated, line 1 'Acquisition frequency: 100 Hz', line 2 "
    "'PacketCounter Acc_X Acc_Y Acc_Z Gyr_X Gyr_Y Gyr_Z Mag_X Mag_Y Mag_Z', files named "
    "'<subject>-<trial>_<lb|lf|rf>.txt' beside '<subject>-<trial>.json'"
)
HEADER_TEXT = "PacketCounter Acc_X Acc_Y Acc_Z Gyr_X Gyr_Y Gyr_Z Mag_X Mag_Y Mag_Z"
HEADER = ("packetcounter", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z", "mag_x", "mag_y", "mag_z")
SENSOR = "Xsens MTw Awinda"
_NAME = re.compile(r"^(?P<subject>\d+)-(?P<trial>\d+)_(?P<site>lb|lf|rf)\.txt$", re.IGNORECASE)
_RATE = re.compile(r"^\s*acquisition\s+frequency\s*:\s*([0-9.]+)\s*hz\s*$", re.IGNORECASE)
_SITES = {"lb": ("lower_back", None), "lf": ("foot", "left"), "rf": ("foot", "right")}
_UNIT_HINT = "IPOL files store m/s²; this file does not look like one."
#: Standing after a trial's last heel strike that is scored (s), and the swing before a later step (s).
_STANDING_AFTER_S = 3.0
_SWING_S = 1.0

logger = logging.getLogger(__name__)


def looks_like(head_text: str) -> bool:
    """True when ``head_text`` opens like an IPOL signal file."""
    lines = head_text.splitlines()
    return bool(lines) and (
        _RATE.match(lines[0]) is not None or (len(lines) > 1 and lines[1].lower().startswith("packetcounter"))
    )


def read(path: Path, *, time_base: str = "counter") -> Recording:
    """Read one IPOL signal file and, when present, its trial's JSON annotations.

    Parameters
    ----------
    path : Path
        The ``S-T_{lb,lf,rf}.txt`` file.
    time_base : {"counter", "row"}
        ``counter``: sample times from ``PacketCounter`` (default, see the module docstring);
        ``row``: ``row / rate``, as the dataset's notes describe.

    Returns
    -------
    Recording
        ``time_s`` on the chosen clock (s); labels ``forward`` inside the trial's ``TrialBoundaries`` and
        ``other`` outside (standing); ``reference_steps_s`` = annotated heel strikes of both feet
        (for a foot sensor too: a step is a contact of either foot); ``reference_window_s`` = from
        the file's start (standing) to a few seconds of standing after the trial; meta ``trial_s``
        and ``uturn_s`` = "start,end" of the trial (walk 10 m, turn, walk back) and of its U-turn.
    """
    check_file(path)
    with path.open("rb") as handle:
        first = handle.readline()
        second = handle.readline()
        data_offset = len(first) + len(second)
    first_text = first.decode("utf-8", errors="replace").strip()
    rate = _RATE.match(first_text)
    if rate is None:
        raise RecordingError(
            f"expected 'Acquisition frequency: <rate> Hz' on the first line, found {first_text[:60]!r}",
            path=path,
            line=1,
        )
    rate_hz = float(rate.group(1))
    if not rate_hz > 0:
        raise RecordingError(f"acquisition frequency must be positive, found {rate_hz}", path=path, line=1)
    header = [h.strip().lower() for h in second.decode("utf-8", errors="replace").strip().split("\t")]
    missing = [h for h in HEADER[:7] if h not in header]
    if missing:
        raise RecordingError(
            f"missing column(s) {', '.join(missing)}; expected the tab-separated header '{HEADER_TEXT}'",
            path=path,
            line=2,
        )
    if time_base not in ("counter", "row"):
        raise ValueError(f"time_base must be 'counter' or 'row', got {time_base!r}")
    names = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    specs = [ColumnSpec(header.index(n), n.title(), "float") for n in names]
    specs.append(ColumnSpec(header.index("packetcounter"), "PacketCounter", "float"))
    table = read_table(
        path,
        data_offset=data_offset,
        first_line=3,
        delimiter="\t",
        n_fields=len(header),
        columns=specs,
    )
    cols = table.columns
    n = table.n_rows
    acc = np.column_stack([cols["Acc_X"], cols["Acc_Y"], cols["Acc_Z"]])
    gyr = np.column_stack([cols["Gyr_X"], cols["Gyr_Y"], cols["Gyr_Z"]])
    if time_base == "row":
        time_s = np.arange(n, dtype=np.float64) / rate_hz
    else:
        counter = np.asarray(cols["PacketCounter"], dtype=np.float64)
        # A radio retransmission can repeat a counter value (trial 11-1): keep the first copy.
        keep = np.ones(n, dtype=bool)
        if n > 1:
            keep[1:] = np.diff(np.maximum.accumulate(counter)) > 0
        if not keep.all():
            logger.info("%s: dropped %d repeated PacketCounter rows", path, int((~keep).sum()))
            counter, acc, gyr = counter[keep], acc[keep], gyr[keep]
        time_s = (counter - counter[0]) / rate_hz
    meta = {
        "format": NAME,
        "source": str(path),
        "sensor": SENSOR,
        "rate_hz": f"{rate_hz:g}",
        "time_base": time_base,
    }
    recording = Recording(time_s=time_s, acc_mps2=acc, gyr_radps=gyr, meta=meta)
    match = _NAME.match(path.name)
    if match is None:
        warnings.warn(
            f"{path}: not named '<subject>-<trial>_<lb|lf|rf>.txt'; read without placement or annotations",
            stacklevel=3,
        )
        return check_recording(recording, path, unit_hint=_UNIT_HINT)
    site = match.group("site").lower()
    placement, side = _SITES[site]
    meta.update(
        placement=placement,
        subject=f"ipol-{int(match.group('subject'))}",
        trial=match.group("trial"),
    )
    if side is not None:
        meta["side"] = side
    if site == "lb":
        # The protocol straps the lower-back sensor flat on L5 the same way for everyone: x up, z out of
        # the back. The front is therefore -z (checked on every trial here: the trunk's pendular AP swing
        # points along -z in all of them, see tests/recordings/test_ipol.py).
        meta["forward_axis"] = "-z"
    annotations = path.with_name(f"{match.group('subject')}-{match.group('trial')}.json")
    if annotations.exists():
        _annotate(recording, annotations, rate_hz)
    else:
        warnings.warn(f"{path}: no {annotations.name} beside it; read without annotations", stacklevel=3)
    return check_recording(recording, path, unit_hint=_UNIT_HINT)


def _annotate(recording: Recording, json_path: Path, rate_hz: float) -> None:
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
        start, end = (int(v) for v in info["TrialBoundaries"])
        uturn = [int(v) for v in info["UTurnBoundaries"]]
        left = [int(e[1]) for e in info["LeftFootEvents"]]
        right = [int(e[1]) for e in info["RightFootEvents"]]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise RecordingError(f"unreadable IPOL annotations: {exc}", path=json_path) from None
    # A step is a contact of either foot, whatever the sensor: the detector counts both feet's steps
    # from a foot-worn sensor too, so every file of a trial carries the heel strikes of both feet.
    rows = left + right
    recording.meta["reference"] = "both_feet"
    # The three files of a trial differ in length; a few annotations fall past this file's end.
    last = float(recording.time_s[-1])
    inside = sorted(r for r in rows if 0 <= r / rate_hz <= last)
    if len(inside) < len(rows):
        logger.info(
            "%s: %d annotated steps lie past the file's end",
            recording.meta["source"],
            len(rows) - len(inside),
        )
    recording.reference_steps_s = np.asarray(inside, dtype=np.float64) / rate_hz
    # The scored span is the walk and the standing around it: the subject stands still before the
    # trial and after it ends with the last heel strike, and a step counted there is a false one.
    # Some subjects walk off later; those steps are annotated only in part, so the span ends
    # _STANDING_AFTER_S after the trial, or _SWING_S before the next annotated footstep if sooner.
    trial_end = min(end / rate_hz, last)
    later = [r / rate_hz for r in rows if r / rate_hz > trial_end + 1e-9]
    stop = min([trial_end + _STANDING_AFTER_S, last] + [t - _SWING_S for t in later])
    recording.reference_window_s = (float(recording.time_s[0]), max(stop, trial_end))
    recording.meta["trial_s"] = f"{min(start / rate_hz, last):g},{trial_end:g}"
    t = recording.time_s
    labels = np.full(t.shape[0], "other", dtype="<U8")
    labels[(t >= start / rate_hz) & (t <= end / rate_hz)] = "forward"
    recording.labels = labels
    recording.meta["uturn_s"] = f"{uturn[0] / rate_hz:g},{uturn[1] / rate_hz:g}"
    for key in ("Age", "Gender", "Height", "Weight"):
        if key in info:
            recording.meta[key.lower()] = str(info[key])
