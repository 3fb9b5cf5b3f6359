"""StepPipeline and classify_recording on real IPOL lower-back recordings, rotated and mirrored.

IPOL healthy gait (Voisard et al., IPOL 2023, AGPL-3.0) is read by path from ../shared/datasets. All its
walking is forward; the model used here is trained on subjects 5–14 and tested on subjects 1–3.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gaitdir.errors import ModelError
from gaitdir.model import DirectionModel, parse_forward_axis, train_model
from gaitdir.pipeline import StepPipeline, StepTable, classify_recording, iter_classify_recording
from gaitdir.recordings import Recording, read_recording, sample_recording_path
from gaitdir.signal import StepDetector, recording_chunks

REPO = Path(__file__).resolve().parents[1]
IPOL = REPO / ".." / "shared" / "datasets" / "ipol-healthy-gait" / "GaitData"
MOCAP = REPO / ".." / "shared" / "datasets" / "mocap-backward"
# IPOL's lower-back sensor: x is roughly up, z points out of the back (its front is −z).
IPOL_FORWARD_AXIS = np.array([0.0, 0.0, -1.0])


def _ipol(subjects: range, trials: range) -> list[Recording]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            read_recording(IPOL / f"{s}-{t}_lb.txt")
            for s in subjects
            for t in trials
            if (IPOL / f"{s}-{t}_lb.txt").exists()
        ]


@pytest.fixture(scope="module")
def model() -> DirectionModel:
    return train_model(_ipol(range(5, 15), range(1, 7)))


@pytest.fixture(scope="module")
def held_out() -> list[Recording]:
    return _ipol(range(1, 4), range(1, 3))


def _rotated(rec: Recording, rotation: Rotation) -> Recording:
    """The same walk with the sensor mounted differently: data and the front in sensor axes rotate."""
    matrix = rotation.as_matrix()
    meta = dict(rec.meta)
    if "forward_axis" in meta:
        meta["forward_axis"] = ",".join(
            str(v) for v in rotation.apply(parse_forward_axis(meta["forward_axis"]))
        )
    return replace(rec, acc_mps2=rec.acc_mps2 @ matrix.T, gyr_radps=rec.gyr_radps @ matrix.T, meta=meta)


def _front_unknown(rec: Recording) -> Recording:
    """The recording without its ``forward_axis`` metadata: the first steps calibrate the front."""
    return replace(rec, meta={k: v for k, v in rec.meta.items() if k != "forward_axis"})


def _specificity(tables: list[StepTable]) -> float:
    counts = StepTable.concat(tables).counts()
    return counts["forward"] / counts["steps"]


def _rotations(recordings: list[Recording]) -> dict[str, Rotation]:
    """Mountings to test: turned about the vertical, flipped, and arbitrary."""
    gravity = np.mean(
        [r.acc_mps2.mean(axis=0) / np.linalg.norm(r.acc_mps2.mean(axis=0)) for r in recordings], axis=0
    )
    vertical = gravity / np.linalg.norm(gravity)
    return {
        "180° about the vertical (strap turned round)": Rotation.from_rotvec(np.pi * vertical),
        "flipped clip (180° about the sensor's y axis)": Rotation.from_rotvec([0.0, np.pi, 0.0]),
        "180° about the sensor's x axis": Rotation.from_rotvec([np.pi, 0.0, 0.0]),
        "arbitrary 1": Rotation.from_rotvec([0.7, -1.9, 2.5]),
        "arbitrary 2": Rotation.random(random_state=7),
    }


def test_step_table() -> None:
    a = StepTable(
        time_s=np.array([1.0, 2.0]),
        duration_s=np.array([0.5, 0.5]),
        direction=np.array(["forward", "backward"]),
        confidence=np.array([0.9, 0.6]),
        emitted_s=np.array([1.8, 2.9]),
    )
    b = StepTable.concat([StepTable(), a, a])
    assert len(b) == 4 and len(StepTable()) == 0
    assert b.counts() == {"steps": 4, "forward": 2, "backward": 2}
    np.testing.assert_allclose(b.end_s, [1.5, 2.5, 1.5, 2.5])
    assert StepTable.concat([]).counts() == {"steps": 0, "forward": 0, "backward": 0}


@pytest.mark.parametrize(
    ("forward_axis", "hold"), [(None, False), (None, True), ("-z", False)], ids=["first-bout", "held", "axis"]
)
def test_chunked_stream_equals_classify_recording(
    model: DirectionModel, held_out: list[Recording], forward_axis: str | None, hold: bool
) -> None:
    """Live (random small chunks) and offline (whole recording) give the same labelled steps."""
    rng = np.random.default_rng(0)
    for rec in held_out[:3]:
        whole = StepPipeline(
            model, placement=rec.meta["placement"], forward_axis=forward_axis, hold_calibration_steps=hold
        )
        offline = StepTable.concat([whole.update(rec.time_s, rec.acc_mps2, rec.gyr_radps), whole.flush()])
        pipeline = StepPipeline(
            model, placement=rec.meta["placement"], forward_axis=forward_axis, hold_calibration_steps=hold
        )
        tables, i = [], 0
        while i < rec.n_samples:
            part = slice(i, i + int(rng.integers(1, 60)))
            tables.append(pipeline.update(rec.time_s[part], rec.acc_mps2[part], rec.gyr_radps[part]))
            i = part.stop
        tables.append(pipeline.flush())
        live = StepTable.concat(tables)
        if forward_axis is None and not hold:
            assert classify_recording(_front_unknown(rec), model=model).counts() == live.counts()
        assert offline.counts()["steps"] > 20
        assert live.counts() == offline.counts()
        np.testing.assert_allclose(live.time_s, offline.time_s, atol=1e-9)
        assert list(live.direction) == list(offline.direction)
        np.testing.assert_allclose(live.confidence, offline.confidence, atol=1e-6)
        assert np.all((live.confidence >= 0.5) & (live.confidence <= 1.0))
        # Labels come out only once the step is over.
        assert np.all(live.emitted_s >= live.end_s - 1e-9)


def test_threaded_classify_equals_serial(model: DirectionModel, held_out: list[Recording]) -> None:
    """Conditioning the next chunk in a worker thread is only a speed-up: bit-identical labelled steps."""
    for rec in held_out[:2]:
        for chunk_s in (4.0, 600.0):
            serial = classify_recording(rec, model=model, chunk_s=chunk_s, threaded=False)
            threaded = classify_recording(rec, model=model, chunk_s=chunk_s, threaded=True)
            assert len(serial) > 20
            for key in ("time_s", "duration_s", "direction", "confidence", "emitted_s"):
                np.testing.assert_array_equal(getattr(threaded, key), getattr(serial, key))


def test_pieces_as_labelled_make_up_classify_recording(
    model: DirectionModel, held_out: list[Recording]
) -> None:
    rec = held_out[0]
    whole = classify_recording(rec, model=model, chunk_s=5.0)
    pieces = list(iter_classify_recording(rec, model=model, chunk_s=5.0))
    # one piece per chunk, then the end of the recording's
    assert len(pieces) == len(list(recording_chunks(rec, 5.0))) + 1
    assert sum(len(p) for p in pieces) == len(whole) > 20
    joined = StepTable.concat(pieces)
    for key in ("time_s", "duration_s", "direction", "confidence", "emitted_s"):
        np.testing.assert_array_equal(getattr(joined, key), getattr(whole, key))


def test_forward_reference_is_reported(model: DirectionModel, held_out: list[Recording]) -> None:
    rec = held_out[0]
    calibrated = StepPipeline(model)
    calibrated.update(rec.time_s, rec.acc_mps2, rec.gyr_radps)
    calibrated.flush()
    assert calibrated.forward_reference_.source == "first-steps"
    axis = calibrated.forward_axis_sensor_
    assert axis is not None and abs(np.linalg.norm(axis) - 1) < 1e-9
    # The calibrated front agrees with the sensor's known mounting.
    assert np.dot(axis, IPOL_FORWARD_AXIS) > 0.5
    given = StepPipeline(model, forward_axis="-z")
    given.update(rec.time_s, rec.acc_mps2, rec.gyr_radps)
    assert given.forward_reference_.source == "option"
    np.testing.assert_allclose(given.forward_axis_sensor_, IPOL_FORWARD_AXIS)
    with pytest.raises(ModelError, match="forward axis"):
        StepPipeline(model, forward_axis="sideways").update(rec.time_s, rec.acc_mps2)


def test_rotated_sensor_keeps_forward_steps_forward(model: DirectionModel, held_out: list[Recording]) -> None:
    base = _specificity([classify_recording(r, model=model) for r in held_out])
    assert base > 0.85
    for name, rotation in _rotations(held_out).items():
        rotated = [_rotated(r, rotation) for r in held_out]
        calibrated = _specificity([classify_recording(_front_unknown(r), model=model) for r in rotated])
        from_file = _specificity([classify_recording(r, model=model) for r in rotated])
        assert from_file >= base - 0.03, name
        assert calibrated >= base - 0.03, name
        axis = rotation.apply(IPOL_FORWARD_AXIS)
        given = _specificity([classify_recording(r, model=model, forward_axis=axis) for r in rotated])
        assert given >= base - 0.03, name


def test_mirrored_ap_after_calibration_comes_out_backward(
    model: DirectionModel, held_out: list[Recording]
) -> None:
    """Calibrate on forward walking, then mirror the AP axis of the sensor data (AP → −AP, a reflection;
    not a time reversal): the same steps must now come out backward."""
    first, second = held_out[0], held_out[1]
    pipeline = StepPipeline(model)
    before = StepTable.concat([pipeline.update(first.time_s, first.acc_mps2, first.gyr_radps)])
    assert pipeline.forward_reference_.source == "first-steps"
    front = pipeline.forward_axis_sensor_
    assert front is not None
    reflect = np.eye(3) - 2.0 * np.outer(front, front)
    later = first.time_s[-1] + 0.01 + second.time_s
    after = StepTable.concat(
        [
            pipeline.update(later, second.acc_mps2 @ reflect.T, second.gyr_radps @ reflect.T),
            pipeline.flush(),
        ]
    )
    assert before.counts()["forward"] / len(before) > 0.85
    assert len(after) > 20
    assert after.counts()["backward"] / len(after) > 0.85
    # The same with a forward axis given the wrong way round.
    flipped = classify_recording(second, model=model, forward_axis=-IPOL_FORWARD_AXIS)
    assert flipped.counts()["backward"] / len(flipped) > 0.85


def _stream(pipeline: StepPipeline, rec: Recording, chunk: int = 10) -> StepTable:
    tables = []
    for i in range(0, rec.n_samples, chunk):
        part = slice(i, i + chunk)
        tables.append(pipeline.update(rec.time_s[part], rec.acc_mps2[part], rec.gyr_radps[part]))
    tables.append(pipeline.flush())
    return StepTable.concat(tables)


def test_calibration_latency(model: DirectionModel, held_out: list[Recording]) -> None:
    """By default calibration adds no latency (steps are labelled under the current best sign); when
    the calibration steps are held, only the first few steps of a session wait for the decision."""
    held_delay = []
    for rec in held_out:
        detector = StepDetector(placement=rec.meta["placement"])
        found = [
            detector.update(rec.time_s[i : i + 10], rec.acc_mps2[i : i + 10])
            for i in range(0, rec.n_samples, 10)
        ]
        found.append(detector.flush())
        detected_s = np.concatenate([np.full(len(b), b.emitted_s) for b in found])
        calibrated = _stream(StepPipeline(model), rec)
        held = _stream(StepPipeline(model, hold_calibration_steps=True), rec)
        np.testing.assert_allclose(calibrated.time_s, np.concatenate([b.start_s for b in found]))
        np.testing.assert_allclose(calibrated.emitted_s, detected_s)
        np.testing.assert_allclose(held.time_s, calibrated.time_s)
        held_delay.append(held.emitted_s - calibrated.emitted_s)
        # After the decision both modes label alike.
        assert list(held.direction[8:]) == list(calibrated.direction[8:])
    delay = np.concatenate(held_delay)
    assert np.all(delay >= -1e-9)
    assert 0 < np.mean(delay > 1e-9) < 0.15
    assert np.max(delay) < 6.0


def test_default_model_on_the_bundled_sample() -> None:
    rec = read_recording(sample_recording_path())
    table = classify_recording(rec)
    counts = table.counts()
    assert counts["steps"] > 100
    # The sample is forward walking (Oxford step counter, phone in a neck pouch).
    assert counts["forward"] / counts["steps"] > 0.85


def test_known_front_labels_a_session_that_starts_backward_backward(model: DirectionModel) -> None:
    """With the front known no step is labelled by assumption, the first ones included: real backward
    walking (motion capture turned into a pelvis accelerometer, evaluation use only) comes out backward
    from its first step, while the first-steps assumption swaps the whole session."""
    rec = read_recording(MOCAP / "bandai1_walk-back_active_001.csv")
    assert rec.meta["forward_axis"] == "+x"
    known = classify_recording(rec, model=model)
    assert len(known) >= 10 and set(known.direction) == {"backward"}
    assumed = classify_recording(_front_unknown(rec), model=model)
    assert assumed.counts()["forward"] >= len(assumed) - 1
    # Streamed in small pieces, the first step's label waits for the next steps' evidence (about a step)
    # instead of being assumed.
    pipeline = StepPipeline(model, forward_axis="+x")
    pieces = [
        pipeline.update(rec.time_s[i : i + 10], rec.acc_mps2[i : i + 10]) for i in range(0, rec.n_samples, 10)
    ]
    streamed = StepTable.concat([*pieces, pipeline.flush()])
    assert list(streamed.direction) == list(known.direction)
    assert pipeline.forward_reference_.source == "option"
    latency = streamed.emitted_s - streamed.end_s
    assert float(latency[0]) < 1.5 and float(np.median(latency)) < 0.5
