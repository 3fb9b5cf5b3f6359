"""match_steps: one-to-one matching of detected and reference contacts."""

from __future__ import annotations

import numpy as np
import pytest

from gaitdir.signal import match_steps


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
