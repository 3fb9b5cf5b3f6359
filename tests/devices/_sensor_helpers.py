"""Helpers for the sensor-family tests: a real IMU recording and one end-to-end run over GATT."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
from _device_recordings import DATASETS, ipol_recording

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

IPOL_LOWER_BACK = DATASETS / "ipol-healthy-gait" / "GaitData" / "1-1_lb.txt"


def ipol_lower_back(seconds: float, *, start_s: float = 4.0) -> Recording:
    """``seconds`` of IPOL subject 1, trial 1, lower-back Xsens (100 Hz, acc m/s² with gravity, gyro rad/s).

    Read with numpy so these tests depend on the data, not on the readers tested elsewhere.
    """
    recording = ipol_recording(seconds, start_s=start_s, path=IPOL_LOWER_BACK)
    recording.meta["subject"] = "ipol-1"
    return recording


def best_lag(reference: np.ndarray, received: np.ndarray, *, n_samples: int, max_lag: int) -> int:
    """Offset (samples) into ``reference`` at which the first ``n_samples`` of ``received`` fit best.

    The stream starts a little after the recording does (connect, subscribe), so the received samples
    are compared with the recording shifted by 0 … ``max_lag - 1`` samples; the fit is the largest
    absolute difference.
    """
    errors = [np.abs(reference[k : k + n_samples] - received[:n_samples]).max() for k in range(max_lag)]
    return int(np.argmin(errors))


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
