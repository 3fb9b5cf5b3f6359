"""Step detection benchmark: gaitdir's causal detector against the magnitude-peak baseline.

The baseline is stepcount's counting stage (OxWearables/stepcount, ``models.py``: ``toV`` then
``scipy.signal.find_peaks``): the acceleration norm in g minus 1, clipped to ±2 g, low-passed at 5 Hz
(8th-order Butterworth, zero-phase), peaks with a minimum ``distance`` and ``prominence``. stepcount
fits those two numbers to data; here they (and a constant time offset, since stepcount only counts)
are fitted on the same development subjects gaitdir's parameters were tuned on.

Splits — never tune on what is reported:
  * dev: IPOL healthy-gait subjects 1–7 (every gaitdir default and the baseline's fit come from these);
  * held-out: IPOL subjects 8–14 and every Oxford step-counter file (never used for tuning).

Data: IPOL healthy-gait (Voisard et al., IPOL 2023; AGPL-3.0) and the Oxford step-counter validation set
(CC BY 4.0), read from ``../shared/datasets`` beside the repository.

Run: ``python benchmarks/step_detection.py [--latency]``
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from gaitdir.recordings import Recording, read_recording
from gaitdir.signal import StepDetector, StepMatch, detect_steps, match_steps, score_recording

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"
OXFORD = DATASETS / "oxford-step-counter"
DEV_SUBJECTS = range(1, 8)
HELD_OUT_SUBJECTS = range(8, 15)
TOLERANCE_S = 0.2
STANDARD_GRAVITY_MPS2 = 9.80665


# ---------------------------------------------------------------------------------------------------
# baseline
def baseline_magnitude_peaks(
    time_s: np.ndarray,
    acc_mps2: np.ndarray,
    *,
    distance_s: float = 0.5,
    prominence_g: float = 0.5,
    lowpass_hz: float = 5.0,
    offset_s: float = 0.0,
    sample_rate_hz: float = 100.0,
) -> np.ndarray:
    """stepcount's counting stage: peaks of the low-passed acceleration norm.

    Parameters
    ----------
    time_s : ndarray, shape (n,)
        Sample times (s); resampled linearly to ``sample_rate_hz`` first, as stepcount does.
    acc_mps2 : ndarray, shape (n, 3)
        Acceleration with gravity (m/s²).
    distance_s, prominence_g : float
        ``find_peaks`` minimum peak distance (s) and prominence (g).
    lowpass_hz : float
        Low-pass cut-off (Hz).
    offset_s : float
        Constant subtracted from peak times to report initial contacts (s).

    Returns
    -------
    ndarray
        Step times (s).
    """
    grid = np.arange(time_s[0], time_s[-1], 1.0 / sample_rate_hz)
    acc = np.column_stack([np.interp(grid, time_s, acc_mps2[:, i]) for i in range(3)])
    v = np.clip(np.linalg.norm(acc, axis=1) / STANDARD_GRAVITY_MPS2 - 1.0, -2.0, 2.0)
    sos = signal.butter(8, lowpass_hz, "lowpass", fs=sample_rate_hz, output="sos")
    v = signal.sosfiltfilt(sos, v)
    peaks, _ = signal.find_peaks(v, distance=max(1.0, distance_s * sample_rate_hz), prominence=prominence_g)
    return grid[peaks] - offset_s


# ---------------------------------------------------------------------------------------------------
# data
@dataclass(frozen=True)
class Case:
    """One scored recording: the detector's input plus the reference to score against."""

    name: str
    placement: str  # table row: lower_back, foot, or the Oxford position
    split: str  # dev / held-out
    recording: Recording
    timing_ref_s: np.ndarray  # contacts the detected ICs are timed against
    count_ref_s: np.ndarray  # every step (both feet) for counts
    window_s: tuple[float, float]
    own_foot_only: bool  # time only the directly observed ICs (foot sensors)


@functools.cache
def _read(path: Path) -> Recording:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(path)
    # IPOL files come on the sensor's own clock (PacketCounter / rate): rows are missing where radio
    # packets were dropped, and the annotations line up with the counter, not the row.
    return rec


