"""Per-step features for the forward/backward direction classifier.

Each step (initial contact → next initial contact) is resampled to :data:`N_POINTS` points of the step
cycle, and its features are computed for all steps at once with array operations (no Python loop over
steps), so that a day of walking (~150 000 steps) featurises in about 0.3 s.

Why these features
------------------
The trunk vaults over the stance leg like an inverted pendulum in *both* directions of travel: after
each initial contact the trunk is braked along the direction of travel, then propelled again, and the
exchange between vertical and horizontal motion keeps its phase relation *relative to the direction of
travel*. Features tied to that exchange are therefore **signed**: expressed along the anterior-posterior
(AP) axis that points to the wearer's front, they take one sign for forward steps and the other for
backward steps.

The signed features are computed on the step cycle's first :data:`N_HARMONICS` harmonics (the step
frequency and its multiples: about 0–6 Hz at a usual cadence), where that exchange lives, and they do not
depend on where within the cycle the detector put the contact (each step is treated as one period of a
periodic signal, so a shift of the contact shifts every harmonic's phase alike):

* ``corr_ap_dvertical``, ``corr_dap_vertical``: correlation of AP acceleration with the rate of change of
  vertical acceleration, and of the AP jerk with vertical acceleration (the quarter-cycle lead of the AP
  oscillation along the direction of travel);
* ``corr_ap_vertical``: the zero-lag correlation of the two;
* ``fundamental_phase_sin``/``_cos``: the phase of AP relative to vertical at the step frequency;
* ``ap_jerk_skewness``: walking brakes sharply at contact and propels gently, so the AP jerk is skewed
  against the direction of travel.

Why these and not the AP profile over the step (its bins, its mean, the braking phase): on real backward
walking (motion capture, ``benchmarks/direction.py``) and on acted forward gaits, the profile's shape
depends on the gait and on where the detector places the contact, and a model trained on it did not carry
over from the training walks; the phase relations above did. All six flip sign under AP → −AP, and all
but the zero-lag ones also under time reversal: the two hypotheses of what a backward step looks like
agree on them, except on ``corr_ap_vertical`` and ``fundamental_phase_cos``, where the real backward
motion here sides with the mirror.

The remaining features are **direction-agnostic** shape features (step duration, RMS, range and jerk of
each axis, the vertical profile, ML/AP ratio). Their values are unchanged when the AP axis is mirrored, so
they cannot tell a forward step from its AP mirror, and a linear model trained with the mirrored class
gives them no weight; they are there so that a model trained on *real* backward walking (KU-HAR, a user's
own labelled recordings) can use what differs between the two gaits (shorter, toe-first steps with
different impacts).

:func:`mirror_features` maps the features of a step to those of the same step with its AP axis negated
(AP → −AP, *not* a time reversal): it flips exactly the signed columns (:data:`SIGNED`).
"""

from __future__ import annotations

import numpy as np

from gaitdir.signal import BodySignal, StepBatch

__all__ = [
    "FEATURE_NAMES",
    "N_HARMONICS",
    "N_POINTS",
    "SIGNED",
    "mirror_features",
    "step_features",
    "step_features_from_arrays",
    "travel_index",
]

#: Points each step is resampled to (one step cycle).
N_POINTS: int = 32
#: Harmonics of the step cycle the signed features are computed on (the step frequency and its multiples).
N_HARMONICS: int = 3
_N_BINS: int = 8
_EPS: float = 1e-9

_AGNOSTIC_NAMES: list[str] = [
    "duration_s",
    "vertical_rms_mps2",
    "ap_rms_mps2",
    "ml_rms_mps2",
    "vertical_range_mps2",
    "ml_range_mps2",
    "vertical_jerk_rms_mps3",
    "ap_jerk_rms_mps3",
    "ml_jerk_rms_mps3",
    *[f"vertical_bin_{i}_mps2" for i in range(_N_BINS)],
    "vertical_max_phase",
    "vertical_min_phase",
    "ml_over_ap_rms",
]
_SIGNED_NAMES: list[str] = [
    "corr_ap_dvertical",
    "corr_dap_vertical",
    "corr_ap_vertical",
    "fundamental_phase_sin",
    "fundamental_phase_cos",
    "ap_jerk_skewness",
]

