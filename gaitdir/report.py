"""Reports: a recording's steps drawn over its body-frame signal, and the history's steps per day.

:func:`trace_recording` runs the same :class:`~gaitdir.pipeline.StepPipeline` as ``classify`` and keeps
what the detector saw: the acceleration along the body axes (vertical, anterior-posterior, medio-lateral;
the detector's front end, see :class:`gaitdir.signal.BodySignal`) and every labelled step.
:func:`recording_figure` and :func:`history_figure` draw them (matplotlib, Agg canvas: no display and no
global pyplot state); :func:`recording_html` and :func:`history_html` make self-contained pages with the
figure embedded; :func:`write_report` writes a PNG and its page atomically. Only :func:`write_report`
touches files.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitdir import __version__
from gaitdir.history import normalize_forward_reference

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gaitdir.history import DayTotal, SessionRecord
    from gaitdir.model import DirectionModel
    from gaitdir.pipeline import StepTable
    from gaitdir.recordings import Recording

__all__ = [
    "FORWARD_SOURCES",
    "RecordingTrace",
    "cadence_series",
    "close_up_window",
    "envelope",
    "figure_png",
    "history_figure",
    "history_html",
    "recording_figure",
    "recording_html",
    "trace_recording",
    "write_report",
]

#: Colours of the two directions (Okabe-Ito blue and vermillion: told apart with every colour vision).
FORWARD_COLOUR = "#0072B2"
BACKWARD_COLOUR = "#D55E00"
_SIGNAL_COLOUR = "#333333"

#: What each source of the wearer's front means, for people.
FORWARD_SOURCES: dict[str, str] = {
    "option": "given with --forward-axis",
    "file": "the recording's forward_axis metadata",
    "sensor-profile": "the sensor's mounting profile",
    "calibration": "a stored calibration of the sensor",
    "first-steps": "calibrated on the first steps, taken as forward walking",
}

# Figures are drawn at this size; the page shows them at their natural width.
_WIDTH_IN, _DPI = 12.0, 110
# Above this many samples a signal is drawn as its per-column minimum and maximum (what a pixel shows).
_ENVELOPE_BINS = 2400
# Per-step markers are drawn up to this many steps; beyond, the direction bands alone carry them.
_MAX_STEP_MARKERS = 1500
# The page lists every step up to this many.
_MAX_STEP_ROWS = 5000
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


# --------------------------------------------------------------------------------------------------
# Computation


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


def _direction_runs(steps: StepTable) -> list[tuple[float, float, str]]:
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


# --------------------------------------------------------------------------------------------------
# Figures


def _time_axis(ax: Axes, duration_s: float) -> str:
    """Format the shared time axis in s, min:s or h:min as the duration needs; returns its label."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

    if duration_s <= 300:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 5, 10]))
        return "time (s)"
    # ticks on round minutes or hours
    nice = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
    step = next((n for n in nice if duration_s / n <= 10), nice[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    if duration_s <= 3 * 3600:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v // 60)}:{int(v % 60):02d}"))
        return "time (min:s)"
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v // 3600)}:{int(v % 3600 // 60):02d}"))
    return "time (h:min)"


def _new_figure(height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _front_text(reference: Mapping[str, Any] | None, *, short: bool = False) -> str:
    if reference is None:
        return "front: not found (no steps)"
    source = str(reference.get("source"))
    if short:
        return f"front from: {source}"
    text = f"front: {FORWARD_SOURCES.get(source, source)}"
    axis = reference.get("axis")
    if axis is not None:
        text += " (sensor axis " + ", ".join(f"{a:+.2f}" for a in axis) + ")"
    return text


def close_up_window(steps: StepTable, *, n_steps: int = 12) -> tuple[float, float] | None:
    """The stretch of about ``n_steps`` steps that the close-up shows.

    Around the first change of direction when there is one (where a reader looks first), otherwise a
    fifth of the way into the steps (past gait initiation). None without steps.
    """
    k = len(steps)
    if k == 0:
        return None
    direction = steps.direction
    changes = np.flatnonzero(direction[1:] != direction[:-1]) + 1
    centre = int(changes[0]) if changes.size else min(k - 1, k // 5 + n_steps // 2)
    first = max(0, min(centre - n_steps // 2, k - n_steps))
    last = min(k - 1, first + n_steps - 1)
    pad = 0.3 * float(np.median(steps.duration_s))
    return float(steps.time_s[first]) - pad, float(steps.end_s[last]) + pad


def _shade_steps(ax: Axes, runs: Sequence[tuple[float, float, str]]) -> None:
    for start, end, direction in runs:
        colour = FORWARD_COLOUR if direction == "forward" else BACKWARD_COLOUR
        ax.axvspan(start, end, color=colour, alpha=0.13, linewidth=0)


def _signal(ax: Axes, t: np.ndarray, y: np.ndarray, breaks: np.ndarray, **style: Any) -> None:
    """Draw a signal broken at segment starts (a gap is not bridged by a line)."""
    for part_t, part_y in zip(np.split(t, breaks), np.split(y, breaks), strict=True):
        if part_t.size:
            tt, yy = envelope(part_t, part_y)
            ax.plot(tt, yy, **style)


def _symmetric_limits(ax: Axes, *signals: np.ndarray) -> None:
    values = np.concatenate([np.abs(s) for s in signals if s.size]) if any(s.size for s in signals) else None
    if values is not None and values.size:
        lim = float(np.nanpercentile(values, 99.8)) * 1.15 or 1.0
        ax.set_ylim(-lim, lim)


def _close_up(ax: Axes, trace: RecordingTrace, window: tuple[float, float], breaks: np.ndarray) -> None:
    """Each step of the window as its own shaded span with an arrow for its direction and its number."""
    steps = trace.steps
    t = trace.time_s
    lo, hi = window
    inside = (t >= lo) & (t <= hi)
    _style(ax)
    shown = np.flatnonzero((steps.end_s > lo) & (steps.time_s < hi))
    for n, i in enumerate(shown):
        forward = steps.direction[i] == "forward"
        colour = FORWARD_COLOUR if forward else BACKWARD_COLOUR
        start, end = float(steps.time_s[i]), float(steps.end_s[i])
        # alternate shades so that neighbouring steps of one direction stay apart
        ax.axvspan(start, end, color=colour, alpha=0.10 if n % 2 else 0.22, linewidth=0)
        ax.axvline(start, color=colour, linewidth=1.0, alpha=0.8)
        mid = 0.5 * (start + end)
        if not lo < mid < hi:
            continue  # a step cut by the window's edge is shaded but not labelled
        ax.annotate(
            "\u2192" if forward else "\u2190",
            (mid, 0.93),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="center",
            fontsize=17,
            color=colour,
            fontweight="bold",
        )
        ax.annotate(
            f"{i + 1}",
            (mid, 0.80),
            xycoords=("data", "axes fraction"),
            ha="center",
            fontsize=8,
            color="#555555",
        )
    sub_breaks = np.flatnonzero(trace.segment_start[inside][1:]) + 1
    vertical = trace.vertical_mps2[inside]
    ap = trace.ap_mps2[inside]
    _signal(ax, t[inside], vertical, sub_breaks, color=_SIGNAL_COLOUR, linewidth=1.3, label="vertical")
    ap_label = "AP (+ = front)" if trace.ap_oriented else "AP (sign as detected)"
    _signal(ax, t[inside], ap, sub_breaks, color="#8a8a8a", linewidth=1.0, linestyle="--", label=ap_label)
    if vertical.size:
        both = np.concatenate([vertical, ap])
        low, high = float(both.min()), float(both.max())
        span = (high - low) or 1.0
        ax.set_ylim(low - 0.05 * span, high + 0.45 * span)  # room above for the arrows
    ax.set_xlim(lo, hi)
    ax.set_ylabel("close-up\n(m/s²)", fontsize=9.5)
    ax.set_title(
        f"Close-up of steps {shown[0] + 1}-{shown[-1] + 1}: each step from its initial contact (line) "
        "to the next, arrow = direction",
        fontsize=10,
        loc="left",
        color="#333333",
    )
    ax.legend(loc="lower right", fontsize=8.5, frameon=True, framealpha=0.9, ncol=2)
    ax.set_xlabel("time (s)", fontsize=9)


def recording_figure(trace: RecordingTrace) -> Figure:
    """The recording's report figure.

    A close-up of about a dozen steps (each step shaded, its initial contact marked, an arrow for its
    direction), then over the whole recording: vertical, AP and ML acceleration with the steps shaded by
    direction, the running forward and backward counts, and the cadence.
    """
    from matplotlib.patches import Patch

    fig = _new_figure(13.0)
    grid = fig.add_gridspec(6, 1, height_ratios=[1.5, 1.0, 0.85, 0.85, 0.9, 0.7])
    close_ax = fig.add_subplot(grid[0])
    axes = [fig.add_subplot(grid[1])]
    axes += [fig.add_subplot(grid[i], sharex=axes[0]) for i in range(2, 6)]
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    counts = trace.counts()
    steps = trace.steps
    t = trace.time_s
    duration = max(float(t[-1] - t[0]) if t.size else trace.duration_s, 1e-3)
    t0 = float(t[0]) if t.size else 0.0
    fig.suptitle(
        f"{trace.name}:  {counts['steps']} steps,  {counts['forward']} forward,  "
        f"{counts['backward']} backward",
        fontsize=15,
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    details = [
        f"sensor: {trace.meta['sensor']}" if trace.meta.get("sensor") else "",
        f"placement: {trace.placement}",
        _front_text(trace.forward_reference, short=True),
        f"{_clock(duration)} long",
    ]
    fig.text(
        0.01,
        0.962,
        "   ·   ".join(d for d in details if d),
        fontsize=9.5,
        color="#555555",
        ha="left",
        va="top",
    )
    fig.get_layout_engine().set(rect=(0, 0, 1, 0.955))  # type: ignore[union-attr]

    breaks = np.flatnonzero(trace.segment_start[1:]) + 1 if t.size else np.zeros(0, int)
    window = close_up_window(steps)
    if window is not None and t.size:
        _close_up(close_ax, trace, window, breaks)
    else:
        close_ax.axis("off")
        close_ax.text(0.5, 0.5, "no steps found", transform=close_ax.transAxes, ha="center", fontsize=13)

    runs = _direction_runs(steps)
    signals = [
        (axes[0], trace.vertical_mps2, "vertical"),
        (axes[1], trace.ap_mps2, "AP, + = front" if trace.ap_oriented else "AP (sign as detected)"),
        (axes[2], trace.ml_mps2, "ML (side to side)"),
    ]
    for ax, y, label in signals:
        _style(ax)
        _shade_steps(ax, runs)
        for a, b in trace.gaps_s.tolist():
            ax.axvspan(a, b, facecolor="none", edgecolor="#999999", hatch="///", linewidth=0)
        _signal(ax, t, y, breaks, color=_SIGNAL_COLOUR, linewidth=0.6)
        ax.set_ylabel(f"{label}\n(m/s²)", fontsize=9.5)
        _symmetric_limits(ax, y)
    if 0 < len(steps) <= _MAX_STEP_MARKERS and t.size:
        # each initial contact on the vertical trace, pointing the way the step went
        v_at = np.interp(steps.time_s, t, trace.vertical_mps2)
        for direction, colour, marker in (
            ("forward", FORWARD_COLOUR, ">"),
            ("backward", BACKWARD_COLOUR, "<"),
        ):
            mine = steps.direction == direction
            if mine.any():
                axes[0].scatter(
                    steps.time_s[mine], v_at[mine], s=16, color=colour, marker=marker, zorder=3, linewidths=0
                )
    if window is not None:
        axes[0].axvspan(*window, facecolor="none", edgecolor="#222222", linewidth=1.2, zorder=4)
    handles = [
        Patch(color=FORWARD_COLOUR, alpha=0.35, label="forward steps"),
        Patch(color=BACKWARD_COLOUR, alpha=0.35, label="backward steps"),
    ]
    axes[0].legend(handles=handles, loc="upper right", ncol=2, fontsize=8.5, frameon=True, framealpha=0.9)
    axes[0].set_title(
        "The whole recording: acceleration along the body axes (gravity removed), steps shaded by direction; "
        "the box is the close-up",
        fontsize=10,
        loc="left",
        color="#333333",
    )

    ax = axes[3]
    _style(ax)
    for direction, colour in (("forward", FORWARD_COLOUR), ("backward", BACKWARD_COLOUR)):
        mine = steps.time_s[steps.direction == direction]
        xs = np.concatenate([[t0], mine, [t0 + duration]])
        ys = np.concatenate([[0], np.arange(1, mine.size + 1), [mine.size]])
        ax.plot(xs, ys, drawstyle="steps-post", color=colour, linewidth=2.0)
        ax.annotate(
            f" {mine.size} {direction}",
            (xs[-1], ys[-1]),
            color=colour,
            fontsize=9.5,
            fontweight="bold",
            va="center",
            ha="left",
            annotation_clip=False,
        )
    ax.set_ylabel("steps so far", fontsize=9.5)
    ax.set_ylim(bottom=-0.02 * max(1, counts["forward"], counts["backward"]))
    ax.set_ylim(top=max(1, counts["forward"], counts["backward"]) * 1.1)

    ax = axes[4]
    _style(ax)
    if len(steps) >= 2:
        at = np.linspace(t0, t0 + duration, min(4000, max(200, int(duration * 2))))
        cadence = cadence_series(steps.time_s, steps.end_s, at)
        ax.fill_between(at, cadence, color="#444444", alpha=0.15, linewidth=0)
        ax.plot(at, cadence, color="#444444", linewidth=1.3)
        ax.set_ylim(0, max(140.0, float(cadence.max()) * 1.1))
    else:
        ax.set_ylim(0, 140)
    ax.set_ylabel("cadence\n(steps/min)", fontsize=9.5)
    ax.set_xlim(t0, t0 + duration)
    ax.set_xlabel(_time_axis(ax, duration), fontsize=9.5)
    return fig


def _fill_days(
    days: Sequence[DayTotal], today: dt.date | None
) -> tuple[list[dt.date], np.ndarray, np.ndarray]:
    """Every calendar day from the first in ``days`` (at the latest 13 days before ``today``) to ``today``
    (or the last day), with zeros where none."""
    if not days:
        return [], np.zeros(0), np.zeros(0)
    first = days[0].date
    if today is not None:
        # at least the two weeks the figure compares
        first = min(first, today - dt.timedelta(days=13))
    last = max(days[-1].date, today) if today is not None else days[-1].date
    n = (last - first).days + 1
    dates = [first + dt.timedelta(days=i) for i in range(n)]
    forward = np.zeros(n)
    backward = np.zeros(n)
    for d in days:
        i = (d.date - first).days
        forward[i] += d.forward
        backward[i] += d.backward
    return dates, forward, backward


def week_comparison(days: Sequence[DayTotal], today: dt.date) -> dict[str, int]:
    """Steps of the last 7 days (today included) and of the 7 days before, per direction."""
    out = {"forward_week": 0, "backward_week": 0, "forward_previous": 0, "backward_previous": 0}
    for d in days:
        age = (today - d.date).days
        key = "week" if 0 <= age < 7 else "previous" if 7 <= age < 14 else None
        if key is not None:
            out[f"forward_{key}"] += d.forward
            out[f"backward_{key}"] += d.backward
    return out


def _change(now: int, before: int) -> str:
    if before == 0:
        return "no steps the week before" if now else "none either week"
    return f"{100.0 * (now - before) / before:+.0f} % on the week before ({before:,})"


def history_figure(days: Sequence[DayTotal], *, today: dt.date | None = None) -> Figure:
    """Forward and backward steps per day, each with its 7-day mean, and this week against the last.

    Parameters
    ----------
    days : sequence of DayTotal
        From :func:`gaitdir.history.daily_totals`, oldest first.
    today : date, optional
        The local date of today (default: the clock's); the axis runs up to it.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    today = today or dt.date.today()
    fig = _new_figure(6.8)
    axes = fig.subplots(2, 1, sharex=True)
    dates, forward, backward = _fill_days(days, today)
    week = week_comparison(days, today)
    today_back = int(backward[-1]) if dates and dates[-1] == today else 0
    fig.suptitle(
        f"Backward steps: {today_back:,} today,  {week['backward_week']:,} in the last 7 days",
        fontsize=15,
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    fig.text(
        0.01,
        0.925,
        f"backward: {_change(week['backward_week'], week['backward_previous'])}   ·   "
        f"forward: {week['forward_week']:,} in the last 7 days, "
        f"{_change(week['forward_week'], week['forward_previous'])}",
        fontsize=9.5,
        color="#555555",
        ha="left",
        va="top",
    )
    fig.get_layout_engine().set(rect=(0, 0, 1, 0.91))  # type: ignore[union-attr]
    for ax, values, colour, label in (
        (axes[0], backward, BACKWARD_COLOUR, "backward steps"),
        (axes[1], forward, FORWARD_COLOUR, "forward steps"),
    ):
        _style(ax)
        if dates:
            from matplotlib.dates import date2num

            # the last 7 days, which the title compares with the 7 before
            week_start = date2num(today - dt.timedelta(days=6)) - 0.5
            ax.axvspan(week_start, date2num(today) + 0.5, color="#f0f0f0", linewidth=0, zorder=0)
            ax.bar(dates, values, width=0.8, color=colour, alpha=0.9, label=f"{label} per day")
            mean = np.convolve(values, np.ones(7), mode="full")[: values.size] / np.minimum(
                np.arange(1, values.size + 1), 7
            )
            ax.plot(dates, mean, color="#222222", linewidth=1.6, label="mean of the 7 days up to each day")
            ax.legend(loc="upper left", fontsize=8.5, frameon=False, ncol=2)
            ax.set_ylim(0, max(1.0, float(values.max()), float(mean.max())) * 1.25)
            ax.annotate(
                "last 7 days",
                (week_start, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=8,
                color="#777777",
                va="top",
                ha="left",
            )
        else:
            ax.text(0.5, 0.5, "no sessions yet", transform=ax.transAxes, ha="center", color="#777777")
            ax.set_ylim(0, 1)
        ax.set_ylabel(f"{label}\nper day", fontsize=9.5)
    if dates:
        locator = AutoDateLocator(minticks=4, maxticks=12)
        axes[1].xaxis.set_major_locator(locator)
        axes[1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
        from matplotlib.dates import date2num

        axes[1].set_xlim(date2num(dates[0]) - 0.6, date2num(dates[-1]) + 0.6)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, in 256 colours.

    A figure of lines and flat colours loses nothing visible in a palette, and its file (and the page
    that embeds it) becomes about a third of the full-colour size.
    """
    from PIL import Image  # installed with matplotlib, which draws through it

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _clock(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d} min"


# --------------------------------------------------------------------------------------------------
# Pages

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 2em auto;
       max-width: 1340px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.counts { font-size: 1.35em; margin: 0.3em 0 0.8em; }
.counts b { font-size: 1.3em; }
.forward { color: #0072B2; } .backward { color: #D55E00; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { text-align: left; padding: 0.15em 1.2em 0.15em 0; vertical-align: top; }
td.n, th.n { text-align: right; }
th { color: #555; font-weight: 600; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, footer { color: #666; font-size: 0.9em; }
details { margin: 1em 0; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="gaitdir {html.escape(__version__)}">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"<footer>Made by gaitdir {html.escape(__version__)} on "
        f"{html.escape(dt.datetime.now().astimezone().isoformat(timespec='seconds'))}.</footer>\n"
        "</body>\n</html>\n"
    )


def _img(png: bytes, alt: str) -> str:
    # A PNG starts with its signature and the IHDR chunk: width and height are bytes 16-24.
    width, height = struct.unpack(">II", png[16:24])
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img id="figure" src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{html.escape(alt)}">'
    )


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)


def recording_html(trace: RecordingTrace, png: bytes) -> str:
    """A self-contained page: the counts, where the front came from, the figure and every step."""
    counts = trace.counts()
    steps = trace.steps
    e = html.escape
    reference = trace.forward_reference
    front = "not found (no steps)"
    if reference is not None:
        source = str(reference["source"])
        front = f"{source}: {FORWARD_SOURCES.get(source, source)}"
    axis = "—"
    if reference is not None and reference.get("axis") is not None:
        axis = ", ".join(f"{a:+.3f}" for a in reference["axis"])
    elif trace.front_axis_sensor is not None:
        axis = ", ".join(f"{a:+.3f}" for a in trace.front_axis_sensor) + " (found from the first steps)"
    facts = [
        ("file", trace.source or trace.name),
        ("format", trace.meta.get("format", "—")),
        ("sensor", trace.meta.get("sensor", "—")),
        ("placement", trace.placement),
        ("duration", _clock(trace.duration_s)),
        ("front came from", front),
        ("front, sensor axis", axis),
    ]
    if trace.meta.get("subject"):
        facts.append(("subject", trace.meta["subject"]))
    alt = (
        f"{trace.name}: {counts['steps']} steps, {counts['forward']} forward, {counts['backward']} backward; "
        "acceleration along the body axes with each step shaded by direction, running counts and cadence"
    )
    body = [
        f"<h1>{e(trace.name)}</h1>",
        f'<p class="counts" id="counts"><b>{counts["steps"]}</b> steps: '
        f'<span class="forward"><b id="forward">{counts["forward"]}</b> forward</span>, '
        f'<span class="backward"><b id="backward">{counts["backward"]}</b> backward</span></p>',
        f"<table>{_rows(facts)}</table>",
        f"<figure>{_img(png, alt)}<figcaption>Top three panels: the acceleration the step detector works "
        "on, along the wearer's body axes (vertical; anterior-posterior; medio-lateral), gravity removed. "
        f'Each step is shaded from its initial contact to the next, <span class="forward">blue</span> '
        f'forward and <span class="backward">orange</span> backward; triangles mark the contacts. '
        "Then the running count of each direction, and the cadence over the last 10 s.</figcaption></figure>",
    ]
    if len(steps):
        shown = min(len(steps), _MAX_STEP_ROWS)
        rows = "\n".join(
            f'<tr><td class="n">{i + 1}</td><td class="n">{ts:.3f}</td><td class="n">{d:.3f}</td>'
            f'<td class="{direction}">{direction}</td><td class="n">{c:.2f}</td></tr>'
            for i, (ts, d, direction, c) in enumerate(
                zip(
                    steps.time_s[:shown].tolist(),
                    steps.duration_s[:shown].tolist(),
                    steps.direction[:shown].tolist(),
                    steps.confidence[:shown].tolist(),
                    strict=True,
                )
            )
        )
        more = "" if shown == len(steps) else f" (the first {shown}; `gaitdir classify` writes them all)"
        body.append(
            f"<details><summary>Every step ({len(steps)}){e(more)}</summary><table>"
            '<tr><th class="n">#</th><th class="n">contact (s)</th><th class="n">duration (s)</th>'
            f'<th>direction</th><th class="n">confidence</th></tr>\n{rows}</table></details>'
        )
    return _page(f"gaitdir report: {trace.name}", "\n".join(body))


def history_html(
    days: Sequence[DayTotal],
    sessions: Sequence[SessionRecord],
    png: bytes,
    *,
    history_file: str | None = None,
) -> str:
    """A self-contained page of the history: the figure, the totals per day and the sessions."""
    e = html.escape
    total_f = sum(d.forward for d in days)
    total_b = sum(d.backward for d in days)
    body = [
        "<h1>Steps per day</h1>",
        f'<p class="counts" id="counts"><b>{total_f + total_b:,}</b> steps in {len(sessions)} sessions: '
        f'<span class="forward"><b id="forward">{total_f:,}</b> forward</span>, '
        f'<span class="backward"><b id="backward">{total_b:,}</b> backward</span></p>',
        f"<figure>{_img(png, 'forward and backward steps per day with their 7-day means')}</figure>",
    ]
    if days:
        rows = "\n".join(
            f'<tr><td>{d.date.isoformat()}</td><td class="n">{d.sessions}</td><td class="n">{d.steps:,}</td>'
            f'<td class="n forward">{d.forward:,}</td><td class="n backward">{d.backward:,}</td></tr>'
            for d in reversed(days)
        )
        body.append(
            '<h2>Days</h2><table><tr><th>date</th><th class="n">sessions</th><th class="n">steps</th>'
            f'<th class="n">forward</th><th class="n">backward</th></tr>\n{rows}</table>'
        )
    if sessions:
        rows = "\n".join(
            f'<tr><td class="n">{s.id}</td><td>{e(s.started.strftime("%Y-%m-%d %H:%M"))}</td>'
            f"<td>{e(s.sensor or '—')}</td><td>{e(s.placement or '—')}</td>"
            f'<td class="n">{s.steps:,}</td><td class="n forward">{s.forward:,}</td>'
            f'<td class="n backward">{s.backward:,}</td><td>{e(s.status)}</td></tr>'
            for s in reversed(sessions)
        )
        body.append(
            '<h2>Sessions</h2><table><tr><th class="n">id</th><th>started</th><th>sensor</th>'
            '<th>placement</th><th class="n">steps</th><th class="n">forward</th><th class="n">backward</th>'
            "<th>status</th></tr>"
            f"\n{rows}</table>"
        )
    if history_file:
        body.append(f"<p>History file: <code>{e(history_file)}</code></p>")
    return _page("gaitdir: steps per day", "\n".join(body))


def write_report(out_dir: str | Path, stem: str, png: bytes, page: str) -> tuple[Path, Path]:
    """Write ``out_dir/<stem>.png`` and ``out_dir/<stem>.html``, each atomically (temporary name, rename).

    Returns
    -------
    (Path, Path)
        The PNG and the page.
    """
    from gaitdir.recordings._writers import atomic_binary_writer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png_path, html_path = out / f"{stem}.png", out / f"{stem}.html"
    with atomic_binary_writer(png_path) as handle:
        handle.write(png)
    with atomic_binary_writer(html_path) as handle:
        handle.write(page.encode("utf-8"))
    return png_path, html_path
