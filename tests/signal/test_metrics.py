"""match_steps, matched_references, score_recording: scoring detected against reference contacts."""

from __future__ import annotations

import numpy as np
import pytest

from gaitdir.recordings import Recording
from gaitdir.signal import match_steps, matched_references, score_recording


def test_perfect_match() -> None:
    ref = np.arange(10) * 0.5
    m = match_steps(ref + 0.05, ref)
    assert (m.tp, m.fp, m.fn) == (10, 0, 0)
    assert m.f1 == 1.0 and m.count_error == 0.0


def test_one_to_one_two_detections_near_one_reference() -> None:
    m = match_steps([1.0, 1.05], [1.02])
    assert (m.tp, m.fp, m.fn) == (1, 1, 0)
    assert m.count_error == pytest.approx(1.0)


def test_maximises_pairs_not_greedy() -> None:
    # greedy nearest-first would pair 1.1 with 1.15 and leave 0.95 unmatched
    m = match_steps([1.1, 1.3], [0.95, 1.15], tolerance_s=0.2)
    assert m.tp == 2


def test_tolerance_and_window() -> None:
    m = match_steps([1.0, 5.0, 9.0], [1.25, 5.0, 20.0], tolerance_s=0.2, window_s=(0.0, 10.0))
    assert (m.tp, m.fp, m.fn) == (1, 2, 1)
    assert m.f1 == pytest.approx(2 / (2 + 3))


def test_empty_inputs() -> None:
    assert match_steps([], []).f1 == 1.0
    m = match_steps([], [1.0, 2.0])
    assert (m.tp, m.fn, m.count_error) == (0, 2, -1.0)
    assert match_steps([1.0], []).count_error == float("inf")


def test_pooling_adds_counts() -> None:
    a = match_steps([1.0], [1.0, 2.0])
    b = match_steps([3.0, 4.0], [3.0])
    pooled = a + b
    assert (pooled.tp, pooled.fp, pooled.fn) == (2, 1, 1)
    assert pooled.count_error == 0.0


def test_window_keeps_detections_of_its_edge_contacts() -> None:
    # the window ends at the last annotated contact: its detection 50 ms later still matches, while a
    # detection beyond the tolerance is not scored and a reference outside the window is not either
    m = match_steps([1.0, 2.05, 2.5], [1.0, 2.0, 2.4], tolerance_s=0.2, window_s=(1.0, 2.0))
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)
    # an unmatched detection inside the widened window is a false one
    m = match_steps([1.0, 2.15], [1.0], tolerance_s=0.2, window_s=(1.0, 2.0))
    assert (m.tp, m.fp, m.fn) == (1, 1, 0)


def test_matched_references_flags_in_the_given_order() -> None:
    flags = matched_references([2.02, 0.9], [3.0, 2.0, 1.0, 9.0], tolerance_s=0.2, window_s=(0.0, 5.0))
    np.testing.assert_array_equal(flags, [False, True, True, False])
    m = match_steps([2.02, 0.9], [3.0, 2.0, 1.0, 9.0], tolerance_s=0.2, window_s=(0.0, 5.0))
    assert m.tp == int(flags.sum())


def test_score_recording_uses_the_recordings_reference() -> None:
    t = np.arange(0.0, 10.0, 0.01)
    rec = Recording(t, np.tile([0.0, 0.0, 9.81], (t.size, 1)))
    assert score_recording([1.0], rec) is None
    rec.reference_steps_s = np.array([1.0, 2.0, 3.0])
    rec.reference_window_s = (0.5, 2.5)
    m = score_recording(np.array([1.05, 2.1, 3.0]), rec)
    assert m is not None and (m.tp, m.fp, m.fn) == (2, 0, 0)