#: Names of the columns returned by :func:`step_features`, in order.
FEATURE_NAMES: tuple[str, ...] = tuple(_AGNOSTIC_NAMES + _SIGNED_NAMES)
#: Boolean mask over :data:`FEATURE_NAMES`: True where the feature changes sign when AP is mirrored.
SIGNED: np.ndarray = np.array([name in _SIGNED_NAMES for name in FEATURE_NAMES])
SIGNED.setflags(write=False)
# Per-column factor of mirror_features: -1 for the signed columns.
_MIRROR: np.ndarray = np.where(SIGNED, -1.0, 1.0)
_MIRROR.setflags(write=False)
_TRAVEL_COLUMN: int = FEATURE_NAMES.index("fundamental_phase_sin")
_HARMONICS: np.ndarray = np.arange(1, N_HARMONICS + 1, dtype=np.float64)


_PHASES: np.ndarray = np.arange(N_POINTS)
# Steps featurised together (bounds the temporaries: about 1 MB per 1000 steps and array).
_BLOCK_STEPS: int = 4096


def _resample(signals: tuple[np.ndarray, ...], start_idx: np.ndarray, end_idx: np.ndarray) -> np.ndarray:
    """Sample ``signal[start:end]`` of every step at :data:`N_POINTS` evenly spaced phases.

    Nearest-sample (floor) resampling: steps span 30–130 samples of the 100 Hz body-frame grid, so the
    phase error is below one grid sample, and one gather per channel keeps a day of steps fast. Indices
    outside the signal (its length taken from the first channel) are clipped to it.

    Parameters
    ----------
    signals : tuple of ndarray, each shape (m,)
        Channels sampled together.
    start_idx, end_idx : ndarray of int, shape (k,), k >= 1
        Step windows (end exclusive).

    Returns
    -------
    ndarray of float32, shape (len(signals), k, N_POINTS)
    """
    n = signals[0].shape[0]
    length = np.maximum(end_idx - start_idx, 1)
    idx = (length[:, None] * _PHASES) // N_POINTS
    idx += start_idx[:, None]
    # Indices grow with the phase: the first and last phase bound each step's (clipped) indices. Only
    # the samples between the bounds are converted to float32.
    first = min(max(int(idx[:, 0].min()), 0), n - 1)
    last = min(max(int(idx[:, -1].max()), 0), n - 1)
    idx -= first
    out = np.empty((len(signals), start_idx.shape[0], N_POINTS), dtype=np.float32)
    for c, signal in enumerate(signals):
        if signal.shape[0] <= last:
            raise IndexError(f"index {last} is out of bounds for channel {c} of size {signal.shape[0]}")
        # np.take on a contiguous 1-D array is several times faster than 2-D fancy indexing; mode="clip"
        # (clipping to the converted samples is clipping to the signal, see above) writes to ``out``
        # directly, where the default mode="raise" goes through a temporary copy. Gathering step by step
        # reads the signal in order (phase-major order would stride through it once per phase).
        np.take(np.asarray(signal[first : last + 1], dtype=np.float32), idx, out=out[c], mode="clip")
    return out


def _phase_sum(y: np.ndarray) -> np.ndarray:
    """Sum over the first axis (at most 128 long), bit for bit as numpy sums a contiguous row.

    The features were defined with numpy reductions along each step's contiguous row (pairwise
    summation: eight interleaved partial sums, combined as a tree, then the remainder; added to the
    reduction's initial 0). With the steps along the last axis the same additions, in the same order,
    are elementwise operations over all steps at once: identical float32 results, without one short
    reduction per step (checked against numpy in ``tests/test_features.py``).

    Parameters
    ----------
    y : ndarray of float32, shape (n, ...)

    Returns
    -------
    ndarray of float32, shape y.shape[1:]
    """
    n = y.shape[0]
    if n < 8:
        # numpy adds the terms in order to -0.0, and -0.0 + y[0] is y[0].
        res = y[0].copy()
        for i in range(1, n):
            res += y[i]
    else:
        # Partial sum j takes terms j, j + 8, j + 16... of each whole block of 8.
        stop = n - n % 8
        r = y[:8] + y[8:16] if stop >= 16 else y[:8].copy()
        for i in range(16, stop, 8):
            r += y[i : i + 8]
        pairs = r[0::2] + r[1::2]  # (r0 + r1), (r2 + r3), (r4 + r5), (r6 + r7)
        res = pairs[0] + pairs[1]
        res += pairs[2] + pairs[3]
        for i in range(stop, n):
            res += y[i]
    res += 0.0  # the reduction's initial value (it turns a -0.0 sum into +0.0)
    return res


