"""Training the direction model on labelled recordings.

Training data and the synthetic backward class
-----------------------------------------------
:func:`train_model` takes real per-sample labels from the recordings (each step gets the majority label of
its samples; steps labelled ``other`` are left out). With ``synthetic_backward="auto"`` (the default) a
backward class is also made from the real forward steps by **mirroring the AP axis** (AP → −AP,
:func:`gaitdir.features.mirror_features`; this is not a time reversal), unless the real backward steps
come from at least :data:`MIN_BACKWARD_SUBJECTS` people. The reason is measured: trained on the real
backward and forward walking of one person (motion capture, ``gaitdir evaluate
../shared/datasets/mocap-backward --splits 2``), a model on real labels alone called 41 % of the other
person's backward steps backward; with the mirrored class added, 96 % (forward 98 % and 93 %). A few
people's backward steps teach who walked more than which way; the mirrored class keeps the cues tied to
the direction of travel in charge. The model's metadata records what it did, and
:func:`gaitdir.model.evaluate` reports figures on mirrored steps separately from figures on real labels.

Orienting training steps
------------------------
Features are signed along the wearer's front, so each training step needs the AP sign that points to the
front. In order of priority: the recording's ``forward_axis`` metadata (compared with the detector's AP
axis in sensor coordinates); for a recording with forward-labelled steps, the sign under which
AP acceleration leads vertical acceleration by a quarter step along the direction of travel
(:func:`gaitdir.features.travel_index`);
for a recording with no forward steps (e.g. a KU-HAR "Walk-backwards" file), the forward axis in sensor
coordinates found on the same subject's forward recordings, else on recordings of the same format.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gaitdir import __version__
from gaitdir.errors import ModelError
from gaitdir.features import FEATURE_NAMES, mirror_features, step_features, travel_index
from gaitdir.model._predictor import CLASSES, DirectionModel
from gaitdir.model.front import ap_axis_of, ap_sign_from_axis, parse_forward_axis
from gaitdir.recordings import Recording
from gaitdir.signal import PLACEMENTS, StepBatch, detect_steps, recording_placement

if TYPE_CHECKING:
    from gaitdir.model._classifier import DirectionClassifier

__all__ = ["MIRRORED_AP", "direction_placement", "step_labels", "train_model"]

#: Name of the transform that makes the synthetic backward class (recorded in model metadata).
MIRRORED_AP: str = "mirrored-AP (AP -> -AP of real forward steps; not time reversal)"
_LABEL_CODES = {"forward": 0, "backward": 1, "other": 2}
#: With real backward steps from fewer people than this, training also adds the mirrored class (see above).
MIN_BACKWARD_SUBJECTS: int = 10


def step_labels(recording: Recording, start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """Majority per-sample label of each step's span ``[start_s, end_s)``.

    Parameters
    ----------
    recording : Recording
        With per-sample ``labels`` (None gives "other" for every step).
    start_s, end_s : ndarray, shape (k,)
        Step spans (s, recording time base).

    Returns
    -------
    ndarray of str, shape (k,)
        ``forward``/``backward``/``other``; "other" also for steps with no labelled sample. Ties go to
        "other".
    """
    k = len(start_s)
    if recording.labels is None or k == 0:
        return np.full(k, "other", dtype=object)
    codes = np.array([_LABEL_CODES.get(str(lab), 2) for lab in recording.labels], dtype=np.int64)
    onehot = np.zeros((codes.size + 1, 3), dtype=np.int64)
    onehot[np.arange(1, codes.size + 1), codes] = 1
    cum = np.cumsum(onehot, axis=0)
    i0 = np.searchsorted(recording.time_s, start_s, side="left")
    i1 = np.searchsorted(recording.time_s, end_s, side="left")
    counts = cum[i1] - cum[i0]
    best = np.argmax(counts[:, ::-1], axis=1)  # reversed so that ties prefer "other", then "backward"
    best = 2 - best
    names = np.array(["forward", "backward", "other"], dtype=object)
    out = names[best]
    out[counts.sum(axis=1) == 0] = "other"
    return out


@dataclass
class _RecordingSteps:
    """Steps of one recording, featurised along the detector's AP axis (ap_sign = +1)."""

    recording: Recording
    batches: list[StepBatch]
    start_s: np.ndarray
    end_s: np.ndarray
    features: np.ndarray  # (k, n) with ap_sign = +1 for every step
    batch_of_step: np.ndarray  # (k,) index into batches
    labels: np.ndarray  # (k,) str
    ap_sign: np.ndarray | None = None  # (k,) +1/-1 once oriented (wearer's front)


