"""What a report shows, computed: a recording's body-frame signal and labelled steps
(:func:`trace_recording`), its cadence, and the envelope a long signal is drawn as. No drawing, no files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitdir.history import normalize_forward_reference

if TYPE_CHECKING:
    from gaitdir.model import DirectionModel
    from gaitdir.pipeline import StepTable
    from gaitdir.recordings import Recording

#: What each source of the wearer's front means, for people.
FORWARD_SOURCES: dict[str, str] = {
    "option": "given with --forward-axis",
    "file": "the recording's forward_axis metadata",
    "sensor-profile": "the sensor's mounting profile",
    "calibration": "a stored calibration of the sensor",
    "first-steps": "calibrated on the first steps, taken as forward walking",
}

# Above this many samples a signal is drawn as its per-column minimum and maximum (what a pixel shows).
_ENVELOPE_BINS = 2400
# Cadence: steps ending within this window (s), and zero after this long without a step (s), as live.
_CADENCE_WINDOW_S = 10.0
_CADENCE_PAUSE_S = 2.5


@dataclass(frozen=True)
class RecordingTrace:
    """What a recording's report shows.

    Attributes
    ----------
    name : str
        The recording as named in titles (its file name).
    source : str
        Its path.
    time_s : ndarray, shape (m,)
        Times of the detector's even grid (s from the recording's time origin).
    vertical_mps2, ap_mps2, ml_mps2 : ndarray, shape (m,)
        Acceleration along the body axes (gravity removed; m/s²).
    ap_oriented : bool
        ``ap_mps2`` is signed so that positive is the wearer's front (False: the detector's own sign,
        when no front was found, e.g. no step).
    segment_start : ndarray of bool, shape (m,)
        True where a new segment starts (after a gap the detector did not bridge); lines break there.
    steps : StepTable
        Every labelled step.
    placement : str
        The detector placement used.
    forward_reference : dict or None
        ``{"source": ..., "axis": [x, y, z] or None}``: where the wearer's front came from (as
        ``classify`` reports it; the axis is None when the first steps were assumed forward).
    duration_s : float
    meta : dict
        The recording's metadata (sensor, subject...).
    gaps_s : ndarray, shape (g, 2)
        Spans where a live recording lost its stream.
    front_axis_sensor : tuple of 3 floats, optional
        The front the steps were labelled by, in sensor coordinates (for ``first-steps``: the one the
        calibration found), or None before any step.
    """

    name: str
    source: str
    time_s: np.ndarray
    vertical_mps2: np.ndarray
    ap_mps2: np.ndarray
    ml_mps2: np.ndarray
    ap_oriented: bool
    segment_start: np.ndarray
    steps: StepTable
    placement: str
    forward_reference: dict[str, Any] | None
    duration_s: float
    meta: dict[str, str] = field(default_factory=dict)
    gaps_s: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    front_axis_sensor: tuple[float, ...] | None = None

    def counts(self) -> dict[str, int]:
        """``{"steps", "forward", "backward"}``."""
        return self.steps.counts()


def trace_recording(
    recording: Recording,
    *,
    model: DirectionModel | None = None,
    placement: str | None = None,
    forward_axis: str | None = None,
    name: str | None = None,
    chunk_s: float = 30.0,
) -> RecordingTrace:
    """Classify ``recording`` as ``classify`` does, keeping the detector's body-frame signal.

    Parameters
    ----------
    recording : Recording
    model : DirectionModel, optional
        None: the shipped model.
    placement : str, optional
        Overrides the recording's ``placement`` metadata.
    forward_axis : str, optional
        Overrides the recording's ``forward_axis`` metadata.
    name : str, optional
        How the recording is named in the report (default: the file name of ``meta["source"]``).
    chunk_s : float, default=30.0
        Feed size (s); the steps do not depend on it, the orientation of the drawn AP axis is decided
        once per chunk.

    Returns
    -------
    RecordingTrace
    """
    from gaitdir.model.front import recording_forward_reference
    from gaitdir.pipeline import StepPipeline, StepTable
    from gaitdir.signal import recording_chunks, recording_placement

    placement = placement or recording_placement(recording)
    # the front exactly as classify finds it: --forward-axis, else the file's metadata, else the first steps
    front = recording_forward_reference(recording.meta, option=forward_axis)
    pipeline = StepPipeline(model, placement=placement, forward_axis=front).start()
    detector = pipeline.detector_
    tables: list[StepTable] = []
    ks: list[np.ndarray] = []
    columns: list[list[np.ndarray]] = [[], [], []]
    new_segment: list[np.ndarray] = []
    ap_axes: list[tuple[int, np.ndarray | None]] = []  # (first grid index after the chunk, AP axis)
    for time_s, acc, gyr in recording_chunks(recording, chunk_s):
        conditioned = detector.condition(time_s, acc, gyr, gravity_removed=recording.gravity_removed)
        for piece in conditioned.pieces:
            n = piece.frame.vertical_mps2.shape[0]
            ks.append(np.arange(piece.start_k, piece.start_k + n))
            for column, values in zip(
                columns, (piece.frame.vertical_mps2, piece.frame.ap_mps2, piece.frame.ml_mps2), strict=True
            ):
                column.append(np.asarray(values, dtype=np.float32))
            flags = np.zeros(n, dtype=bool)
            flags[:1] = piece.new_segment
            new_segment.append(flags)
        if ks:
            ap_axes.append((int(ks[-1][-1]) + 1, conditioned.ap_axis_sensor))
        tables.append(pipeline.update_conditioned(conditioned))
    tables.append(pipeline.flush())
    steps = StepTable.concat(tables)

    k = np.concatenate(ks) if ks else np.zeros(0, dtype=np.int64)
    origin = float(recording.time_s[0]) if recording.n_samples else 0.0
    # The detector's grid: sample k lies at origin + k / rate (origin = the first sample fed).
    grid_t = origin + k / float(detector.grid_rate_hz)
    vertical, ap, ml = (np.concatenate(c) if c else np.zeros(0, np.float32) for c in columns)
    front_axis = getattr(pipeline, "forward_axis_sensor_", None)
    ap, oriented = _orient_ap(ap, k, ap_axes, front_axis)
    reference = normalize_forward_reference(getattr(pipeline, "forward_reference_", None))
    source = str(recording.meta.get("source", ""))
    return RecordingTrace(
        name=name or (Path(source).name if source else "recording"),
        source=source,
        time_s=grid_t,
        vertical_mps2=vertical,
        ap_mps2=ap,
        ml_mps2=ml,
        ap_oriented=oriented,
        segment_start=np.concatenate(new_segment) if new_segment else np.zeros(0, bool),
        steps=steps,
        placement=placement,
        forward_reference=reference,
        front_axis_sensor=None if front_axis is None else tuple(float(a) for a in np.ravel(front_axis)),
        duration_s=recording.duration_s,
        meta={k_: str(v) for k_, v in recording.meta.items()},
        gaps_s=np.zeros((0, 2)) if recording.gaps_s is None else np.asarray(recording.gaps_s, dtype=float),
    )


def _orient_ap(
    ap: np.ndarray, k: np.ndarray, ap_axes: Sequence[tuple[int, np.ndarray | None]], front: Any
) -> tuple[np.ndarray, bool]:
    """Sign the AP signal chunk by chunk so that positive points to the wearer's front."""
    if front is None or ap.size == 0:
        return ap, False
    front = np.asarray(front, dtype=float)
    out = ap.copy()
    previous, lo = 1.0, 0
    for hi_k, axis in ap_axes:
        if axis is not None:
            cos = float(np.dot(front, np.asarray(axis, dtype=float)))
            # nearly perpendicular: no information, keep the last sign (the AP signal is continuous)
            if abs(cos) >= 0.2:
                previous = float(np.sign(cos))
        hi = int(np.searchsorted(k, hi_k, side="left"))  # k ascends: the chunk's samples are [lo, hi)
        if previous < 0:
            out[lo:hi] *= -1
        lo = hi
    return out, True


