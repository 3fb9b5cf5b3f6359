"""Scoring detected steps against annotated ones (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepMatch:
    """One-to-one matching of detected against reference initial contacts.

    Attributes
    ----------
    tp, fp, fn : int
        Matched detections, unmatched detections, unmatched references.
    f1 : float
        ``2 tp / (2 tp + fp + fn)`` (1.0 when both are empty).
    count_error : float
        ``(n_detected - n_reference) / n_reference`` (0.0 when both are empty, ``inf`` if only the
        reference is empty).
    """

    tp: int
    fp: int
    fn: int
    f1: float
    count_error: float

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def n_detected(self) -> int:
        return self.tp + self.fp

    @property
    def n_reference(self) -> int:
        return self.tp + self.fn

    def __add__(self, other: StepMatch) -> StepMatch:
        """Pool two matches (sums the counts, recomputes the ratios)."""
        return _make(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def _make(tp: int, fp: int, fn: int) -> StepMatch:
    denom = 2 * tp + fp + fn
    f1 = 1.0 if denom == 0 else 2 * tp / denom
    n_ref, n_det = tp + fn, tp + fp
    # with no reference, a count is perfect only if nothing was detected either
    empty_error = 0.0 if n_det == 0 else float("inf")
    count_error = (n_det - n_ref) / n_ref if n_ref else empty_error
    return StepMatch(tp=tp, fp=fp, fn=fn, f1=f1, count_error=count_error)


def match_steps(
    detected_s: np.ndarray,
    reference_s: np.ndarray,
    *,
    tolerance_s: float = 0.2,
    window_s: tuple[float, float] | None = None,
) -> StepMatch:
    """Match detected initial contacts to reference ones, each used at most once.

    Parameters
    ----------
    detected_s, reference_s : array_like, shape (k,)
        Times of detected and annotated initial contacts (s).
    tolerance_s : float, default=0.2
        A detection matches a reference when they differ by at most this (s).
    window_s : (float, float), optional
        Only events with ``start <= t <= end`` (s) on both sides are scored (e.g. the span where the
        reference is complete).

    Returns
    -------
    StepMatch
        Counts and scores; the matching maximises the number of pairs, then minimises their total
        time difference.
    """
    det = np.sort(np.asarray(detected_s, dtype=float).ravel())
    ref = np.sort(np.asarray(reference_s, dtype=float).ravel())
    if window_s is not None:
        lo, hi = window_s
        det = det[(det >= lo) & (det <= hi)]
        ref = ref[(ref >= lo) & (ref <= hi)]
    if det.size == 0 or ref.size == 0:
        return _make(0, int(det.size), int(ref.size))
    tp = 0
    # Only nearby events can pair, so solve the assignment per cluster of mutually reachable events:
    # cheap even for a day of steps.
    events = np.concatenate([det, ref])
    is_ref = np.concatenate([np.zeros(det.size, bool), np.ones(ref.size, bool)])
    # imported here: scipy.optimize costs most of a second, and classifying never scores against truth
    from scipy.optimize import linear_sum_assignment

    order = np.argsort(events, kind="stable")
    events, is_ref = events[order], is_ref[order]
    breaks = np.flatnonzero(np.diff(events) > tolerance_s) + 1
    for cluster_t, cluster_ref in zip(np.split(events, breaks), np.split(is_ref, breaks), strict=True):
        d, r = cluster_t[~cluster_ref], cluster_t[cluster_ref]
        if d.size == 0 or r.size == 0:
            continue
        diff = np.abs(d[:, None] - r[None, :])
        ok = diff <= tolerance_s
        # Each possible pair is worth -1 (maximise the number of pairs); the time term, whose sum stays
        # below 1, prefers the closest pairs among assignments with as many pairs.
        cost = np.where(ok, diff / (tolerance_s * (d.size + r.size + 1)) - 1.0, 0.0)
        rows, cols = linear_sum_assignment(cost)
        tp += int(ok[rows, cols].sum())
    return _make(tp, int(det.size) - tp, int(ref.size) - tp)
