"""The step pipeline: samples in, labelled steps out — one causal implementation for files and live streams.

:class:`StepPipeline` feeds samples to :class:`gaitdir.signal.StepDetector`, featurises each finished
step (:mod:`gaitdir.features`) and labels it forward or backward with the direction model
(:mod:`gaitdir.model`). :func:`classify_recording` is the same pipeline fed a whole recording at once, so
offline and live counts agree.

Forward reference (which way is the wearer's front)
---------------------------------------------------
The detector finds the walker's anterior-posterior (AP) line but not which way along it the wearer
faces; that must be known (see :mod:`gaitdir.model.front`), and the pipeline always says where it came
from (``forward_reference_``):

1. **Known front** (``forward_axis``: given by the user, the file, a stored calibration or the sensor's
   mounting profile). The detector's body frame takes that axis, made horizontal, as its AP axis from the
   first sample on (nothing has to settle, and no step is labelled by assumption). Direction evidence is
   carried from step to step within a walking bout (:class:`~gaitdir.model.front.BoutEvidence`); the
   first one or two steps of a bout wait until the evidence is clear (``hold_margin``), at most
   ``max_held_steps`` steps (``emitted_s`` says when each label came out).
2. **First steps** (nothing known). The first steps of the session are *assumed* to be forward: the
   pipeline scores them (from the third step on: the first two are gait initiation, and the detector's
   estimated AP axis is still settling) under both AP signs and keeps the sign under which the model
   finds them forward. It decides as soon as the evidence is clear (the last ``min_calibration_steps``
   steps each favour one sign by ``calibration_margin`` log-odds and the median of all held steps
   agrees), and at the latest after ``calibration_steps`` steps. Until then each step is labelled as it
   comes under the current best sign, so calibration adds no latency; with
   ``hold_calibration_steps=True`` they wait and are labelled under the final sign. The decision is kept
   for the session. A session that *starts* with backward walking is calibrated the wrong way round, and
   its labels are swapped: that is why the source is reported, and why a known front is worth having.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitdir.features import FEATURE_NAMES, mirror_features, step_features
from gaitdir.model import (
    EVIDENCE_DECAY,
    DirectionModel,
    first_bout_log_odds,
    forward_log_odds,
    load_model,
    parse_forward_axis,
)
from gaitdir.model.front import (
    BOUT_GAP_S,
    FIRST_STEPS,
    HOLD_MARGIN,
    MAX_HELD_STEPS,
    BoutEvidence,
    ForwardReference,
    ap_axis_of,
    recording_forward_reference,
)
from gaitdir.recordings import Recording
from gaitdir.signal import (
    PLACEMENTS,
    Conditioned,
    StepBatch,
    StepDetector,
    conditioned_ahead,
    recording_chunks,
    recording_placement,
)

__all__ = ["StepPipeline", "StepTable", "classify_recording", "iter_classify_recording"]

logger = logging.getLogger(__name__)


@dataclass
class StepTable:
    """Labelled steps, one row per step (arrays of equal length).

    Attributes
    ----------
    time_s : ndarray of float, shape (k,)
        Initial contact of the step (s, time base of the input).
    duration_s : ndarray of float, shape (k,)
        Until the next initial contact (s).
    direction : ndarray of str, shape (k,)
        ``"forward"`` or ``"backward"``.
    confidence : ndarray of float, shape (k,)
        Probability of the chosen direction (0–1).
    emitted_s : ndarray of float, shape (k,)
        Stream time at which the label was produced (s); ``emitted_s − (time_s + duration_s)`` is the
        labelling latency.
    """

    time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    direction: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U8"))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    emitted_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def end_s(self) -> np.ndarray:
        """End of each step (s) = ``time_s + duration_s``."""
        return self.time_s + self.duration_s

    def counts(self) -> dict[str, int]:
        """``{"steps", "forward", "backward"}`` counts."""
        return {
            "steps": len(self),
            "forward": int(np.sum(self.direction == "forward")),
            "backward": int(np.sum(self.direction == "backward")),
        }

    @staticmethod
    def concat(tables: list[StepTable]) -> StepTable:
        """One table with the rows of ``tables`` in order."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return StepTable()
        return StepTable(
            time_s=np.concatenate([t.time_s for t in tables]),
            duration_s=np.concatenate([t.duration_s for t in tables]),
            direction=np.concatenate([t.direction.astype("<U8") for t in tables]),
            confidence=np.concatenate([t.confidence for t in tables]),
            emitted_s=np.concatenate([t.emitted_s for t in tables]),
        )


