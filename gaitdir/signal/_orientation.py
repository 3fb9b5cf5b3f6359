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
from scipy import signal

from gaitdir.signal._filters import StreamingEma, StreamingSos, butter_sos

_I6 = np.array([0, 0, 0, 1, 1, 2])
_J6 = np.array([0, 1, 2, 1, 2, 2])
# third-moment components (i <= j <= k) and their multiplicities in a symmetric contraction
_T10 = np.array([(i, j, k) for i in range(3) for j in range(i, 3) for k in range(j, 3)])
_T10_MULT = np.array([6 / (1 + (i == j) + (j == k) + (i == k) + 2 * (i == j == k)) for i, j, k in _T10])


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


def _horizontal_principal(c: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal axis of each covariance ``c`` (n, 3, 3) restricted to the plane normal to ``up`` (n, 3).

    Closed form in a 2-D basis of the plane (much cheaper than a 3×3 eigen-decomposition per point);
    the axis does not depend on which basis is used, only its sign may, and callers fix the sign.
    """
    n = up.shape[0]
    helper = np.zeros((n, 3))
    helper[np.arange(n), np.argmin(np.abs(up), axis=1)] = 1.0  # the sensor axis least aligned with up
    e1 = np.cross(up, helper)
    e1 /= np.linalg.norm(e1, axis=1)[:, np.newaxis]
    e2 = np.cross(up, e1)
    ce1 = np.einsum("nij,nj->ni", c, e1)
    ce2 = np.einsum("nij,nj->ni", c, e2)
    p = np.einsum("ni,ni->n", e1, ce1)
    q = np.einsum("ni,ni->n", e1, ce2)
    r = np.einsum("ni,ni->n", e2, ce2)
    theta = 0.5 * np.arctan2(2.0 * q, p - r)
    lam = 0.5 * (p + r) + np.sqrt(0.25 * (p - r) ** 2 + q * q)
    axes = np.cos(theta)[:, np.newaxis] * e1 + np.sin(theta)[:, np.newaxis] * e2
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
    magnitude_mps2 : ndarray, shape (m,)
        Norm of the (raw) acceleration (m/s²).
    """

    vertical_mps2: np.ndarray
    ap_mps2: np.ndarray
    ml_mps2: np.ndarray
    gyr_radps: np.ndarray | None
    ap_axis_sensor: np.ndarray
    magnitude_mps2: np.ndarray


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
    """

    def __init__(
        self,
        sample_rate_hz: float = 100.0,
        gravity_cutoff_hz: float = 0.3,
        ap_band_hz: tuple[float, float] = (1.4, 2.5),
        ap_time_constant_s: float = 4.0,
        ap_update_s: float = 0.25,
        min_ap_power_m2ps4: float = 0.02,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.gravity_cutoff_hz = gravity_cutoff_hz
        self.ap_band_hz = ap_band_hz
        self.ap_time_constant_s = ap_time_constant_s
        self.ap_update_s = ap_update_s
        self.min_ap_power_m2ps4 = min_ap_power_m2ps4
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
        held = np.empty_like(axes)
        has = idx >= 0
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
    ) -> FrameChunk:
        """Transform the next chunk of grid samples (global grid index of the first: ``k0``)."""
        m = acc_mps2.shape[0]
        mag = np.sqrt(np.einsum("ij,ij->i", acc_mps2, acc_mps2))
        pts = self._update_points(k0, m)
        if gravity_removed:
            u, vert = self._vertical_without_gravity(acc_mps2, pts)
        else:
            g = self._gravity(acc_mps2)
            gn = np.sqrt(np.einsum("ij,ij->i", g, g))
            u = g / np.maximum(gn, 1e-9)[:, np.newaxis]
            vert = np.einsum("ij,ij->i", acc_mps2, u) - gn
        ap, ml = self._ap_axes(acc_mps2, u, pts)
        ap_sig = np.einsum("ij,ij->i", acc_mps2, ap)
        ml_sig = np.einsum("ij,ij->i", acc_mps2, ml)
        gyr_body = None
        if gyr_radps is not None:
            gyr_body = np.stack([np.einsum("ij,ij->i", gyr_radps, a) for a in (u, ap, ml)], axis=1)
        return FrameChunk(vert, ap_sig, ml_sig, gyr_body, ap[-1].copy(), mag)

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
        out, zf = signal.lfilter(
            [alpha], [1.0, alpha - 1.0], means.reshape(-1, 9), axis=0, zi=((1.0 - alpha) * state)[np.newaxis]
        )
        self._cov_state = out[-1].copy()
        del zf
        return out.reshape(-1, 3, 3)

    def _ap_axes(self, acc: np.ndarray, u: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = acc.shape[0]
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
            ap_pts = axes_c - np.einsum("ij,ij->i", axes_c, up)[:, np.newaxis] * up
            ap_pts /= np.linalg.norm(ap_pts, axis=1)[:, np.newaxis]
            ml_pts = np.cross(up, ap_pts)
        else:
            ap_pts = ml_pts = np.zeros((0, 3))
        ap = self._expand(ap_pts, pts, m, self._ap_held)
        ml = self._expand(ml_pts, pts, m, self._ml_held)
        if pts.size and not np.isnan(ap_pts[-1]).any():
            self._ap_held, self._ml_held = ap_pts[-1].copy(), ml_pts[-1].copy()
        # before any confident estimate: the sensor axis most horizontal, projected (arbitrary but defined)
        missing = np.isnan(ap[:, 0])
        if missing.any():
            um = u[missing]
            fb = np.eye(3)[np.argmin(np.abs(um), axis=1)]
            fb = fb - np.einsum("ij,ij->i", fb, um)[:, np.newaxis] * um
            fb /= np.linalg.norm(fb, axis=1)[:, np.newaxis]
            ap[missing] = fb
            ml[missing] = np.cross(um, fb)
        return ap, ml
