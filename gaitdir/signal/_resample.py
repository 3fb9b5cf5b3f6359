"""Causal, chunk-by-chunk linear resampling of irregular samples onto an even time grid."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridPiece:
    """Consecutive grid samples of one segment (no gap inside).

    Attributes
    ----------
    start_k : int
        Global grid index of the first sample: its time is ``origin_s + start_k / rate``.
    new_segment : bool
        True when a gap longer than the resampler's ``max_gap_s`` (or the stream start) precedes it.
    values : ndarray, shape (m, c)
        Interpolated channels.
    """

    start_k: int
    new_segment: bool
    values: np.ndarray


class GridResampler:
    """Linear interpolation of a stream of irregular samples onto ``origin + k / rate``.

    The grid's origin is the first sample ever fed; grid points are produced as soon as the raw sample
    after them has arrived, so the output is causal and independent of how the stream is chunked. Grid
    points inside a gap longer than ``max_gap_s`` are not produced: the pieces after a gap are flagged
    ``new_segment`` and downstream state resets there (no steps are invented across gaps).

    Parameters
    ----------
    grid_rate_hz : float
        Output rate (Hz).
    max_gap_s : float
        Longest interval between raw samples that is still bridged by interpolation (s).
    """

    def __init__(self, grid_rate_hz: float, max_gap_s: float) -> None:
        self.grid_rate_hz = grid_rate_hz
        self.max_gap_s = max_gap_s
        self.reset()

    def reset(self) -> GridResampler:
        self.origin_s: float | None = None
        self._last_t: float | None = None
        self._last_x: np.ndarray | None = None
        self._next_k = 0
        self._pending_new_segment = True
        return self

    def grid_time_s(self, k: np.ndarray | int) -> np.ndarray | float:
        """Time (s) of global grid index ``k``."""
        assert self.origin_s is not None
        return self.origin_s + np.asarray(k) / self.grid_rate_hz

    def push(self, time_s: np.ndarray, values: np.ndarray) -> list[GridPiece]:
        """Feed raw samples (strictly increasing times, later than any fed before) and get grid pieces."""
        if time_s.size == 0:
            return []
        first = self.origin_s is None
        if first:
            self.origin_s = float(time_s[0])
        assert self.origin_s is not None
        last_t, last_x = self._last_t, self._last_x
        self._last_t = float(time_s[-1])
        self._last_x = values[-1].copy()
        # the carried last sample starts each chunk's interpolation, so chunking changes nothing
        t_all = time_s if first else np.concatenate([[last_t], time_s])

        rate = self.grid_rate_hz
        k_hi = int(np.floor((time_s[-1] - self.origin_s) * rate))
        while k_hi >= self._next_k and self.grid_time_s(k_hi) > time_s[-1]:
            k_hi -= 1  # guard against rounding: never produce a point after the newest sample
        if k_hi < self._next_k:
            if t_all.size >= 2 and np.any(np.diff(t_all) > self.max_gap_s):
                self._pending_new_segment = True
            return []
        ks = np.arange(self._next_k, k_hi + 1)
        self._next_k = k_hi + 1
        tk = self.origin_s + ks / rate
        # Input already on the grid (common for files written at a fixed rate). Its intervals are one grid
        # step (the one from the previous chunk's last sample at most one), so no gap when the step is
        # well under max_gap_s; interpolation at a sample's own time returns that sample, so the values
        # are handed on as they are (C-ordered float64, as interpolation would make them: nothing
        # downstream writes to them or keeps them).
        on_grid = ks.size == time_s.size and np.array_equal(tk, time_s)
        # interval j = (t_all[j], t_all[j+1]) is a gap; not needed when none can be
        no_gap_possible = on_grid and 2.0 / rate < self.max_gap_s
        gap_after = None if no_gap_possible else np.diff(t_all) > self.max_gap_s
        if on_grid and (gap_after is None or not gap_after.any()):
            first_is_new = self._pending_new_segment
            self._pending_new_segment = False
            return [GridPiece(int(ks[0]), first_is_new, np.ascontiguousarray(values, dtype=float))]
        assert gap_after is not None  # only the on-grid shortcut goes without it
        x_all = values if last_x is None else np.concatenate([last_x[np.newaxis, :], values])
        if t_all.size == 1:
            # only the very first sample: it lies exactly on grid point 0
            pieces_k, pieces_x = ks, x_all[:1].astype(float)
            flags = np.array([self._pending_new_segment])
        else:
            # interval j holds t_all[j] < tk <= t_all[j+1]; the stream's first point sits on t_all[0]
            j = np.searchsorted(t_all, tk, side="left") - 1
            j = np.clip(j, 0, t_all.size - 2)
            keep = ~gap_after[j]
            n_gaps_before = np.concatenate([[0], np.cumsum(gap_after)])  # gaps in intervals < j
            seg = n_gaps_before[j]
            pieces_k = ks[keep]
            seg = seg[keep]
            flags = np.zeros(pieces_k.size, bool)
            if pieces_k.size:
                flags[1:] = np.diff(seg) > 0
                flags[0] = self._pending_new_segment or seg[0] > 0
            # np.interp picks the same bracketing pair of raw samples whatever the chunking (the carried
            # sample starts each chunk), so values are identical for any chunk sizes
            tq = tk[keep]
            pieces_x = np.empty((tq.size, x_all.shape[1]))
            for c in range(x_all.shape[1]):
                pieces_x[:, c] = np.interp(tq, t_all, x_all[:, c])
        if pieces_k.size == 0:
            self._pending_new_segment = self._pending_new_segment or bool(gap_after.any())
            return []
        if t_all.size > 1:
            # a gap after the last produced point (later in this chunk) starts a new segment next time
            last_j = int(j[keep][-1])
            self._pending_new_segment = bool(gap_after[last_j + 1 :].any())
        else:
            self._pending_new_segment = False
        consecutive = np.diff(pieces_k) == 1
        starts = np.flatnonzero(np.concatenate([[True], flags[1:] | ~consecutive]))
        bounds = [*starts.tolist(), pieces_k.size]
        out = [
            GridPiece(int(pieces_k[a]), bool(flags[a]), pieces_x[a:b]) for a, b in itertools.pairwise(bounds)
        ]
        return out
