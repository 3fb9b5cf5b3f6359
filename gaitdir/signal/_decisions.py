"""The step detector's back end: detection peaks → contacts → walking bouts → steps.

:class:`ContactDecisions` holds the decision state machine of :class:`gaitdir.signal.StepDetector`
(which sets up the state it reads in ``reset``); the method is described in
:mod:`gaitdir.signal._detector`.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from gaitdir.signal._peaks import noise_floor, stance_onsets, window_peaks

#: The trunk's sagittal acceleration leading into a contact is sampled this often (s) ...
_MOTION_STEP_S = 0.1
#: ... at this many instants up to the detection peak (half-step check).
_MOTION_SAMPLES = 4
#: A peak within this many median steps of the bout's last contact is that step's second bump if it
#: leads in unlike the contact, or if the bout was found to have two peaks per step (they come half a
#: step apart, contacts a whole step apart). Trunk placements only.
_SECOND_BUMP = 0.75
#: After a weak last contact, the closing foot's landing is looked for this many median steps after it.
_CLOSING_WINDOW = (0.4, 1.6)
#: Successive contact pairs whose lead-in motions point apart (negative cosine) that make half steps.
_HALF_STEP_PAIRS = 2

#: A foot's swing into a contact: the angular rate's peak is looked for this long (s) before it.
_LEAD_WINDOW_S = 0.5
#: The other foot's lead-off contact comes this long (s) before the trailing foot's first contact (IPOL
#: healthy gait, the 80 walks whose foot sensor trails: median 0.635 s, 10th–90th percentile 0.58–0.74 s).
_LEAD_STEP_S = 0.6


class ContactDecisions:
    """The decisions of :class:`gaitdir.signal.StepDetector`, from its detection signal to its steps."""

    _p: Any
    _fs: float

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
        # their peak heights (m/s²; a foot: the swing's peak angular rate, rad/s), while not yet accepted
        self._bout_amp: list[float] = []
        self._last_strong = True  # the bout's last contact was a peak above the strong threshold
        self._last_swing = 0.0  # a foot with a gyroscope: the swing into the bout's last contact (rad/s)
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

    def _find_peaks(self, steps: list, *, final: bool) -> None:
        wl, wr, wn = self._w_left, self._w_right, self._w_noise
        end_eval = self._seg_end if final else self._seg_end - wr  # exclusive
        if end_eval > self._next_eval:
            lo = self._next_eval - wl - wn
            pad_left = max(0, self._sig_k0 - lo)
            a = lo + pad_left - self._sig_k0
            ext = np.concatenate(
                [np.full(pad_left, -np.inf), self._sig[a:], np.full(wr if final else 0, -np.inf)]
            )
            # ext[0] is global index lo; evaluate i in [next_eval, end_eval)
            ext = ext[: end_eval - lo + wr]
            if self._p.signal == "stance":
                still = self._p.min_peak_mps2
                below: float | np.ndarray = still
                if wn:
                    below = np.maximum(still, self._p.stance_noise_factor * noise_floor(ext, wr, wn))
                pk = stance_onsets(ext, wl, wr, below, self._p.rel_threshold * still) + lo
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
        keep_from = min(self._next_eval - wl - wn, self._seg_end - wr) - 1
        if self._bout and self._closing:
            # the signal since the bout's last contact is kept for the closing decision (_closing_foot_moves)
            keep_from = min(keep_from, self._bout[-1] + self._shift)
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
                # A walk ends with one foot closing beside the other, half a stride from behind. When
                # this foot's last swing was that slow half stride, it was the closing contact and no
                # contact of the other foot follows; after a full stride, the other foot closes.
                closed = self._lead_swing and self._last_swing < self._p.lead_swing_radps
                if closed and quiet <= self._lim:
                    # a slow step is not yet a stop: a contact of this foot before the bout's limit
                    # closes the interval with the other foot's contact (_close_interval, stage 1)
                    return
                if end > half and not closed:
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
            if not (self._last_strong or self._closing_foot_moves(last)):
                # the last contact seen was already a faint one, and nothing followed it: the closing
                # contact itself
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

    def _closing_foot_moves(self, last: int) -> bool:
        """Did the detection signal still move after contact ``last``: is its standard deviation over
        the window ``_CLOSING_WINDOW`` after it (where the closing foot lands) above
        ``closing_rel_threshold`` × its running RMS at that contact?

        On IPOL's lower back, a walk that ends on a faint contact was as often ended by it (the closing
        contact seen) as followed by one still fainter. After the closing contact the trunk comes to
        rest; before it, the closing foot's landing and the trunk's last sway still move it. The
        window's spread tells the two apart better than its highest peak (AUC 0.89 against 0.82 at
        the annotated contacts), since the closing foot's landing is often not one clear bump.
        """
        threshold = self._p.closing_rel_threshold
        if threshold <= 0.0:
            return True
        at = last + self._shift - self._sig_k0
        if not 0 <= at < self._ms.shape[0]:
            return False
        lo, hi = (at + round(f * self._med) for f in _CLOSING_WINDOW)
        window = self._sig[lo:hi]
        return bool(window.size) and float(window.std()) > threshold * float(np.sqrt(self._ms[at]))

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
            self._last_seq = seq
            self._lead_off(ic, amp, steps)
            return
        d = ic - bout[-1]
        if d < self._min_int:
            return
        if d > self._lim:
            self._end_bout(steps)
            self._bout.append(ic)
            self._bout_amp = [amp]
            self._last_seq = seq
            self._lead_off(ic, amp, steps)
            return
        if self._active:
            self._last_strong = strong
            self._last_swing = amp
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
        previous_seq, self._last_seq = self._last_seq, seq
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
                # the pair that starts the bout counts for the half-step check too: a slow walk's
                # double peaks are then found a pair earlier (each pair before costs a half step)
                self._apart = int(previous_seq == seq - 1 and agree < 0.0)
                for a, b in itertools.pairwise(bout):
                    self._stage = 0
                    self._close_interval(a, b, steps)
                self._set_intervals([b - a for a, b in itertools.pairwise(bout)])
                self._last_strong = True
                self._last_swing = self._bout_amp[-1]
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
