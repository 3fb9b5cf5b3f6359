"""The detector's shortcuts for day-long files give exactly what the general code gives."""

from __future__ import annotations

import numpy as np
import pytest

from gaitdir.signal import StepBatch, StepDetector, detect_steps
from gaitdir.signal._orientation import BodyFrameEstimator

_FIELDS = ("start_s", "end_s", "start_idx", "end_idx", "inferred_ic", "ap_axis_sensor")


def _assert_same(a: list[StepBatch], b: list[StepBatch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for field in _FIELDS:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field))
        assert x.emitted_s == y.emitted_s
        for field in ("vertical_mps2", "ap_mps2", "ml_mps2"):
            np.testing.assert_array_equal(getattr(x.body, field), getattr(y.body, field))


@pytest.mark.parametrize(
    ("source", "name", "params"),
    [
        ("ipol", "8-3_lb.txt", {}),
        # late contacts (early_emit) and filled gaps leave the shortcut for the general code
        ("ipol", "10-2_lb.txt", {"early_emit": 2.5}),
        ("oxford", "neckpouch", {}),
    ],
)
def test_in_stride_shortcut_equals_general_path(
    ipol, oxford, monkeypatch: pytest.MonkeyPatch, source: str, name: str, params: dict
) -> None:
    rec = ipol(name) if source == "ipol" else oxford(name)
    taken = []
    shortcut = StepDetector._contact_in_stride

    def counting(self: StepDetector, ic: int, steps: list) -> bool:
        ok = shortcut(self, ic, steps)
        taken.append(ok)
        return ok

    monkeypatch.setattr(StepDetector, "_contact_in_stride", counting)
    fast = detect_steps(rec, chunk_s=7.3, **params)
    assert sum(taken) > 20  # the shortcut really ran
    monkeypatch.setattr(StepDetector, "_contact_in_stride", lambda self, ic, steps: False)
    general = detect_steps(rec, chunk_s=7.3, **params)
    assert sum(len(b) for b in general) > 20
    _assert_same(fast, general)


def test_expand_equals_repeat() -> None:
    rng = np.random.default_rng(3)
    est = BodyFrameEstimator(100.0)
    for k0, m in ((0, 1000), (13, 997), (24, 30), (5, 3)):
        pts = est._update_points(k0, m)
        axes = rng.normal(size=(pts.size, 3))
        previous = rng.normal(size=3)
        got = BodyFrameEstimator._expand(axes, pts, m, previous)
        first = int(pts[0]) if pts.size else m
        want = np.vstack([np.tile(previous, (first, 1)), np.repeat(axes, np.diff(np.append(pts, m)), axis=0)])
        np.testing.assert_array_equal(got, want)
