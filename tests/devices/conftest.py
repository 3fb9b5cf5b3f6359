"""Shared fixtures for device tests: real recordings and a virtual Bluetooth world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from gaitdir.devices.virtual import VirtualWorld
from gaitdir.recordings import Recording

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
OXFORD_HAND = DATASETS / "oxford-step-counter" / "user1_hand_1506421989895.csv"


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


@pytest.fixture
def walk_8s() -> Recording:
    return oxford_recording(8.0)


@pytest.fixture
async def world() -> AsyncIterator[VirtualWorld]:
    async with VirtualWorld() as w:
        yield w
