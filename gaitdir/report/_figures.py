"""The report's figures (matplotlib, Agg canvas: no display and no global pyplot state)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitdir.report._trace import (
    FORWARD_SOURCES,
    RecordingTrace,
    cadence_series,
    clock_text,
    direction_runs,
    envelope,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gaitdir.history import DayTotal
    from gaitdir.pipeline import StepTable

#: Colours of the two directions (Okabe-Ito blue and vermillion: told apart with every colour vision).
FORWARD_COLOUR = "#0072B2"
BACKWARD_COLOUR = "#D55E00"
_SIGNAL_COLOUR = "#333333"

# Figures are drawn at this size; the page shows them at their natural width.
_WIDTH_IN, _DPI = 12.0, 110
# Per-step markers are drawn up to this many steps; beyond, the direction bands alone carry them.
_MAX_STEP_MARKERS = 1500


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
        f"{clock_text(duration)} long",
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

    runs = direction_runs(steps)
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
