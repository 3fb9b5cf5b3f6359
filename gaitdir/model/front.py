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

#: Weight of the previous step's direction evidence within a bout (see :class:`BoutEvidence`).
EVIDENCE_DECAY: float = 0.85
#: A step continues the walking bout when it starts at most this long after the previous step ended (s).
#: A walker reverses only after stopping, and a pause this short is not a stop: a turn, a hesitation, a
#: contact the detector missed (chosen on IPOL held-out subjects and real backward motion, see
#: ``benchmarks/direction.py``).
BOUT_GAP_S: float = 0.5
#: At the start of a bout (front known), steps wait until the evidence carried reaches this many
#: log-odds either way...
HOLD_MARGIN: float = 3.0
#: ... or until this many steps wait (the first step of a walk says little on its own: gait initiation;
#: holding one step is as accurate as holding two on IPOL held-out people and the motion capture, and waits
#: less).
MAX_HELD_STEPS: int = 1
#: A step waiting at the start of a bout is labelled at the latest this long after it ended (s), when no
#: next step came: the detector emits a walk's next step well before (its start is at most ``BOUT_GAP_S``
#: later, its length at most 2.2 s, its confirmation a fraction of a second), so labels do not depend on
#: how the stream is cut into updates.
HELD_STEP_TIMEOUT_S: float = 3.5

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
    gap_s: float = BOUT_GAP_S,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Carry direction evidence from step to step within a walking bout (causal).

    ``s_i = l_i + decay · s_(i−1)`` when step i starts at most ``gap_s`` after step i−1 ended (the same
    bout), else ``s_i = l_i``. A walker does not reverse direction mid-bout without stopping, so atypical
    single steps (turns, the last steps of a bout) follow the bout; a real reversal still flips the label
    as soon as one step's evidence outweighs the decayed history. :class:`BoutEvidence` is the same with
    a bout's first steps held.

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
    gap_s : float, default=BOUT_GAP_S
        Longest pause between steps of one bout (s).

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
            if _continues(float(start_s[i]), prev_end, gap_s):
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
        if _continues(start, prev_end, gap_s):
            value += decay * prev
        append(value)
        prev_end, prev = end, value
    return np.array(smoothed), (float(prev_end), float(prev))


def _continues(start_s: float, prev_end_s: float, gap_s: float) -> bool:
    """Does a step starting at ``start_s`` continue the bout whose last step ended at ``prev_end_s``?"""
    # A step may start slightly before the previous one's predicted end (an early contact).
    return prev_end_s - 0.05 <= start_s <= prev_end_s + gap_s


