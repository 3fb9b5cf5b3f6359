"""Per-step features on real IPOL lower-back steps (Voisard et al., IPOL 2023; data read by path)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from gaitdir.features import (
    FEATURE_NAMES,
    N_POINTS,
    SIGNED,
    mirror_features,
    pendular_index,
    step_features,
    step_features_from_arrays,
)
from gaitdir.recordings import read_recording
from gaitdir.signal import StepBatch, detect_steps

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"


@pytest.fixture(scope="module")
def ipol_batches() -> list[tuple[str, StepBatch]]:
    """Detected steps of the first trial of every IPOL subject (lower back)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(IPOL.glob("*-1_lb.txt")):
            rec = read_recording(path)
            out += [(rec.meta["subject"], b) for b in detect_steps(rec)]
    assert len(out) >= 14
    return out


def test_shape_names_and_finite(ipol_batches: list[tuple[str, StepBatch]]) -> None:
    for _, batch in ipol_batches:
        x = step_features(batch)
        assert x.shape == (len(batch), len(FEATURE_NAMES))
        assert np.all(np.isfinite(x))
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert SIGNED.shape == (len(FEATURE_NAMES),) and 0 < SIGNED.sum() < len(FEATURE_NAMES)
    duration = step_features(ipol_batches[0][1])[:, FEATURE_NAMES.index("duration_s")]
    # Real steps of healthy adults: about 0.4–0.8 s.
    assert 0.35 < np.median(duration) < 0.85


def test_mirror_equals_recomputing_with_negated_ap(ipol_batches: list[tuple[str, StepBatch]]) -> None:
    """AP → −AP flips exactly the signed features; it is not a time reversal."""
    _, batch = ipol_batches[0]
    plus = step_features(batch, ap_sign=1.0)
    minus = step_features(batch, ap_sign=-1.0)
    np.testing.assert_allclose(mirror_features(plus), minus, atol=1e-5)
    np.testing.assert_allclose(plus[:, ~SIGNED], minus[:, ~SIGNED], atol=1e-6)
    assert np.any(np.abs(plus[:, SIGNED] - minus[:, SIGNED]) > 1e-3)
    # Per-step signs work like a global one.
    signs = np.where(np.arange(len(batch)) % 2 == 0, 1.0, -1.0)
    mixed = step_features(batch, ap_sign=signs)
    np.testing.assert_allclose(mixed[signs > 0], plus[signs > 0])
    np.testing.assert_allclose(mixed[signs < 0], minus[signs < 0])


def test_pendular_swing_points_along_travel_on_real_forward_steps(
    ipol_batches: list[tuple[str, StepBatch]],
) -> None:
    """IPOL's lower-back sensors face backwards (−z is the wearer's front): along the front, the trunk
    is faster just after contact than in late stance for the large majority of forward steps."""
    per_subject: dict[str, list[float]] = {}
    for subject, batch in ipol_batches:
        assert batch.ap_axis_sensor is not None
        sign = float(np.sign(np.dot(batch.ap_axis_sensor, [0.0, 0.0, -1.0])))
        per_subject.setdefault(subject, []).extend(pendular_index(step_features(batch, ap_sign=sign)))
    assert len(per_subject) == 14
    for subject, values in per_subject.items():
        assert np.mean(np.asarray(values) > 0) > 0.7, subject
    everything = np.concatenate([np.asarray(v) for v in per_subject.values()])
    assert np.mean(everything > 0) > 0.85


def test_batch_equals_one_step_at_a_time(ipol_batches: list[tuple[str, StepBatch]]) -> None:
    _, batch = ipol_batches[1]
    body = batch.body
    whole = step_features(batch)
    for i in range(len(batch)):
        one = step_features_from_arrays(
            body.vertical_mps2,
            body.ap_mps2,
            body.ml_mps2,
            batch.start_idx[i : i + 1],
            batch.end_idx[i : i + 1],
            sample_rate_hz=body.sample_rate_hz,
        )
        np.testing.assert_allclose(one[0], whole[i], rtol=1e-5, atol=1e-5)


def test_empty_and_degenerate_steps() -> None:
    z = np.zeros(100)
    none = np.zeros(0, int)
    assert step_features_from_arrays(z, z, z, none, none, sample_rate_hz=100).shape == (0, len(FEATURE_NAMES))
    # A flat signal and a 1-sample step give finite numbers, not NaN.
    x = step_features_from_arrays(z, z, z, np.array([10, 50]), np.array([11, 90]), sample_rate_hz=100)
    assert np.all(np.isfinite(x))


def test_150k_steps_featurise_fast(ipol_batches: list[tuple[str, StepBatch]]) -> None:
    """A day of walking (~150 000 steps) featurises well under 2 s (vectorised over steps)."""
    _, batch = ipol_batches[0]
    body = batch.body
    reps = 150_000 // len(batch) + 1
    n = body.n_samples
    start = (batch.start_idx[None, :] + n * np.arange(reps)[:, None]).ravel()[:150_000]
    end = (batch.end_idx[None, :] + n * np.arange(reps)[:, None]).ravel()[:150_000]
    v, a, m = (np.tile(x, reps) for x in (body.vertical_mps2, body.ap_mps2, body.ml_mps2))
    best = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        x = step_features_from_arrays(v, a, m, start, end, sample_rate_hz=body.sample_rate_hz)
        best = min(best, time.perf_counter() - t0)
    assert x.shape == (150_000, len(FEATURE_NAMES))
    np.testing.assert_allclose(x[: len(batch)], step_features(batch), rtol=1e-5, atol=1e-5)
    assert best < 2.0, f"{best:.2f} s"
    assert N_POINTS % 8 == 0
