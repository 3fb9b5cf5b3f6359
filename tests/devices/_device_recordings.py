"""Real recordings for the device tests, read with a few lines of numpy.

Read directly (not through gaitdir.recordings) so these tests depend only on the datasets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitdir.recordings import Recording

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
OXFORD_HAND = DATASETS / "oxford-step-counter" / "user1_hand_1506421989895.csv"
IPOL_LOWER_BACK_2 = DATASETS / "ipol-healthy-gait" / "GaitData" / "2-1_lb.txt"


def oxford_recording(seconds: float, *, start_s: float = 10.0) -> Recording:
    """``seconds`` of the Oxford step-counter hand recording (phone, ~100 Hz, m/s² with gravity).

    Read with a few lines of numpy (columns: ns since boot, acc x, y, z, ...; first row all zeros)
    so these tests depend only on the dataset, not on the readers under test elsewhere.
    """
    raw = np.loadtxt(OXFORD_HAND, delimiter=",", max_rows=int((start_s + seconds) * 110) + 10)[1:]
    t = (raw[:, 0] - raw[0, 0]) * 1e-9
    keep = (t >= start_s) & (t < start_s + seconds)
    return Recording(
        time_s=t[keep] - t[keep][0],
        acc_mps2=raw[keep, 1:4],
        meta={"format": "oxford", "source": str(OXFORD_HAND), "placement": "hand", "subject": "oxford-1"},
    )


def ipol_recording(seconds: float, *, start_s: float = 4.0, path: Path = IPOL_LOWER_BACK_2) -> Recording:
    """``seconds`` of an IPOL lower-back file (Xsens, 100 Hz; acc m/s² with gravity, gyro rad/s).

    Two header lines, then PacketCounter, acc xyz, gyr xyz, mag xyz; time = row / 100 s (the
    authors' time base). ``path`` defaults to subject 2, trial 1.
    """
    raw = np.loadtxt(path, skiprows=2, max_rows=int((start_s + seconds) * 100) + 1)
    t = np.arange(raw.shape[0]) / 100.0
    keep = t >= start_s
    return Recording(
        time_s=t[keep] - t[keep][0],
        acc_mps2=raw[keep, 1:4],
        gyr_radps=raw[keep, 4:7],
        meta={"format": "ipol", "source": str(path), "placement": "lower_back"},
    )
