"""Scoring detected steps against annotated ones (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitdir.recordings import Recording


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


def _scored(
    detected_s: np.ndarray, reference_s: np.ndarray, tolerance_s: float, window_s: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted detections and references that are scored, and which references are inside the window."""
    det = np.sort(np.asarray(detected_s, dtype=float).ravel())
    ref = np.sort(np.asarray(reference_s, dtype=float).ravel())
    if window_s is None:
        return det, ref, np.ones(ref.size, dtype=bool)
    lo, hi = window_s
    # A window usually ends at the last annotated contact (IPOL's trial boundaries do): a detection of
    # that contact a few milliseconds later must still match it, so detections are kept within the
    # tolerance of the window's edges.
    det = det[(det >= lo - tolerance_s) & (det <= hi + tolerance_s)]
    inside = (ref >= lo) & (ref <= hi)
    return det, ref, inside


def _assign(det: np.ndarray, ref: np.ndarray, tolerance_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Matched flags of sorted detections and references (one-to-one, most pairs, then closest)."""
    det_ok = np.zeros(det.size, dtype=bool)
    ref_ok = np.zeros(ref.size, dtype=bool)
    if det.size == 0 or ref.size == 0:
        return det_ok, ref_ok
    # imported here: scipy.optimize costs most of a second, and classifying never scores against truth
    from scipy.optimize import linear_sum_assignment

    # Only nearby events can pair, so solve the assignment per cluster of mutually reachable events:
    # cheap even for a day of steps.
    events = np.concatenate([det, ref])
    index = np.concatenate([np.arange(det.size), np.arange(ref.size)])
    is_ref = np.concatenate([np.zeros(det.size, bool), np.ones(ref.size, bool)])
    order = np.argsort(events, kind="stable")
    events, index, is_ref = events[order], index[order], is_ref[order]
    breaks = np.flatnonzero(np.diff(events) > tolerance_s) + 1
    for t, i, r in zip(
        np.split(events, breaks), np.split(index, breaks), np.split(is_ref, breaks), strict=True
    ):
        d, rr = t[~r], t[r]
        if d.size == 0 or rr.size == 0:
            continue
        diff = np.abs(d[:, None] - rr[None, :])
        ok = diff <= tolerance_s
        # Each possible pair is worth -1 (maximise the number of pairs); the time term, whose sum stays
        # below 1, prefers the closest pairs among assignments with as many pairs.
        cost = np.where(ok, diff / (tolerance_s * (d.size + rr.size + 1)) - 1.0, 0.0)
        rows, cols = linear_sum_assignment(cost)
        good = ok[rows, cols]
        det_ok[i[~r][rows[good]]] = True
        ref_ok[i[r][cols[good]]] = True
    return det_ok, ref_ok


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
        The span (s) where the reference is complete: references with ``start <= t <= end`` are scored,
        and detections up to ``tolerance_s`` outside it (a contact at the window's edge may be detected
        just beyond it). A detection that only matches a reference outside the window is unmatched.

    Returns
    -------
    StepMatch
        Counts and scores; the matching maximises the number of pairs, then minimises their total
        time difference. The count error compares the detections and references scored.
    """
    det, ref, inside = _scored(detected_s, reference_s, tolerance_s, window_s)
    ref = ref[inside]
    det_ok, _ = _assign(det, ref, tolerance_s)
    tp = int(det_ok.sum())
    return _make(tp, int(det.size) - tp, int(ref.size) - tp)


def matched_references(
    detected_s: np.ndarray,
    reference_s: np.ndarray,
    *,
    tolerance_s: float = 0.2,
    window_s: tuple[float, float] | None = None,
) -> np.ndarray:
    """Which references :func:`match_steps` pairs with a detection (to score subsets such as phases).

    Parameters are those of :func:`match_steps`.

    Returns
    -------
    ndarray of bool, shape (k,)
        One flag per reference, in the order given; False for references outside ``window_s``.
    """
    reference = np.asarray(reference_s, dtype=float).ravel()
    order = np.argsort(reference, kind="stable")
    det, ref, inside = _scored(detected_s, reference, tolerance_s, window_s)
    _, ref_ok = _assign(det, ref[inside], tolerance_s)
    flags_sorted = np.zeros(ref.size, dtype=bool)
    flags_sorted[np.flatnonzero(inside)[ref_ok]] = True
    flags = np.zeros(reference.size, dtype=bool)
    flags[order] = flags_sorted
    return flags


def score_recording(
    step_start_s: np.ndarray, recording: Recording, *, tolerance_s: float = 0.2
) -> StepMatch | None:
    """Score detected steps against a recording's reference steps: the one definition of a step's truth.

    A step is one initial contact of either foot, whatever the placement: the detector counts both
    feet's steps for every sensor, including a foot-worn one that sees only its own foot, so every
    reader gives ``reference_steps_s`` as the contacts of both feet (IPOL: every annotated heel strike of
    the trial, for the lower-back and both foot sensors alike; Oxford: every count of the ground-truth
    device). ``gaitdir evaluate`` and ``benchmarks/step_detection.py`` both score through here.

    Parameters
    ----------
    step_start_s : array_like, shape (k,)
        Start (initial contact) of each detected step (s), inferred contacts included.
    recording : Recording
        The recording the steps were detected in.
    tolerance_s : float, default=0.2
        Matching tolerance (s), see :func:`match_steps`.

    Returns
    -------
    StepMatch or None
        None when the recording has no reference steps.
    """
    if recording.reference_steps_s is None:
        return None
    return match_steps(
        step_start_s,
        recording.reference_steps_s,
        tolerance_s=tolerance_s,
        window_s=recording.reference_window_s,
    )
