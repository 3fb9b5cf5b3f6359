"""The wearer's front: which way the detector's AP axis points, and where that knowledge comes from.

The step detector finds the anterior-posterior (AP) line of the walker from the signal, but not its sign:
a sensor turned round by 180° about the vertical sees AP → −AP, exactly as walking backward does (see
``docs/front.md``). The sign must therefore come from knowledge, and every labelled session says which:

``option``
    given by the user (``--forward-axis``);
``file``
    the recording's ``forward_axis`` metadata;
``calibration``
    a stored calibration of the sensor (``gaitdir calibrate``);
``sensor-profile``
    the sensor family's mounting profile at a placement that fixes the front (:mod:`gaitdir.mounting`);
``first-steps``
    none of these: the first steps of the session are *assumed* to be forward (the one assumption, always
    reported as such).

This module holds everything that depends on the front: parsing axes, comparing them with the detector's
AP axis, the first-steps calibration rule, the evidence carried from step to step within a walking bout,
and calibrating a forward axis from a walk known to be forward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gaitdir.errors import ModelError
from gaitdir.features import mirror_features
from gaitdir.model._predictor import DirectionModel, forward_log_odds
from gaitdir.signal import StepBatch

#: Weight of the previous step's direction evidence within a bout (see :func:`smooth_log_odds`).
EVIDENCE_DECAY: float = 0.5
# A step continues the bout when it starts where the previous one ended (s).
_CONTINUATION_TOL_S = 0.05

#: Where the wearer's front came from (see the module docstring), from the most to the least direct.
FrontSource = Literal["option", "file", "calibration", "sensor-profile", "first-steps"]
FRONT_SOURCES: tuple[str, ...] = ("option", "file", "calibration", "sensor-profile", "first-steps")

#: One line telling a user how to replace the first-steps assumption with knowledge.
CALIBRATE_HINT: str = (
    "the wearer's front was assumed from the first steps (a session that starts backward comes out "
    "swapped); make it known with `gaitdir calibrate`, a placement at pairing, or --forward-axis"
)


@dataclass(frozen=True)
class ForwardReference:
    """Where the wearer's front comes from, and the axis it gives.

    Attributes
    ----------
    source : {"option", "file", "calibration", "sensor-profile", "first-steps"}
        See the module docstring.
    axis : tuple of 3 floats, or None
        The wearer's front as a unit vector in sensor coordinates; None for ``first-steps`` (nothing is
        known: the first steps are assumed to be forward).
    detail : str
        What the source was, for people (``"polar-h10 worn at chest"``, ``"calibrated 2026-12-05 on 12
        steps"``...).
    """

    source: FrontSource
    axis: tuple[float, float, float] | None = None
    detail: str = ""

    @property
    def known(self) -> bool:
        """True when the front is knowledge (any source but ``first-steps``)."""
        return self.axis is not None

    def to_dict(self) -> dict[str, Any]:
        """``{"source": S, "axis": [x, y, z] or None}`` (JSON output of ``classify``, summaries)."""
        axis = None if self.axis is None else [round(float(v), 4) for v in self.axis]
        return {"source": self.source, "axis": axis}

    def describe(self) -> str:
        """One line for people: the source, the axis and the detail."""
        if self.axis is None:
            return "first-steps (assumed: the first steps are taken as forward)"
        text = f"{self.source} ({format_axis(self.axis)}"
        return text + (f"; {self.detail})" if self.detail else ")")

    @classmethod
    def from_axis(cls, axis: Any, source: FrontSource, detail: str = "") -> ForwardReference:
        """A known front from any axis :func:`parse_forward_axis` reads.

        Raises
        ------
        ModelError
            ``axis`` is not an axis, or ``source`` is ``first-steps`` (which has none).
        """
        if source not in FRONT_SOURCES or source == "first-steps":
            raise ModelError(
                f"a front given by an axis needs a source among {FRONT_SOURCES[:-1]}; got {source!r}"
            )
        vec = parse_forward_axis(axis)
        if vec is None:
            raise ModelError(f"no forward axis given for source {source!r}")
        return cls(source, (float(vec[0]), float(vec[1]), float(vec[2])), detail)


#: Nothing is known: the first steps are assumed to be forward.
FIRST_STEPS: ForwardReference = ForwardReference("first-steps", None, "")


def format_axis(axis: Sequence[float] | np.ndarray) -> str:
    """``"+x"`` for a signed sensor axis, else three numbers (``"0.000,0.707,0.707"``)."""
    vec = np.asarray(axis, dtype=float)
    for i, name in enumerate("xyz"):
        if abs(abs(vec[i]) - 1.0) < 1e-6:
            return ("+" if vec[i] > 0 else "-") + name
    return ",".join(f"{v:.3f}" for v in vec)


def resolve_forward_reference(
    *,
    option: Any = None,
    file_axis: Any = None,
    calibration: Any = None,
    sensor: str | None = None,
    placement: str | None = None,
    option_detail: str = "given by the user",
    calibration_detail: str = "",
) -> ForwardReference:
    """The wearer's front from what is known, in order: option, file, calibration, sensor profile.

    Parameters
    ----------
    option : axis, optional
        Given by the user (``--forward-axis``, or stored with the sensor at pairing).
    file_axis : axis, optional
        The recording's ``forward_axis`` metadata.
    calibration : axis, optional
        A stored calibration of the sensor.
    sensor, placement : str, optional
        Sensor kind (or a name the mounting profiles know) and where it is worn; their profile gives the
        front when the placement fixes it (:func:`gaitdir.mounting.profile_front`).
    option_detail, calibration_detail : str
        The ``detail`` of those sources.

    Returns
    -------
    ForwardReference
        :data:`FIRST_STEPS` when nothing is known.

    Raises
    ------
    ModelError
        A given axis cannot be read.
    """
    if parse_forward_axis(option) is not None:
        return ForwardReference.from_axis(option, "option", option_detail)
    if parse_forward_axis(file_axis) is not None:
        return ForwardReference.from_axis(file_axis, "file", "the recording's forward_axis")
    if parse_forward_axis(calibration) is not None:
        return ForwardReference.from_axis(calibration, "calibration", calibration_detail)
    from gaitdir.mounting import profile_front

    worn = profile_front(sensor, placement)
    if worn is not None:
        return ForwardReference.from_axis(
            worn.front, "sensor-profile", f"{sensor} worn at {placement}: {worn.how}"
        )
    return FIRST_STEPS


def recording_forward_reference(meta: Mapping[str, Any], *, option: Any = None) -> ForwardReference:
    """The front of a recording from its metadata (``forward_axis``, else ``sensor`` + ``placement``).

    Parameters
    ----------
    meta : mapping
        The recording's metadata.
    option : axis, optional
        The user's ``--forward-axis``, which wins.
    """
    return resolve_forward_reference(
        option=option,
        file_axis=meta.get("forward_axis") or None,
        sensor=meta.get("sensor") or None,
        placement=meta.get("placement") or None,
    )


def parse_forward_axis(axis: str | Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """Parse a forward axis given as ``"+x"``, ``"-y"``, ``"z"``, ``"0,0.7,0.7"`` or a 3-vector.

    Parameters
    ----------
    axis : str, sequence of 3 floats, or None
        The sensor axis that points to the wearer's front, in sensor coordinates.

    Returns
    -------
    ndarray, shape (3,), or None
        Unit vector, or None when ``axis`` is None or empty.

    Raises
    ------
    ModelError
        The value cannot be read as an axis.
    """
    if axis is None:
        return None
    if isinstance(axis, str):
        text = axis.strip().lower()
        if not text:
            return None
        if text.lstrip("+-") in ("x", "y", "z"):
            vec = np.zeros(3)
            vec["xyz".index(text[-1])] = -1.0 if text.startswith("-") else 1.0
            return vec
        try:
            values = [float(p) for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
        except ValueError:
            values = []
    else:
        values = [float(v) for v in np.asarray(axis, dtype=float).ravel()]
    vec = np.asarray(values, dtype=float)
    if vec.shape != (3,) or not np.all(np.isfinite(vec)) or np.linalg.norm(vec) == 0:
        raise ModelError(
            f"forward axis {axis!r} is not an axis: use '+x', '-x', '+y', '-y', '+z', '-z' or three numbers"
        )
    return vec / np.linalg.norm(vec)


def ap_axis_of(batch: StepBatch) -> np.ndarray | None:
    """The unit AP axis in sensor coordinates a detector batch reports, or None."""
    axis = getattr(batch, "ap_axis_sensor", None)
    if axis is None:
        return None
    axis = np.asarray(axis, dtype=float).ravel()
    norm = float(np.linalg.norm(axis)) if axis.shape == (3,) else 0.0
    return axis / norm if norm > 0 else None


def ap_sign_from_axis(forward_axis_sensor: np.ndarray, batch: StepBatch, *, min_cosine: float = 0.2) -> float:
    """+1/−1: does the batch's AP axis point along ``forward_axis_sensor``? 0 when undecidable.

    Parameters
    ----------
    forward_axis_sensor : ndarray, shape (3,)
        Unit vector of the wearer's front in sensor coordinates.
    batch : StepBatch
        Detector output carrying ``ap_axis_sensor``.
    min_cosine : float, default=0.2
        Below this |cosine| between the two axes the answer is 0 (nearly perpendicular: no information).
    """
    ap = ap_axis_of(batch)
    if ap is None:
        return 0.0
    cos = float(np.dot(forward_axis_sensor, ap))
    return float(np.sign(cos)) if abs(cos) >= min_cosine else 0.0


# ----------------------------------------------------------------------------------------------------
# Calibration shared with the pipeline


def calibration_scores(model: DirectionModel, features: np.ndarray) -> np.ndarray:
    """Per-step evidence that the detector's AP axis (+1) rather than its mirror points to the front.

    Assumes the steps are forward steps (the start of a session). Positive favours ap_sign = +1.

    Parameters
    ----------
    model : DirectionModel
    features : ndarray, shape (k, n_features)
        Features computed with ap_sign = +1.

    Returns
    -------
    ndarray, shape (k,)
        logit P(forward | +1) − logit P(forward | −1) of each step.
    """
    if features.shape[0] == 0:
        return np.zeros(0)
    eps = 1e-6
    p_plus = np.clip(model.forward_proba(features), eps, 1 - eps)
    p_minus = np.clip(model.forward_proba(mirror_features(features)), eps, 1 - eps)
    return np.log(p_plus / (1 - p_plus)) - np.log(p_minus / (1 - p_minus))


def calibration_decision(
    scores: np.ndarray,
    *,
    min_steps: int = 2,
    max_steps: int = 8,
    margin: float = 4.0,
    final: bool = False,
) -> float | None:
    """First-bout calibration rule shared by the pipeline and :func:`evaluate`.

    The first one or two steps of a bout (gait initiation) are often atypical, so a single strong step
    does not decide. The AP sign is decided as soon as the last ``min_steps`` steps all favour the same
    sign by at least ``margin`` and the median over all held steps agrees; otherwise after ``max_steps``
    steps (or at the end of the stream) by the sign of the median.

    Parameters
    ----------
    scores : ndarray, shape (k,)
        :func:`calibration_scores` of the steps held so far, in order.
    min_steps, max_steps : int
        Earliest and latest decision (steps).
    margin : float
        Per-step log-odds margin that counts as clear evidence.
    final : bool
        The stream ended: decide with what there is.

    Returns
    -------
    float or None
        +1.0 or −1.0 once decided, None to keep waiting.
    """
    k = scores.shape[0]
    if k == 0:
        return None
    median = float(np.median(scores))
    sign = 1.0 if median >= 0 else -1.0
    if k >= max_steps or final:
        return sign
    if k >= min_steps:
        recent = scores[-min_steps:] * sign
        if np.all(recent >= margin):
            return sign
    return None


def smooth_log_odds(
    log_odds: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    *,
    decay: float = EVIDENCE_DECAY,
    carry: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Carry direction evidence from step to step within a walking bout (causal).

    ``s_i = l_i + decay · s_(i−1)`` when step i starts where step i−1 ended (the same bout), else
    ``s_i = l_i``. A walker does not reverse direction mid-bout without stopping, so atypical single
    steps (turns, the last steps of a bout) follow the bout; a real reversal still flips the label as soon
    as one step's evidence outweighs the decayed history.

    Parameters
    ----------
    log_odds : ndarray, shape (k,)
        Per-step log-odds (forward positive), in time order.
    start_s, end_s : ndarray, shape (k,)
        Step spans (s).
    decay : float, default=EVIDENCE_DECAY
        Weight of the previous step's smoothed evidence (0 = no smoothing).
    carry : (float, float), optional
        ``(end_s, smoothed log-odds)`` of the step before these (from a previous call).

    Returns
    -------
    smoothed : ndarray, shape (k,)
    carry : (float, float) or None
        To pass to the next call.
    """
    out = np.asarray(log_odds, dtype=float).copy()
    k = out.shape[0]
    if k == 0:
        return out, carry
    prev_end, prev = carry if carry is not None else (-np.inf, 0.0)
    if not decay > 0:
        return out, (float(end_s[k - 1]), float(out[k - 1]))
    if not all(isinstance(value, (float, int)) for value in (decay, prev_end, prev)):
        # Other scalar types (np.float32...) follow numpy's promotion rules: keep numpy scalars.
        for i in range(k):
            if abs(float(start_s[i]) - prev_end) <= _CONTINUATION_TOL_S:
                out[i] += decay * prev
            prev_end, prev = float(end_s[i]), float(out[i])
        return out, (prev_end, prev)
    # The recursion is sequential, so it runs over Python floats: reading and writing numpy elements one
    # at a time costs several times more. The operations, hence the float64 results, are the same.
    starts = np.asarray(start_s, dtype=float)[:k].tolist()
    ends = np.asarray(end_s, dtype=float)[:k].tolist()
    decay = float(decay)
    smoothed: list[float] = []
    append = smoothed.append
    for value, start, end in zip(out.tolist(), starts, ends, strict=True):
        if abs(start - prev_end) <= _CONTINUATION_TOL_S:
            value += decay * prev
        append(value)
        prev_end, prev = end, value
    return np.array(smoothed), (float(prev_end), float(prev))


def first_bout_log_odds(
    model: DirectionModel,
    features: np.ndarray,
    start_s: np.ndarray,
    end_s: np.ndarray,
    *,
    decay: float = EVIDENCE_DECAY,
    min_steps: int = 2,
    max_steps: int = 8,
    margin: float = 4.0,
    final: bool = False,
    hold: bool = False,
    settle_steps: int = 2,
) -> tuple[np.ndarray, int | None, float]:
    """Label the first steps of a session under first-bout calibration, one step at a time.

    The same rule whether the steps arrive one by one or all at once: after each step the calibration
    (:func:`calibration_decision`) either decides the AP sign or not. Before it decides, each step is
    labelled under the current best sign (``hold=False``) or not yet (``hold=True``, NaN); from the
    deciding step on, every step is labelled under the decided sign with evidence carried from the first
    step (:func:`smooth_log_odds`).

    Parameters
    ----------
    model : DirectionModel
    features : ndarray, shape (k, n_features)
        Features of the session's steps so far, in order, at ap_sign = +1.
    start_s, end_s : ndarray, shape (k,)
    decay : float
        Evidence carried within bouts.
    min_steps, max_steps, margin : see :func:`calibration_decision`
    final : bool
        The stream ended: decide with what there is.
    hold : bool
        Leave steps before the decision unlabelled (NaN) instead of labelling them provisionally.
    settle_steps : int, default=2
        The session's first steps do not count towards the decision (unless nothing else is there at
        the end): gait initiation is atypical, and the detector's AP axis is still settling then (on
        rotated IPOL recordings its direction can still turn by more than 90° over the first steps).

    Returns
    -------
    log_odds : ndarray, shape (k,)
        Forward log-odds each step is labelled with (NaN where not labelled yet).
    decided_at : int or None
        Index of the step after which the sign was decided (None: not yet).
    sign : float
        The decided sign, or the current best one.
    """
    k = features.shape[0]
    out = np.full(k, np.nan)
    if k == 0:
        return out, None, 1.0
    scores = calibration_scores(model, features)
    mirrored = mirror_features(features)

    def carried(sign: float, n: int) -> np.ndarray:
        lo = forward_log_odds(model, features[:n] if sign > 0 else mirrored[:n])
        return smooth_log_odds(lo, start_s[:n], end_s[:n], decay=decay)[0]

    rule = {"min_steps": min_steps, "max_steps": max_steps, "margin": margin}

    def usable(n: int) -> np.ndarray:
        return scores[settle_steps:n] if n > settle_steps else scores[:0]

    for j in range(k):
        sign = calibration_decision(usable(j + 1), **rule)
        if sign is not None:
            values = carried(sign, k)
            first = 0 if hold else j
            out[first:] = values[first:]
            return out, j, sign
        if not hold:
            evidence = usable(j + 1) if j + 1 > settle_steps else scores[: j + 1]
            best = 1.0 if np.median(evidence) >= 0 else -1.0
            out[j] = carried(best, j + 1)[j]
    evidence = usable(k) if k > settle_steps else scores
    best = 1.0 if np.median(evidence) >= 0 else -1.0
    if final:
        values = carried(best, k)
        if hold:
            out[:] = values
        return out, k - 1, best
    return out, None, best