def _mean_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise mean of x*y over the last axis, without a temporary array."""
    return np.einsum("...p,...p->...", x, y) / x.shape[-1]


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > _EPS, num / np.maximum(den, _EPS), 0.0)


def step_features_from_arrays(
    vertical_mps2: np.ndarray,
    ap_mps2: np.ndarray,
    ml_mps2: np.ndarray,
    start_idx: np.ndarray,
    end_idx: np.ndarray,
    *,
    sample_rate_hz: float,
    ap_sign: float | np.ndarray = 1.0,
) -> np.ndarray:
    """Features of steps given body-frame acceleration arrays.

    Parameters
    ----------
    vertical_mps2, ap_mps2, ml_mps2 : ndarray, shape (m,)
        Linear acceleration (gravity removed) along vertical, AP and ML (m/s²), evenly sampled.
    start_idx, end_idx : ndarray of int, shape (k,)
        Initial contact of each step and of the next one, as sample indices (end exclusive).
    sample_rate_hz : float
        Sampling rate of the arrays (Hz).
    ap_sign : float or ndarray of shape (k,), default=1.0
        +1 when ``ap_mps2`` points to the wearer's front, −1 when it points to the back (per step or for
        all steps). The signed features are expressed along the wearer's front.

    Returns
    -------
    ndarray, shape (k, len(FEATURE_NAMES))
        Float64 features, columns named by :data:`FEATURE_NAMES`.
    """
    start_idx = np.asarray(start_idx, dtype=np.intp)
    end_idx = np.asarray(end_idx, dtype=np.intp)
    k = start_idx.shape[0]
    if k == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    signals = (vertical_mps2, ap_mps2, ml_mps2)
    sign = None
    if not (np.ndim(ap_sign) == 0 and ap_sign == 1.0):  # x * 1.0 == x: skip the pass in the usual case
        sign = np.broadcast_to(np.asarray(ap_sign, dtype=np.float32), (k,))
    if k <= _BLOCK_STEPS:
        return _block_features(signals, start_idx, end_idx, float(sample_rate_hz), sign)
    # Every feature depends on its own step only, so steps can be taken in blocks: the temporaries of a
    # block stay in cache, and memory does not grow with the number of steps.
    out = np.empty((k, len(FEATURE_NAMES)))
    for lo in range(0, k, _BLOCK_STEPS):
        hi = min(lo + _BLOCK_STEPS, k)
        block_sign = None if sign is None else sign[lo:hi]
        _block_features(
            signals, start_idx[lo:hi], end_idx[lo:hi], float(sample_rate_hz), block_sign, out=out[lo:hi]
        )
    return out


def _block_features(
    signals: tuple[np.ndarray, np.ndarray, np.ndarray],
    start_idx: np.ndarray,
    end_idx: np.ndarray,
    sample_rate_hz: float,
    sign: np.ndarray | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Features of a block of steps (see :func:`step_features_from_arrays`).

    Parameters
    ----------
    signals : (vertical, AP, ML) ndarrays, shape (m,)
    start_idx, end_idx : ndarray of intp, shape (k,), k >= 1
    sample_rate_hz : float
    sign : ndarray of float32, shape (k,), or None
        AP sign per step (None: +1 for all).
    out : ndarray of float64, shape (k, len(FEATURE_NAMES)), optional
        Where to write the features (None: a new array).

    Returns
    -------
    ndarray of float64, shape (k, len(FEATURE_NAMES))
        ``out`` when given.
    """
    k = start_idx.shape[0]
    duration_s = np.maximum(end_idx - start_idx, 1) / sample_rate_hz

    # Most work is done phase-major, x of shape (channel, phase, step), where operations along the step
    # cycle are elementwise over all steps. The products summed by einsum and argmax/argmin use the
    # step-major layout, xs of shape (channel, step, phase), as their results depend on the order the
    # kernels take within a step's row. Channels: vertical, AP (along the wearer's front), ML, float32.
    xs = _resample(signals, start_idx, end_idx)
    if sign is not None:
        xs[1] *= sign[:, None]
    x = xs.transpose(0, 2, 1).copy()  # a copy even when k == 1 (where the transpose is contiguous)
    # De-meaned per step (the same subtraction in both layouts).
    means = _phase_sum(x.transpose(1, 0, 2))
    means /= N_POINTS
    x -= means[:, None, :]
    xs -= means[:, :, None]

    # Derivatives along the step cycle (circular: a step ends where the next begins), in physical units:
    # one resampled point lasts duration / N_POINTS.
    inv_dt = (N_POINTS / duration_s).astype(np.float32)
    d = np.empty_like(x)
    np.subtract(x[:, 1:], x[:, :-1], out=d[:, :-1])
    np.subtract(x[:, 0], x[:, -1], out=d[:, -1])
    d *= inv_dt
    d_mean = _phase_sum(d.transpose(1, 0, 2))
    d_mean /= N_POINTS
    d -= d_mean[:, None, :]

    ds = np.ascontiguousarray(d.transpose(0, 2, 1))
    v = xs[0]
    rms = np.sqrt(_mean_product(xs, xs)).astype(np.float64)  # (3, k)
    d_rms = np.sqrt(_mean_product(ds, ds)).astype(np.float64)
    v_rms, a_rms, m_rms = rms
    span = x.max(axis=1) - x.min(axis=1)
    # A step's max and min do not depend on the order of comparisons, except for which of +0/-0, or
    # which NaN, comes out (a reduction along a row returns numpy's own NaN). Those steps show as a zero
    # or NaN span and are recomputed the original way, row by row (flat signals, gaps).
    odd = ~(span > 0)
    if odd.any():
        span[odd] = xs[odd].max(axis=1) - xs[odd].min(axis=1)
    span = span.astype(np.float64)
    i_vmax = np.argmax(v, axis=1)
    i_vmin = np.argmin(v, axis=1)

    def bins(y: np.ndarray, n_bins: int) -> np.ndarray:
        """Bin means of phase-major ``y`` (P, k), as a (k, n_bins) view."""
        binned = _phase_sum(y.reshape(n_bins, -1, k).transpose(1, 0, 2))
        binned /= N_POINTS // n_bins
        return binned.T

    # The columns in FEATURE_NAMES order, written into the output one by one (no concatenation of many
    # small pieces).
    columns = [
        # direction-agnostic
        duration_s,
        v_rms,
        a_rms,
        m_rms,
        span[0],
        span[2],
        *d_rms,
        bins(x[0], _N_BINS),
        i_vmax / N_POINTS,
        i_vmin / N_POINTS,
        _safe_ratio(m_rms, a_rms),
        # signed
        *_harmonic_cues(xs[0], xs[1]),
    ]
    # Allocated after the temporaries (as the step-major implementation did): with glibc's malloc, the
    # temporaries freed below this live array are then kept for the next call rather than returned to
    # the system and faulted in again (three times fewer page faults per call, measured).
    if out is None:
        out = np.empty((k, len(FEATURE_NAMES)))
    col = 0
    for values in columns:
        width = values.shape[1] if values.ndim == 2 else 1
        out[:, col : col + width] = values if values.ndim == 2 else values[:, None]
        col += width
    return out


