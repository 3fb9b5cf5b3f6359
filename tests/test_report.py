"""Report figures: what is drawn is what the pipeline found, every step marked in its direction's colour."""

from __future__ import annotations

import datetime as dt
import struct

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from gaitdir.history import DayTotal
from gaitdir.pipeline import StepTable, classify_recording
from gaitdir.recordings import Recording, read_recording, sample_recording_path
from gaitdir.report import (
    BACKWARD_COLOUR,
    FORWARD_COLOUR,
    RecordingTrace,
    cadence_series,
    close_up_window,
    envelope,
    figure_png,
    history_figure,
    recording_figure,
    recording_html,
    trace_recording,
    week_comparison,
)


@pytest.fixture(scope="module")
def sample() -> Recording:
    return read_recording(sample_recording_path())


@pytest.fixture(scope="module")
def trace(sample: Recording) -> RecordingTrace:
    return trace_recording(sample)


def test_trace_has_the_steps_classify_finds_and_the_whole_body_signal(
    sample: Recording, trace: RecordingTrace
) -> None:
    steps = classify_recording(sample)
    assert trace.counts() == steps.counts()
    np.testing.assert_array_equal(trace.steps.time_s, steps.time_s)
    np.testing.assert_array_equal(trace.steps.direction, steps.direction)
    # the detector's even 100 Hz grid over the whole recording, three body axes
    assert trace.time_s[0] == pytest.approx(sample.time_s[0])
    assert trace.time_s[-1] == pytest.approx(sample.time_s[-1], abs=0.011)
    np.testing.assert_allclose(np.diff(trace.time_s), 0.01, atol=1e-9)
    assert trace.vertical_mps2.shape == trace.ap_mps2.shape == trace.ml_mps2.shape == trace.time_s.shape
    # gravity removed along the vertical: walking oscillates around zero
    assert abs(float(np.mean(trace.vertical_mps2))) < 0.5 < float(np.std(trace.vertical_mps2))
    assert trace.forward_reference is not None and trace.forward_reference["source"] == "first-steps"
    assert trace.ap_oriented


def test_a_given_forward_axis_is_named_as_the_source(sample: Recording) -> None:
    given = trace_recording(sample, forward_axis="+z")
    assert given.forward_reference is not None and given.forward_reference["source"] == "option"
    sample_with_axis = Recording(sample.time_s, sample.acc_mps2, meta={**sample.meta, "forward_axis": "+z"})
    from_file = trace_recording(sample_with_axis)
    assert from_file.forward_reference is not None and from_file.forward_reference["source"] == "file"


def _markers(ax) -> dict[str, int]:
    """Markers drawn on an axes, counted per direction colour."""
    counts = {"forward": 0, "backward": 0}
    for collection in ax.collections:
        if not isinstance(collection, PathCollection):
            continue
        colour = tuple(collection.get_facecolor()[0])
        for name, ref in (("forward", FORWARD_COLOUR), ("backward", BACKWARD_COLOUR)):
            if np.allclose(colour[:3], to_rgba(ref)[:3]):
                counts[name] += len(collection.get_offsets())
    return counts


def _shaded(ax, colour: str) -> float:
    """Total time shaded in ``colour`` on an axes (s)."""
    return sum(
        patch.get_width()
        for patch in ax.patches
        if isinstance(patch, Rectangle) and np.allclose(patch.get_facecolor()[:3], to_rgba(colour)[:3])
    )


