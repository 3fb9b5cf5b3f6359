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
     ``min_step_interval_s``.

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
   (after a weak last IC too, with ``closing_after_weak``) and its step is emitted. Inferred ICs are
   flagged in ``StepBatch.inferred_ic``.
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
that contact is inferred ``_LEAD_STEP_S`` before the first own IC. A step's reference is a contact of
either foot, whatever the placement (:func:`gaitdir.signal.score_recording`).

The tuned parameters were chosen leave-one-subject-out on IPOL healthy-gait subjects 1–14; the
shipped values are the choice on all 14 (see ``benchmarks/step_detection.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import sys
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gaitdir.recordings import Recording
from gaitdir.recordings._checks import all_finite
from gaitdir.signal._filters import StreamingEma, StreamingSos, butter_sos, group_delay_s
from gaitdir.signal._orientation import BodyFrameEstimator, FrameChunk
from gaitdir.signal._peaks import stance_onsets, window_peaks
from gaitdir.signal._resample import GridResampler
from gaitdir.signal._types import BodySignal, StepBatch

logger = logging.getLogger(__name__)

STANDARD_GRAVITY_MPS2 = 9.80665

#: The trunk's sagittal acceleration leading into a contact is sampled this often (s) ...
_MOTION_STEP_S = 0.1
#: ... at this many instants up to the detection peak (half-step check).
_MOTION_SAMPLES = 4
#: A peak within this many median steps of the bout's last contact is that step's second bump if it
#: leads in unlike the contact, or if the bout was found to have two peaks per step (they come half a
#: step apart, contacts a whole step apart). Trunk placements only.
_SECOND_BUMP = 0.75
#: Successive contact pairs whose lead-in motions point apart (negative cosine) that make half steps.
_HALF_STEP_PAIRS = 2

#: The resting norm (a foot's stance test): samples within this of 1 g (m/s²) ...
_STILL_NEAR_G_MPS2 = 2.0
#: ... whose norm changed by less than this (m/s²) over the last _STILL_LAG samples are still.
_STILL_CHANGE_MPS2 = 0.2
_STILL_LAG = 5
#: Time constant (s) of the resting norm's average, and the weight of standard gravity as its prior.
_RESTING_TIME_CONSTANT_S = 5.0
_RESTING_PRIOR = 0.02

#: A foot's swing into a contact: the angular rate's peak is looked for this long (s) before it.
_LEAD_WINDOW_S = 0.5
#: The other foot's lead-off contact comes this long (s) before the trailing foot's first contact (IPOL
#: healthy gait, the 80 walks whose foot sensor trails: median 0.635 s, 10th–90th percentile 0.58–0.74 s).
_LEAD_STEP_S = 0.6

#: Interpreter switch interval (s) while :func:`conditioned_ahead` runs its worker thread.
_SWITCH_INTERVAL_S = 1e-4


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


@dataclass(frozen=True)
class _Profile:
    signal: str
    band_hz: tuple[float, float]
    min_step_interval_s: float
    max_step_interval_s: float
    confirm_s: float
    rel_threshold: float
    min_peak_mps2: float
    min_bout_steps: int
    regularity: float
    ic_offset_s: float
    fill_missed: bool
    per_stride: bool
    closing_step: bool = True
    early_emit: float = 1.3
    weak_rel_threshold: float = 0.0
    weak_min_peak_mps2: float = 0.0
    weak_window: tuple[float, float] = (0.0, 0.0)
    initiation_ratio: float = 0.0
    closing_after_weak: bool = True
    max_weak_run: int = 1 << 30
    half_step_check: bool = False
    lead_swing_radps: float = 0.0


_TRUNK = _Profile(
    signal="vertical",
    band_hz=(0.5, 3.0),
    min_step_interval_s=0.3,
    max_step_interval_s=1.3,
    confirm_s=0.15,
    rel_threshold=0.8,
    min_peak_mps2=0.4,
    min_bout_steps=2,
    regularity=1.8,
    ic_offset_s=-0.08,
    fill_missed=True,
    per_stride=False,
    early_emit=1.2,
    weak_rel_threshold=0.15,
    weak_min_peak_mps2=0.1,
    weak_window=(0.85, 1.25),
    initiation_ratio=0.45,
    closing_after_weak=True,
    max_weak_run=1,
    half_step_check=True,
)
_FOOT = _Profile(
    signal="stance",
    band_hz=(0.0, 8.0),
    min_step_interval_s=0.6,
    max_step_interval_s=2.2,
    confirm_s=0.15,
    rel_threshold=4.0,
    min_peak_mps2=1.5,
    min_bout_steps=2,
    regularity=1.8,
    ic_offset_s=0.15,
    fill_missed=True,
    per_stride=True,
    early_emit=1.05,
    lead_swing_radps=5.5,
)
# a phone on a limb (arm, hand, thigh): the trunk's profile, without the half-step check
_PHONE = dataclasses.replace(_TRUNK, half_step_check=False)

#: Placement names accepted by :class:`StepDetector` and the profile each maps to.
PLACEMENTS: dict[str, str] = {
    "auto": "trunk",
    "trunk": "trunk",
    "lower_back": "trunk",
    "back": "trunk",
    "waist": "trunk",
    "chest": "trunk",
    "neck": "trunk",
    "neckpouch": "trunk",
    "bag": "trunk",
    "foot": "foot",
    "left_foot": "foot",
    "right_foot": "foot",
    "shoe": "foot",
    "arm": "phone",
    "armband": "phone",
    "hand": "phone",
    "pocket": "phone",
    "frontpocket": "phone",
    "backpocket": "phone",
    "thigh": "phone",
}
_PROFILES = {"trunk": _TRUNK, "foot": _FOOT, "phone": _PHONE}


def _empty_batch(emitted_s: float, rate: float, has_gyro: bool, ap: np.ndarray | None) -> StepBatch:
    z = np.zeros(0)
    zi = np.zeros(0, dtype=np.int64)
    body = BodySignal(0.0, rate, z, z, z, np.zeros((0, 3)) if has_gyro else None)
    return StepBatch(z, z, zi, zi, emitted_s, body, ap_axis_sensor=ap, inferred_ic=np.zeros(0, bool))


class StepDetector:
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
    closing_after_weak : bool, optional
        Infer the closing contact also when the bout's last contact was a weak peak.
    max_weak_run : int, optional
        Weak contacts accepted in a row (the trunk settling after a stop makes weak peaks too).
    half_step_check : bool, optional
        Pass over a step's second vertical bump, and double the steps of a bout found to have two
        peaks per step (trunk placements; a limb's horizontal acceleration repeats once per stride).
    lead_swing_radps : float, optional
        Foot sensors with a gyroscope: when the swing into a bout's first contact turned the foot
        faster than this (rad/s, peak of the angular rate's norm), the foot came from behind (a full
        stride): the other foot led off, and its first contact is inferred half the bout's first stride
        before. 0: never.
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
        closing_after_weak: bool | None = None,
        max_weak_run: int | None = None,
        half_step_check: bool | None = None,
        lead_swing_radps: float | None = None,
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
        self.closing_after_weak = closing_after_weak
        self.max_weak_run = max_weak_run
        self.half_step_check = half_step_check
        self.lead_swing_radps = lead_swing_radps
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
                "closing_after_weak",
                "max_weak_run",
                "half_step_check",
                "lead_swing_radps",
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

    def _new_decision_state(self) -> None:
        self._seg_k0 = 0
        self._seg_end = 0  # exclusive global index of the segment's newest sample
        self._sig = np.zeros(0)  # detection signal buffer, global indices [sig_k0, seg_end)
        self._ms = np.zeros(0)  # running mean square of the detection signal, same indices
        self._apf = np.zeros(0)  # band-passed AP acceleration (half-step check only), same indices
        self._motion_last = np.zeros(2 * _MOTION_SAMPLES)  # lead-in motion of the last candidate peak
        self._cand_seq = 0  # candidate peaks seen in the segment
        self._sig_k0 = 0
        self._next_eval = 0  # next global index to evaluate as a peak
        self._bout: list[int] = []  # IC grid indices of the current bout
        self._bout_amp: list[float] = []  # their peak heights (m/s²), while the bout is not yet accepted
        self._last_strong = True  # the bout's last contact was a peak above the strong threshold
        self._weak_run = 0  # weak contacts in a row at the end of the bout
        # half-step check: the candidate number of the bout's last contact, and how many successive
        # contact pairs have had opposite lead-in motions
        self._last_seq = -2
        self._apart = 0
        self._doubled = False  # the bout's contacts were found to be half steps
        self._alike = 0  # since then, peaks passed over in a row that led in like a step
        self._active = False
        self._intervals: deque[int] = deque(maxlen=9)
        self._sorted: list[int] = []  # the same intervals in ascending order, for the median
        self._med = -1.0  # no median yet: _set_intervals derives everything afresh
        self._lim = -1
        self._set_intervals(None)
        self._filled: set[int] = set()  # ICs inserted by fill_missed, not seen directly
        self._last_start = -(1 << 40)  # start of the newest step emitted through _emit
        # what was emitted past the bout's last contact: 0 nothing, 1 its step (predicted end),
        # 2 also the inferred closing step
        self._stage = 0

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

    def _find_peaks(self, steps: list, *, final: bool) -> None:
        wl, wr = self._w_left, self._w_right
        end_eval = self._seg_end if final else self._seg_end - wr  # exclusive
        if end_eval > self._next_eval:
            lo = self._next_eval - wl
            pad_left = max(0, self._sig_k0 - lo)
            a = lo + pad_left - self._sig_k0
            ext = np.concatenate(
                [np.full(pad_left, -np.inf), self._sig[a:], np.full(wr if final else 0, -np.inf)]
            )
            # ext[0] is global index lo; evaluate i in [next_eval, end_eval)
            ext = ext[: end_eval - lo + wr]
            if self._p.signal == "stance":
                still = self._p.min_peak_mps2
                pk = stance_onsets(ext, wl, wr, still, self._p.rel_threshold * still) + lo
                pk = pk[(pk >= self._next_eval) & (pk < end_eval)]
            else:
                pk = window_peaks(ext, wl, wr) + lo
                pk = pk[(pk >= self._next_eval) & (pk < end_eval)]
                at = pk - self._sig_k0
                p = self._p
                amp = self._sig[at]
                rms = np.sqrt(self._ms[at])
                # Weak peaks (above the weak threshold only) are kept as candidates: inside a walking
                # bout, one that comes when the next contact is due is a contact (turns and the last
                # steps of a walk move the trunk far less than steady walking).
                keep = amp > np.maximum(p.weak_min_peak_mps2, p.weak_rel_threshold * rms)
                pk, amp, rms = pk[keep], amp[keep], rms[keep]
                strong = amp > np.maximum(p.min_peak_mps2, p.rel_threshold * rms)
            contacts = pk.tolist()
            if self._p.signal == "stance":
                strengths = [True] * len(contacts)
                amps = self._swing_peaks(pk - self._shift) if self._lead_swing else [0.0] * len(contacts)
            else:
                strengths = strong.tolist()
                amps = amp.tolist()
            if self._check_half and contacts:
                aps = self._lead_in_agreement(pk).tolist()
            else:
                aps = [1.0] * len(contacts)
            base = self._cand_seq
            self._cand_seq += len(contacts)
            i, n = 0, len(contacts)
            fast = not self._per_stride
            while i < n:
                if fast and self._stage == 0 and self._active and self._bout:
                    i = self._in_stride_run(contacts, strengths, aps, base, i, steps)
                    if i == n:
                        break
                ic = max(contacts[i] - self._shift, self._seg_k0)
                self._on_silence(ic, steps)
                self._on_contact(ic, steps, strengths[i], amps[i], aps[i], base + i)
                i += 1
            self._next_eval = end_eval
        # every peak before the horizon is known: act on the silence since the last contact
        self._on_silence(self._next_eval - self._shift, steps)
        keep_from = min(self._next_eval - wl, self._seg_end - wr) - 1
        if keep_from > self._sig_k0:
            cut = keep_from - self._sig_k0
            self._sig = self._sig[cut:]
            self._ms = self._ms[cut:]
            if self._check_half:
                self._apf = self._apf[cut:]
            self._sig_k0 = keep_from

    def _in_stride_run(
        self, contacts: list[int], strong: list[bool], agree: list[float], base: int, i: int, steps: list
    ) -> int:
        """The common case of contacts inside a walking bout, handled in one loop; returns where it stops.

        Takes ``contacts[i], contacts[i + 1], ...`` (detections, before the group-delay shift) while
        each is that case, and returns the index of the first that is not (``len(contacts)`` if all
        are), which the caller hands to :meth:`_on_silence` and :meth:`_on_contact`. Only for a
        trunk-type bout whose last step is not out yet (stage 0). For each contact it does exactly what
        those two would: one that comes at a plausible interval that is neither late
        (``early_emit``), nor past the bout's limit, nor a missed-step gap to fill closes the interval,
        records it and refreshes the median (as :meth:`_push_interval` and :meth:`_derive`). This runs
        for almost every step of a day-long file, hence one loop over local names.
        """
        bout, held, ordered, filled = self._bout, self._intervals, self._sorted, self._filled
        shift, seg_k0, min_int, max_int = self._shift, self._seg_k0, self._min_int, self._max_int
        early_emit, fill_missed, maxlen = self._early_emit, self._fill_missed, held.maxlen
        med, lim, early_i = self._med, self._lim, self._early_i
        weak_lo, weak_hi, short = self._weak_lo, self._weak_hi, self._short
        weak_lo_f, weak_hi_f = self._p.weak_window
        short_f = _SECOND_BUMP if self._check_half else 0.0
        check_half, last_seq, apart, doubled = self._check_half, self._last_seq, self._apart, self._doubled
        weak_run, max_weak_run = self._weak_run, self._p.max_weak_run
        last_strong = True
        n = len(contacts)
        before = last = bout[-1]
        while i < n:
            ic = contacts[i] - shift
            if ic < seg_k0:
                ic = seg_k0
            d = ic - last
            is_strong = strong[i]
            if is_strong:
                if d < short and d <= early_i and d <= lim:
                    if doubled:
                        break  # the check of a bout taken for half steps: _on_contact
                    if last_seq == base + i - 1 and agree[i] < 0.0:
                        i += 1  # a step's second bump (as _on_contact)
                        continue
            else:
                if d <= early_i and d <= lim and (d < weak_lo or weak_run >= max_weak_run):
                    # a weak peak before the next contact is due, or after too many weak ones: not a
                    # contact (as _on_contact)
                    i += 1
                    continue
                if d > weak_hi:
                    break
            if d < min_int or d > early_i or d > lim or not held:
                break
            if fill_missed and len(held) >= 2 and 1.6 * med <= d <= 2.4 * med:
                break
            if check_half:
                apart_next = apart
                if is_strong and last_seq == base + i - 1 and not doubled:
                    apart_next = apart + 1 if agree[i] < 0.0 else 0
                if apart_next >= _HALF_STEP_PAIRS and 2 * med <= max_int:
                    break  # half steps: _on_contact handles it
                apart, last_seq = apart_next, base + i
            steps.append((last, ic, last in filled))
            filled.discard(last)
            if len(held) == maxlen:
                del ordered[bisect_left(ordered, held[0])]
            held.append(d)
            insort(ordered, d)
            k = len(ordered)
            h = k // 2
            new_med = float(ordered[h]) if k % 2 else (ordered[h - 1] + ordered[h]) / 2.0
            if new_med != med:  # (the bout is active: the limit follows the median alone)
                med = new_med
                lim = min(max_int, round(2.5 * med))
                early_i = round(early_emit * med)
                weak_lo, weak_hi, short = weak_lo_f * med, weak_hi_f * med, short_f * med
            before, last = last, ic
            last_strong = is_strong
            weak_run = 0 if is_strong else weak_run + 1
            i += 1
        if last != bout[-1]:
            bout[:] = [before, last]
            self._last_strong = last_strong
            self._weak_run = weak_run
            self._last_seq, self._apart = last_seq, apart
            if med != self._med:
                self._med, self._lim, self._early_i = med, lim, early_i
                self._med_i = round(med)
                self._half_i = round(med / 2)
                self._weak_lo, self._weak_hi, self._short = weak_lo, weak_hi, short
        return i

    def _on_silence(self, horizon: int, steps: list) -> None:
        """No contact in ``(last contact, horizon)`` (IC grid indices): emit or end what is due.

        Called before each new contact with that contact's index, and with the detection horizon after
        each update, so that the outcome does not depend on how the stream was chunked.
        """
        if not self._bout:
            return
        quiet = horizon - self._bout[-1]
        self._emit_due(quiet, steps)
        if quiet > self._lim:
            self._end_bout(steps)

    def _emit_due(self, quiet: int, steps: list) -> None:
        """Emit the steps after the bout's last contact whose end is due after ``quiet`` samples of it."""
        if not (self._active and self._bout and self._intervals):
            return
        last = self._bout[-1]
        # a predicted end is never later than the newest sample (nor the step empty)
        newest = self._seg_end - 1
        if self._per_stride:
            half = last + self._half_i
            if self._stage == 0 and quiet > self._half_i:
                # the other foot's contact is due at mid-stride: emit this foot's step now
                self._emit(last, max(min(half, newest), last + 1), steps, inferred=False)
                self._stage = 1
            if self._stage == 1 and quiet > self._early_i:
                end = min(last + self._med_i, newest)
                if end > half:
                    self._emit(half, end, steps, inferred=True)
                self._stage = 2
            return
        if self._stage == 0 and quiet > self._early_i:
            # The next contact is late: the walker is probably stopping. Emit the step now, its end
            # predicted from the bout's median step, rather than waiting for the bout's timeout.
            end = max(min(last + self._med_i, newest), last + 1)
            self._emit(last, end, steps, inferred=last in self._filled)
            self._stage = 1
        if self._stage == 1 and self._closing and quiet > 2 * self._med_i:
            if not (self._last_strong or self._p.closing_after_weak):
                # the last contact seen was already a faint one: the closing contact itself
                self._stage = 2
                return
            # Walking ends with the trailing foot closing beside the other: a real contact that
            # barely moves the trunk, inferred one median step after the last contact seen.
            closing = last + self._med_i
            end = min(closing + self._med_i, newest)
            if end > closing:
                self._filled.add(closing)
                self._emit(closing, end, steps, inferred=True)
            self._stage = 2

    def _set_intervals(self, intervals: Sequence[int] | None = None) -> None:
        """Record step intervals (None: forget them) and refresh what is derived from their median."""
        held = self._intervals
        if intervals is None:
            held.clear()
        else:
            held.extend(intervals)
        self._sorted = sorted(held)
        self._derive()

    def _double_intervals(self) -> None:
        """The bout's contacts came twice per step: its steps are twice the intervals held."""
        doubled = [2 * d for d in self._intervals]
        self._doubled = True
        self._intervals.clear()
        self._set_intervals(doubled)
        self._apart = self._alike = 0

    def _halve_intervals(self) -> None:
        """Undo :meth:`_double_intervals`: the peaks passed over were steps after all."""
        halved = [d // 2 for d in self._intervals]
        self._doubled = False
        self._intervals.clear()
        self._set_intervals(halved)
        self._apart = self._alike = 0

    def _halved_wrongly(self, agree: float, seq: int) -> bool:
        """In a bout taken for half steps, a peak passed over as a step's second bump (candidate
        ``seq``, right after the bout's last contact): whether the bout was steps after all.

        A second bump meets the trunk's motion in the opposite phase of the contact before it; a real
        step leads in like it. ``_HALF_STEP_PAIRS`` such peaks in a row that lead in like their
        contact undo the halving.
        """
        if self._last_seq == seq - 1:
            self._alike = self._alike + 1 if agree >= 0.0 else 0
        return self._alike >= _HALF_STEP_PAIRS

    def _half_steps(self, agree: float, seq: int, strong: bool, single: bool) -> bool:
        """Record the bout's new contact (candidate ``seq``); whether its contacts are half steps.

        The trunk's motion repeats every step: going into each contact, its vertical and AP
        acceleration follow about the same course, forwards or backwards. When the courses leading
        into successive contacts point apart (``agree``, the cosine between them, is negative) for
        ``_HALF_STEP_PAIRS`` pairs in a row, two contacts were taken per step: in slow walking the
        vertical acceleration peaks twice per step (the double hump of the ground reaction force)
        while the AP acceleration runs through one cycle, so the two peaks are met in opposite AP
        phases. Pairs of peaks that are not successive candidates, or with a missed contact filled
        in between, say nothing. Trunk placements only: a limb's horizontal acceleration repeats once
        per stride.
        """
        if self._last_seq == seq - 1 and strong and single and not self._doubled:
            self._apart = self._apart + 1 if agree < 0.0 else 0
        self._last_seq = seq
        if self._apart >= _HALF_STEP_PAIRS and 2 * self._med <= self._max_int:
            self._apart = 0
            return True
        return False

    def _swing_peaks(self, ic: np.ndarray) -> list[float]:
        """Peak of the angular rate's norm (rad/s) over the ``_LEAD_WINDOW_S`` before each contact."""
        if len(self._body) < 6 or ic.size == 0:
            return [0.0] * int(ic.size)
        gx, gy, gz = self._body[3:6]
        out = []
        for k in (ic - self._body_k0).tolist():
            a, b = max(k - self._lead_back, 0), min(max(k, 0) + 1, self._body_len)
            if b > a:
                out.append(float(np.sqrt((gx[a:b] ** 2 + gy[a:b] ** 2 + gz[a:b] ** 2).max())))
            else:
                out.append(0.0)
        return out

    def _lead_in_agreement(self, pk: np.ndarray) -> np.ndarray:
        """Cosine between the lead-in motions of each candidate peak and of the candidate before it.

        The lead-in motion is the band-passed (vertical, AP) acceleration at ``_MOTION_SAMPLES``
        instants ``_MOTION_STEP_S`` apart, ending at the peak; the candidate before the first is
        the previous call's last.
        """
        lag = round(_MOTION_STEP_S * self._fs)
        at = pk[:, None] - lag * np.arange(_MOTION_SAMPLES)[None, :] - self._sig_k0
        np.maximum(at, 0, out=at)
        motion = np.concatenate([self._sig[at], self._apf[at]], axis=1)
        motion /= np.maximum(np.linalg.norm(motion, axis=1, keepdims=True), 1e-12)
        previous = np.concatenate([self._motion_last[None, :], motion[:-1]])
        self._motion_last = motion[-1].copy()
        return np.einsum("ij,ij->i", motion, previous)

    def _push_interval(self, d: int) -> None:
        """Record one interval: :meth:`_set_intervals` for the one-per-contact case of a walking bout.

        The sorted copy is updated in place (one bisect out, one insort in) rather than re-sorted: this
        runs for every step of a day-long file.
        """
        held, ordered = self._intervals, self._sorted
        if len(held) == held.maxlen:
            del ordered[bisect_left(ordered, held[0])]
        held.append(d)
        insort(ordered, d)
        self._derive()

    def _derive(self) -> None:
        """Median step interval and what depends on it, from the sorted intervals held."""
        ordered = self._sorted
        n = len(ordered)
        if n == 0 or not self._active:
            med = 0.0
            lim = self._max_int
        else:
            h = n // 2
            med = float(ordered[h]) if n % 2 else (ordered[h - 1] + ordered[h]) / 2.0
            lim = min(self._max_int, round(2.5 * med))
        if med == self._med and lim == self._lim:
            # a steady walk mostly keeps its median: everything derived from it is unchanged
            return
        self._lim = lim
        self._med = med
        self._med_i = round(med)
        self._half_i = round(med / 2)
        self._early_i = round(self._early_emit * med)
        weak_lo_f, weak_hi_f = self._p.weak_window
        # (compared with whole-sample intervals as they are: a multiplication per new median)
        self._weak_lo, self._weak_hi = weak_lo_f * med, weak_hi_f * med
        self._short = _SECOND_BUMP * med if self._check_half else 0.0

    # ------------------------------------------------------------------------------------------------
    # bouts
    def _on_contact(
        self,
        ic: int,
        steps: list,
        strong: bool = True,
        amp: float = 0.0,
        agree: float = 1.0,
        seq: int = -1,
    ) -> None:
        bout = self._bout
        if not strong:
            # a weak peak is a contact only inside a walking bout, when the next contact is due
            if not (self._active and bout and self._intervals):
                return
            d = ic - bout[-1]
            if d < self._weak_lo or d > self._weak_hi or self._weak_run >= self._p.max_weak_run:
                return
        elif self._active and bout and ic - bout[-1] < self._short:
            if self._doubled:
                # far shorter than the bout's steps: a second bump of the same step, not a contact
                if self._halved_wrongly(agree, seq):
                    self._halve_intervals()
                return
            if self._last_seq == seq - 1 and agree < 0.0:
                # well before the next contact is due, and leading in unlike the last one: a second
                # bump of the same step (trunk placements)
                return
        if not bout:
            bout.append(ic)
            self._bout_amp = [amp]
            self._lead_off(ic, amp, steps)
            return
        d = ic - bout[-1]
        if d < self._min_int:
            return
        if d > self._lim:
            self._end_bout(steps)
            self._bout.append(ic)
            self._bout_amp = [amp]
            self._lead_off(ic, amp, steps)
            return
        if self._active:
            self._last_strong = strong
            self._weak_run = 0 if strong else self._weak_run + 1
            med = self._med
            last = bout[-1]
            filling = self._fill_missed and len(self._intervals) >= 2 and self._stage < 2
            single = True
            if filling and 1.6 * med <= d <= 2.4 * med:
                single = False
                # one contact was missed: put it in the middle and close the interval before it
                mid = last + d // 2
                self._close_interval(last, mid, steps)
                if not self._per_stride:
                    self._filled.add(mid)
                bout.append(mid)
                self._stage = 0
            elif self._stage == 2 and not self._per_stride:
                # the contact inferred as closing turned out to be a missed step inside the bout
                bout.append(last + self._med_i)
            self._close_interval(bout[-1], ic, steps)
            # the raw interval between seen contacts: a bout that started on a spurious half-interval
            # corrects its median instead of filling every interval
            self._push_interval(d)
            bout.append(ic)
            self._stage = 0
            del bout[:-2]
            if self._check_half and self._half_steps(agree, seq, strong, single):
                self._double_intervals()
            return
        bout.append(ic)
        self._bout_amp.append(amp)
        if self._bout_amp[0] < self._p.initiation_ratio * max(self._bout_amp[1:]):
            # A walk starts with the first foot's push-off, a small bump of the trunk about half a step
            # before the first heel strike: a first peak much smaller than the next is not a contact.
            del bout[0], self._bout_amp[0]
            return
        n = self._p.min_bout_steps
        if len(bout) >= n:
            # (plain ints: a few numbers, for which numpy's call overhead is most of the cost)
            recent = [b - a for a, b in itertools.pairwise(bout[-n:])]
            if max(recent) <= self._p.regularity * min(recent):
                self._active = True
                self._last_seq, self._apart = seq, 0
                for a, b in itertools.pairwise(bout):
                    self._stage = 0
                    self._close_interval(a, b, steps)
                self._set_intervals([b - a for a, b in itertools.pairwise(bout)])
                self._last_strong = True
                self._weak_run = 0
                del bout[:-1]
            else:
                del bout[: len(bout) - n + 1]
                del self._bout_amp[: len(self._bout_amp) - len(bout)]

    def _lead_off(self, ic: int, swing_radps: float, steps: list) -> None:
        """A foot's first contact after standing (or a break), whose swing turned the foot faster than
        ``lead_swing_radps``: the foot came from behind, a full stride, so the other foot led off. Its
        contact, ``_LEAD_STEP_S`` before, goes out now, with this foot's contact as its end (not when the
        bout is accepted a stride later: the label's latency stays that of the contact's confirmation).
        """
        if not (self._lead_swing and swing_radps >= self._p.lead_swing_radps):
            return
        lead = max(ic - self._lead_i, self._seg_k0, self._body_k0)
        if lead < ic and lead - self._last_start > self._min_int // 2:
            self._emit(lead, ic, steps, inferred=True)

    def _close_interval(self, start: int, end: int, steps: list) -> None:
        """The contact after ``start`` is known (``end``): emit what of ``[start, end)`` is not out yet."""
        if self._per_stride:
            if self._stage == 0:
                mid = start + (end - start) // 2
                self._emit(start, mid, steps, inferred=False)
                self._emit(mid, end, steps, inferred=True)
            elif self._stage == 1 and self._intervals:
                half = start + self._half_i
                self._emit(half, max(end, half + 1), steps, inferred=True)
        elif self._stage == 0:
            steps.append((start, end, start in self._filled))
        self._filled.discard(start)

    def _end_bout(self, steps: list) -> None:
        # as if the silence had lasted: what is still due after the last contact goes out now
        self._emit_due(1 << 40, steps)
        self._bout = []
        self._bout_amp = []
        self._active = False
        self._doubled = False
        self._apart = self._alike = 0
        self._stage = 0
        self._set_intervals(None)
        self._filled.clear()

    def _emit(self, start: int, end: int, steps: list, *, inferred: bool) -> None:
        steps.append((start, end, inferred))
        self._last_start = start

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


def recording_placement(recording: Recording) -> str:
    """The detector placement a recording names in ``meta["placement"]``.

    Parameters
    ----------
    recording : Recording

    Returns
    -------
    str
        The placement in lower case, or ``"auto"`` when it is missing or not one of :data:`PLACEMENTS`.
    """
    placement = str(recording.meta.get("placement", "auto")).lower()
    return placement if placement in PLACEMENTS else "auto"


def recording_chunks(
    recording: Recording, chunk_s: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """A recording's samples in consecutive pieces, to feed a causal detector with bounded memory.

    Parameters
    ----------
    recording : Recording
    chunk_s : float
        Duration (s) of the time span each piece covers; empty spans yield nothing.

    Yields
    ------
    time_s : ndarray, shape (m,)
        Sample times (s).
    acc_mps2 : ndarray, shape (m, 3)
        Acceleration (m/s²).
    gyr_radps : ndarray, shape (m, 3) or None
        Angular rate (rad/s), None when the recording has no gyroscope.
    """
    t = np.asarray(recording.time_s, dtype=float)
    if t.size == 0:
        return
    bounds = np.searchsorted(t, np.arange(t[0], t[-1] + chunk_s, chunk_s)[1:], side="left")
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [t.size]])
    for a, b in zip(starts, ends, strict=True):
        if b <= a:
            continue
        gyr = None if recording.gyr_radps is None else recording.gyr_radps[a:b]
        yield t[a:b], recording.acc_mps2[a:b], gyr


def conditioned_ahead(
    detector: StepDetector,
    chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    gravity_removed: bool = False,
    threaded: bool = True,
) -> Iterator[Conditioned]:
    """:meth:`StepDetector.condition` over consecutive chunks, one chunk ahead in a worker thread.

    For offline use: while the caller runs :meth:`StepDetector.decide` (pure-Python bookkeeping) and
    whatever follows on one chunk, the worker conditions the next (numpy and scipy, which release the
    GIL), so a long recording uses two cores. Each half of the detector still sees the chunks in order,
    so the steps are exactly those of feeding the chunks to :meth:`StepDetector.update` one by one.

    Parameters
    ----------
    detector : StepDetector
    chunks : iterable of (time_s, acc_mps2, gyr_radps)
        Consecutive pieces of one stream (as from :func:`recording_chunks`).
    gravity_removed : bool, default=False
        Passed to :meth:`StepDetector.condition`.
    threaded : bool, default=True
        False: condition each chunk in the caller's thread, just before it is yielded.

    Yields
    ------
    Conditioned
        One per chunk, in order.

    Notes
    -----
    While the worker runs, the interpreter's switch interval (:func:`sys.setswitchinterval`, process
    wide) is lowered to 0.1 ms; the previous value is restored when the generator finishes, fails or is
    closed.
    """
    if not threaded:
        for time_s, acc_mps2, gyr_radps in chunks:
            yield detector.condition(time_s, acc_mps2, gyr_radps, gravity_removed=gravity_removed)
        return
    pending: deque[Future[Conditioned]] = deque()
    # The caller's back end is mostly Python and keeps the GIL for the whole switch interval (5 ms by
    # default) whenever the worker comes back from a numpy call; a short interval while both run keeps
    # the worker from waiting (about 15 % off a day-long file's pipeline here). Restored afterwards.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, _SWITCH_INTERVAL_S))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gaitdir-condition") as pool:
        try:
            for time_s, acc_mps2, gyr_radps in chunks:
                # a single worker runs the submitted chunks in order, which the detector's state needs
                pending.append(
                    pool.submit(
                        detector.condition, time_s, acc_mps2, gyr_radps, gravity_removed=gravity_removed
                    )
                )
                if len(pending) > 1:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            # the consumer stopped early (or a chunk failed): do not condition what nobody will read
            for future in pending:
                future.cancel()
            sys.setswitchinterval(interval)


def detect_steps(
    recording: Recording, *, chunk_s: float = 600.0, threaded: bool = True, **detector_params: object
) -> list[StepBatch]:
    """Find the steps of a whole recording with the same causal detector used live.

    Parameters
    ----------
    recording : Recording
        The recording; its ``meta["placement"]`` is used unless ``placement`` is given.
    chunk_s : float, default=600.0
        The recording is fed in chunks of this duration (s) to bound memory; the result does not
        depend on it.
    threaded : bool, default=True
        Condition the next chunk in a worker thread while the current one is decided (see
        :func:`conditioned_ahead`); the result does not depend on it.
    **detector_params
        Passed to :class:`StepDetector`.

    Returns
    -------
    list of StepBatch
        Non-empty batches in time order.
    """
    params = dict(detector_params)
    if "placement" not in params:
        params["placement"] = recording_placement(recording)
    det = StepDetector(**params).reset()  # type: ignore[arg-type]
    out: list[StepBatch] = []
    if np.asarray(recording.time_s).size == 0:
        return out
    chunks = recording_chunks(recording, chunk_s)
    for conditioned in conditioned_ahead(
        det, chunks, gravity_removed=recording.gravity_removed, threaded=threaded
    ):
        batch = det.decide(conditioned)
        if len(batch):
            out.append(batch)
    batch = det.flush()
    if len(batch):
        out.append(batch)
    return out