def _harmonic_cues(vertical: np.ndarray, ap: np.ndarray) -> list[np.ndarray]:
    """The signed features (see the module docstring) from step cycles of vertical and AP acceleration.

    Each step is one period; only its first :data:`N_HARMONICS` harmonics are used. Correlations follow
    from the Fourier coefficients (Parseval): for harmonics ``V_h`` and ``A_h`` of vertical and AP, the
    derivative's harmonics are ``i·h·V_h`` (up to a positive factor that cancels in a correlation), so
    ``corr(AP, dV/dt) = Σ h·Im(A_h V̄_h) / sqrt(Σ|A_h|² · Σ h²|V_h|²)`` and so on.

    Parameters
    ----------
    vertical, ap : ndarray, shape (k, N_POINTS)
        The steps' cycles (AP along the wearer's front).

    Returns
    -------
    list of 6 ndarrays of float64, shape (k,)
        In the order of the signed names in :data:`FEATURE_NAMES`.
    """
    spectra = np.fft.rfft(np.stack([vertical, ap]).astype(np.float64), axis=2)[:, :, 1 : N_HARMONICS + 1]
    v_h, a_h = spectra[0], spectra[1]
    h = _HARMONICS
    cross = a_h * np.conj(v_h)
    pv = np.einsum("kh,kh->k", v_h.real, v_h.real) + np.einsum("kh,kh->k", v_h.imag, v_h.imag)
    pa = np.einsum("kh,kh->k", a_h.real, a_h.real) + np.einsum("kh,kh->k", a_h.imag, a_h.imag)
    pv_d = (np.abs(v_h) ** 2) @ (h * h)
    pa_d = (np.abs(a_h) ** 2) @ (h * h)
    lead = cross.imag @ h  # Σ h Im(A V̄): AP ahead of vertical by a quarter cycle, harmonic by harmonic
    fundamental = np.abs(a_h[:, 0]) * np.abs(v_h[:, 0])
    # AP jerk over the cycle, from its harmonics, for its skewness
    jerk_h = np.zeros((a_h.shape[0], N_POINTS // 2 + 1), dtype=np.complex128)
    jerk_h[:, 1 : N_HARMONICS + 1] = 1j * h * a_h
    jerk = np.fft.irfft(jerk_h, N_POINTS, axis=1)
    j2 = np.einsum("kp,kp->k", jerk, jerk) / N_POINTS
    j3 = np.einsum("kp,kp,kp->k", jerk, jerk, jerk) / N_POINTS
    return [
        _safe_ratio(lead, np.sqrt(pa * pv_d)),
        _safe_ratio(-lead, np.sqrt(pa_d * pv)),
        _safe_ratio(cross.real.sum(axis=1), np.sqrt(pa * pv)),
        _safe_ratio(cross[:, 0].imag, fundamental),
        _safe_ratio(cross[:, 0].real, fundamental),
        _safe_ratio(j3, j2**1.5),
    ]


def step_features(batch: StepBatch, *, ap_sign: float | np.ndarray = 1.0) -> np.ndarray:
    """Features of every step in a detector batch.

    Parameters
    ----------
    batch : StepBatch
        Steps with the body-frame signal that spans them.
    ap_sign : float or ndarray of shape (k,), default=1.0
        +1 when the batch's AP axis points to the wearer's front, −1 otherwise.

    Returns
    -------
    ndarray, shape (len(batch), len(FEATURE_NAMES))
    """
    body: BodySignal = batch.body
    return step_features_from_arrays(
        body.vertical_mps2,
        body.ap_mps2,
        body.ml_mps2,
        batch.start_idx,
        batch.end_idx,
        sample_rate_hz=body.sample_rate_hz,
        ap_sign=ap_sign,
    )


def mirror_features(features: np.ndarray) -> np.ndarray:
    """Features of the same steps with the AP axis mirrored (AP → −AP; not a time reversal).

    Parameters
    ----------
    features : ndarray, shape (k, len(FEATURE_NAMES))

    Returns
    -------
    ndarray, shape (k, len(FEATURE_NAMES))
        A new array with the :data:`SIGNED` columns negated.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != _MIRROR.shape[0]:
        raise ValueError(f"features must be (k, {_MIRROR.shape[0]}); got shape {features.shape}")
    # One multiplication by ±1 (x * 1.0 == x exactly) instead of a masked gather and scatter.
    return features * _MIRROR


def travel_index(features: np.ndarray) -> np.ndarray:
    """Which way the AP axis of the features points relative to the direction of travel, per step.

    The sine of the phase by which AP acceleration leads vertical acceleration at the step frequency
    (``fundamental_phase_sin``): positive when the AP axis used for the features points along the
    direction of travel. On IPOL lower-back data (every trial, the front known) it is positive along the
    front for 94 % of forward steps. Used only to orient *training* recordings whose forward axis is
    unknown (see :func:`gaitdir.model.train_model`).

    Parameters
    ----------
    features : ndarray, shape (k, len(FEATURE_NAMES))

    Returns
    -------
    ndarray, shape (k,)
    """
    return np.asarray(features)[:, _TRAVEL_COLUMN]