def test_every_step_is_marked_in_its_direction_colour() -> None:
    # A made-up walk of known steps: 6 forward, 4 backward, 5 forward.
    t = np.arange(0, 12, 0.01)
    starts = np.arange(15) * 0.6 + 1.0
    directions = np.array(["forward"] * 6 + ["backward"] * 4 + ["forward"] * 5)
    steps = StepTable(
        time_s=starts,
        duration_s=np.full(15, 0.6),
        direction=directions.astype("<U8"),
        confidence=np.full(15, 0.9),
        emitted_s=starts + 1.0,
    )
    trace = RecordingTrace(
        name="made-up.csv",
        source="made-up.csv",
        time_s=t,
        vertical_mps2=np.sin(2 * np.pi * 1.7 * t),
        ap_mps2=np.cos(2 * np.pi * 1.7 * t),
        ml_mps2=0.3 * np.sin(np.pi * 1.7 * t),
        ap_oriented=True,
        segment_start=np.r_[True, np.zeros(t.size - 1, bool)],
        steps=steps,
        placement="chest",
        forward_reference={"source": "file", "axis": [1.0, 0.0, 0.0]},
        duration_s=float(t[-1]),
    )
    fig = recording_figure(trace)
    close_up, vertical, ap, ml, running, _cadence = fig.axes
    # each contact marked on the whole recording's vertical trace, in its own colour
    assert _markers(vertical) == {"forward": 11, "backward": 4}
    # each direction shaded for exactly its steps' time on every signal panel
    for ax in (vertical, ap, ml):
        assert _shaded(ax, FORWARD_COLOUR) == pytest.approx(11 * 0.6)
        assert _shaded(ax, BACKWARD_COLOUR) == pytest.approx(4 * 0.6)
    # the running counts end at the totals
    finals = sorted(int(line.get_ydata()[-1]) for line in running.lines)
    assert finals == [4, 11]
    # the close-up shows the change of direction (the first backward step is step 7)
    lo, hi = close_up.get_xlim()
    assert lo < starts[6] < hi
    arrows = [text.get_text() for text in close_up.texts if text.get_text() in ("\u2192", "\u2190")]
    assert "\u2190" in arrows and "\u2192" in arrows
    png = figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1200 and height >= 1200


def test_html_embeds_the_figure_and_states_counts_and_front(trace: RecordingTrace) -> None:
    png = figure_png(recording_figure(trace))
    page = recording_html(trace, png)
    assert "data:image/png;base64," in page and 'src="http' not in page  # self-contained
    assert '<b id="forward">134</b>' in page and '<b id="backward">0</b>' in page
    assert "first-steps" in page and "chest" in page
    assert page.count('<tr><td class="n">') == len(trace.steps)  # every step listed


def test_cadence_series_matches_walking_and_falls_to_zero_when_standing() -> None:
    starts = np.arange(0, 10, 0.5)  # 120 steps/min for 10 s, then standing
    ends = starts + 0.5
    at = np.array([0.2, 5.0, 9.9, 11.0, 20.0])
    cadence = cadence_series(starts, ends, at)
    assert cadence[0] == 0.0  # fewer than two steps yet
    assert cadence[1] == pytest.approx(120.0)
    assert cadence[2] == pytest.approx(120.0)
    assert cadence[3] == pytest.approx(120.0)  # paused less than 2.5 s
    assert cadence[4] == 0.0


def test_envelope_keeps_every_extreme() -> None:
    t = np.linspace(0, 100, 200_001)
    y = np.sin(t)
    y[123_457] = 9.0
    y[54_321] = -7.0
    tt, yy = envelope(t, y, bins=500)
    assert tt.size <= 1002 and yy.max() == 9.0 and yy.min() == -7.0
    short_t, _short_y = envelope(t[:500], y[:500], bins=500)
    assert short_t.size == 500


def test_close_up_goes_where_the_direction_changes() -> None:
    n = 40
    direction = np.array(["forward"] * 25 + ["backward"] * 15).astype("<U8")
    steps = StepTable(np.arange(n) * 0.5, np.full(n, 0.5), direction, np.ones(n), np.arange(n) * 0.5)
    lo, hi = close_up_window(steps)
    assert lo < 25 * 0.5 < hi
    assert close_up_window(StepTable()) is None


def test_week_comparison_and_history_figure() -> None:
    today = dt.date(2026, 12, 5)
    days = [
        DayTotal(today - dt.timedelta(days=9), 120, 100, 20, 1),  # the week before
        DayTotal(today - dt.timedelta(days=3), 150, 100, 50, 1),
        DayTotal(today, 80, 50, 30, 2),
    ]
    week = week_comparison(days, today)
    assert week == {
        "forward_week": 150,
        "backward_week": 80,
        "forward_previous": 100,
        "backward_previous": 20,
    }
    fig = history_figure(days, today=today)
    backward_ax, _forward_ax = fig.axes
    bars = [
        p
        for p in backward_ax.patches
        if isinstance(p, Rectangle) and np.allclose(p.get_facecolor()[:3], to_rgba(BACKWARD_COLOUR)[:3])
    ]
    # one bar per calendar day up to today; days without steps are empty bars
    assert len(bars) == 14  # two weeks at least: the ones compared
    assert sorted(b.get_height() for b in bars if b.get_height() > 0) == [20, 30, 50]
    assert fig.get_suptitle() == "Backward steps: 30 today,  80 in the last 7 days"
    assert any("backward: +300 % on the week before (20)" in text.get_text() for text in fig.texts)
    png = figure_png(fig)
    assert png[:4] == b"\x89PNG"