@dataclass
class BoutEvidence:
    """Direction evidence carried from step to step within walking bouts, with the bout's first steps held.

    Streaming and causal: :meth:`push` takes the next steps' own log-odds (forward positive) and says
    which steps, in order, are now labelled and with which evidence. Within a bout (steps separated by
    at most ``gap_s``) the evidence is ``s_i = l_i + decay · s_(i−1)``: a walker does not reverse
    without stopping, so an atypical step (a turn, the last steps of a walk) follows the bout, while a
    real reversal after a pause starts afresh.

    The first steps of a bout say little on their own (gait initiation), so up to ``max_held`` of them
    wait until the evidence reaches ``hold_margin`` either way; they are then labelled with the evidence
    of the step that decided, and so is every step that waited with them. This labels no step by
    assumption; it delays a few (one or two per bout) by about a step.

    Parameters
    ----------
    decay : float, default=EVIDENCE_DECAY
    gap_s : float, default=BOUT_GAP_S
    hold_margin : float, default=HOLD_MARGIN
    max_held : int, default=MAX_HELD_STEPS
        0 labels every step at once.

    Attributes
    ----------
    held_ : int
        Steps waiting (they are the last ones pushed).
    """

    decay: float = EVIDENCE_DECAY
    gap_s: float = BOUT_GAP_S
    hold_margin: float = HOLD_MARGIN
    max_held: int = MAX_HELD_STEPS

    def __post_init__(self) -> None:
        self.held_ = 0
        self._prev_end = -np.inf
        self._prev = 0.0

    def push(self, log_odds: np.ndarray, start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
        """Take the next steps; return the evidence of every step now labelled.

        Parameters
        ----------
        log_odds : ndarray, shape (k,)
            The steps' own log-odds, in time order.
        start_s, end_s : ndarray, shape (k,)
            Their spans (s).

        Returns
        -------
        ndarray
            Evidence (log-odds, forward positive) of the steps labelled by this call, in order: first the
            steps that were waiting, then the new ones, as far as they are labelled; the rest wait
            (``held_``).
        """
        out: list[float] = []
        for value, start, end in zip(
            np.asarray(log_odds, dtype=float).tolist(),
            np.asarray(start_s, dtype=float).tolist(),
            np.asarray(end_s, dtype=float).tolist(),
            strict=True,
        ):
            continues = _continues(start, self._prev_end, self.gap_s)
            if not continues and self.held_:
                # The bout ended while its first steps waited: they get what the bout had.
                out.extend([self._prev] * self.held_)
                self.held_ = 0
            evidence = value + (self.decay * self._prev if continues else 0.0)
            starting = not continues or self.held_ > 0
            if starting and self.held_ < self.max_held and abs(evidence) < self.hold_margin:
                self.held_ += 1
            else:
                out.extend([evidence] * (self.held_ + 1))
                self.held_ = 0
            self._prev_end, self._prev = end, evidence
        return np.asarray(out, dtype=float)

    def expire(self, now_s: float) -> np.ndarray:
        """Stream time ``now_s`` has passed: if the walk ended while steps waited (no next step by
        :data:`HELD_STEP_TIMEOUT_S` after the last one), they get the evidence there is, instead of waiting
        for the next walk."""
        if self.held_ and now_s > self._prev_end + HELD_STEP_TIMEOUT_S:
            return self.flush()
        return np.zeros(0)

    def carry_from(self, end_s: float, evidence: float) -> BoutEvidence:
        """Continue from a step labelled elsewhere (first-steps calibration) that ended at ``end_s``."""
        self._prev_end, self._prev = float(end_s), float(evidence)
        return self

    def flush(self) -> np.ndarray:
        """End of the stream: the steps still waiting get the evidence there is."""
        out = np.full(self.held_, self._prev)
        self.held_ = 0
        return out


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


# ----------------------------------------------------------------------------------------------------
# Calibration: the front from a walk known to be forward


@dataclass(frozen=True)
class FrontCalibration:
    """The wearer's front found by walking forward with the sensor worn (``gaitdir calibrate``).

    Attributes
    ----------
    forward_axis : tuple of 3 floats
        Unit vector of the wearer's front in sensor coordinates (horizontal when the wearer stands).
    steps : int
        Forward steps the answer rests on (the walk's first steps, gait initiation, are not counted).
    agreement : float
        Share of those steps whose own evidence points the same way (0–1).
    axis_clarity : float
        How clearly the trunk's front-back line stands out in the walk: 1 − (side-to-side variance /
        front-back variance) of the step-band acceleration in the horizontal plane (0–1).
    heading_change_deg : float or None
        How far the walker turned during the walk (°), from the gyroscope; None without one.
    start_s, end_s : float
        The walk used (s, time base of the input).
    """

    forward_axis: tuple[float, float, float]
    steps: int
    agreement: float
    axis_clarity: float
    heading_change_deg: float | None
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``gaitdir calibrate --json``)."""
        return {
            "forward_axis": [round(v, 4) for v in self.forward_axis],
            "steps": self.steps,
            "agreement": round(self.agreement, 3),
            "axis_clarity": round(self.axis_clarity, 3),
            "heading_change_deg": None
            if self.heading_change_deg is None
            else round(self.heading_change_deg, 1),
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
        }


class FrontCalibrator:
    """Finds the wearer's front from a walk known to be forward: stand still, then walk ~10 steps.

    Causal and streaming (feed it with :meth:`update` as samples come, live or from a file): the step
    detector finds the walk's steps along its estimated AP line; the direction model says, for every step
    after the first ``settle_steps`` (gait initiation), which end of that line the step went to; the walk
    is taken as forward, so that end is the front. The axis itself is the principal horizontal axis of the
    step-band acceleration over the whole walk (no settling). It refuses, with
    :class:`~gaitdir.errors.CalibrationError`, a walk that gives no clear answer: too few steps, steps
    that disagree, no clear front-back line, or turning.

    Parameters
    ----------
    model : DirectionModel, optional
        None: the shipped model.
    placement : str, default="auto"
        Where the sensor is worn (for the step detector).
    min_steps : int, default=6
        Fewest steps (after ``settle_steps``) that can answer.
    target_steps : int, default=12
        The calibration is complete (:attr:`done_`) once the first walk has this many steps after
        ``settle_steps``, or once the walk ends with at least ``min_steps``.
    settle_steps : int, default=2
        The walk's first steps (gait initiation) are not used.
    min_agreement : float, default=0.75
        Share of steps whose own evidence must agree with the answer.
    min_axis_clarity : float, default=0.3
        How clearly the front-back line must stand out (see :class:`FrontCalibration`).
    max_heading_change_deg : float, default=45.0
        A walk that turns more than this is refused (gyroscope only).
    """

    def __init__(
        self,
        model: DirectionModel | None = None,
        *,
        placement: str = "auto",
        min_steps: int = 6,
        target_steps: int = 12,
        settle_steps: int = 2,
        min_agreement: float = 0.75,
        min_axis_clarity: float = 0.3,
        max_heading_change_deg: float = 45.0,
    ) -> None:
        self.model = model
        self.placement = placement
        self.min_steps = min_steps
        self.target_steps = target_steps
        self.settle_steps = settle_steps
        self.min_agreement = min_agreement
        self.min_axis_clarity = min_axis_clarity
        self.max_heading_change_deg = max_heading_change_deg
        self._started = False

    def _start(self) -> None:
        from gaitdir.model._persistence import load_model
        from gaitdir.signal import StepDetector

        self.model_ = self.model if self.model is not None else load_model()
        params = {**self.model_.detector_params, "placement": self.placement}
        self.detector_ = StepDetector(**params)
        self._samples: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._steps: list[tuple[float, float, np.ndarray, float | None]] = []  # start, end, features, yaw
        self._ap_axis: np.ndarray | None = None
        self.done_ = False
        self._bout_over = False
        self._started = True

    @property
    def steps_(self) -> int:
        """Steps of the first walk found so far (gait initiation included)."""
        return len(self._steps) if self._started else 0

    def update(
        self, time_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None = None
    ) -> FrontCalibrator:
        """Feed samples (sensor coordinates; acceleration with gravity, m/s²; angular rate, rad/s)."""
        if not self._started:
            self._start()
        if self.done_:
            return self
        time_s = np.asarray(time_s, dtype=float)
        acc_mps2 = np.asarray(acc_mps2, dtype=float)
        gyr = None if gyr_radps is None else np.asarray(gyr_radps, dtype=float)
        if time_s.size:
            self._samples.append((time_s, acc_mps2, gyr))
        self._take(self.detector_.update(time_s, acc_mps2, gyr))
        return self

    def finish(self) -> FrontCalibration:
        """End of the walk (or of the file): the answer, or :class:`CalibrationError` saying why not."""
        if not self._started:
            self._start()
        if not self.done_:
            self._take(self.detector_.flush())
        return self._answer()

    def _take(self, batch: StepBatch) -> None:
        if not len(batch) or self.done_:
            return
        from gaitdir.features import step_features

        features = step_features(batch)
        yaw = None
        body = batch.body
        if body.gyr_radps is not None:
            # angular rate about the vertical, integrated over each step (rad)
            rate = body.gyr_radps[:, 0]
            yaw = [
                float(np.sum(rate[s:e]) / body.sample_rate_hz)
                for s, e in zip(batch.start_idx, batch.end_idx, strict=True)
            ]
        for i in range(len(batch)):
            start, end = float(batch.start_s[i]), float(batch.end_s[i])
            if self._steps and not _continues(start, self._steps[-1][1], BOUT_GAP_S):
                self._bout_over = True  # the first walk ended: later walking is not the calibration walk
                break
            self._steps.append((start, end, features[i], None if yaw is None else yaw[i]))
        axis = ap_axis_of(batch)
        if axis is not None:
            self._ap_axis = axis
        used = len(self._steps) - self.settle_steps
        if used >= self.target_steps or (self._bout_over and used >= self.min_steps):
            self.done_ = True

    def _answer(self) -> FrontCalibration:
        from gaitdir.errors import CalibrationError

        how = "stand still, then walk forward normally in a straight line for about ten steps"
        if not self._steps:
            raise CalibrationError(f"no walking was found; {how}")
        used = self._steps[self.settle_steps :]
        if len(used) < self.min_steps:
            raise CalibrationError(
                f"only {len(self._steps)} steps of walking were found (at least "
                f"{self.min_steps + self.settle_steps} are needed); {how}"
            )
        features = np.stack([f for _, _, f, _ in used])
        scores = calibration_scores(self.model_, features)
        sign = 1.0 if float(np.median(scores)) >= 0 else -1.0
        agreement = float(np.mean(scores * sign > 0))
        if agreement < self.min_agreement:
            raise CalibrationError(
                f"the walk gives no clear answer: only {agreement:.0%} of its {len(used)} steps agree on "
                f"where the front is; {how}"
            )
        heading = None
        if all(y is not None for *_, y in used):
            heading = float(np.degrees(abs(sum(y for *_, y in used))))  # type: ignore[misc]
            if heading > self.max_heading_change_deg:
                raise CalibrationError(
                    f"the walk turned by about {heading:.0f}° (at most {self.max_heading_change_deg:.0f}° "
                    f"is accepted); {how}"
                )
        start_s, end_s = used[0][0], used[-1][1]
        axis, clarity = self._walk_axis(start_s, end_s)
        if axis is None or clarity < self.min_axis_clarity:
            raise CalibrationError(
                "the walk shows no clear front-back line (the sensor may be loose or the walk irregular); "
                + how
            )
        reference = self._ap_axis if self._ap_axis is not None else axis
        forward = sign * axis * (1.0 if float(np.dot(axis, reference)) >= 0 else -1.0)
        return FrontCalibration(
            forward_axis=(float(forward[0]), float(forward[1]), float(forward[2])),
            steps=len(used),
            agreement=agreement,
            axis_clarity=clarity,
            heading_change_deg=heading,
            start_s=start_s,
            end_s=end_s,
        )

    def _walk_axis(self, start_s: float, end_s: float) -> tuple[np.ndarray | None, float]:
        """Principal horizontal axis of the step-band acceleration over the walk, and its clarity."""
        from scipy.signal import butter, sosfiltfilt

        t = np.concatenate([s[0] for s in self._samples])
        acc = np.concatenate([s[1] for s in self._samples])
        keep = (t >= start_s) & (t <= end_s)
        if keep.sum() < 20:
            return None, 0.0
        t, acc = t[keep], acc[keep]
        rate_hz = 100.0
        grid = np.arange(t[0], t[-1], 1.0 / rate_hz)
        if grid.size < 50:
            return None, 0.0
        even = np.column_stack([np.interp(grid, t, acc[:, c]) for c in range(3)])
        up = even.mean(axis=0)
        norm = float(np.linalg.norm(up))
        if norm <= 0:
            return None, 0.0
        up /= norm
        band = sosfiltfilt(butter(2, (0.6, 3.0), btype="bandpass", fs=rate_hz, output="sos"), even, axis=0)
        horizontal = band - np.outer(band @ up, up)
        values, vectors = np.linalg.eigh(horizontal.T @ horizontal / horizontal.shape[0])
        # the two largest eigenvalues are the horizontal plane's (the third is ~0, along up)
        first, second = values[-1], values[-2]
        if first <= 0:
            return None, 0.0
        axis = vectors[:, -1] - float(np.dot(vectors[:, -1], up)) * up
        return axis / np.linalg.norm(axis), float(1.0 - second / first)


def calibrate_recording(
    recording: Any, *, model: DirectionModel | None = None, placement: str | None = None, **params: Any
) -> FrontCalibration:
    """The wearer's front from a recording that starts with forward walking (see :class:`FrontCalibrator`).

    Parameters
    ----------
    recording : Recording
    model : DirectionModel, optional
    placement : str, optional
        Default: the recording's ``placement`` metadata, else automatic.
    **params
        Passed to :class:`FrontCalibrator`.

    Raises
    ------
    CalibrationError
        The recording gives no clear answer (the message says why and what to do).
    """
    from gaitdir.errors import CalibrationError
    from gaitdir.signal import recording_chunks, recording_placement

    calibrator = FrontCalibrator(model, placement=placement or recording_placement(recording), **params)
    if recording.gravity_removed:
        raise CalibrationError(
            "calibration needs acceleration with gravity (it finds the horizontal plane from it); this "
            "recording has gravity removed"
        )
    for time_s, acc_mps2, gyr_radps in recording_chunks(recording, 0.25):
        calibrator.update(time_s, acc_mps2, gyr_radps)
        if calibrator.done_:
            break
    return calibrator.finish()
