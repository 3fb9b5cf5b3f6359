"""Causal estimate of the walker's frame (vertical, anterior-posterior, medio-lateral) from a worn IMU.

How the frame is found, and why:

* **Vertical** (sensors that report gravity): the direction of a slow low-pass of the acceleration,
  i.e. gravity, which dominates the average whatever the sensor's mounting. Vertical linear acceleration
  is the acceleration's component along it minus the low-passed magnitude.
* **Vertical** (``gravity_removed`` input, e.g. KU-HAR's trimmed files): gravity is gone, so the vertical
  is taken as the principal axis of the walking-band (0.6–3 Hz) acceleration, which for a worn sensor is
  the vertical bounce of the body at every step. Its sign is fixed once, at the first confident estimate,
  so that the vertical acceleration has positive skewness (heel-strike impacts are sharp upward peaks,
  the flight of the body a broad trough), and then kept continuous. This is a heuristic: a sensor on a
  swinging limb may break it.
* **Anterior-posterior (AP)**: the horizontal direction with the most power at step frequency
  (1.4–2.5 Hz): the trunk speeds up and slows down once per step along the direction of travel, while
  its side-to-side sway repeats once per stride (half that frequency). The axis is re-estimated four
  times a second from a slowly averaged (``ap_time_constant_s``) covariance and its sign is chosen
  closest to the previous axis, so the AP signal is continuous but its sign is arbitrary.
* **Medio-lateral (ML)**: completes the right-handed frame, ``ml = vertical × ap``.

Every step is a causal filter with carried state, so any chunking of the same stream gives the same
frame, and a rotated sensor gives the same vertical signal and the same AP signal up to its sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitdir.signal._filters import StreamingEma, StreamingSos, butter_sos

_I6 = np.array([0, 0, 0, 1, 1, 2])
_J6 = np.array([0, 1, 2, 1, 2, 2])
# third-moment components (i <= j <= k) and their multiplicities in a symmetric contraction
_T10 = np.array([(i, j, k) for i in range(3) for j in range(i, 3) for k in range(j, 3)])
_T10_MULT = np.array([6 / (1 + (i == j) + (j == k) + (i == k) + 2 * (i == j == k)) for i, j, k in _T10])


def _einsum_pairs_first(a: np.ndarray, b: np.ndarray) -> bool | None:
    """How ``np.einsum("ij,ij->i", a, b)`` adds the three products of a row, from the operands' layouts.

    For float64 ``(m, 3)`` arrays with ``m >= 2`` numpy (as measured: numpy 2.4, x86-64 with AVX2)
    sums each row as ``(a0*b0 + a2*b2) + a1*b1`` when both arrays store a row's three values next to
    each other (its SIMD kernel then adds the lanes pairwise), and left to right,
    ``(a0*b0 + a1*b1) + a2*b2``, when one of them stores its columns contiguously (the loop then runs
    down the rows, one column at a time). Returns True, False, or None for any other case (another
    dtype or layout, fewer than two rows), which callers leave to einsum itself.
    ``tests/signal/test_fast_paths.py`` checks these rules against einsum.
    """
    layouts = []
    for x in (a, b):
        if x.dtype != np.float64 or x.ndim != 2 or x.shape[1] != 3 or x.shape[0] < 2:
            return None
        if x.strides[1] == 8 and x.strides[0] >= 24:
            layouts.append("rows")
        elif x.strides[0] == 8 and x.strides[1] >= 8 * x.shape[0]:
            layouts.append("columns")
        else:
            return None
    return layouts == ["rows", "rows"]


def _dot3(
    x: list[np.ndarray],
    y: list[np.ndarray],
    pairs_first: bool,
    out: np.ndarray | None = None,
    squares: bool = False,
) -> np.ndarray:
    """``x[0]*y[0] + x[1]*y[1] + x[2]*y[2]`` summed in einsum's order (see :func:`_einsum_pairs_first`).

    Whole-array passes, each operand broadcastable to the result's shape (``out``, if given).
    ``squares``: ``x`` is ``y``, so no product is -0.0 and the sign of a zero sum needs no fixing.
    """
    i, j, k = (0, 2, 1) if pairs_first else (0, 1, 2)
    out = np.multiply(x[i], y[i], out=out)
    tmp = x[j] * y[j]
    out += tmp
    np.multiply(x[k], y[k], out=tmp)
    out += tmp
    if not squares:
        # einsum adds the products to a +0.0 start: a row of three -0.0 products gives +0.0, not -0.0
        out += 0.0
    return out


def _row_dot(
    a: np.ndarray, b: np.ndarray, a_rows: np.ndarray | None = None, b_rows: np.ndarray | None = None
) -> np.ndarray:
    """``np.einsum("ij,ij->i", a, b)`` for (m, 3) arrays, bit for bit, in six whole-array passes.

    einsum runs a three-element inner loop per row, about five times slower on a long chunk.
    ``a_rows``/``b_rows`` are the transposed (3, m) arrays if the caller has them contiguous
    (contiguous rows are about twice as fast as strided columns); the result depends only on the
    layouts of ``a`` and ``b``, which fix einsum's order of addition.
    """
    pairs_first = _einsum_pairs_first(a, b)
    if pairs_first is None:
        return np.einsum("ij,ij->i", a, b)
    ar = a.T if a_rows is None else a_rows
    br = b.T if b_rows is None else b_rows
    return _dot3([ar[0], ar[1], ar[2]], [br[0], br[1], br[2]], pairs_first, squares=a is b)


def _products6(x: np.ndarray) -> np.ndarray:
    """(m, 3) → (m, 6) upper-triangle products x_i x_j (column by column: fancy indexing is slower)."""
    out = np.empty((x.shape[0], 6))
    for c, (i, j) in enumerate(zip(_I6.tolist(), _J6.tolist(), strict=True)):
        np.multiply(x[:, i], x[:, j], out=out[:, c])
    return out


def _sym3(c6: np.ndarray) -> np.ndarray:
    """(n, 6) upper-triangle products → (n, 3, 3) symmetric matrices."""
    out = np.empty((c6.shape[0], 3, 3))
    out[:, _I6, _J6] = c6
    out[:, _J6, _I6] = c6
    return out


def _cross_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products of (3, n) row-stacked vectors: ``np.cross`` of the transposes, the same operations.

    np.cross costs more in its generic axis handling than in the arithmetic on a few thousand vectors.
    """
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    np.multiply(a[1], b[2], out=out[0])
    out[0] -= a[2] * b[1]
    np.multiply(a[2], b[0], out=out[1])
    out[1] -= a[0] * b[2]
    np.multiply(a[0], b[1], out=out[2])
    out[2] -= a[1] * b[0]
    return out