def cadence_series(
    start_s: np.ndarray,
    end_s: np.ndarray,
    at_s: np.ndarray,
    *,
    window_s: float = _CADENCE_WINDOW_S,
    pause_s: float = _CADENCE_PAUSE_S,
) -> np.ndarray:
    """Cadence (steps/min) at each time of ``at_s``, as ``gaitdir live`` shows it.

    The steps that ended within ``window_s`` before each time, over the span from the first one's start
    to the last one's end; zero once no step has ended for ``pause_s`` or fewer than two are in the window.

    Parameters
    ----------
    start_s, end_s : ndarray, shape (k,)
        Steps in time order.
    at_s : ndarray, shape (n,)
        Where to evaluate.

    Returns
    -------
    ndarray, shape (n,)
    """
    end_s = np.asarray(end_s, dtype=float)
    start_s = np.asarray(start_s, dtype=float)
    at_s = np.asarray(at_s, dtype=float)
    out = np.zeros(at_s.shape[0])
    if end_s.size < 2:
        return out
    hi = np.searchsorted(end_s, at_s, side="right")  # steps ended by then: [0, hi)
    lo = np.searchsorted(end_s, at_s - window_s, side="left")
    n = hi - lo
    ok = n >= 2
    last = np.clip(hi - 1, 0, end_s.size - 1)
    first = np.clip(lo, 0, end_s.size - 1)
    span = end_s[last] - start_s[first]
    ok &= (at_s - end_s[last] <= pause_s) & (span > 0)
    out[ok] = 60.0 * n[ok] / span[ok]
    return out


def envelope(t: np.ndarray, y: np.ndarray, bins: int = _ENVELOPE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """A long signal reduced to its minimum and maximum per time bin, drawn as one line.

    What a plot of every sample shows at the figure's resolution, at a fraction of the drawing cost.
    Signals shorter than twice ``bins`` are returned unchanged.
    """
    if t.size <= 2 * bins:
        return t, y
    edges = np.linspace(t[0], t[-1], bins + 1)
    idx = np.clip(np.searchsorted(t, edges[:-1], side="left"), 0, t.size - 1)
    idx = np.unique(idx)
    lo = np.minimum.reduceat(y, idx)
    hi = np.maximum.reduceat(y, idx)
    tt = np.repeat(t[idx], 2)
    yy = np.column_stack([lo, hi]).ravel()
    return tt, yy


def direction_runs(steps: StepTable) -> list[tuple[float, float, str]]:
    """Consecutive steps of one direction merged into (start, end, direction) bands."""
    runs: list[tuple[float, float, str]] = []
    ends = steps.end_s
    for start, end, direction in zip(
        steps.time_s.tolist(), ends.tolist(), steps.direction.tolist(), strict=True
    ):
        if runs and runs[-1][2] == direction and start <= runs[-1][1] + 1e-6:
            runs[-1] = (runs[-1][0], max(end, runs[-1][1]), direction)
        else:
            runs.append((start, end, direction))
    return runs


def clock_text(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d} min"
