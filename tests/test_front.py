"""The wearer's front: where it comes from, the evidence carried within bouts, calibration from a walk."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import CalibrationError, ModelError
from gaitdir.model.front import (
    FIRST_STEPS,
    BoutEvidence,
    ForwardReference,
    calibrate_recording,
    recording_forward_reference,
    resolve_forward_reference,
)
from gaitdir.recordings import Recording, read_recording

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def test_sources_in_order() -> None:
    everything = {"option": "+y", "file_axis": "+x", "calibration": [0, 0, 1], "sensor": "polar-h10"}
    assert resolve_forward_reference(**everything, placement="chest").source == "option"
    assert resolve_forward_reference(**{**everything, "option": None}, placement="chest").source == "file"
    only = {"calibration": [0, 0, 1], "sensor": "polar-h10", "placement": "chest"}
    assert resolve_forward_reference(**only).source == "calibration"
    profile = resolve_forward_reference(sensor="Polar H10", placement="chest")
    assert profile.source == "sensor-profile" and profile.axis == (0.0, 0.0, 1.0)
    # A placement that does not fix the front, an unknown sensor, nothing: the first steps (no axis).
    assert resolve_forward_reference(sensor="polar-h10", placement="pocket") is FIRST_STEPS
    assert resolve_forward_reference(sensor="toaster", placement="chest") is FIRST_STEPS
    assert FIRST_STEPS.to_dict() == {"source": "first-steps", "axis": None} and not FIRST_STEPS.known
    assert (
        recording_forward_reference({"sensor": "polar-h10", "placement": "chest"}).source == "sensor-profile"
    )
    assert recording_forward_reference({"forward_axis": "-z"}).to_dict() == {
        "source": "file",
        "axis": [0, 0, -1],
    }
    with pytest.raises(ModelError):
        resolve_forward_reference(option="sideways")
    with pytest.raises(ModelError):
        ForwardReference.from_axis("+x", "first-steps")


def _steps(n: int, *, start: float = 0.0, step_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    s = start + step_s * np.arange(n)
    return s, s + step_s


def test_bout_evidence_carries_within_a_bout_and_starts_afresh_after_a_stop() -> None:
    ev = BoutEvidence(decay=0.5, gap_s=0.5, hold_margin=3.0, max_held=2)
    s, e = _steps(4)
    # Weak first steps wait; the third releases all three with its carried evidence (1 + 0.5*1.5 ...).
    out = ev.push(np.array([1.0, 1.0, 2.0, -0.5]), s, e)
    assert out.shape == (4,) and ev.held_ == 0
    assert out[0] == out[1] == out[2] == pytest.approx(2.0 + 0.5 * (1.0 + 0.5 * 1.0))
    assert out[3] == pytest.approx(-0.5 + 0.5 * out[2]) and out[3] > 0  # one odd step follows the bout
    # After a pause longer than the gap, a new bout: its first step waits, then goes with the next.
    s2, e2 = _steps(2, start=float(e[-1]) + 2.0)
    first = ev.push(np.array([-1.0]), s2[:1], e2[:1])
    assert first.size == 0 and ev.held_ == 1
    second = ev.push(np.array([-4.0]), s2[1:], e2[1:])
    assert second.tolist() == pytest.approx([-4.5, -4.5])
    # The end of a stream releases what waits.
    ev.push(np.array([0.1]), np.array([100.0]), np.array([100.5]))
    assert ev.flush().tolist() == [pytest.approx(0.1)] and ev.held_ == 0
    # A clear first step is not held at all.
    assert BoutEvidence().push(np.array([5.0]), np.array([0.0]), np.array([0.5])).tolist() == [5.0]


def test_bout_evidence_gives_the_same_labels_however_the_steps_arrive() -> None:
    rng = np.random.default_rng(3)
    lo = rng.normal(0.5, 2.0, 60)
    s, e = _steps(60)
    e[20:] += 0.0
    s[30:] += 3.0  # a stop
    e[30:] += 3.0
    whole = BoutEvidence()
    expected = np.concatenate([whole.push(lo, s, e), whole.flush()])
    pieces = BoutEvidence()
    got, i = [], 0
    while i < 60:
        j = i + int(rng.integers(1, 5))
        got.append(pieces.push(lo[i:j], s[i:j], e[i:j]))
        i = j
    got.append(pieces.flush())
    np.testing.assert_array_equal(np.concatenate(got), expected)


def _without_front(path: Path) -> Recording:
    rec = read_recording(path)
    return replace(rec, meta={k: v for k, v in rec.meta.items() if k != "forward_axis"})


def test_calibration_finds_the_front_of_forward_walks() -> None:
    for name in ("bandai1_walk_normal_001.csv", "bandai1_walk_angry_002.csv"):
        result = calibrate_recording(_without_front(DATASETS / "mocap-backward" / name))
        assert float(np.dot(result.forward_axis, [1.0, 0.0, 0.0])) > 0.95, name
        assert result.steps >= 6 and result.agreement >= 0.75 and result.heading_change_deg is None
    ipol = calibrate_recording(_without_front(DATASETS / "ipol-healthy-gait" / "GaitData" / "10-1_lb.txt"))
    assert float(np.dot(ipol.forward_axis, [0.0, 0.0, -1.0])) > 0.9
    assert ipol.heading_change_deg is not None and ipol.heading_change_deg < 45


def test_calibration_refuses_turning_and_too_short_walks() -> None:
    trial = _without_front(DATASETS / "ipol-healthy-gait" / "GaitData" / "1-1_lb.txt")
    # Asked for more steps than the first straight leg has, the walk takes in the U-turn (gyroscope).
    with pytest.raises(CalibrationError, match="turned by about"):
        calibrate_recording(trial, target_steps=40, min_steps=12)
    clip = _without_front(DATASETS / "mocap-backward" / "bandai1_walk_normal_001.csv")
    short = replace(
        clip,
        time_s=clip.time_s[:250],
        acc_mps2=clip.acc_mps2[:250],
        labels=None if clip.labels is None else clip.labels[:250],
    )
    with pytest.raises(CalibrationError, match=r"steps of walking were found|no walking"):
        calibrate_recording(short)
