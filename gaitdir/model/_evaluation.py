"""Subject-wise evaluation of step detection and direction, on people the evaluated model never saw."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gaitdir.errors import ModelError
from gaitdir.features import mirror_features
from gaitdir.model._persistence import json_default
from gaitdir.model._predictor import CLASSES, DirectionModel, forward_log_odds
from gaitdir.model._training import (
    _detect,
    _fit,
    _orient,
    _oriented_features,
    _RecordingSteps,
    placement_counts,
    split_by_placement,
)
from gaitdir.model.front import EVIDENCE_DECAY, BoutEvidence, first_bout_log_odds
from gaitdir.recordings import Recording
from gaitdir.signal import match_steps

__all__ = ["EvaluationReport", "evaluate"]


@dataclass
class EvaluationReport:
    """Subject-wise evaluation figures.

    Attributes
    ----------
    split : str
        How train and test were separated.
    folds : list of dict
        Per fold: test subjects and step counts.
    step_detection : dict
        Pooled over recordings with annotated steps: ``recordings``, ``reference_steps``,
        ``detected_steps``, ``true_positives``, ``precision``, ``recall``, ``f1``, ``count_error``
        ((detected − reference) / reference), ``tolerance_s``.
    direction : dict
        ``real``: per real label (forward/backward), ``n_steps``, ``correct``, ``accuracy`` (None when no
        step), labelled as the pipeline does (evidence carried within bouts) with the forward reference
        known (metadata axis, or the pendular orientation of the recording's labelled steps);
        ``real_first_bout``: the same with the pipeline's first-bout calibration (first steps assumed
        forward); ``first_bout_sessions``: recordings starting with forward steps, and how many of them
        calibration oriented the wrong way round; ``real_per_step``: each step alone (no carried
        evidence), reference known;
        ``mirrored``: accuracy on AP-mirrored real forward steps — synthetic, not real backward walking.
    model : dict
        Metadata of the evaluated model (or of the fold models' training).
    """

    split: str
    folds: list[dict[str, Any]]
    step_detection: dict[str, Any]
    direction: dict[str, Any]
    model: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the report."""
        return json.loads(json.dumps(self.__dict__, default=json_default))


def _tally() -> dict[str, dict[str, int]]:
    return {c: {"n_steps": 0, "correct": 0} for c in ("forward", "backward")}


def _finish(tally: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    return {
        c: {**v, "accuracy": (v["correct"] / v["n_steps"]) if v["n_steps"] else None}
        for c, v in tally.items()
    }


def _predict_bouts(
    model: DirectionModel, features: np.ndarray, rs: _RecordingSteps, decay: float
) -> np.ndarray:
    """Labels as the pipeline gives them with a known front: evidence carried within bouts, the first
    steps of a bout held until it is clear (:class:`~gaitdir.model.front.BoutEvidence`)."""
    evidence = BoutEvidence(decay=decay)
    pushed = evidence.push(forward_log_odds(model, features), rs.start_s, rs.end_s)
    log_odds = np.concatenate([pushed, evidence.flush()])
    return np.where(log_odds >= 0, "forward", "backward")


def evaluate(
    recordings: Sequence[Recording],
    *,
    model: DirectionModel | None = None,
    n_splits: int = 5,
    synthetic_backward: Literal["auto"] | bool = "auto",
    tolerance_s: float = 0.2,
    calibration_steps: int = 8,
    decay: float = EVIDENCE_DECAY,
) -> EvaluationReport:
    """Subject-wise evaluation: step detection and direction accuracy on people not trained on.

    Parameters
    ----------
    recordings : sequence of Recording
        Recordings with ``meta["subject"]`` (recordings without a subject count as their own subject).
    model : DirectionModel, optional
        Score this model on all recordings (it must not have been trained on them). None: train a fresh
        model per fold on the other subjects (GroupKFold by subject).
    n_splits : int, default=5
        Folds (reduced to the number of subjects when there are fewer).
    synthetic_backward : "auto" or bool, default="auto"
        Passed to training when ``model`` is None.
    tolerance_s : float, default=0.2
        Step-matching tolerance (s).
    calibration_steps : int, default=8
        Steps used by the first-bout calibration figure.
    decay : float, default=EVIDENCE_DECAY
        Evidence carried within bouts, as in the pipeline (:func:`smooth_log_odds`).

    Returns
    -------
    EvaluationReport
    """
    recordings = list(recordings)
    if not recordings:
        raise ModelError("evaluate needs at least one recording")
    params = dict(model.detector_params) if model is not None else {}
    items = [_detect(r, params) for r in recordings]
    subjects = np.array(
        [
            str(r.meta.get("subject") or r.meta.get("source") or f"recording-{i}")
            for i, r in enumerate(recordings)
        ]
    )

    # Step detection (does not depend on the direction model).
    match = None
    n_scored = 0
    for rs in items:
        rec = rs.recording
        if rec.reference_steps_s is None:
            continue
        m = match_steps(
            rs.start_s, rec.reference_steps_s, tolerance_s=tolerance_s, window_s=rec.reference_window_s
        )
        match = m if match is None else match + m
        n_scored += 1
    step_detection: dict[str, Any] = {"recordings": n_scored, "tolerance_s": tolerance_s}
    if match is not None:
        step_detection.update(
            reference_steps=match.n_reference,
            detected_steps=match.n_detected,
            true_positives=match.tp,
            precision=match.precision,
            recall=match.recall,
            f1=match.f1,
            count_error=match.count_error,
        )

    # Direction only where it is meaningful (a sensor that follows the trunk); the rest is said.
    kept, left_out = split_by_placement(items)
    if not kept:
        return EvaluationReport(
            split="none: no recording from a placement where direction is meaningful",
            folds=[],
            step_detection=step_detection,
            direction={"left_out": left_out, "placements": {}},
            model={} if model is None else model.metadata,
        )
    subjects = subjects[[i for i, rs in enumerate(items) if any(rs is k for k in kept)]]
    items = kept

    real, first_bout, mirrored, per_step = _tally(), _tally(), _tally(), _tally()
    sessions = {"sessions": 0, "swapped": 0}
    folds: list[dict[str, Any]] = []
    unique = np.unique(subjects)
    if model is not None:
        splits = [(np.zeros(0, dtype=int), np.arange(len(items)))]
        split = "given model scored on all recordings (none may be in its training data)"
    else:
        if unique.size < 2:
            raise ModelError("subject-wise evaluation needs recordings of at least two subjects")
        k = min(n_splits, unique.size)
        from sklearn.model_selection import GroupKFold

        splits = list(GroupKFold(n_splits=k).split(np.zeros(len(items)), groups=subjects))
        split = f"GroupKFold({k}) by subject: each subject is tested by a model trained without them"
    _orient(items)
    fold_meta: dict[str, Any] = {}
    for train_idx, test_idx in splits:
        if model is None:
            fold_model = _fit(
                [items[i] for i in train_idx],
                synthetic_backward=synthetic_backward,
                detector_params=params,
                classifier=None,
            )
            fold_meta = fold_model.metadata
        else:
            fold_model = model
            fold_meta = model.metadata
        n_fold = {"forward": 0, "backward": 0}
        for i in test_idx:
            rs = items[i]
            keep = np.isin(rs.labels, CLASSES)
            if not keep.any():
                continue
            truth = rs.labels[keep].astype(str)
            X = _oriented_features(rs)
            pred = _predict_bouts(fold_model, X, rs, decay)[keep]
            single = fold_model.classifier.predict(X[keep])
            # First-bout calibration as the pipeline does it: the first steps are assumed forward.
            cal_log_odds, _, cal_sign = first_bout_log_odds(
                fold_model,
                rs.features,
                rs.start_s,
                rs.end_s,
                decay=decay,
                max_steps=calibration_steps,
                final=True,
            )
            pred_cal = np.where(cal_log_odds >= 0, "forward", "backward")[keep]
            if rs.ap_sign is not None and rs.ap_sign.size and truth[0] == "forward":
                # A session that starts forward is calibrated right when it finds the known orientation.
                sessions["sessions"] += 1
                sessions["swapped"] += int(cal_sign != rs.ap_sign[0])
            for c in CLASSES:
                sel = truth == c
                n_fold[c] += int(sel.sum())
                for tally, p in ((real, pred), (first_bout, pred_cal), (per_step, single)):
                    tally[c]["n_steps"] += int(sel.sum())
                    tally[c]["correct"] += int(np.sum(p[sel] == c))
            pred_m = _predict_bouts(fold_model, mirror_features(X), rs, decay)[keep][truth == "forward"]
            mirrored["backward"]["n_steps"] += int(pred_m.shape[0])
            mirrored["backward"]["correct"] += int(np.sum(pred_m == "backward"))
        folds.append({"test_subjects": sorted(set(subjects[test_idx])), "test_steps": n_fold})
    mirrored_out = _finish(mirrored)
    del mirrored_out["forward"]
    direction = {
        "real": _finish(real),
        "real_first_bout": _finish(first_bout),
        "first_bout_sessions": sessions,
        "real_per_step": _finish(per_step),
        "mirrored": {
            "note": "AP-mirrored real forward steps (synthetic); not accuracy on real backward walking",
            **mirrored_out,
        },
        "backward_on_real_backward_walking": (
            "unvalidated" if real["backward"]["n_steps"] == 0 else "see real.backward"
        ),
        "placements": placement_counts(items),
        "left_out": left_out,
    }
    return EvaluationReport(
        split=split, folds=folds, step_detection=step_detection, direction=direction, model=fold_meta
    )
