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
backward steps. They are

* the AP acceleration profile over the step (``ap_bin_*``), its mean, and the mean over the braking phase
  just after contact (``ap_braking_mps2``);
* the phase relation between vertical and AP acceleration (correlations of the two and of their
  derivatives, AP acceleration at the vertical maximum/minimum);
* the AP "velocity" swing within the step (integral of the de-meaned AP acceleration, ``ap_vel_bin_*``);
* the skewness of the AP acceleration.

The remaining features are **direction-agnostic** shape features (step duration, RMS, range and jerk of
each axis, the vertical profile, ML/AP ratio). Their values are unchanged when the AP axis is mirrored, so
they cannot tell a forward step from its AP mirror; they are there so that a model trained on *real*
backward walking (KU-HAR, a user's own labelled recordings) can use what differs between the two gaits
(shorter, toe-first steps with different impacts).

No feature compares a step with its time reversal: cues that only time reversal would suggest are avoided
on purpose.

:func:`mirror_features` maps the features of a step to those of the same step with its AP axis negated
(AP → −AP, *not* a time reversal): it flips exactly the signed columns (:data:`SIGNED`).
"""

from __future__ import annotations

import numpy as np

from gaitdir.signal import BodySignal, StepBatch

__all__ = [
    "FEATURE_NAMES",
    "N_POINTS",
    "SIGNED",
    "mirror_features",
    "pendular_index",
    "step_features",
    "step_features_from_arrays",
]

#: Points each step is resampled to (one step cycle).
N_POINTS: int = 32
_N_BINS: int = 8
_N_VEL_BINS: int = 4
# Braking phase after initial contact, as a fraction of the step (IPOL lower-back data and the
# inverted-pendulum model both put the AP deceleration in the first third of the step).
_BRAKING_PHASE: tuple[float, float] = (0.05, 0.35)
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
    "ap_mean_mps2",
    *[f"ap_bin_{i}_mps2" for i in range(_N_BINS)],
    "ap_braking_mps2",
    "corr_vertical_ap",
    "corr_vertical_dap",
    "corr_dvertical_ap",
    *[f"ap_vel_bin_{i}_mps" for i in range(_N_VEL_BINS)],
    "ap_at_vertical_max_mps2",
    "ap_at_vertical_min_mps2",
    "ap_skewness",
]

#: Names of the columns returned by :func:`step_features`, in order.
FEATURE_NAMES: tuple[str, ...] = tuple(_AGNOSTIC_NAMES + _SIGNED_NAMES)
#: Boolean mask over :data:`FEATURE_NAMES`: True where the feature changes sign when AP is mirrored.
SIGNED: np.ndarray = np.array([name in _SIGNED_NAMES for name in FEATURE_NAMES])
SIGNED.setflags(write=False)
# Per-column factor of mirror_features: -1 for the signed columns.
_MIRROR: np.ndarray = np.where(SIGNED, -1.0, 1.0)
_MIRROR.setflags(write=False)
_VEL_EARLY_COLUMN: int = FEATURE_NAMES.index("ap_vel_bin_0_mps")
_VEL_LATE_COLUMN: int = FEATURE_NAMES.index("ap_vel_bin_2_mps")


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
    a_mean = means[1].astype(np.float64)

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
    v, a = xs[0], xs[1]
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
    rows = np.arange(k)
    i_vmax = np.argmax(v, axis=1)
    i_vmin = np.argmin(v, axis=1)

    # AP velocity swing within the step: integral of de-meaned AP acceleration (m/s), de-meaned.
    # A running sum along the phases (float32, in order), as np.cumsum along each step.
    vel = np.empty_like(x[1])
    vel[0] = x[1, 0]
    for p in range(1, N_POINTS):
        np.add(vel[p - 1], x[1, p], out=vel[p])
    vel *= 1.0 / inv_dt
    vel_mean = _phase_sum(vel)
    vel_mean /= N_POINTS
    vel -= vel_mean

    b0 = round(_BRAKING_PHASE[0] * N_POINTS)
    b1 = round(_BRAKING_PHASE[1] * N_POINTS)
    braking = _phase_sum(x[1, b0:b1]) / (b1 - b0) + a_mean
    skew = _safe_ratio(_mean_product(a * a, a).astype(np.float64), a_rms**3)

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
        a_mean,
        bins(x[1], _N_BINS) + a_mean[:, None],
        braking,
        _safe_ratio(_mean_product(v, a), v_rms * a_rms),
        _safe_ratio(_mean_product(v, ds[1]), v_rms * d_rms[1]),
        _safe_ratio(_mean_product(ds[0], a), d_rms[0] * a_rms),
        bins(vel, _N_VEL_BINS),
        a[rows, i_vmax] + a_mean,
        a[rows, i_vmin] + a_mean,
        skew,
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


def pendular_index(features: np.ndarray) -> np.ndarray:
    """AP velocity swing of the inverted pendulum: velocity just after contact minus at late stance (m/s).

    The trunk moves fastest along the direction of travel around double support and slowest as it vaults
    over the stance leg, so the de-meaned AP velocity is higher in the first quarter of the step than in
    the third. The index is therefore positive when the AP axis used for the features points along the
    direction of travel. On IPOL lower-back data (all 14 subjects, the detector's steps, U-turns
    included) it is positive along the wearer's front for 85–97 % of each subject's steps, 93 % overall.
    Used only to orient *training* recordings whose forward axis is unknown
    (see :func:`gaitdir.model.train_model`).

    Parameters
    ----------
    features : ndarray, shape (k, len(FEATURE_NAMES))

    Returns
    -------
    ndarray, shape (k,)
    """
    features = np.asarray(features)
    return features[:, _VEL_EARLY_COLUMN] - features[:, _VEL_LATE_COLUMN]