def ipol_cases(subjects: range, split: str, sites: tuple[str, ...] = ("lb", "lf", "rf")) -> list[Case]:
    cases = []
    for js in sorted(IPOL.glob("*.json"), key=lambda p: tuple(int(x) for x in p.stem.split("-"))):
        subject = int(js.stem.split("-")[0])
        if subject not in subjects:
            continue
        lb = _read(IPOL / f"{js.stem}_lb.txt")
        both = np.asarray(lb.reference_steps_s)
        for site in sites:
            rec = lb if site == "lb" else _read(IPOL / f"{js.stem}_{site}.txt")
            assert rec.reference_steps_s is not None and rec.reference_window_s is not None
            foot = site != "lb"
            cases.append(
                Case(
                    name=f"{js.stem}_{site}",
                    placement="foot" if foot else "lower_back",
                    split=split,
                    recording=rec,
                    timing_ref_s=np.asarray(rec.reference_steps_s),
                    count_ref_s=both,
                    window_s=rec.reference_window_s,
                    own_foot_only=foot,
                )
            )
    return cases


def oxford_cases() -> list[Case]:
    cases = []
    for path in sorted(OXFORD.glob("user*_*.csv")):
        rec = _read(path)
        assert rec.reference_steps_s is not None and rec.reference_window_s is not None
        cases.append(
            Case(
                name=path.stem,
                placement="oxford-" + path.stem.split("_")[1],
                split="held-out",
                recording=rec,
                timing_ref_s=np.asarray(rec.reference_steps_s),
                count_ref_s=np.asarray(rec.reference_steps_s),
                window_s=rec.reference_window_s,
                own_foot_only=False,
            )
        )
    return cases


# ---------------------------------------------------------------------------------------------------
# scoring
@dataclass
class Score:
    timing: StepMatch
    n_detected: int
    n_reference: int

    def __add__(self, other: Score) -> Score:
        return Score(
            self.timing + other.timing,
            self.n_detected + other.n_detected,
            self.n_reference + other.n_reference,
        )

    @property
    def count_error(self) -> float:
        return (self.n_detected - self.n_reference) / self.n_reference if self.n_reference else float("nan")


def _in(t: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    return t[(t >= window[0]) & (t <= window[1])]


def score_gaitdir(case: Case, **params: object) -> Score:
    batches = detect_steps(case.recording, **params)
    starts = np.concatenate([b.start_s for b in batches]) if batches else np.zeros(0)
    m = score_recording(starts, case.recording, tolerance_s=TOLERANCE_S)
    assert m is not None
    return Score(m, m.n_detected, m.n_reference)


def score_baseline(case: Case, params: dict[str, float], per_stride: bool) -> Score:
    rec = case.recording
    peaks = baseline_magnitude_peaks(rec.time_s, rec.acc_mps2, **params)
    m = match_steps(peaks, case.timing_ref_s, tolerance_s=TOLERANCE_S, window_s=case.window_s)
    # a foot sensor's peaks are per stride of that foot at best: counting them as steps is the baseline's
    # own answer, so it is scored as is
    del per_stride
    return Score(m, _in(peaks, case.window_s).size, _in(case.count_ref_s, case.window_s).size)


def fit_baseline(cases: list[Case]) -> dict[str, float]:
    """Fit (distance, prominence, offset) on dev cases by F1, as stepcount fits its two numbers to data."""
    best: tuple[float, dict[str, float]] = (-1.0, {})
    for distance_s in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.8, 1.0):
        for prominence_g in (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5):
            raw: list[tuple[np.ndarray, Case]] = []
            for c in cases:
                raw.append(
                    (
                        baseline_magnitude_peaks(
                            c.recording.time_s,
                            c.recording.acc_mps2,
                            distance_s=distance_s,
                            prominence_g=prominence_g,
                        ),
                        c,
                    )
                )
            offs = []
            for peaks, c in raw:
                for h in c.timing_ref_s:
                    if peaks.size:
                        d = peaks[np.argmin(np.abs(peaks - h))] - h
                        if abs(d) < 0.3:
                            offs.append(d)
            offset = float(np.median(offs)) if offs else 0.0
            total = None
            for peaks, c in raw:
                m = match_steps(peaks - offset, c.timing_ref_s, tolerance_s=TOLERANCE_S, window_s=c.window_s)
                total = m if total is None else total + m
            assert total is not None
            if total.f1 > best[0]:
                best = (
                    total.f1,
                    {"distance_s": distance_s, "prominence_g": prominence_g, "offset_s": offset},
                )
    return best[1]


