"""SensorSession policy with a scripted driver: ordering, de-duplication, clock resets, give-up.

The driver here is a real :class:`SensorDriver` whose connections replay a script of items, so the
session's decisions can be checked exactly, including cases the virtual sensors never produce
(a stack delivering notifications twice after a re-subscribe, a sensor clock reset by a reboot).
Samples are real: the Oxford recording's acceleration at its own timestamps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

import numpy as np
import pytest
from _device_recordings import oxford_recording

from gaitdir.devices import EventKind, ImuBatch, SensorDriver, SensorSession, StreamEvent
from gaitdir.errors import DeviceError

WALK = oxford_recording(4.0)


def samples(start_s: float, end_s: float, *, clock_s: float = 1000.0) -> ImuBatch:
    """Recording samples in [start_s, end_s) with times on a sensor clock starting at ``clock_s``."""
    keep = (WALK.time_s >= start_s) & (WALK.time_s < end_s)
    return ImuBatch(clock_s + WALK.time_s[keep], WALK.acc_mps2[keep])


Item = ImuBatch | StreamEvent
DROP = StreamEvent(EventKind.DISCONNECTED, "link lost")


class Scripted(SensorDriver):
    """Each connect() starts the next connection's script; a connection script of None fails to connect."""

    kind: ClassVar[str] = "scripted"
    scripts: ClassVar[list[list[Item] | None]] = []
    log: ClassVar[list[str]] = []

    def __init__(self, device, *, sample_rate_hz=None, range_g=None, backend=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(device, sample_rate_hz=sample_rate_hz, range_g=range_g, backend=backend)
        self.connection = -1
        self.connected = False

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def connect(self) -> None:
        self.connection += 1
        self.log.append(f"connect {self.connection}")
        if self.connection >= len(self.scripts) or self.scripts[self.connection] is None:
            raise DeviceError("no device with address scripted found")
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False

    async def start(self) -> None:
        self.log.append("start")

    async def stop(self) -> None:
        self.log.append("stop")

    async def stream(self) -> AsyncIterator[Item]:
        for item in self.scripts[self.connection] or []:
            await asyncio.sleep(0)
            if isinstance(item, StreamEvent) and item.kind is EventKind.DISCONNECTED:
                self.connected = False
            yield item
            if isinstance(item, StreamEvent) and item.kind is EventKind.DISCONNECTED:
                return
        await asyncio.Event().wait()  # a live link with nothing more to say


def scripted(*scripts: list[Item] | None) -> type[Scripted]:
    return type("ScriptedRun", (Scripted,), {"scripts": list(scripts), "log": []})


async def drain(session: SensorSession, timeout_s: float = 5.0) -> list[Item]:
    out: list[Item] = []

    async def run() -> None:
        async for item in session.stream():
            out.append(item)
            if isinstance(item, StreamEvent) and item.kind is EventKind.ENDED:
                return

    await asyncio.wait_for(run(), timeout_s)
    return out


async def test_drop_is_reported_before_any_reconnect_attempt() -> None:
    driver_cls = scripted([samples(0, 1), DROP], [samples(1.5, 2), DROP], None)
    session = SensorSession(driver_cls, "AA", max_reconnect_s=0.3, backoff_s=(0.01,))
    items = session.stream()
    assert isinstance(await items.__anext__(), ImuBatch)
    assert (await items.__anext__()).kind is EventKind.DISCONNECTED  # type: ignore[union-attr]
    # The consumer has DISCONNECTED in hand (and may flush its recording): nothing was tried yet.
    assert driver_cls.log == ["connect 0", "start"]
    assert (await items.__anext__()).kind is EventKind.RECONNECTING  # type: ignore[union-attr]
    await items.aclose()


async def test_duplicates_after_reconnect_are_dropped_and_the_gap_reported() -> None:
    # The second connection re-delivers the last 0.5 s (a stack doubling notifications) before new data.
    driver_cls = scripted([samples(0, 1), DROP], [samples(0.5, 2)])
    session = SensorSession(driver_cls, "AA", backoff_s=(0.01,))
    items = session.stream()
    got: list[Item] = []
    async for item in items:
        got.append(item)
        if isinstance(item, ImuBatch) and item.sensor_time_s[-1] > 1001.9:
            break
    await items.aclose()
    batches = [i for i in got if isinstance(i, ImuBatch)]
    t = np.concatenate([b.sensor_time_s for b in batches])
    assert np.all(np.diff(t) > 0)
    np.testing.assert_array_equal(t, 1000.0 + WALK.time_s[WALK.time_s < 2])
    assert session.duplicates_dropped == int(((WALK.time_s >= 0.5) & (WALK.time_s < 1)).sum())
    reconnected = next(i for i in got if isinstance(i, StreamEvent) and i.kind is EventKind.RECONNECTED)
    first_new = 1000.0 + WALK.time_s[WALK.time_s >= 1][0]
    last_old = 1000.0 + WALK.time_s[WALK.time_s < 1][-1]
    assert reconnected.sensor_time_s == first_new
    assert reconnected.gap_s == pytest.approx(first_new - last_old)
    position = {id(item): k for k, item in enumerate(got)}
    assert position[id(reconnected)] == position[id(batches[1])] - 1  # right before the first new sample


async def test_a_reset_sensor_clock_is_continued_not_dropped() -> None:
    # After the drop the sensor restarted: its clock begins again at its default origin (0 s).
    driver_cls = scripted([samples(0, 1), DROP], [samples(2, 3, clock_s=0.0)])
    session = SensorSession(driver_cls, "AA", backoff_s=(0.05,))
    items = session.stream()
    batches: list[ImuBatch] = []
    async for item in items:
        if isinstance(item, ImuBatch):
            batches.append(item)
            if len(batches) == 2:
                break
    await items.aclose()
    old, new = batches
    assert len(new) == int(((WALK.time_s >= 2) & (WALK.time_s < 3)).sum())  # nothing dropped
    assert new.sensor_time_s[0] > old.sensor_time_s[-1] + 0.04  # after the outage
    np.testing.assert_allclose(
        np.diff(new.sensor_time_s), np.diff(WALK.time_s[(WALK.time_s >= 2) & (WALK.time_s < 3)])
    )
    assert session.duplicates_dropped == 0


async def test_sensor_stop_restarts_the_stream() -> None:
    stop = StreamEvent(EventKind.STOPPED_BY_SENSOR, "stopped ACC")
    driver_cls = scripted([samples(0, 1), stop, samples(1.2, 2), DROP])
    session = SensorSession(driver_cls, "AA", max_reconnect_s=0.05, backoff_s=(0.01,))
    got = await drain(session)
    assert [i.kind for i in got if isinstance(i, StreamEvent)][:2] == [
        EventKind.STOPPED_BY_SENSOR,
        EventKind.DISCONNECTED,
    ]
    assert driver_cls.log[:3] == ["connect 0", "start", "start"] and session.restarts == 1


async def test_gives_up_after_max_reconnect_time() -> None:
    driver_cls = scripted([samples(0, 1), DROP])
    session = SensorSession(driver_cls, "AA", max_reconnect_s=0.3, backoff_s=(0.05, 0.1))
    got = await drain(session)
    kinds = [i.kind for i in got if isinstance(i, StreamEvent)]
    assert kinds[0] is EventKind.DISCONNECTED and kinds[-1] is EventKind.ENDED
    attempts = kinds.count(EventKind.RECONNECTING)
    assert attempts == 3  # waits 0.05 + 0.1 + 0.1 = 0.25 s; a fourth (0.1 s more) would pass 0.3 s
    assert "gave up reconnecting to AA after 3 attempt(s)" in got[-1].detail  # type: ignore[union-attr]
    assert "no device with address scripted found" in got[-1].detail  # type: ignore[union-attr]


async def test_first_connect_failure_raises() -> None:
    session = SensorSession(scripted(None), "AA")
    with pytest.raises(DeviceError, match="no device with address scripted found"):
        await drain(session)