def _norm_rows(x: np.ndarray) -> np.ndarray:
    """Norms of (3, n) row-stacked vectors, as ``np.linalg.norm(x.T, axis=1)`` sums them (left to right)."""
    return np.sqrt((x[0] * x[0] + x[1] * x[1]) + x[2] * x[2])


def _horizontal_principal(c: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal axis of each covariance ``c`` (n, 3, 3) restricted to the plane normal to ``up`` (n, 3).

    Closed form in a 2-D basis of the plane (much cheaper than a 3×3 eigen-decomposition per point);
    the axis does not depend on which basis is used, only its sign may, and callers fix the sign.
    Computed on (3, n) rows with the operations of ``np.cross``, ``np.linalg.norm`` and the einsum
    contractions of C-ordered ``c`` and ``up`` (each three-term sum as einsum adds it, see
    :func:`_einsum_pairs_first`; it holds for a single point too), so the result is theirs, bit for bit.
    """
    n = up.shape[0]
    u = np.ascontiguousarray(up.T)
    helper = np.zeros((3, n))
    helper[np.argmin(np.abs(up), axis=1), np.arange(n)] = 1.0  # the sensor axis least aligned with up
    e1 = _cross_rows(u, helper)
    e1 /= _norm_rows(e1)
    e2 = _cross_rows(u, e1)
    cr = np.ascontiguousarray(c.reshape(n, 9).T)  # row 3 i + j: c[:, i, j]
    ce1 = np.stack(
        [_dot3([cr[3 * i], cr[3 * i + 1], cr[3 * i + 2]], [e1[0], e1[1], e1[2]], True) for i in range(3)]
    )
    ce2 = np.stack(
        [_dot3([cr[3 * i], cr[3 * i + 1], cr[3 * i + 2]], [e2[0], e2[1], e2[2]], True) for i in range(3)]
    )
    p = _dot3([e1[0], e1[1], e1[2]], [ce1[0], ce1[1], ce1[2]], True)
    q = _dot3([e1[0], e1[1], e1[2]], [ce2[0], ce2[1], ce2[2]], True)
    r = _dot3([e2[0], e2[1], e2[2]], [ce2[0], ce2[1], ce2[2]], True)
    theta = 0.5 * np.arctan2(2.0 * q, p - r)
    lam = 0.5 * (p + r) + np.sqrt(0.25 * (p - r) ** 2 + q * q)
    # C-ordered, as callers' einsums (whose order of addition depends on it) have always had it
    axes = np.ascontiguousarray((np.cos(theta) * e1 + np.sin(theta) * e2).T)
    return lam, axes


@dataclass(frozen=True)
class FrameChunk:
    """Body-frame output for one chunk of grid samples.

    Attributes
    ----------
    vertical_mps2, ap_mps2, ml_mps2 : ndarray, shape (m,)
        Linear acceleration along each body axis (m/s²).
    gyr_radps : ndarray, shape (m, 3) or None
        Angular rate in the (vertical, ap, ml) frame (rad/s).
    ap_axis_sensor : ndarray, shape (3,)
        AP unit vector in sensor coordinates at the chunk's last sample.
    magnitude_mps2 : ndarray, shape (m,), or None
        Norm of the (raw) acceleration (m/s²); None when not asked for (see
        :meth:`BodyFrameEstimator.update`).
    """

    vertical_mps2: np.ndarray
    ap_mps2: np.ndarray
    ml_mps2: np.ndarray
    gyr_radps: np.ndarray | None
    ap_axis_sensor: np.ndarray
    magnitude_mps2: np.ndarray | None


@dataclass(frozen=True)
class _HeldAxes:
    """The AP and ML axes of one chunk's samples, each held from one update point to the next.

    Sample ``t`` takes the axis of the latest update point at or before it (``*_pts[k]`` from
    ``pts[k]`` on), or the one held from the previous chunk (``*_prev``) before the first.
    Projections onto them are computed block by block (see :meth:`dot`) instead of on per-sample
    ``(m, 3)`` axis arrays, which cost more to fill than the projection itself. Those arrays
    (``ap``, ``ml``) are made only where some samples have no held axis (before any confident
    estimate, where the axis falls back per sample) or the chunk is shorter than two samples.
    """

    pts: np.ndarray
    ap_pts: np.ndarray
    ml_pts: np.ndarray
    ap_prev: np.ndarray | None
    ml_prev: np.ndarray | None
    m: int
    ap: np.ndarray | None = None
    ml: np.ndarray | None = None

    def last_ap(self) -> np.ndarray:
        """A copy of the AP axis at the chunk's last sample."""
        if self.ap is not None:
            return self.ap[-1].copy()
        axis = self.ap_pts[-1] if self.pts.size else self.ap_prev
        assert axis is not None
        return axis.copy()

    def dot(self, x: np.ndarray, x_rows: np.ndarray, which: str) -> np.ndarray:
        """Per-sample projection of ``x`` (m, 3) on the ``which`` ("ap" or "ml") axis.

        Bit-identical to ``np.einsum("ij,ij->i", x, axes)`` on the per-sample (m, 3) axes array (a
        C-ordered array, as :meth:`BodyFrameEstimator._expand` makes), ``x_rows`` being
        ``x.T`` as contiguous rows.
        """
        per_sample = self.ap if which == "ap" else self.ml
        if per_sample is not None:
            return _row_dot(x, per_sample, x_rows)
        axes = self.ap_pts if which == "ap" else self.ml_pts
        previous = self.ap_prev if which == "ap" else self.ml_prev
        # einsum's order of addition for ``x`` against a C-ordered (m, 3) array (any two-row one tells)
        pairs_first = _einsum_pairs_first(x, np.empty((2, 3)))
        if pairs_first is None:  # a layout not handled above: materialise the axes for einsum itself
            return np.einsum("ij,ij->i", x, BodyFrameEstimator._expand(axes, self.pts, self.m, previous))
        out = np.empty(self.m)
        m, pts = self.m, self.pts
        first = int(pts[0]) if pts.size else m
        rows = [x_rows[0], x_rows[1], x_rows[2]]
        if first:
            assert previous is not None
            _dot3([r[:first] for r in rows], previous.tolist(), pairs_first, out=out[:first])
        if pts.size:
            last = int(pts[-1])
            if pts.size > 1:
                # update points are evenly spaced: the samples between them as a (blocks, every) view
                shape = (pts.size - 1, int(pts[1] - pts[0]))
                block_axes = [axes[:-1, c, np.newaxis] for c in range(3)]
                blocks = [r[first:last].reshape(shape) for r in rows]
                _dot3(blocks, block_axes, pairs_first, out=out[first:last].reshape(shape))
            _dot3([r[last:] for r in rows], axes[-1].tolist(), pairs_first, out=out[last:])
        return out


class BodyFrameEstimator:
    """Causal, stateful tracker of the body frame; see the module docstring for the method.

    Parameters
    ----------
    sample_rate_hz : float
        Rate of the (even) input grid (Hz).
    gravity_cutoff_hz : float
        Cut-off of the low-pass that estimates gravity (Hz).
    ap_band_hz : (float, float)
        Band whose horizontal power defines the AP axis (Hz).
    ap_time_constant_s : float
        Averaging time constant of the AP covariance (s).
    ap_update_s : float
        Interval between AP axis updates (s).
    min_ap_power_m2ps4 : float
        Below this step-band horizontal variance ((m/s²)²) the AP axis is held (standing still).
    front_axis_sensor : ndarray of shape (3,), optional
        The wearer's front in sensor coordinates, when it is known (a mounting profile, a calibration, the
        user). The AP axis is then this axis made horizontal, from the first sample on: nothing has to
        settle, and its sign is the front's. None: the AP axis is estimated from the signal (sign
        arbitrary).
    """

    def __init__(
        self,
        sample_rate_hz: float = 100.0,
        gravity_cutoff_hz: float = 0.3,
        ap_band_hz: tuple[float, float] = (1.4, 2.5),
        ap_time_constant_s: float = 4.0,
        ap_update_s: float = 0.25,
        min_ap_power_m2ps4: float = 0.02,
        front_axis_sensor: np.ndarray | None = None,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.gravity_cutoff_hz = gravity_cutoff_hz
        self.ap_band_hz = ap_band_hz
        self.ap_time_constant_s = ap_time_constant_s
        self.ap_update_s = ap_update_s
        self.min_ap_power_m2ps4 = min_ap_power_m2ps4
        self.front_axis_sensor = front_axis_sensor
        self._ap: np.ndarray | None = None
        self._ap_held: np.ndarray | None = None
        self._ml_held: np.ndarray | None = None
        self._vert: np.ndarray | None = None
        self.reset()

    def reset(self) -> BodyFrameEstimator:
        """Forget the filters' state (after a gap); the last AP/vertical axes are kept as sign references."""
        fs = self.sample_rate_hz
        self._gravity = StreamingSos(butter_sos(2, self.gravity_cutoff_hz, fs, "lowpass"))
        self._band = StreamingSos(butter_sos(2, self.ap_band_hz, fs, "bandpass"))
        # AP covariance: sums of outer products over the blocks that end at each update point, then
        # an exponential average across blocks (the per-sample average would cost a pass per term)
        self._blk_sum = np.zeros((3, 3))
        self._blk_n = 0
        self._cov_state: np.ndarray | None = None
        self._walk_band = StreamingSos(butter_sos(2, (0.6, 3.0), fs, "bandpass"))
        self._walk_cov = StreamingEma(self.ap_time_constant_s, fs)
        self._walk_m3 = StreamingEma(self.ap_time_constant_s, fs)
        self._vert_sign_fixed = self._vert is not None
        return self

    @property
    def ap_axis_sensor(self) -> np.ndarray | None:
        """Current AP unit vector in sensor coordinates, as used for ``ap`` (None before any data)."""
        axis = self._ap_held if self._ap_held is not None else self._ap
        return None if axis is None else axis.copy()

    # -- helpers ---------------------------------------------------------------------------------------
    def _update_points(self, k0: int, m: int) -> np.ndarray:
        every = max(1, round(self.ap_update_s * self.sample_rate_hz))
        first = (-k0) % every
        return np.arange(first, m, every)

    @staticmethod
    def _principal(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Largest eigenvalue and its unit eigenvector for a stack of symmetric 3×3 matrices."""
        w, v = np.linalg.eigh(c)
        return w[:, -1], v[:, :, -1]

    @staticmethod
    def _continuous(axes: np.ndarray, valid: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Hold invalid axes at the last valid one and flip signs so each is closest to the one before."""
        n = axes.shape[0]
        idx = np.where(valid, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        has = idx >= 0
        if has.all():  # the first axis is valid (walking on): one gather, no masks
            held = axes[idx]
        else:
            held = np.empty_like(axes)
            held[has] = axes[idx[has]]
            held[~has] = previous
        chain = np.concatenate([previous[np.newaxis], held])
        flips = np.sign(np.einsum("ij,ij->i", chain[1:], chain[:-1]))
        flips[flips == 0] = 1.0
        return held * np.cumprod(flips)[:, np.newaxis]

    # -- main ------------------------------------------------------------------------------------------
    def update(
        self,
        k0: int,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None = None,
        *,
        gravity_removed: bool = False,
        magnitude: bool = True,
    ) -> FrameChunk:
        """Transform the next chunk of grid samples (global grid index of the first: ``k0``).

        ``magnitude``: also compute the norm of the acceleration (``FrameChunk.magnitude_mps2``; None
        otherwise). The state does not depend on it, so a caller that needs no norm skips its passes.
        """
        m = acc_mps2.shape[0]
        # The columns as contiguous rows: every row-wise dot product below is then a few whole-row
        # passes (results as einsum's, see _row_dot), and the copy costs less than one such pass.
        acc_rows = np.ascontiguousarray(acc_mps2.T)
        mag = np.sqrt(_row_dot(acc_mps2, acc_mps2, acc_rows, acc_rows)) if magnitude else None
        pts = self._update_points(k0, m)
        if gravity_removed:
            u, vert = self._vertical_without_gravity(acc_mps2, pts)
            u_rows = u.T
        else:
            # The filters work on a (3, m) copy of their input's columns: handing them the contiguous
            # rows' transposed view makes that copy a plain memcpy (the output is the same).
            g = self._gravity(acc_rows.T)
            g_rows = np.ascontiguousarray(g.T)  # sosfilt returns a transposed view: usually no copy
            gn = np.sqrt(_row_dot(g, g, g_rows, g_rows))
            u_rows = g_rows / np.maximum(gn, 1e-9)
            # the layout ``g / gn[:, None]`` has (column-major, like g), on which einsum's order of
            # addition below depends; a single row is left to that expression itself
            u = u_rows.T if g.strides[0] == 8 and m >= 2 else g / np.maximum(gn, 1e-9)[:, np.newaxis]
            vert = _row_dot(acc_mps2, u, acc_rows, u_rows) - gn
        held = self._ap_axes(acc_rows.T, u, pts)
        ap_sig = held.dot(acc_mps2, acc_rows, "ap")
        ml_sig = held.dot(acc_mps2, acc_rows, "ml")
        gyr_body = None
        if gyr_radps is not None:
            gyr_rows = np.ascontiguousarray(gyr_radps.T)
            gyr_body = np.stack(
                [
                    _row_dot(gyr_radps, u, gyr_rows, u_rows),
                    held.dot(gyr_radps, gyr_rows, "ap"),
                    held.dot(gyr_radps, gyr_rows, "ml"),
                ],
                axis=1,
            )
        return FrameChunk(vert, ap_sig, ml_sig, gyr_body, held.last_ap(), mag)

    def _vertical_without_gravity(self, acc: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = acc.shape[0]
        bp = self._walk_band(acc)
        cov = self._walk_cov(_products6(bp), initial=0.0)
        m3 = self._walk_m3(bp[:, _T10[:, 0]] * bp[:, _T10[:, 1]] * bp[:, _T10[:, 2]], initial=0.0)
        lam, axes = self._principal(_sym3(cov[pts])) if pts.size else (np.zeros(0), np.zeros((0, 3)))
        valid = lam > self.min_ap_power_m2ps4
        if not self._vert_sign_fixed and valid.any():
            # sign heuristic (module docstring): positive skewness of vertical acceleration while walking
            i = int(np.flatnonzero(valid)[0])
            v = axes[i]
            skew = float(np.sum(_T10_MULT * m3[pts[i]] * v[_T10[:, 0]] * v[_T10[:, 1]] * v[_T10[:, 2]]))
            if skew < 0:
                axes[i] = -v
            prev = axes[i]
            self._vert_sign_fixed = True
            held = self._continuous(axes[i:], valid[i:], prev)
            head = np.full((i, 3), np.nan)
            axes_c = np.concatenate([head, held])
        else:
            axes_c = (
                self._continuous(axes, valid, self._vert)
                if self._vert is not None
                else np.full((pts.size, 3), np.nan)
            )
        u = self._expand(axes_c, pts, m, self._vert)
        if pts.size and not np.isnan(axes_c[-1]).any():
            self._vert = axes_c[-1].copy()
        u = np.where(np.isnan(u), np.array([0.0, 0.0, 1.0]), u)  # no estimate yet: sensor z, arbitrary
        return u, np.einsum("ij,ij->i", acc, u)

    @staticmethod
    def _expand(axes: np.ndarray, pts: np.ndarray, m: int, previous: np.ndarray | None) -> np.ndarray:
        """Per-sample axes: each sample takes the axis of the latest update point at or before it."""
        out = np.empty((m, 3))
        first = int(pts[0]) if pts.size else m
        out[:first] = previous if previous is not None else np.nan
        if pts.size:
            # update points are evenly spaced: fill whole blocks column by column (np.repeat with
            # per-block counts is about twice as slow on a day-long file)
            last = int(pts[-1])
            if pts.size > 1:
                blocks = out[first:last].reshape(pts.size - 1, int(pts[1] - pts[0]), 3)
                for c in range(3):
                    blocks[:, :, c] = axes[:-1, c, np.newaxis]
            out[last:] = axes[-1]
        return out

    def _block_covariances(self, bp: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Averaged covariance (n, 3, 3) of ``bp`` at each update point ``pts`` (local indices).

        Each update point closes the block of samples since the previous one; block means feed an
        exponential average with the configured time constant. Partial blocks carry over chunks, so
        the result does not depend on chunking.
        """
        every = max(1, round(self.ap_update_s * self.sample_rate_hz))
        first, last = int(pts[0]), int(pts[-1])
        head = bp[: first + 1]
        # one array throughout: a list of thousands of 3×3 blocks costs more to convert than to compute
        sums = np.empty((pts.size, 3, 3))
        sums[0] = self._blk_sum + head.T @ head
        counts = np.full(pts.size, float(every))
        counts[0] = self._blk_n + head.shape[0]
        if pts.size > 1:
            mid = bp[first + 1 : last + 1].reshape(pts.size - 1, every, 3)
            sums[1:] = np.einsum("bti,btj->bij", mid, mid)
        tail = bp[last + 1 :]
        self._blk_sum = tail.T @ tail
        self._blk_n = tail.shape[0]
        means = sums / counts[:, np.newaxis, np.newaxis]
        alpha = 1.0 - np.exp(-every / (self.ap_time_constant_s * self.sample_rate_hz))
        state = np.zeros(9) if self._cov_state is None else self._cov_state
        from scipy import signal  # imported here: scipy.signal costs ~1 s to import, paid when first used

        out, zf = signal.lfilter(
            [alpha], [1.0, alpha - 1.0], means.reshape(-1, 9), axis=0, zi=((1.0 - alpha) * state)[np.newaxis]
        )
        self._cov_state = out[-1].copy()
        del zf
        return out.reshape(-1, 3, 3)

    def _ap_axes(self, acc: np.ndarray, u: np.ndarray, pts: np.ndarray) -> _HeldAxes:
        m = acc.shape[0]
        front = None
        if self.front_axis_sensor is not None:
            front = np.asarray(self.front_axis_sensor, dtype=float).ravel()
            front = front / np.linalg.norm(front)
            axes, valid = np.tile(front, (pts.size, 1)), np.ones(pts.size, bool)
            if self._ap is None:
                self._ap = front.copy()
        else:
            bp = self._band(acc)
            if not pts.size:
                self._blk_sum = self._blk_sum + bp.T @ bp
                self._blk_n += m
            if pts.size:
                lam, axes = _horizontal_principal(self._block_covariances(bp, pts), u[pts])
                valid = lam > self.min_ap_power_m2ps4
            else:
                axes, valid = np.zeros((0, 3)), np.zeros(0, bool)
        if self._ap is None and not valid.any():
            axes_c = np.full((pts.size, 3), np.nan)
        elif self._ap is None:
            i = int(np.flatnonzero(valid)[0])
            axes_c = np.concatenate([np.full((i, 3), np.nan), self._continuous(axes[i:], valid[i:], axes[i])])
        else:
            axes_c = self._continuous(axes, valid, self._ap)
        if pts.size and not np.isnan(axes_c[-1]).any():
            self._ap = axes_c[-1].copy()
        # The frame is fixed at each update point (AP made exactly horizontal there, ML completing it)
        # and held until the next: gravity's direction barely moves within a quarter second, and
        # per-sample re-orthogonalisation would cost several passes over the data.
        if pts.size:
            up = u[pts]
            up_rows = up.T
            # (the arithmetic of np.cross and np.linalg.norm, on rows; see _cross_rows, _norm_rows)
            ap_rows = axes_c.T - _row_dot(axes_c, up) * up_rows
            ap_rows /= _norm_rows(ap_rows)
            ap_pts, ml_pts = ap_rows.T, _cross_rows(up_rows, ap_rows).T
        else:
            ap_pts = ml_pts = np.zeros((0, 3))
        ap_prev, ml_prev = self._ap_held, self._ml_held
        if pts.size and not np.isnan(ap_pts[-1]).any():
            self._ap_held, self._ml_held = ap_pts[-1].copy(), ml_pts[-1].copy()
        every_sample_held = (
            m >= 2
            and (ap_prev is not None or (pts.size > 0 and pts[0] == 0))
            and not (np.isnan(ap_pts).any() or np.isnan(ml_pts).any())
        )
        if every_sample_held:  # the common case
            return _HeldAxes(pts, ap_pts, ml_pts, ap_prev, ml_prev, m)
        # Some samples have no axis (before any confident estimate) or the chunk is tiny: per-sample axes.
        ap = self._expand(ap_pts, pts, m, ap_prev)
        ml = self._expand(ml_pts, pts, m, ml_prev)
        # before any confident estimate: the sensor axis most horizontal, projected (arbitrary but defined)
        missing = np.isnan(ap[:, 0])
        if missing.any():
            um = u[missing]
            if front is not None:
                fb = np.tile(front, (um.shape[0], 1))
            else:
                fb = np.eye(3)[np.argmin(np.abs(um), axis=1)]
            fb = fb - np.einsum("ij,ij->i", fb, um)[:, np.newaxis] * um
            fb /= np.linalg.norm(fb, axis=1)[:, np.newaxis]
            ap[missing] = fb
            ml[missing] = np.cross(um, fb)
        return _HeldAxes(pts, ap_pts, ml_pts, ap_prev, ml_prev, m, ap=ap, ml=ml)
