"""Per-step features on real IPOL lower-back steps (Voisard et al., IPOL 2023; data read by path)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import gaitdir.features as features_module
from gaitdir.features import (
    FEATURE_NAMES,
    N_HARMONICS,
    N_POINTS,
    SIGNED,
    mirror_features,
    step_features,
    step_features_from_arrays,
    travel_index,
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


def test_travel_index_points_along_travel_on_real_forward_steps(
    ipol_batches: list[tuple[str, StepBatch]],
) -> None:
    """IPOL's lower-back sensors face backwards (−z is the wearer's front): along the front, AP
    acceleration leads vertical acceleration by a quarter step for the large majority of forward steps."""
    per_subject: dict[str, list[float]] = {}
    for subject, batch in ipol_batches:
        assert batch.ap_axis_sensor is not None
        sign = float(np.sign(np.dot(batch.ap_axis_sensor, [0.0, 0.0, -1.0])))
        per_subject.setdefault(subject, []).extend(travel_index(step_features(batch, ap_sign=sign)))
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


# -- the fast implementation against the plain definition, bit for bit ------------------------------


def _reference_step_features(
    vertical: np.ndarray,
    ap: np.ndarray,
    ml: np.ndarray,
    start_idx: np.ndarray,
    end_idx: np.ndarray,
    sample_rate_hz: float,
    ap_sign: float | np.ndarray = 1.0,
) -> np.ndarray:
    """The features computed the plain way: one row of N_POINTS phases per step, numpy reductions along
    each row (the implementation the fast, phase-major one replaced; its outputs are the reference)."""
    start_idx = np.asarray(start_idx, dtype=np.intp)
    end_idx = np.asarray(end_idx, dtype=np.intp)
    k = start_idx.shape[0]
    duration_s = np.maximum(end_idx - start_idx, 1) / float(sample_rate_hz)
    sign = np.broadcast_to(np.asarray(ap_sign, dtype=np.float32), (k,))
    length = np.maximum(end_idx - start_idx, 1)
    idx = start_idx[:, None] + (length[:, None] * np.arange(N_POINTS)[None, :]) // N_POINTS
    np.clip(idx, 0, vertical.shape[0] - 1, out=idx)
    x = np.stack([np.take(np.asarray(s, dtype=np.float32), idx) for s in (vertical, ap, ml)])
    x[1] *= sign[:, None]
    means = x.mean(axis=2)
    x -= means[:, :, None]
    v, a = x[0], x[1]
    inv_dt = (N_POINTS / duration_s).astype(np.float32)
    d = np.empty_like(x)
    np.subtract(x[:, :, 1:], x[:, :, :-1], out=d[:, :, :-1])
    np.subtract(x[:, :, 0], x[:, :, -1], out=d[:, :, -1])
    d *= inv_dt[None, :, None]
    d -= d.mean(axis=2, keepdims=True)

    def mean_product(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.einsum("...p,...p->...", p, q) / p.shape[-1]

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0)

    def bins(y: np.ndarray, n_bins: int) -> np.ndarray:
        return y.reshape(k, n_bins, -1).mean(axis=2)

    rms = np.sqrt(mean_product(x, x)).astype(np.float64)
    d_rms = np.sqrt(mean_product(d, d)).astype(np.float64)
    _, a_rms, m_rms = rms
    span = (x.max(axis=2) - x.min(axis=2)).astype(np.float64)
    i_vmax, i_vmin = np.argmax(v, axis=1), np.argmin(v, axis=1)
    columns = [
        duration_s[:, None],
        rms.T,
        span[0][:, None],
        span[2][:, None],
        d_rms.T,
        bins(v, 8),
        (i_vmax / N_POINTS)[:, None],
        (i_vmin / N_POINTS)[:, None],
        ratio(m_rms, a_rms)[:, None],
        *(c[:, None] for c in _reference_harmonic_cues(v, a)),
    ]
    return np.concatenate(columns, axis=1, dtype=np.float64)


def _reference_harmonic_cues(v: np.ndarray, a: np.ndarray) -> list[np.ndarray]:
    """The signed cues step by step, in the time domain: each cycle band-limited to its first
    N_HARMONICS harmonics, its derivatives taken from the harmonics, correlations and skewness summed over
    the cycle's points (the implementation computes them from the harmonics instead, by Parseval)."""
    out = np.zeros((v.shape[0], 6))
    for i in range(v.shape[0]):
        spectra = [np.fft.rfft(row.astype(np.float64)) for row in (v[i], a[i])]
        keep = np.zeros(N_POINTS // 2 + 1)
        keep[1 : N_HARMONICS + 1] = 1.0
        slope = 2j * np.pi * np.arange(N_POINTS // 2 + 1) / N_POINTS
        vv, aa, dv, da = (
            np.fft.irfft(spectrum * keep * factor, N_POINTS)
            for spectrum, factor in (
                (spectra[0], 1.0),
                (spectra[1], 1.0),
                (spectra[0], slope),
                (spectra[1], slope),
            )
        )

        def ratio(num: float, den: float) -> float:
            return num / den if den > 1e-9 else 0.0

        def corr(p: np.ndarray, q: np.ndarray) -> float:
            return ratio(float(np.sum(p * q)), float(np.sqrt(np.sum(p * p) * np.sum(q * q))))

        cross = spectra[1][1] * np.conj(spectra[0][1])
        magnitude = float(abs(spectra[1][1]) * abs(spectra[0][1]))
        out[i] = [
            corr(aa, dv),
            corr(da, vv),
            corr(aa, vv),
            ratio(cross.imag, magnitude),
            ratio(cross.real, magnitude),
            ratio(float(np.mean(da**3)), float(np.mean(da * da)) ** 1.5),
        ]
    return [out[:, j] for j in range(6)]


def _assert_same_bits(got: np.ndarray, expected: np.ndarray, *, exact: bool = False) -> None:
    """Equal to the plain definition: bit for bit with this numpy (where the fast code adds in numpy's
    own order), otherwise to float32 rounding, so that another numpy's summation order cannot fail it."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.flags.c_contiguous
    if exact:
        different = np.argwhere(got.view(np.uint64) != expected.view(np.uint64))
        assert different.size == 0, (
            f"{len(different)} values differ, first (step, column): {different[:5].tolist()}"
        )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_features_equal_the_plain_definition(
    ipol_batches: list[tuple[str, StepBatch]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phase-major implementation reproduces the step-by-step definition (to float32 rounding; the
    direction-agnostic columns bit for bit where numpy adds in the same order): labels must not change
    with the implementation."""
    for block in (4096, 7):  # one block per call, and steps split into several blocks
        monkeypatch.setattr(features_module, "_BLOCK_STEPS", block)
        for i, (_, batch) in enumerate(ipol_batches[:4]):
            body = batch.body
            arrays = (body.vertical_mps2, body.ap_mps2, body.ml_mps2, batch.start_idx, batch.end_idx)
            signs = [1.0, -1.0, np.where(np.arange(len(batch)) % 3 == 0, -1.0, 1.0)]
            for ap_sign in signs if i == 0 else signs[:1]:
                _assert_same_bits(
                    step_features_from_arrays(*arrays, sample_rate_hz=body.sample_rate_hz, ap_sign=ap_sign),
                    _reference_step_features(*arrays, body.sample_rate_hz, ap_sign),
                )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_features_equal_the_plain_definition_on_odd_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flat signals, signed zeros, NaN/inf (which NaN comes out), ties, 1-sample steps and steps running
    past the end of the signal."""
    rng = np.random.default_rng(7)
    m = 400
    base = rng.standard_normal(m)
    zeros = np.where(rng.random(m) < 0.5, 0.0, -0.0)
    gaps = base.copy()
    gaps[[30, 31, 200]] = np.nan
    gaps[[100, 260]] = [np.inf, -np.inf]
    ties = np.round(base)
    start = np.sort(rng.integers(0, m, 60))
    end = start + rng.integers(-2, 90, 60)
    end[-3:] = m + 40
    signs = np.where(rng.random(60) < 0.5, -1.0, 1.0)
    for block in (4096, 5):
        monkeypatch.setattr(features_module, "_BLOCK_STEPS", block)
        for channels in ((base, base, base), (zeros, zeros, base), (gaps, base, gaps), (ties, gaps, zeros)):
            for ap_sign in (1.0, signs):
                _assert_same_bits(
                    step_features_from_arrays(*channels, start, end, sample_rate_hz=100.0, ap_sign=ap_sign),
                    _reference_step_features(*channels, start, end, 100.0, ap_sign),
                )
        _assert_same_bits(
            step_features_from_arrays(base, base, base, start[:1], end[:1], sample_rate_hz=100.0),
            _reference_step_features(base, base, base, start[:1], end[:1], 100.0),
        )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_phase_sum_adds_as_numpy_sums_a_row() -> None:
    rng = np.random.default_rng(3)
    for n in (4, 8, 9, 16, 31, 32):
        rows = (rng.standard_normal((500, n)) * rng.choice([1e-3, 1.0, 1e3], (500, 1))).astype(np.float32)
        rows[:3] = -0.0
        rows[3, 1] = np.nan
        expected = rows.sum(axis=1)
        got = features_module._phase_sum(np.ascontiguousarray(rows.T))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3, equal_nan=True, err_msg=str(n))


def test_mirror_negates_the_signed_columns_exactly(ipol_batches: list[tuple[str, StepBatch]]) -> None:
    x = step_features(ipol_batches[0][1])
    x[0, :] = np.resize([0.0, -0.0, np.nan, np.inf], len(FEATURE_NAMES))
    expected = x.copy()
    expected[:, SIGNED] *= -1.0
    _assert_same_bits(mirror_features(x), expected, exact=True)
    _assert_same_bits(mirror_features(mirror_features(x)), x, exact=True)
    with pytest.raises(ValueError, match="features must be"):
        mirror_features(x[0])
