"""Helpers for the sensor-family tests: a real IMU recording and one end-to-end run over GATT."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# the sensor families register their drivers and twins on import
from gaitdir.devices import (  # noqa: F401
    DRIVERS,
    EventKind,
    ImuBatch,
    StreamEvent,
    _metamotion,
    _movesense,
    _openprofile,
    _thingy52,
    _witmotion,
    scan,
)
from gaitdir.devices.virtual import (  # noqa: F401
    VirtualSensor,
    VirtualWorld,
    _twins_metamotion,
    _twins_movesense,
    _twins_openprofile,
    _twins_thingy52,
    _twins_witmotion,
)
from gaitdir.recordings import Recording

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
IPOL_LOWER_BACK = DATASETS / "ipol-healthy-gait" / "GaitData" / "1-1_lb.txt"


def ipol_lower_back(seconds: float, *, start_s: float = 4.0) -> Recording:
    """``seconds`` of IPOL subject 1, trial 1, lower-back Xsens (100 Hz, acc m/s² with gravity, gyro rad/s).

    Read with numpy (two header lines, then PacketCounter, Acc xyz, Gyr xyz, Mag xyz; time = row/100 s,
    the authors' time base) so these tests depend on the data, not on the readers tested elsewhere.
    """
    rows = int((start_s + seconds) * 100) + 1
    raw = np.loadtxt(IPOL_LOWER_BACK, skiprows=2, max_rows=rows)
    t = np.arange(raw.shape[0]) / 100.0
    keep = t >= start_s
    return Recording(
        time_s=t[keep] - t[keep][0],
        acc_mps2=raw[keep, 1:4],
        gyr_radps=raw[keep, 4:7],
        meta={
            "format": "ipol",
            "source": str(IPOL_LOWER_BACK),
            "placement": "lower_back",
            "subject": "ipol-1",
        },
    )


@dataclass
class Received:
    """What a driver delivered in one end-to-end run."""

    kind: str | None = None
    batches: list[ImuBatch] = field(default_factory=list)
    events: list[StreamEvent] = field(default_factory=list)

    @property
    def time_s(self) -> np.ndarray:
        return np.concatenate([b.sensor_time_s for b in self.batches])

    @property
    def acc_mps2(self) -> np.ndarray:
        return np.concatenate([b.acc_mps2 for b in self.batches])

    @property
    def gyr_radps(self) -> np.ndarray:
        return np.concatenate([b.gyr_radps for b in self.batches])  # type: ignore[misc]

    def count(self, kind: EventKind) -> int:
        return sum(e.kind == kind for e in self.events)


async def run_end_to_end(
    world: VirtualWorld,
    recording: Recording,
    kind: str,
    *,
    speed: float = 20.0,
    stream_s: float,
    faults: tuple[str, ...] = (),
    sample_rate_hz: float | None = None,
) -> tuple[Received, VirtualSensor]:
    """Scan for the twin of ``kind``, connect its driver with bleak's public API through the virtual
    backends, start, collect ``stream_s`` seconds of stream time, stop, disconnect."""
    got = Received()
    async with VirtualSensor(world, recording, kind=kind, speed=speed, faults=faults) as sensor:
        found = [f for f in await scan(timeout_s=1.0, backend=world) if f.address == sensor.address]
        assert len(found) == 1
        got.kind = found[0].kind
        driver = DRIVERS[kind](found[0].device, sample_rate_hz=sample_rate_hz, backend=world)
        async with driver:
            await driver.start()

            async def collect() -> None:
                async for item in driver.stream():
                    if isinstance(item, ImuBatch):
                        got.batches.append(item)
                        if sum(len(b) for b in got.batches) >= stream_s * driver.effective_sample_rate_hz:
                            return
                    else:
                        got.events.append(item)

            await asyncio.wait_for(collect(), timeout=stream_s / speed + 10.0)
            await driver.stop()
            streaming_after_stop = sensor.is_streaming
        assert not streaming_after_stop, "the sensor still streams after stop()"
    return got, sensor
