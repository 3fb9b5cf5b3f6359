"""Real recordings for the signal tests, read in place from the repository's sibling ``shared``."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pytest

from gaitdir.recordings import Recording, read_recording

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"
OXFORD = DATASETS / "oxford-step-counter"


@functools.cache
def _ipol(name: str) -> Recording:
    """An IPOL file on the sensor clock (``PacketCounter / rate``), the time base its annotations use.

    Dropped radio packets are missing rows; ``row / rate`` drifts from the annotations in lossy trials.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(IPOL / name)
    assert rec.meta["time_base"] == "counter"
    return rec


@functools.cache
def _oxford(position: str) -> Recording:
    path = next(OXFORD.glob(f"user1_{position}_*.csv"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_recording(path)


@pytest.fixture
def ipol():
    """``ipol("8-1_lb.txt")`` → Recording (cached, do not mutate)."""
    return _ipol


@pytest.fixture
def oxford():
    """``oxford("frontpocket")`` → Recording (cached, do not mutate)."""
    return _oxford
