"""Rebuild ``gaitdir/_data/sample_walk.csv`` from the Oxford step-counter data set (CC BY 4.0).

Takes the phone-in-a-neck-pouch recording of user 1, keeps the 75 s stretch with the most
ground-truth steps (continuous walking), restarts its time at 0, and writes it as gaitdir CSV with
metadata naming the source and licence. Values are rounded to 0.1 ms and 1e-4 m/s² (far below the
phone's noise) to keep the packaged file small.

Usage (from the repository root, with ``../shared`` beside it)::

    python datasets/make_sample.py [--source PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gaitdir.recordings import read_recording
from gaitdir.recordings._writers import atomic_writer

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / ".." / "shared" / "datasets" / "oxford-step-counter" / "user1_neckpouch_1506422851785.csv"
OUT = REPO / "gaitdir" / "_data" / "sample_walk.csv"
WINDOW_S = 75.0


def best_window(reference_steps_s: np.ndarray, duration_s: float, window_s: float) -> float:
    """Start (s) of the ``window_s`` stretch holding the most reference steps."""
    starts = np.arange(0.0, max(duration_s - window_s, 0.0) + 1e-9, 0.5)
    counts = [np.count_nonzero((reference_steps_s >= s) & (reference_steps_s < s + window_s)) for s in starts]
    return float(starts[int(np.argmax(counts))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    recording = read_recording(args.source, format="oxford")
    start_s = best_window(recording.reference_steps_s, recording.duration_s, WINDOW_S)
    inside = (recording.time_s >= start_s) & (recording.time_s < start_s + WINDOW_S)
    time_s = recording.time_s[inside] - recording.time_s[inside][0]
    acc = recording.acc_mps2[inside]
    steps = recording.reference_steps_s
    n_steps = int(np.count_nonzero((steps >= start_s) & (steps < start_s + WINDOW_S)))
    meta = {
        "sensor": "Samsung Galaxy S6 phone accelerometer",
        "placement": "chest",
        "placement_detail": "phone in a neck pouch",
        "subject": "oxford-user1",
        "rate_hz": "100",
        "ground_truth_steps": str(n_steps),
        "source": (
            "Oxford step counter data set, github.com/Oxford-step-counter/DataSet, "
            f"validation/{args.source.name}, {start_s:.1f}-{start_s + WINDOW_S:.1f} s"
        ),
        "licence": "CC BY 4.0 (creativecommons.org/licenses/by/4.0); trimmed and converted to gaitdir CSV",
    }
    with atomic_writer(args.out) as handle:
        for key, value in meta.items():
            handle.write(f"# {key}: {value}\n")
        handle.write("time_s,acc_x,acc_y,acc_z\n")
        for t, (x, y, z) in zip(time_s, acc, strict=True):
            handle.write(f"{t:.4f},{x:.4f},{y:.4f},{z:.4f}\n")
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1000:.0f} kB, {time_s.size} samples, {n_steps} steps)"
    )


if __name__ == "__main__":
    main()
