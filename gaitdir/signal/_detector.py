"""Step detection: one causal, stateful implementation for recorded files and live streams.

Method
------
1. Raw samples are resampled onto an even grid (:class:`~gaitdir.signal._resample.GridResampler`);
   gaps longer than ``max_gap_s`` split the stream into segments and every filter restarts after them
   (no step is invented across a gap).
2. The body frame is tracked causally (:class:`~gaitdir.signal._orientation.BodyFrameEstimator`).
3. Contacts are found on a causally filtered signal:

   * trunk, arm, hand, pocket and bag placements: peaks of the band-passed (0.5–3 Hz) vertical linear
     acceleration, which rises sharply after every initial contact (IC) of either foot. A sample is a
     peak when it is the highest of ``min_step_interval_s`` before it and of ``confirm_s`` after it.
     It is a *strong* peak above both ``min_peak_mps2`` and ``rel_threshold`` × the signal's running
     RMS, a *weak* one above ``weak_min_peak_mps2`` and ``weak_rel_threshold`` × that RMS only;
   * foot: the moment the foot comes to rest after its swing — the distance of the acceleration norm
     from the sensor's own reading of 1 g at rest (low-passed at 8 Hz) stays below ``min_peak_mps2``
     for ``confirm_s`` after having exceeded ``rel_threshold`` × that within the previous
     ``min_step_interval_s``. With a gyroscope, the foot must also have stopped turning: the signal is
     the larger of that distance and ``stance_gyro_mps2_per_radps`` × the angular rate's norm (in
     mid-swing the norm can pass near 1 g while the foot still turns fast). A foot whose stance is
     never that quiet (a sensor that rings, a heavy step) is at rest below ``stance_noise_factor`` ×
     its own noise floor instead: the quietest ``confirm_s`` of the last ``_NOISE_WINDOW_S`` (1.5 s,
     a stride and more).

   The IC is the detection moved back by the filter's group delay and a per-placement offset
   (``ic_offset_s``), so reported times are when the contact happened, not when it was recognised.
4. ICs are grouped into walking bouts: a bout starts once ``min_bout_steps`` strong peaks follow each
   other at plausible (``min/max_step_interval_s``), regular (``regularity``) intervals, so standing and
   isolated movements give nothing. A walk starts with the first foot's push-off, a small bump of the
   trunk about half a step before the first heel strike: a bout's first peak smaller than
   ``initiation_ratio`` × the next is dropped. A step = IC → next IC, emitted as soon as that next IC
   is confirmed. When the next IC is late by ``early_emit`` × the bout's median step, the step goes out
   with its end predicted (the walker is probably stopping), which bounds the emission latency. A
   silence of 2.5 median steps (at most ``max_step_interval_s``) ends the bout. With ``fill_missed``, an
   interval of about two median steps inside a bout gets the missed IC at its midpoint.
5. Turns and the last steps of a walk move the trunk far less than steady walking: inside a bout, a
   weak peak is a contact when it comes while the next one is due (``weak_window``, in median steps
   after the last contact), at most ``max_weak_run`` of them in a row.
6. Trunk-type placements: walking ends with the trailing foot closing beside the other, a real contact
   that barely moves the trunk; with ``closing_step`` it is inferred one median step after the last IC
   (after a weak last IC only when the detection signal still moves where the closing foot lands,
   ``closing_rel_threshold``) and its step is emitted. Inferred ICs are flagged in
   ``StepBatch.inferred_ic``.
7. Trunk placements (``half_step_check``): in slow walking the vertical acceleration can peak twice per
   step (the double hump of the ground reaction force) while the trunk's AP acceleration runs through
   one cycle per step, forwards or backwards. A peak that comes well before the next contact is due and
   leads in unlike the last contact (its band-passed vertical and AP acceleration over the preceding
   0.3 s point the other way) is that step's second bump; when successive contacts keep leading in
   unlike each other, the bout's contacts were half steps and its median step is doubled (undone if
   the peaks then passed over lead in like steps).

Foot-worn sensors see only their own foot. The detector finds that foot's contacts and emits **both
feet's steps** so that counts are steps: own IC → the other foot's contact, assumed at mid-stride (and
emitted at mid-stride, predicted from the bout's median stride), then that contact → the next own IC.
Own-foot ICs have ``inferred_ic`` False. When the other foot leads off, its first contact comes before
anything the sensor feels; with a gyroscope, the trailing foot's first swing shows it (a full stride
from behind turns the foot faster than ``lead_swing_radps``, a leading foot's half stride does not), and
that contact is inferred ``_LEAD_STEP_S`` before the first own IC. At a stop, likewise, a last own swing
slower than ``lead_swing_radps`` was the half stride that closed the feet together, and no contact of the
other foot is inferred after it. A step's reference is a contact of
either foot, whatever the placement (:func:`gaitdir.signal.score_recording`).

The tuned parameters were chosen leave-one-subject-out on IPOL healthy-gait subjects 1–14; the
shipped values are the choice on all 14 (see ``benchmarks/step_detection.py``).

Modules: this one holds the detector and its front end (resampling, body frame, detection signal);
:mod:`gaitdir.signal._profiles` the placements' parameters; :mod:`gaitdir.signal._decisions` the back
end's decisions (peaks, contacts, bouts, steps); :mod:`gaitdir.signal._recording_steps` whole recordings
(chunks, conditioning ahead in a thread, :func:`detect_steps`).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gaitdir.recordings._checks import all_finite
from gaitdir.signal._decisions import _LEAD_STEP_S, _LEAD_WINDOW_S, ContactDecisions
from gaitdir.signal._filters import StreamingEma, StreamingSos, butter_sos, group_delay_s
from gaitdir.signal._orientation import BodyFrameEstimator, FrameChunk
from gaitdir.signal._profiles import _PROFILES, PLACEMENTS, _Profile
from gaitdir.signal._resample import GridResampler
from gaitdir.signal._types import BodySignal, StepBatch

logger = logging.getLogger(__name__)

STANDARD_GRAVITY_MPS2 = 9.80665

#: The resting norm (a foot's stance test): samples within this of 1 g (m/s²) ...
_STILL_NEAR_G_MPS2 = 2.0
#: ... whose norm changed by less than this (m/s²) over the last _STILL_LAG samples are still.
_STILL_CHANGE_MPS2 = 0.2
_STILL_LAG = 5
#: Time constant (s) of the resting norm's average, and the weight of standard gravity as its prior.
_RESTING_TIME_CONSTANT_S = 5.0
_RESTING_PRIOR = 0.02
#: A foot's stance noise floor: the quietest confirm window over this long before a sample (s).
_NOISE_WINDOW_S = 1.5


@dataclass(frozen=True)
class _ConditionedPiece:
    """One stretch of consecutive grid samples after the detector's front end.

    Attributes
    ----------
    start_k : int
        Global grid index of the first sample.
    new_segment : bool
        The piece starts a new segment (after a gap, or at the start of the stream).
    frame : FrameChunk
        Body-frame signals of the piece.
    raw : ndarray, shape (m,)
        The detection signal before its filter (see ``_Profile.signal``).
    ap_band : ndarray, shape (m,), or None
        The band-passed AP acceleration (the half-step check's; None without it).
    """

    start_k: int
    new_segment: bool
    frame: FrameChunk
    raw: np.ndarray
    ap_band: np.ndarray | None = None


@dataclass(frozen=True)
class Conditioned:
    """What :meth:`StepDetector.condition` made of one update's samples, for :meth:`StepDetector.decide`.

    Attributes
    ----------
    pieces : list of _ConditionedPiece
        The grid pieces of the update, in order.
    emitted_s : float
        Stream time of the newest sample fed so far (s).
    ap_axis_sensor : ndarray, shape (3,), or None
        The body-frame AP axis in sensor coordinates after these samples.
    """

    pieces: list[_ConditionedPiece]
    emitted_s: float
    ap_axis_sensor: np.ndarray | None


def _empty_batch(emitted_s: float, rate: float, has_gyro: bool, ap: np.ndarray | None) -> StepBatch:
    z = np.zeros(0)
    zi = np.zeros(0, dtype=np.int64)
    body = BodySignal(0.0, rate, z, z, z, np.zeros((0, 3)) if has_gyro else None)
    return StepBatch(z, z, zi, zi, emitted_s, body, ap_axis_sensor=ap, inferred_ic=np.zeros(0, bool))


class StepDetector(ContactDecisions):
    """Causal, stateful step detector (see the module docstring for the method).

    Parameters
    ----------
    placement : str, default="auto"
        Where the sensor is worn: one of :data:`PLACEMENTS` (``"auto"`` uses the trunk profile, which
        also suits chest straps, clip-ons, bags and phones).
    grid_rate_hz : float, default=100.0
        Rate of the internal even grid (Hz).
    max_gap_s : float, default=0.5
        Longer gaps between samples are not bridged; detection restarts after them (s).
    detection_signal : {"vertical", "magnitude", "impact"}, optional
        What peaks mark contacts: vertical linear acceleration, acceleration norm, or the distance of the
        norm from 1 g (foot swing and impact). Default: the placement's.
    band_hz : (float, float), optional
        Band-pass of the detection signal (Hz); a lower edge of 0 means a low-pass at the upper edge.
        Default: the placement's.
    min_step_interval_s, max_step_interval_s : float, optional
        Plausible interval between detected contacts (s; per stride for foot sensors).
    confirm_s : float, optional
        Look-ahead that confirms a peak (s); sets the emission latency.
    rel_threshold : float, optional
        A peak must exceed this × the detection signal's running RMS.
    min_peak_mps2 : float, optional
        A peak must exceed this (m/s²); keeps standing still silent.
    min_bout_steps : int, optional
        Regular contacts needed before a walking bout is accepted.
    regularity : float, optional
        Largest ratio between the intervals that start a bout.
    ic_offset_s : float, optional
        Extra shift from a detection peak back to the initial contact (s).
    fill_missed : bool, optional
        Insert a contact in the middle of an interval of about two steps inside a bout.
    closing_step : bool, optional
        At the end of a bout, add the closing contact (the trailing foot placed beside the other), which
        barely moves the trunk, one median step after the last contact seen (trunk-type placements).
    early_emit : float, optional
        When no contact has come this many median steps (strides for a foot) after the last one, the
        pending step is emitted with its end predicted, instead of waiting for the bout to time out.
    weak_rel_threshold : float, optional
        A weak peak exceeds this × the detection signal's running RMS (trunk-type placements).
    weak_min_peak_mps2 : float, optional
        A weak peak exceeds this (m/s²).
    weak_window : (float, float), optional
        Inside a bout, a weak peak this many median steps after the last contact is a contact.
    initiation_ratio : float, optional
        A bout's first peak smaller than this × the next one is the push-off of the walk's first
        step, not a contact.
    closing_rel_threshold : float, optional
        After a weak last contact, the closing contact is inferred only when the detection signal's
        standard deviation between ``_CLOSING_WINDOW`` (0.4–1.6) median steps after it is above this
        × its running RMS (at that contact): the trunk still moves as the closing foot lands, and is
        at rest once it has. 0: always; ``inf``: never after a weak last contact.
    max_weak_run : int, optional
        Weak contacts accepted in a row (the trunk settling after a stop makes weak peaks too).
    half_step_check : bool, optional
        Pass over a step's second vertical bump, and double the steps of a bout found to have two
        peaks per step (trunk placements; a limb's horizontal acceleration repeats once per stride).
    lead_swing_radps : float, optional
        Foot sensors with a gyroscope: when the swing into a bout's first contact turned the foot
        faster than this (rad/s, peak of the angular rate's norm), the foot came from behind (a full
        stride): the other foot led off, and its first contact is inferred ``_LEAD_STEP_S`` (0.6 s)
        before. At a stop, a last swing slower than this was the half stride that closes the feet
        together: the other foot's contact after it is not inferred. 0: never.
    stance_gyro_mps2_per_radps : float, optional
        Foot sensors with a gyroscope: the stance test's signal is the larger of the norm's distance
        from 1 g and this × the angular rate's norm (m/s² per rad/s), so a foot still turning is not at
        rest. 0: the accelerometer alone.
    stance_noise_factor : float, optional
        Foot sensors: the stance test's threshold is at least this × the foot's noise floor (the
        quietest ``confirm_s`` window of the signal over the last 1.5 s), so a stance that is never as
        quiet as ``min_peak_mps2`` is still found. 0: ``min_peak_mps2`` alone.
    front_axis_sensor : ndarray of shape (3,), optional
        The wearer's front in sensor coordinates when it is known: the body frame's AP axis is then that
        axis made horizontal (see :class:`~gaitdir.signal._orientation.BodyFrameEstimator`), so the AP
        signal points to the front from the first sample on. None: AP estimated, sign arbitrary.
    """

    def __init__(
        self,
        *,
        placement: str = "auto",
        grid_rate_hz: float = 100.0,
        max_gap_s: float = 0.5,
        detection_signal: str | None = None,
        band_hz: tuple[float, float] | None = None,
        min_step_interval_s: float | None = None,
        max_step_interval_s: float | None = None,
        confirm_s: float | None = None,
        rel_threshold: float | None = None,
        min_peak_mps2: float | None = None,
        min_bout_steps: int | None = None,
        regularity: float | None = None,
        ic_offset_s: float | None = None,
        fill_missed: bool | None = None,
        closing_step: bool | None = None,
        early_emit: float | None = None,
        weak_rel_threshold: float | None = None,
        weak_min_peak_mps2: float | None = None,
        weak_window: tuple[float, float] | None = None,
        initiation_ratio: float | None = None,
        closing_rel_threshold: float | None = None,
        max_weak_run: int | None = None,
        half_step_check: bool | None = None,
        lead_swing_radps: float | None = None,
        stance_gyro_mps2_per_radps: float | None = None,
        stance_noise_factor: float | None = None,
        front_axis_sensor: np.ndarray | None = None,
    ) -> None:
        self.placement = placement
        self.grid_rate_hz = grid_rate_hz
        self.max_gap_s = max_gap_s
        self.detection_signal = detection_signal
        self.band_hz = band_hz
        self.min_step_interval_s = min_step_interval_s
        self.max_step_interval_s = max_step_interval_s
        self.confirm_s = confirm_s
        self.rel_threshold = rel_threshold
        self.min_peak_mps2 = min_peak_mps2
        self.min_bout_steps = min_bout_steps
        self.regularity = regularity
        self.ic_offset_s = ic_offset_s
        self.fill_missed = fill_missed
        self.closing_step = closing_step
        self.early_emit = early_emit
        self.weak_rel_threshold = weak_rel_threshold
        self.weak_min_peak_mps2 = weak_min_peak_mps2
        self.weak_window = weak_window
        self.initiation_ratio = initiation_ratio
        self.closing_rel_threshold = closing_rel_threshold
        self.max_weak_run = max_weak_run
        self.half_step_check = half_step_check
        self.lead_swing_radps = lead_swing_radps
        self.stance_gyro_mps2_per_radps = stance_gyro_mps2_per_radps
        self.stance_noise_factor = stance_noise_factor
        self.front_axis_sensor = front_axis_sensor
        self._ready = False

    # ------------------------------------------------------------------------------------------------
    # configuration
    def _resolve(self) -> _Profile:
        key = str(self.placement).lower().replace("-", "_").replace(" ", "_")
        if key not in PLACEMENTS:
            raise ValueError(f"unknown placement {self.placement!r}; expected one of {sorted(PLACEMENTS)}")
        base = _PROFILES[PLACEMENTS[key]]
        over = {
            name: getattr(self, name)
            for name in (
                "band_hz",
                "min_step_interval_s",
                "max_step_interval_s",
                "confirm_s",
                "rel_threshold",
                "min_peak_mps2",
                "min_bout_steps",
                "regularity",
                "ic_offset_s",
                "fill_missed",
                "closing_step",
                "early_emit",
                "weak_rel_threshold",
                "weak_min_peak_mps2",
                "weak_window",
                "initiation_ratio",
                "closing_rel_threshold",
                "max_weak_run",
                "half_step_check",
                "lead_swing_radps",
                "stance_gyro_mps2_per_radps",
                "stance_noise_factor",
            )
            if getattr(self, name) is not None
        }
        if self.detection_signal is not None:
            if self.detection_signal not in ("vertical", "magnitude", "impact", "stance"):
                raise ValueError(
                    f"unknown detection_signal {self.detection_signal!r}; "
                    "expected 'vertical', 'magnitude', 'impact' or 'stance'"
                )
            over["signal"] = self.detection_signal
        return _Profile(**{**base.__dict__, **over})

    def effective_params(self) -> dict[str, Any]:
        """The parameters in force: the placement's profile with this detector's overrides applied.

        Returns
        -------
        dict
            ``placement``, ``grid_rate_hz``, ``max_gap_s`` and every value of the profile (plain
            JSON-able values), e.g. for a record of how a file was classified.

        Raises
        ------
        ValueError
            The placement or the detection signal is unknown.
        """
        profile = asdict(self._resolve())
        profile["band_hz"] = [float(v) for v in profile["band_hz"]]
        return {
            "placement": str(self.placement),
            "grid_rate_hz": float(self.grid_rate_hz),
            "max_gap_s": float(self.max_gap_s),
            **profile,
        }

    def reset(self) -> StepDetector:
        """Forget everything seen so far (a new stream starts with the next :meth:`update`)."""
        if self.grid_rate_hz <= 0 or self.max_gap_s <= 0:
            raise ValueError("grid_rate_hz and max_gap_s must be positive")
        p = self._resolve()
        fs = float(self.grid_rate_hz)
        self._p = p
        self._fs = fs
        self._resampler = GridResampler(fs, self.max_gap_s)
        self._frame = BodyFrameEstimator(fs, front_axis_sensor=self.front_axis_sensor)
        if p.band_hz[0] > 0:
            self._sos = butter_sos(2, p.band_hz, fs, "bandpass")
            centre_hz = float(np.sqrt(p.band_hz[0] * p.band_hz[1]))
        else:
            self._sos = butter_sos(2, p.band_hz[1], fs, "lowpass")
            centre_hz = 1.0
        self._shift = round((group_delay_s(self._sos, centre_hz, fs) + p.ic_offset_s) * fs)
        self._w_left = max(1, round(p.min_step_interval_s * fs))
        self._w_right = max(1, round(p.confirm_s * fs))
        # the stance test's noise floor is looked for over this much signal before a sample (feet)
        noise = p.signal == "stance" and p.stance_noise_factor > 0
        self._w_noise = round(_NOISE_WINDOW_S * fs) if noise else 0
        self._min_int = round(p.min_step_interval_s * fs)
        self._max_int = round(p.max_step_interval_s * fs)
        # profile flags read once per contact: plain attributes avoid a dataclass lookup each time
        self._per_stride = bool(p.per_stride)
        self._fill_missed = bool(p.fill_missed)
        self._closing = bool(p.closing_step) and not p.per_stride
        self._early_emit = p.early_emit
        self._check_half = bool(p.half_step_check) and not p.per_stride
        self._lead_swing = False  # set once the stream shows a gyroscope (_use_gyro)
        self._lead_back = round(_LEAD_WINDOW_S * fs)
        self._lead_i = round(_LEAD_STEP_S * fs)
        self._has_gyro: bool | None = None
        self._front_open = False  # the front end (resampler, body frame) runs inside a segment
        # body-frame buffer (global grid indices [body_k0, body_k0 + len))
        self._body_k0 = 0
        self._body: list[np.ndarray] = []  # columns: vertical, ap, ml, (gyr x3)
        self._body_len = 0
        self._segment_open = False
        self._ready = True
        self._new_segment_state()
        return self

    def _use_gyro(self) -> None:
        """Once the stream shows whether it has a gyroscope: a foot's lead-off check uses it."""
        p = self._p
        self._lead_swing = bool(self._has_gyro and p.per_stride and p.lead_swing_radps > 0)

    def _new_front_state(self) -> None:
        self._frame.reset()
        self._ap_filt = StreamingSos(self._sos) if self._check_half else None
        self._rest_tail: np.ndarray | None = None
        self._rest_num = StreamingEma(_RESTING_TIME_CONSTANT_S, self._fs)
        self._rest_den = StreamingEma(_RESTING_TIME_CONSTANT_S, self._fs)

    def _new_segment_state(self) -> None:
        self._new_front_state()
        self._new_decision_state()

    # ------------------------------------------------------------------------------------------------
    # public API
    def update(
        self,
        time_s: np.ndarray,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None = None,
        *,
        gravity_removed: bool = False,
    ) -> StepBatch:
        """Feed the next samples; return the steps finalised by them.

        Parameters
        ----------
        time_s : array_like, shape (n,)
            Sample times (s), increasing; samples not later than the previous newest one are dropped.
        acc_mps2 : array_like, shape (n, 3)
            Acceleration in the sensor frame (m/s²), with gravity unless ``gravity_removed``.
        gyr_radps : array_like, shape (n, 3), optional
            Angular rate in the sensor frame (rad/s).
        gravity_removed : bool, default=False
            The input has no gravity component (the vertical is then estimated from the walking motion).

        Returns
        -------
        StepBatch
            Steps whose end became known with these samples (possibly none).
        """
        return self.decide(self.condition(time_s, acc_mps2, gyr_radps, gravity_removed=gravity_removed))

    def condition(
        self,
        time_s: np.ndarray,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None = None,
        *,
        gravity_removed: bool = False,
    ) -> Conditioned:
        """The front end of :meth:`update`: resample, track the body frame (no filtering, no decisions).

        ``update(...)`` is ``decide(condition(...))``. The two halves keep separate state, so an offline
        caller may run ``condition`` on the next samples (in another thread: its work is numpy and
        scipy, which release the GIL) while ``decide`` handles the previous ones, as long as each half
        sees the updates in order. The steps are the same as with :meth:`update`.

        Parameters are those of :meth:`update`.

        Returns
        -------
        Conditioned
            To pass to :meth:`decide`.
        """
        if not self._ready:
            self.reset()
        t = np.asarray(time_s, dtype=float).reshape(-1)
        acc = np.asarray(acc_mps2, dtype=float)
        if acc.ndim != 2 or acc.shape != (t.shape[0], 3):
            raise ValueError(f"acc_mps2 must have shape ({t.shape[0]}, 3), got {acc.shape}")
        gyr = None if gyr_radps is None else np.asarray(gyr_radps, dtype=float)
        if gyr is not None and gyr.shape != acc.shape:
            raise ValueError(f"gyr_radps must have shape {acc.shape}, got {gyr.shape}")
        if self._has_gyro is None and t.size:
            self._has_gyro = gyr is not None
            self._use_gyro()
        values = (
            acc if not self._has_gyro else np.hstack([acc, gyr if gyr is not None else np.zeros_like(acc)])
        )
        # whole-array checks first (one pass each): the per-row ones are slow and almost never needed
        if not (all_finite(t) and all_finite(values)):
            finite = np.isfinite(t) & np.isfinite(values).all(axis=1)
            logger.warning("dropping %d non-finite samples", int((~finite).sum()))
            t, values = t[finite], values[finite]
        last = self._resampler._last_t
        after = -np.inf if last is None else last
        if t.size and not (t[0] > after and bool((t[1:] > t[:-1]).all())):
            # keep the strictly increasing subsequence (drops repeats and samples going backwards)
            running = np.maximum.accumulate(np.concatenate([[after], t]))
            keep = t > running[:-1]
            logger.warning("dropping %d samples whose time does not increase", int((~keep).sum()))
            t, values = t[keep], values[keep]
        pieces = []
        for piece in self._resampler.push(t, values):
            new_segment = piece.new_segment or not self._front_open
            if new_segment:
                self._new_front_state()
                self._front_open = True
            pieces.append(self._front(piece.start_k, new_segment, piece.values, gravity_removed))
        emitted = float(t[-1]) if t.size else (float(last) if last is not None else 0.0)
        return Conditioned(pieces, emitted, self._frame.ap_axis_sensor)

    def decide(self, conditioned: Conditioned) -> StepBatch:
        """The back end of :meth:`update`: filter the detection signal, find contacts, group them into
        bouts, emit finished steps.

        Parameters
        ----------
        conditioned : Conditioned
            From :meth:`condition`, in the order the updates were conditioned.

        Returns
        -------
        StepBatch
            Steps whose end became known with these samples (possibly none).
        """
        if not self._ready:
            self.reset()
        steps: list[tuple[int, int, bool]] = []
        for piece in conditioned.pieces:
            if piece.new_segment and self._segment_open:
                self._finish_segment(steps)
            if piece.new_segment or not self._segment_open:
                self._start_segment(piece.start_k)
            self._decide_piece(piece, steps)
        return self._batch(steps, conditioned.emitted_s, conditioned.ap_axis_sensor)

    def flush(self) -> StepBatch:
        """End of stream: finalise pending peaks and the open bout; the next update starts afresh."""
        if not self._ready:
            self.reset()
        steps: list[tuple[int, int, bool]] = []
        if self._segment_open:
            self._finish_segment(steps)
        last = self._resampler._last_t
        batch = self._batch(steps, float(last) if last is not None else 0.0, self._frame.ap_axis_sensor)
        # a later update is a new segment (its filters start afresh)
        self._resampler._pending_new_segment = True
        self._front_open = False
        return batch

    # ------------------------------------------------------------------------------------------------
    # segments
    def _start_segment(self, k0: int) -> None:
        self._new_decision_state()
        # The detection signal's filter and running mean square restart with each segment, as the
        # front end's filters do. They belong to the back end: offline, the front end runs in a worker
        # thread, and this way the two threads are about equally busy.
        self._filt = StreamingSos(self._sos)
        self._mean_square = StreamingEma(2.0, self._fs)
        self._seg_k0 = k0
        self._seg_end = k0
        self._sig_k0 = k0
        self._next_eval = k0
        self._segment_open = True

    def _finish_segment(self, steps: list[tuple[int, int, bool]]) -> None:
        self._find_peaks(steps, final=True)
        self._end_bout(steps)
        self._segment_open = False

    # ------------------------------------------------------------------------------------------------
    # processing
    def _front(
        self, k0: int, new_segment: bool, values: np.ndarray, gravity_removed: bool
    ) -> _ConditionedPiece:
        acc = values[:, :3]
        gyr = values[:, 3:6] if self._has_gyro else None
        vertical = self._p.signal == "vertical"  # the other signals are made from the norm
        fr = self._frame.update(k0, acc, gyr, gravity_removed=gravity_removed, magnitude=not vertical)
        if vertical:
            raw = fr.vertical_mps2
        else:
            assert fr.magnitude_mps2 is not None
            if self._p.signal == "magnitude":
                raw = fr.magnitude_mps2
            elif gravity_removed:
                raw = np.abs(fr.magnitude_mps2)
            else:  # "impact"/"stance": distance of the norm from 1 g (a foot's swing and heel strike)
                raw = np.abs(fr.magnitude_mps2 - self._resting_norm(fr.magnitude_mps2))
                k = self._p.stance_gyro_mps2_per_radps
                if k > 0.0 and gyr is not None and self._p.signal == "stance":
                    raw = np.maximum(raw, k * np.linalg.norm(gyr, axis=1))
        # The half-step check's AP band-pass runs here, in the front end: offline, that is the worker
        # thread, the lighter of the two.
        ap_band = self._ap_filt(fr.ap_mps2) if self._ap_filt is not None else None
        return _ConditionedPiece(k0, new_segment, fr, raw, ap_band)

    def _resting_norm(self, norm: np.ndarray) -> np.ndarray:
        """The sensor's reading of 1 g (m/s²), from the stretches where it lies still, causally.

        A sensor's scale error shifts its reading of gravity by up to a few percent (up to 1.3 m/s² on
        an IPOL foot sensor), which a foot's resting level would otherwise carry into the stance
        test. Still samples are those near 1 g that barely change over ``_STILL_LAG`` samples; the
        estimate is their exponentially weighted mean (``_RESTING_TIME_CONSTANT_S``), standard gravity
        until there are some.
        """
        if self._rest_tail is None:
            self._rest_tail = np.repeat(norm[:1], _STILL_LAG)
        joined = np.concatenate([self._rest_tail, norm])
        self._rest_tail = joined[-_STILL_LAG:]
        change = np.abs(joined[_STILL_LAG:] - joined[:-_STILL_LAG])
        still = (np.abs(norm - STANDARD_GRAVITY_MPS2) < _STILL_NEAR_G_MPS2) & (change < _STILL_CHANGE_MPS2)
        weight = still.astype(float)
        num = self._rest_num(weight * norm, initial=0.0)
        den = self._rest_den(weight, initial=0.0)
        return (num + _RESTING_PRIOR * STANDARD_GRAVITY_MPS2) / (den + _RESTING_PRIOR)

    def _decide_piece(self, piece: _ConditionedPiece, steps: list) -> None:
        k0, fr = piece.start_k, piece.frame
        s = self._filt(piece.raw)
        # The threshold (rel_threshold × running RMS, at least min_peak_mps2) is only ever read at peak
        # candidates: the running mean square is kept, and the rest computed where it is read.
        ms = self._mean_square(s * s, initial=0.0)
        self._append_body(k0, fr.vertical_mps2, fr.ap_mps2, fr.ml_mps2, fr.gyr_radps)
        self._sig = np.concatenate([self._sig, s])
        self._ms = np.concatenate([self._ms, ms])
        if piece.ap_band is not None:
            self._apf = np.concatenate([self._apf, piece.ap_band])
        self._seg_end = k0 + s.shape[0]
        self._find_peaks(steps, final=False)

    # ------------------------------------------------------------------------------------------------
    # body buffer and output
    def _append_body(
        self, k0: int, v: np.ndarray, ap: np.ndarray, ml: np.ndarray, gyr: np.ndarray | None
    ) -> None:
        cols = [v, ap, ml] + ([gyr[:, 0], gyr[:, 1], gyr[:, 2]] if gyr is not None else [])
        if not self._body:
            self._body = [c.copy() for c in cols]
            self._body_k0 = k0
            self._body_len = v.shape[0]
            return
        gap = k0 - (self._body_k0 + self._body_len)
        fill = [np.zeros(gap)] if gap > 0 else []
        self._body = [np.concatenate([b, *fill, c]) for b, c in zip(self._body, cols, strict=True)]
        self._body_len += gap + v.shape[0]

    def _trim_body(self) -> None:
        keep = self._next_eval - self._shift - self._w_left
        if self._bout:
            keep = min(keep, self._bout[0])
        keep -= 1
        cut = keep - self._body_k0
        if cut > 0 and self._body:
            cut = min(cut, self._body_len)
            self._body = [b[cut:] for b in self._body]
            self._body_k0 += cut
            self._body_len -= cut

    def _batch(
        self, steps: list[tuple[int, int, bool]], emitted_s: float, ap_axis: np.ndarray | None
    ) -> StepBatch:
        if not steps:
            self._trim_body()
            return _empty_batch(emitted_s, self._fs, bool(self._has_gyro), ap_axis)
        # (a flat iterator: numpy converts a list of thousands of tuples element by element, slower)
        arr = np.fromiter(itertools.chain.from_iterable(steps), dtype=np.int64, count=3 * len(steps))
        arr = arr.reshape(-1, 3)
        start_k, end_k, inferred = arr[:, 0], arr[:, 1], arr[:, 2].astype(bool)
        lo, hi = int(start_k.min()), int(end_k.max())
        a, b = lo - self._body_k0, hi - self._body_k0
        assert a >= 0 and b <= self._body_len, "body buffer trimmed too early"
        cols = [c[a:b].copy() for c in self._body]
        gyr = np.stack(cols[3:6], axis=1) if len(cols) == 6 else None
        t0 = float(self._resampler.grid_time_s(lo))
        body = BodySignal(t0, self._fs, cols[0], cols[1], cols[2], gyr)
        grid = self._resampler.grid_time_s
        self._trim_body()
        return StepBatch(
            start_s=np.asarray(grid(start_k), dtype=float),
            end_s=np.asarray(grid(end_k), dtype=float),
            start_idx=start_k - lo,
            end_idx=end_k - lo,
            emitted_s=emitted_s,
            body=body,
            ap_axis_sensor=ap_axis,
            inferred_ic=inferred,
        )
