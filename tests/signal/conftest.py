"""Real recordings for the signal tests, read in place from the repository's sibling ``shared``."""

from __future__ import annotations

import csv
import functools
import warnings
from pathlib import Path

import pytest

from gaitdir.recordings import Recording, read_recording

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"
OXFORD = DATASETS / "oxford-step-counter"
MOCAP = DATASETS / "mocap-backward"


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


@functools.cache
def _mocap(clip: str) -> Recording:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_recording(MOCAP / f"{clip}.csv")


@pytest.fixture
def mocap():
    """``mocap("bandai1_walk_proud_002")`` → (Recording, steps the feet made: duration × their step
    frequency from ``manifest.csv``). Virtual pelvis accelerometer from motion capture, CC BY-NC 4.0:
    evaluation only."""

    def get(clip: str) -> tuple[Recording, float]:
        with (MOCAP / "manifest.csv").open(newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["file"] == f"{clip}.csv")
        return _mocap(clip), float(row["duration_s"]) * float(row["step_freq_hz_feet"])

    return get