def latency_p95(cases: list[Case], chunk_s: float = 0.1) -> tuple[float, int]:
    """p95 of (emission time − step end), streaming each recording in ``chunk_s`` chunks."""
    lat: list[float] = []
    for c in cases:
        rec = c.recording
        det = StepDetector(placement=rec.meta.get("placement", "auto")).reset()
        edges = np.searchsorted(rec.time_s, np.arange(rec.time_s[0], rec.time_s[-1] + chunk_s, chunk_s))
        edges = np.unique(np.concatenate([edges, [rec.n_samples]]))
        for a, b in itertools.pairwise(edges):
            batch = det.update(rec.time_s[a:b], rec.acc_mps2[a:b])
            lat.extend((batch.emitted_s - batch.end_s).tolist())
        batch = det.flush()
    arr = np.asarray(lat)
    return (float(np.percentile(arr, 95)) if arr.size else float("nan")), int(arr.size)


# ---------------------------------------------------------------------------------------------------
def _row(method: str, placement: str, split: str, s: Score) -> str:
    m = s.timing
    return (
        f"{method:<9} {placement:<19} {split:<9} {m.f1:6.3f} {m.precision:6.3f} {m.recall:6.3f} "
        f"{s.count_error:+7.1%} {m.n_reference:6d} {s.n_reference:6d}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", action="store_true", help="also stream held-out files in 0.1 s chunks")
    args = parser.parse_args(argv)
    if not IPOL.is_dir() or not OXFORD.is_dir():
        print(f"datasets not found under {DATASETS}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    dev = ipol_cases(DEV_SUBJECTS, "dev")
    held = ipol_cases(HELD_OUT_SUBJECTS, "held-out")
    oxford = oxford_cases()
    fits = {
        "lower_back": fit_baseline([c for c in dev if c.placement == "lower_back"]),
        "foot": fit_baseline([c for c in dev if c.placement == "foot"]),
    }
    print(
        "baseline fit on IPOL dev (subjects 1-7):",
        {k: {n: round(x, 3) for n, x in v.items()} for k, v in fits.items()},
    )
    print(
        "F1/precision/recall: detected initial contacts vs reference contacts within ±0.2 s (foot sensors: "
        "own-foot contacts vs that foot's heel strikes); count error: all steps vs all reference steps "
        "(both feet) inside the annotated window."
    )
    header = (
        f"{'method':<9} {'placement':<19} {'split':<9} {'F1':>6} {'prec':>6} {'recall':>6} "
        f"{'count':>7} {'n_time':>6} {'n_step':>6}"
    )
    print(header)
    print("-" * len(header))
    groups: dict[tuple[str, str], list[Case]] = {}
    for c in dev + held + oxford:
        groups.setdefault((c.placement, c.split), []).append(c)
    order = sorted(groups, key=lambda k: (k[0].startswith("oxford"), k[0], k[1] != "dev"))
    oxford_total: dict[str, Score] = {}
    for placement, split in order:
        cases = groups[(placement, split)]
        fit = fits["foot" if placement == "foot" else "lower_back"]
        b = _sum([score_baseline(c, fit, placement == "foot") for c in cases])
        g = _sum([score_gaitdir(c) for c in cases])
        print(_row("baseline", placement, split, b))
        print(_row("gaitdir", placement, split, g))
        if placement.startswith("oxford"):
            oxford_total["baseline"] = oxford_total["baseline"] + b if "baseline" in oxford_total else b
            oxford_total["gaitdir"] = oxford_total["gaitdir"] + g if "gaitdir" in oxford_total else g
    for method in ("baseline", "gaitdir"):
        print(_row(method, "oxford (all 6)", "held-out", oxford_total[method]))
    if args.latency:
        for placement in ("lower_back", "foot"):
            p95, n = latency_p95([c for c in held if c.placement == placement])
            print(f"latency (emitted - step end), held-out IPOL {placement}: p95 {p95:.3f} s over {n} steps")
        p95, n = latency_p95(oxford)
        print(f"latency (emitted - step end), Oxford: p95 {p95:.3f} s over {n} steps")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


def _sum(scores: list[Score]) -> Score:
    total = scores[0]
    for s in scores[1:]:
        total = total + s
    return total


if __name__ == "__main__":
    raise SystemExit(main())