class StepPipeline:
    """Causal, stateful: samples in, labelled steps out (see the module docstring for the forward reference).

    Parameters
    ----------
    model : DirectionModel, optional
        Direction model; None loads the shipped default (verified by hash) on first use.
    placement : str, default="auto"
        Sensor placement passed to the step detector.
    forward_axis : ForwardReference, str or sequence of 3 floats, optional
        The wearer's front: a :class:`~gaitdir.model.front.ForwardReference` (which says where it came
        from), or a sensor axis given by the user (``"+x"``, ``"-y"``, ``"0,0,1"``...; source
        ``"option"``). None: nothing is known, and the first steps are assumed forward (source
        ``"first-steps"``).
    calibration_steps : int, default=8
        First-bout calibration decides after at most this many steps.
    min_calibration_steps : int, default=2
        ... and at the earliest after this many, when the evidence is clear.
    calibration_margin : float, default=4.0
        Per-step log-odds margin between the two AP signs that counts as clear evidence (see
        :func:`gaitdir.model.calibration_decision`).
    evidence_decay : float, default=EVIDENCE_DECAY
        Direction evidence carried from step to step within a walking bout
        (:class:`gaitdir.model.front.BoutEvidence`; 0 labels every step on its own).
    bout_gap_s : float, default=BOUT_GAP_S
        Longest pause between two steps of one walking bout (s).
    hold_margin : float, default=HOLD_MARGIN
        Known front: the first steps of a bout wait until the evidence carried reaches this (log-odds)...
    max_held_steps : int, default=MAX_HELD_STEPS
        ... or until this many wait (0: every step is labelled at once).
    hold_calibration_steps : bool, default=False
        False: steps before the calibration decides are labelled at once under the current best AP sign
        (the sign under which the steps so far look forward), so calibration adds no latency. True: they
        are held and labelled under the final sign when it decides (consistent, but later).
    calibration_settle_steps : int, default=2
        First steps: the session's first steps do not count towards calibration (gait initiation; the
        detector's AP axis is still settling); they are labelled under the best sign so far.
    detector_params : dict, optional
        Extra keyword arguments for :class:`gaitdir.signal.StepDetector` (override the model's).

    Attributes
    ----------
    model_ : DirectionModel
        The model in use.
    forward_reference_ : ForwardReference
        Where the front came from (``forward_reference_.source``) and its axis.
    forward_axis_sensor_ : ndarray of shape (3,) or None
        The wearer's front as a unit vector in sensor coordinates, once known.
    n_steps_ : int
        Steps labelled so far.
    """

    def __init__(
        self,
        model: DirectionModel | None = None,
        *,
        placement: str = "auto",
        forward_axis: str | Any | None = None,
        calibration_steps: int = 8,
        min_calibration_steps: int = 2,
        calibration_margin: float = 4.0,
        evidence_decay: float = EVIDENCE_DECAY,
        bout_gap_s: float = BOUT_GAP_S,
        hold_margin: float = HOLD_MARGIN,
        max_held_steps: int = MAX_HELD_STEPS,
        hold_calibration_steps: bool = False,
        calibration_settle_steps: int = 2,
        detector_params: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.placement = placement
        self.forward_axis = forward_axis
        self.calibration_steps = calibration_steps
        self.min_calibration_steps = min_calibration_steps
        self.calibration_margin = calibration_margin
        self.evidence_decay = evidence_decay
        self.bout_gap_s = bout_gap_s
        self.hold_margin = hold_margin
        self.max_held_steps = max_held_steps
        self.hold_calibration_steps = hold_calibration_steps
        self.calibration_settle_steps = calibration_settle_steps
        self.detector_params = detector_params
        self._started = False

    # -- set-up -----------------------------------------------------------------------------------

    def _start(self) -> None:
        if self.calibration_steps < 1 or not 1 <= self.min_calibration_steps <= self.calibration_steps:
            raise ValueError(
                "need 1 <= min_calibration_steps <= calibration_steps; got "
                f"{self.min_calibration_steps} and {self.calibration_steps}"
            )
        self.model_ = self.model if self.model is not None else load_model()
        if isinstance(self.forward_axis, ForwardReference):
            reference = self.forward_axis
        elif parse_forward_axis(self.forward_axis) is not None:
            reference = ForwardReference.from_axis(self.forward_axis, "option")
        else:
            reference = FIRST_STEPS
        self.forward_reference_: ForwardReference = reference
        self.forward_axis_sensor_: np.ndarray | None = (
            None if reference.axis is None else np.asarray(reference.axis, dtype=float)
        )
        params = {**self.model_.detector_params, **(self.detector_params or {})}
        params.setdefault("placement", self.placement)
        if self.forward_axis_sensor_ is not None:
            # The body frame's AP axis is the known front from the first sample on.
            params["front_axis_sensor"] = self.forward_axis_sensor_
        self.detector_ = StepDetector(**params)
        if PLACEMENTS.get(str(params["placement"]).lower()) == "foot":
            warnings.warn(
                "direction labels are not meaningful for a foot-worn sensor (the direction model follows "
                "the trunk); steps are counted, forward/backward should be ignored",
                stacklevel=3,
            )
        # None: the first-steps sign is not decided yet; "axis": a known front; "first-bout": decided
        self._front_state: str | None = "axis" if reference.known else None
        self.n_steps_ = 0
        self._sign = 1.0  # the AP sign decided by first-steps calibration
        self._pending: list[tuple[StepBatch, np.ndarray]] = []  # first-steps calibration
        self._n_labelled_pending = 0  # held calibration steps already labelled provisionally
        self._evidence = BoutEvidence(
            decay=self.evidence_decay,
            gap_s=self.bout_gap_s,
            hold_margin=self.hold_margin,
            max_held=self.max_held_steps if reference.known else 0,
        )
        # steps whose label waits on the evidence (start_s, end_s), in order
        self._waiting: list[tuple[np.ndarray, np.ndarray]] = []
        self._started = True

    @property
    def front_decided(self) -> bool:
        """True once steps are labelled against a front: a known one, or the first-steps sign decided."""
        return self._started and self._front_state is not None

    def reset(self) -> StepPipeline:
        """Start a new session (forget steps, calibration and detector state)."""
        self._started = False
        return self

    def start(self) -> StepPipeline:
        """Load the model and build the detector now (otherwise the first update does it)."""
        if not self._started:
            self._start()
        return self

    # -- streaming --------------------------------------------------------------------------------

    def update(
        self,
        time_s: np.ndarray,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None = None,
        *,
        gravity_removed: bool = False,
    ) -> StepTable:
        """Feed samples; return the steps labelled as a result (possibly none).

        Parameters
        ----------
        time_s : ndarray, shape (n,)
            Sample times (s), increasing across calls.
        acc_mps2 : ndarray, shape (n, 3)
            Acceleration in sensor coordinates (m/s²), with gravity unless ``gravity_removed``.
        gyr_radps : ndarray, shape (n, 3), optional
            Angular rate (rad/s).
        gravity_removed : bool, default=False
            The input has gravity removed (e.g. KU-HAR's trimmed files).

        Returns
        -------
        StepTable
            Newly labelled steps.
        """
        if not self._started:
            self._start()
        batch = self.detector_.update(time_s, acc_mps2, gyr_radps, gravity_removed=gravity_removed)
        return self._label(batch, final=False)

    def update_conditioned(self, conditioned: Conditioned) -> StepTable:
        """:meth:`update` for samples the detector's front end has already conditioned.

        ``pipeline.update(...)`` is ``pipeline.update_conditioned(pipeline.detector_.condition(...))``;
        offline callers use the split to condition the next chunk in a worker thread (see
        :func:`gaitdir.signal.conditioned_ahead`). Call :meth:`start` first so that ``detector_`` exists.
        """
        if not self._started:
            self._start()
        return self._label(self.detector_.decide(conditioned), final=False)

    def flush(self) -> StepTable:
        """End of stream: finalise pending steps (and a pending calibration) and label them."""
        if not self._started:
            self._start()
        batch = self.detector_.flush()
        return self._label(batch, final=True)

    # -- labelling --------------------------------------------------------------------------------

    @staticmethod
    def _rows(start: np.ndarray, end: np.ndarray, log_odds: np.ndarray, emitted_s: float) -> StepTable:
        """Rows for steps ``[start, end)`` from their final log-odds."""
        p_forward = 1.0 / (1.0 + np.exp(-log_odds))
        forward = log_odds >= 0
        return StepTable(
            time_s=start,
            duration_s=end - start,
            direction=np.where(forward, "forward", "backward").astype("<U8"),
            confidence=np.where(forward, p_forward, 1.0 - p_forward),
            emitted_s=np.full(start.shape[0], float(emitted_s)),
        )

    def _label(self, batch: StepBatch, *, final: bool) -> StepTable:
        features = step_features(batch) if len(batch) else np.zeros((0, len(FEATURE_NAMES)))
        if self._front_state is None:
            return self._calibrate(batch, features, final=final)
        if self._front_state == "first-bout" and self._sign < 0:
            features = mirror_features(features)
        # Known front: the detector's AP axis is the front, so the features point to it as they are.
        values = self._evidence.push(forward_log_odds(self.model_, features), batch.start_s, batch.end_s)
        if len(batch):
            self._waiting.append(
                (np.asarray(batch.start_s, dtype=float), np.asarray(batch.end_s, dtype=float))
            )
        if final:
            values = np.concatenate([values, self._evidence.flush()])
        else:
            values = np.concatenate([values, self._evidence.expire(batch.emitted_s)])
        return self._release(values, batch.emitted_s)

    def _release(self, values: np.ndarray, emitted_s: float) -> StepTable:
        """Rows for the first ``len(values)`` waiting steps, labelled with ``values``."""
        n = values.shape[0]
        if not n:
            return StepTable()
        start = np.concatenate([s for s, _ in self._waiting])
        end = np.concatenate([e for _, e in self._waiting])
        rest = (start[n:], end[n:])
        self._waiting = [rest] if rest[0].size else []
        self.n_steps_ += n
        return self._rows(start[:n], end[:n], values, emitted_s)

    def _calibrate(
        self, batch: StepBatch, features: np.ndarray, *, final: bool, held_already: bool = False
    ) -> StepTable:
        """First-bout calibration (step by step, whatever the batch sizes; see the module docstring)."""
        if len(batch) and not held_already:
            self._pending.append((batch, features))
        if not self._pending:
            return StepTable()
        batches = [b for b, _ in self._pending]
        start = np.concatenate([b.start_s for b in batches])
        end = np.concatenate([b.end_s for b in batches])
        log_odds, decided_at, sign = first_bout_log_odds(
            self.model_,
            np.concatenate([f for _, f in self._pending]),
            start,
            end,
            decay=self.evidence_decay,
            min_steps=self.min_calibration_steps,
            max_steps=self.calibration_steps,
            margin=self.calibration_margin,
            final=final,
            hold=self.hold_calibration_steps,
            settle_steps=self.calibration_settle_steps,
        )
        # Steps not labelled yet; before the decision (hold mode) they stay NaN and wait.
        first = self._n_labelled_pending
        if decided_at is not None:
            self._sign = sign
            self._front_state = "first-bout"
            last_axis = ap_axis_of(batches[-1])
            if last_axis is not None:
                self.forward_axis_sensor_ = sign * last_axis
            # Carry the decided-sign evidence of the last held step into the steps that follow.
            self._evidence.carry_from(float(end[-1]), float(log_odds[-1]))
            self._pending = []
            self._n_labelled_pending = 0
            logger.info("forward reference from the first %d steps: AP sign %+d", decided_at + 1, sign)
        new = np.arange(start.shape[0]) >= first
        new &= ~np.isnan(log_odds)
        if not new.any():
            return StepTable()
        if self._pending:
            self._n_labelled_pending = int(np.flatnonzero(new)[-1]) + 1
        self.n_steps_ += int(new.sum())
        table = self._rows(start, end, np.nan_to_num(log_odds), float(batch.emitted_s))
        return StepTable(
            time_s=table.time_s[new],
            duration_s=table.duration_s[new],
            direction=table.direction[new],
            confidence=table.confidence[new],
            emitted_s=table.emitted_s[new],
        )


def classify_recording(
    recording: Recording,
    *,
    model: DirectionModel | None = None,
    forward_axis: str | Any | None = None,
    placement: str | None = None,
    chunk_s: float = 1800.0,
    threaded: bool = True,
) -> StepTable:
    """Find and label every step of a recording with the same :class:`StepPipeline` used live.

    Parameters
    ----------
    recording : Recording
    model : DirectionModel, optional
        None: the shipped default model.
    forward_axis : ForwardReference, str or sequence of 3 floats, optional
        The wearer's front; None: from the recording's metadata (``forward_axis``, else its ``sensor`` and
        ``placement`` through the mounting profiles, see
        :func:`gaitdir.model.front.recording_forward_reference`), else assumed from the first steps.
    placement : str, optional
        Overrides ``recording.meta["placement"]`` (unknown placements fall back to "auto").
    chunk_s : float, default=1800.0
        The recording is fed in chunks of this duration (s) to bound memory; the result does not depend
        on it (the pipeline is causal). Half-hour chunks keep the worker thread's numpy calls long, so
        the two threads hand the GIL over less often.
    threaded : bool, default=True
        Condition the next chunk in a worker thread while the current one is decided and labelled
        (:func:`gaitdir.signal.conditioned_ahead`); the result does not depend on it.

    Returns
    -------
    StepTable
    """
    pieces = iter_classify_recording(
        recording,
        model=model,
        forward_axis=forward_axis,
        placement=placement,
        chunk_s=chunk_s,
        threaded=threaded,
    )
    return StepTable.concat(list(pieces))


def iter_classify_recording(
    recording: Recording,
    *,
    model: DirectionModel | None = None,
    forward_axis: str | Any | None = None,
    placement: str | None = None,
    chunk_s: float = 1800.0,
    threaded: bool = True,
) -> Iterator[StepTable]:
    """:func:`classify_recording` piece by piece: the steps of each chunk as soon as they are labelled.

    Parameters are those of :func:`classify_recording`. The pieces, concatenated, are its result; a
    caller can write or count each piece while the next chunk is processed.

    Yields
    ------
    StepTable
        Steps labelled after each chunk (possibly none), then those the end of the recording finalises.
    """
    if placement is None:
        placement = recording_placement(recording)
    if not isinstance(forward_axis, ForwardReference):
        forward_axis = recording_forward_reference(recording.meta, option=forward_axis)
    pipeline = StepPipeline(model, placement=placement, forward_axis=forward_axis)
    pipeline.start()
    conditioned = conditioned_ahead(
        pipeline.detector_,
        recording_chunks(recording, chunk_s),
        gravity_removed=recording.gravity_removed,
        threaded=threaded,
    )
    for c in conditioned:
        yield pipeline.update_conditioned(c)
    yield pipeline.flush()
