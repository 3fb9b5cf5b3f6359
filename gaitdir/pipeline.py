"""The step pipeline: samples in, labelled steps out — one causal implementation for files and live streams.

:class:`StepPipeline` feeds samples to :class:`gaitdir.signal.StepDetector`, featurises each finished
step (:mod:`gaitdir.features`) and labels it forward or backward with the direction model
(:mod:`gaitdir.model`). :func:`classify_recording` is the same pipeline fed a whole recording at once, so
offline and live counts agree.

Forward reference (which way is the wearer's front)
---------------------------------------------------
The detector's AP axis has a continuous but arbitrary sign. The pipeline decides which sign is the
wearer's front, in this order:

1. ``forward_axis`` — given by the user, a device/placement profile or recording metadata (``"+x"``,
   ``"-y"``, or a 3-vector in sensor coordinates). Each step's AP sign is the sign of the cosine between
   that axis and the detector's AP axis in sensor coordinates (``forward_reference_ = "axis"``). The
   session's first ``calibration_settle_steps`` steps, while the detector's AP axis is still settling,
   are taken as forward (as in calibration).
2. Otherwise, **first-bout calibration**: the first steps of the session are assumed to be forward. The
   pipeline scores them (from the third step on: the first two are gait initiation, and the detector's
   AP axis is still settling) under both AP signs and keeps the sign under which the model finds them forward
   (``forward_reference_ = "first-bout"``). It decides as soon as the evidence is clear (the last
   ``min_calibration_steps`` steps each favour one sign by ``calibration_margin`` log-odds and the median
   of all held steps agrees), and at the latest after ``calibration_steps`` steps. Until then each step
   is labelled as it comes under the current best sign (the one under which the steps so far look
   forward), so calibration adds no latency; with ``hold_calibration_steps=True`` they wait and are
   labelled under the final sign (``emitted_s`` says when). The decision is kept for the session,
   converted to a forward axis in sensor coordinates (``forward_axis_sensor_``) that live sessions can
   store and pass back as ``forward_axis`` next time.

Limitation: a session that *starts* with backward walking and has no ``forward_axis`` is calibrated the
wrong way round, and its forward and backward labels are swapped for the whole session.
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
    ap_sign_from_axis,
    calibration_scores,
    first_bout_log_odds,
    forward_log_odds,
    load_model,
    parse_forward_axis,
    smooth_log_odds,
)
from gaitdir.model.front import FIRST_STEPS, ForwardReference, ap_axis_of, recording_forward_reference
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
        (:func:`gaitdir.model.smooth_log_odds`; 0 labels every step on its own).
    hold_calibration_steps : bool, default=False
        False: steps before the calibration decides are labelled at once under the current best AP sign
        (the sign under which the steps so far look forward), so calibration adds no latency. True: they
        are held and labelled under the final sign when it decides (consistent, but later).
    calibration_settle_steps : int, default=2
        The session's first steps do not count towards calibration (gait initiation; the detector's AP
        axis is still settling); they are labelled under the best sign so far.
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
        params = {**self.model_.detector_params, **(self.detector_params or {})}
        params.setdefault("placement", self.placement)
        self.detector_ = StepDetector(**params)
        if PLACEMENTS.get(str(params["placement"]).lower()) == "foot":
            warnings.warn(
                "direction labels are not meaningful for a foot-worn sensor (the direction model follows "
                "the trunk); steps are counted, forward/backward should be ignored",
                stacklevel=3,
            )
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
        # None: the first-steps sign is not decided yet; "axis": a known front; "first-bout": decided
        self._front_state: str | None = "axis" if reference.known else None
        self.n_steps_ = 0
        self._sign = 1.0  # last AP sign used (continuity when the axis comparison is undecidable)
        self._pending: list[tuple[StepBatch, np.ndarray]] = []
        self._carry: tuple[float, float] | None = None
        self._axis_seen = False
        self._n_labelled_pending = 0  # held calibration steps already labelled provisionally
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

    def _table(self, batches: list[StepBatch], log_odds: np.ndarray, emitted_s: float) -> StepTable:
        """Rows for ``batches`` (in order) from their final log-odds."""
        start = np.concatenate([np.asarray(b.start_s, dtype=float) for b in batches])
        end = np.concatenate([np.asarray(b.end_s, dtype=float) for b in batches])
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
        if self._front_state == "axis" and not self._axis_seen:
            if ap_axis_of(batch) is None:
                # The detector has no AP axis yet (start of a stream): hold the steps until it has one.
                if len(batch):
                    self._pending.append((batch, features))
                n_held = sum(len(b) for b, _ in self._pending)
                if not (final or n_held > self.calibration_steps) or not n_held:
                    return StepTable()
                warnings.warn(
                    "the step detector reports no AP axis in sensor coordinates; forward_axis cannot be "
                    "used and the first steps calibrate the forward direction instead",
                    stacklevel=3,
                )
                self.forward_reference_ = FIRST_STEPS
                self._front_state = None
                self.forward_axis_sensor_ = None
                self._n_labelled_pending = 0
                return self._calibrate(batch, features, final=final, held_already=True)
            self._axis_seen = True
        if self._front_state is None:
            return self._calibrate(batch, features, final=final)
        if not len(batch) and not self._pending:
            return StepTable()
        sign = self._sign_for(batch)
        # Steps held while the axis was unknown share this batch's AP sign (the AP signal is continuous).
        held = [*self._pending, (batch, features)]
        self._pending = []
        batches = [b for b, _ in held if len(b)]
        feats = np.concatenate([f for _, f in held])
        signs = np.full(feats.shape[0], sign)
        settling = max(0, min(feats.shape[0], self.calibration_settle_steps - self.n_steps_))
        if settling:
            # While the detector's AP axis settles (the session's first steps) the AP signal need not
            # lie along the axis it reports; these steps are taken as forward, as in calibration.
            signs[:settling] = np.where(calibration_scores(self.model_, feats[:settling]) >= 0, 1.0, -1.0)
        oriented = np.where(signs[:, None] > 0, feats, mirror_features(feats))
        log_odds, self._carry = smooth_log_odds(
            forward_log_odds(self.model_, oriented),
            np.concatenate([b.start_s for b in batches]),
            np.concatenate([b.end_s for b in batches]),
            decay=self.evidence_decay,
            carry=self._carry,
        )
        self.n_steps_ += feats.shape[0]
        return self._table(batches, log_odds, batch.emitted_s)

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
            self._carry = (float(end[-1]), float(log_odds[-1]))
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
        table = self._table(batches, np.nan_to_num(log_odds), float(batch.emitted_s))
        return StepTable(
            time_s=table.time_s[new],
            duration_s=table.duration_s[new],
            direction=table.direction[new],
            confidence=table.confidence[new],
            emitted_s=table.emitted_s[new],
        )

    def _sign_for(self, batch: StepBatch) -> float:
        """AP sign of this batch relative to the wearer's front.

        With a given forward axis: the sign of its cosine with the batch's AP axis (kept from before when
        they are nearly perpendicular). After first-bout calibration: the calibrated sign, kept — the
        detector's AP signal is continuous, and relying on that alone makes the labels independent of
        how the stream is chunked (live and offline agree).
        """
        if self._front_state == "axis" and self.forward_axis_sensor_ is not None:
            sign = ap_sign_from_axis(self.forward_axis_sensor_, batch)
            if sign != 0.0:
                self._sign = sign
        return self._sign


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