def _detect(recording: Recording, detector_params: dict[str, Any]) -> _RecordingSteps:
    params = dict(detector_params)
    front = parse_forward_axis(recording.meta.get("forward_axis"))
    if front is not None:
        # As the pipeline does with a known front: the body frame's AP axis is that front.
        params["front_axis_sensor"] = front
    batches = [b for b in detect_steps(recording, **params) if len(b)]
    if batches:
        start = np.concatenate([b.start_s for b in batches])
        end = np.concatenate([b.end_s for b in batches])
        feats = np.concatenate([step_features(b) for b in batches])
        which = np.concatenate([np.full(len(b), i) for i, b in enumerate(batches)])
    else:
        start = end = np.zeros(0)
        feats = np.zeros((0, len(FEATURE_NAMES)))
        which = np.zeros(0, dtype=int)
    return _RecordingSteps(recording, batches, start, end, feats, which, step_labels(recording, start, end))


def _mean_axis(rs: _RecordingSteps, signs: np.ndarray) -> np.ndarray | None:
    """Forward axis in sensor coordinates implied by per-step signs (mean of sign × AP axis)."""
    vecs = [signs[i] * ap_axis_of(b) for i, b in enumerate(rs.batches) if ap_axis_of(b) is not None]
    if not vecs:
        return None
    mean = np.mean(vecs, axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else None


def _orient(items: list[_RecordingSteps]) -> None:
    """Set ``ap_sign`` of every step so that signed features point to the wearer's front."""
    axes_by_subject: dict[str, list[np.ndarray]] = {}
    axes_by_format: dict[str, list[np.ndarray]] = {}
    pending: list[_RecordingSteps] = []
    for rs in items:
        n_batches = len(rs.batches)
        meta_axis = parse_forward_axis(rs.recording.meta.get("forward_axis"))
        batch_sign: np.ndarray | None = None
        if meta_axis is not None:
            batch_sign = np.array([ap_sign_from_axis(meta_axis, b) for b in rs.batches])
            if n_batches and np.all(batch_sign == 0):
                batch_sign = None
        forward = rs.labels == "forward"
        if batch_sign is None and forward.any():
            # Along the direction of travel, AP acceleration leads vertical by a quarter step.
            swing = float(np.median(travel_index(rs.features[forward])))
            batch_sign = np.full(n_batches, 1.0 if swing >= 0 else -1.0)
        if batch_sign is None:
            pending.append(rs)
            continue
        batch_sign[batch_sign == 0] = 1.0
        rs.ap_sign = batch_sign[rs.batch_of_step] if rs.batch_of_step.size else np.zeros(0)
        axis = _mean_axis(rs, batch_sign)
        if axis is not None:
            axes_by_subject.setdefault(str(rs.recording.meta.get("subject")), []).append(axis)
            axes_by_format.setdefault(str(rs.recording.meta.get("format")), []).append(axis)
    for rs in pending:
        if not np.isin(rs.labels, CLASSES).any():
            # No labelled step: nothing is trained or scored on it, so no orientation is needed.
            rs.ap_sign = np.ones(rs.batch_of_step.shape[0])
            continue
        known = axes_by_subject.get(str(rs.recording.meta.get("subject"))) or axes_by_format.get(
            str(rs.recording.meta.get("format"))
        )
        if known:
            axis = np.mean(known, axis=0)
            batch_sign = np.array([ap_sign_from_axis(axis, b, min_cosine=0.0) for b in rs.batches])
            batch_sign[batch_sign == 0] = 1.0
        else:
            # Nothing tells where this wearer's front is. Fall back on the phase of AP against vertical
            # for the labelled direction of travel (backward travel = towards the back), and say so.
            src = rs.recording.meta.get("source", "?")
            warnings.warn(
                f"{src}: no forward axis and no forward steps of the same subject or format; orienting its "
                "steps by the phase of AP against vertical acceleration relative to the labelled direction "
                "of travel",
                stacklevel=3,
            )
            backward = rs.labels == "backward"
            swing = float(np.median(travel_index(rs.features[backward]))) if backward.any() else 0.0
            batch_sign = np.full(len(rs.batches), -1.0 if swing >= 0 else 1.0)
        rs.ap_sign = batch_sign[rs.batch_of_step] if rs.batch_of_step.size else np.zeros(0)


def _oriented_features(rs: _RecordingSteps) -> np.ndarray:
    """Features with signed columns along the wearer's front (recomputing would give the same)."""
    assert rs.ap_sign is not None
    out = rs.features.copy()
    flip = rs.ap_sign < 0
    out[flip] = mirror_features(out[flip])
    return out


# ----------------------------------------------------------------------------------------------------
# Training


def train_model(
    recordings: Iterable[Recording],
    *,
    synthetic_backward: Literal["auto"] | bool = "auto",
    detector_params: dict[str, Any] | None = None,
    classifier: DirectionClassifier | None = None,
) -> DirectionModel:
    """Fit a direction model on labelled recordings.

    Parameters
    ----------
    recordings : iterable of Recording
        Recordings with per-sample labels (unlabelled ones contribute nothing).
    synthetic_backward : "auto" or bool, default="auto"
        Add AP-mirrored copies of the real forward steps as a synthetic backward class: "auto" does so
        unless the real backward steps come from at least :data:`MIN_BACKWARD_SUBJECTS` subjects; True
        always; False never.
    detector_params : dict, optional
        Keyword arguments for the step detector (stored in the model for the pipeline to use).
    classifier : DirectionClassifier, optional
        Unfitted estimator to use (default parameters otherwise); it is cloned, not modified.

    Returns
    -------
    DirectionModel

    Raises
    ------
    ModelError
        No labelled forward/backward step was found, or only one class and no synthetic class allowed.
    """
    params = dict(detector_params or {})
    items = [_detect(r, params) for r in recordings]
    return _fit(items, synthetic_backward=synthetic_backward, detector_params=params, classifier=classifier)


#: Why a placement's direction is not learned or reported, by the step detector's placement profile.
_NOT_FOR_DIRECTION = {
    "foot": "a foot sensor follows its foot, not the trunk: direction is not meaningful there",
    "phone": "a phone on a limb (arm, hand, pocket, thigh) swings with it: its front is not the trunk's",
}


def direction_placement(recording: Recording) -> tuple[str, str | None]:
    """The placement a recording's direction would be learned at, and why not when it is not meaningful.

    Direction is learned and reported only for sensors that follow the trunk (chest, lower back, waist,
    neck, bag...: the detector's trunk profile); a recording that names no placement is taken as one.

    Returns
    -------
    placement : str
        The recording's placement (``"auto"`` when it names none).
    reason : str or None
        None when direction is meaningful there; otherwise why it is left out.
    """
    placement = recording_placement(recording)
    return placement, _NOT_FOR_DIRECTION.get(PLACEMENTS.get(placement, "trunk"))


def split_by_placement(items: list[_RecordingSteps]) -> tuple[list[_RecordingSteps], list[dict[str, Any]]]:
    """The recordings whose direction is meaningful, and a summary of the others per placement."""
    kept: list[_RecordingSteps] = []
    left: dict[str, dict[str, Any]] = {}
    for rs in items:
        placement, reason = direction_placement(rs.recording)
        if reason is None:
            kept.append(rs)
            continue
        entry = left.setdefault(
            placement, {"placement": placement, "recordings": 0, "steps": 0, "why": reason}
        )
        entry["recordings"] += 1
        entry["steps"] += int(np.isin(rs.labels, CLASSES).sum())
    return kept, sorted(left.values(), key=lambda e: e["placement"])


def placement_counts(items: list[_RecordingSteps]) -> dict[str, int]:
    """Labelled steps per placement."""
    counts: dict[str, int] = {}
    for rs in items:
        placement = direction_placement(rs.recording)[0]
        counts[placement] = counts.get(placement, 0) + int(np.isin(rs.labels, CLASSES).sum())
    return dict(sorted(counts.items()))


def _fit(
    items: list[_RecordingSteps],
    *,
    synthetic_backward: Literal["auto"] | bool,
    detector_params: dict[str, Any],
    classifier: DirectionClassifier | None,
) -> DirectionModel:
    from sklearn.base import clone

    if synthetic_backward not in ("auto", True, False):
        raise ModelError(f"synthetic_backward must be 'auto', True or False; got {synthetic_backward!r}")
    items, left_out = split_by_placement(items)
    if not items:
        raise ModelError(
            "no recording from a placement where direction is meaningful (a sensor on the trunk: chest, "
            "lower_back, waist...); left out: "
            + "; ".join(f"{e['placement']} ({e['recordings']} recordings: {e['why']})" for e in left_out)
        )
    _orient([rs for rs in items if rs.ap_sign is None])
    xs, ys, subjects = [], [], set()
    per_class = {"forward": 0, "backward": 0}
    for rs in items:
        keep = np.isin(rs.labels, CLASSES)
        if not keep.any():
            continue
        xs.append(_oriented_features(rs)[keep])
        ys.append(rs.labels[keep].astype(str))
        subjects.add(str(rs.recording.meta.get("subject", rs.recording.meta.get("source", "?"))))
        for c in CLASSES:
            per_class[c] += int(np.sum(rs.labels[keep] == c))
    if not xs:
        raise ModelError("no labelled forward or backward steps in the training recordings")
    X = np.concatenate(xs)
    y = np.concatenate(ys)
    backward_subjects = {
        str(rs.recording.meta.get("subject", rs.recording.meta.get("source", "?")))
        for rs in items
        if np.any(rs.labels == "backward")
    }
    add_mirror = synthetic_backward is True or (
        synthetic_backward == "auto" and len(backward_subjects) < MIN_BACKWARD_SUBJECTS
    )
    n_mirrored = 0
    if add_mirror:
        fwd = X[y == "forward"]
        if fwd.shape[0] == 0:
            raise ModelError("cannot build the mirrored backward class: no real forward steps")
        X = np.concatenate([X, mirror_features(fwd)])
        y = np.concatenate([y, np.full(fwd.shape[0], "backward")])
        n_mirrored = int(fwd.shape[0])
    elif per_class["backward"] == 0 or per_class["forward"] == 0:
        raise ModelError(
            f"training needs forward and backward steps; got {per_class} and synthetic_backward=False"
        )
    from gaitdir.model._classifier import DirectionClassifier

    est = clone(classifier) if classifier is not None else DirectionClassifier()
    est.fit(X, y)
    backward_source = (
        "real" if n_mirrored == 0 else ("mirrored-ap" if per_class["backward"] == 0 else "real+mirrored-ap")
    )
    metadata = {
        "gaitdir_version": __version__,
        "n_recordings": len(items),
        "placements": placement_counts(items),
        "left_out": left_out,
        "subjects": sorted(subjects),
        "real_steps": per_class,
        "synthetic_backward": bool(n_mirrored),
        "synthetic_backward_transform": MIRRORED_AP if n_mirrored else None,
        "synthetic_backward_steps": n_mirrored,
        "backward_source": backward_source,
        "classifier": type(est).__name__,
        "classifier_params": est.get_params(),
    }
    return DirectionModel(
        classifier=est, feature_names=FEATURE_NAMES, detector_params=detector_params, metadata=metadata
    )
