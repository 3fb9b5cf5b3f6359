"""Polar drivers end to end: bleak's public client against the virtual H10 / Verity over real GATT.

Each test replays a real recording faster than real time (speed ≥ 20) and checks what arrives
against the recording itself, so a decoding, timing or pacing error shows up as a value mismatch.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import pytest
from _device_recordings import ipol_recording, oxford_recording
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError

from gaitdir.devices import (
    EventKind,
    ImuBatch,
    PolarH10Driver,
    PolarVerityDriver,
    SensorSession,
    StreamEvent,
    _pmd,
    find_device,
    scan,
)
from gaitdir.devices.virtual import Fault, VirtualSensor, VirtualWorld
from gaitdir.devices.virtual._polar import PolarH10Twin, PolarVerityTwin
from gaitdir.errors import DeviceError
from gaitdir.recordings import Recording

G = 9.80665


def expected(recording: Recording, sensor_time_s: np.ndarray, origin_s: float, rate_hz: float) -> np.ndarray:
    """The recording's acceleration at the sensor's sample instants (the twin's resampling grid)."""
    k = np.rint((sensor_time_s - origin_s) * rate_hz)
    np.testing.assert_allclose((sensor_time_s - origin_s) * rate_hz, k, atol=1e-3)  # on the grid
    t = recording.time_s - recording.time_s[0]
    return np.column_stack([np.interp(k / rate_hz, t, recording.acc_mps2[:, i]) for i in range(3)])


async def collect(
    items: AsyncIterator[ImuBatch | StreamEvent], *, samples: int | None = None, timeout_s: float = 20.0
) -> tuple[list[ImuBatch], list[StreamEvent]]:
    """Drain a stream until ENDED (or ``samples`` samples), failing after ``timeout_s``."""
    batches: list[ImuBatch] = []
    events: list[StreamEvent] = []

    async def run() -> None:
        async for item in items:
            if isinstance(item, ImuBatch):
                batches.append(item)
                if samples is not None and sum(len(b) for b in batches) >= samples:
                    return
            else:
                events.append(item)
                if item.kind is EventKind.ENDED:
                    return

    await asyncio.wait_for(run(), timeout_s)
    return batches, events


def joined(batches: list[ImuBatch]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    t = np.concatenate([b.sensor_time_s for b in batches])
    acc = np.concatenate([b.acc_mps2 for b in batches])
    gyr = None if batches[0].gyr_radps is None else np.concatenate([b.gyr_radps for b in batches])
    return t, acc, gyr


# ----------------------------------------------------------------------------- scan / connect
async def test_scan_recognises_both_polar_kinds(world: VirtualWorld, walk_8s: Recording) -> None:
    async with (
        VirtualSensor(world, walk_8s, kind="polar-h10") as h10,
        VirtualSensor(world, walk_8s, kind="polar-verity") as verity,
    ):
        found = await scan(timeout_s=0.3, backend=world)
        assert {(f.name, f.address, f.kind) for f in found} == {
            (h10.name, h10.address, "polar-h10"),
            (verity.name, verity.address, "polar-verity"),
        }
        assert h10.name.startswith("Polar H10 ") and verity.name.startswith("Polar Sense ")
        # The same through bleak's own scanner API with the world's backend.
        seen = await BleakScanner.discover(timeout=0.3, backend=world.scanner_backend, return_adv=True)
        assert {adv.local_name for _, adv in seen.values()} == {h10.name, verity.name}
        by_name = await find_device(verity.name, timeout_s=1.0, backend=world)
        by_address = await find_device(h10.address.lower(), timeout_s=1.0, backend=world)
        assert (by_name.kind, by_address.kind) == ("polar-verity", "polar-h10")
        with pytest.raises(DeviceError, match="no device named or addressed 'Polar H10 nobody'"):
            await find_device("Polar H10 nobody", timeout_s=0.3, backend=world)


async def test_h10_start_stream_stop_matches_recording(world: VirtualWorld, walk_8s: Recording) -> None:
    async with VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor:
        driver = PolarH10Driver(sensor.address or "", backend=world)
        async with driver:
            assert driver.client.mtu_size == 247  # negotiated by the MTU exchange
            assert (
                driver.features is not None and _pmd.MeasurementType.ACC in driver.features.measurement_types
            )
            await driver.start()
            assert sensor.is_streaming
            batches, events = await collect(driver.stream(), samples=600)
            await driver.stop()
            assert not sensor.is_streaming  # the stop command reached the sensor
            assert driver.info.kind == "polar-h10" and driver.info.sample_rate_hz == 200.0
        assert events == []
    t, acc, gyr = joined(batches)
    assert gyr is None
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(np.diff(t), 1 / 200, atol=1e-6)
    # Raw 16-bit mG: exact to half an mG after the round trip through frames and GATT.
    np.testing.assert_allclose(
        acc, expected(walk_8s, t, PolarH10Twin.clock_origin_s, 200.0), atol=0.5e-3 * G + 1e-9
    )


async def test_verity_sdk_mode_acc_and_gyro_match_recording(world: VirtualWorld) -> None:
    recording = ipol_recording(6.0)
    async with VirtualSensor(world, recording, kind="polar-verity", speed=20) as sensor:
        driver = PolarVerityDriver(sensor.address or "", sample_rate_hz=104, backend=world)
        async with driver:
            await driver.start()
            twin = sensor.twin
            assert isinstance(twin, PolarVerityTwin) and twin.sdk_mode
            # The FACTORs came from the START responses, not from defaults.
            assert driver._factors == {
                _pmd.MeasurementType.ACC: pytest.approx(8000 / 32768),
                _pmd.MeasurementType.GYRO: pytest.approx(2000 / 32768),
            }
            batches, events = await collect(driver.stream(), samples=300)
            await driver.stop()
            assert not twin.sdk_mode and not sensor.is_streaming
    assert events == []
    t, acc, gyr = joined(batches)
    assert gyr is not None
    np.testing.assert_allclose(np.diff(t), 1 / 104, atol=1e-6)
    origin = PolarVerityTwin.clock_origin_s
    np.testing.assert_allclose(
        acc, expected(recording, t, origin, 104.0), atol=0.5 * 8000 / 32768 * 1e-3 * G + 1e-9
    )
    k = np.rint((t - origin) * 104.0)
    gyr_expected = np.column_stack(
        [np.interp(k / 104.0, recording.time_s, recording.gyr_radps[:, i]) for i in range(3)]  # type: ignore[index]
    )
    np.testing.assert_allclose(gyr, gyr_expected, atol=np.radians(0.5 * 2000 / 32768) + 1e-9)


async def test_client_that_does_not_write_the_cccd_gets_nothing(
    world: VirtualWorld, walk_8s: Recording
) -> None:
    async with VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor:
        received: list[bytes] = []
        responses: list[bytes] = []
        async with BleakClient(sensor.address or "", backend=world.client_backend) as client:
            await client.start_notify(_pmd.PMD_CONTROL_POINT_UUID, lambda _c, d: responses.append(bytes(d)))
            start = bytes.fromhex("02 02 00 01 C8 00 01 01 10 00 02 01 08 00")
            await client.write_gatt_char(_pmd.PMD_CONTROL_POINT_UUID, start, response=True)
            await asyncio.sleep(0.3)  # 6 s of stream at speed 20
            assert responses == [bytes.fromhex("F0 02 02 00 00")]
            assert sensor.is_streaming and sensor.frames_unsubscribed > 10
            assert sensor.frames_sent == sensor.frames_unsubscribed  # none of them went out
            # Subscribing (the CCCD write) is what makes frames flow.
            await client.start_notify(_pmd.PMD_DATA_UUID, lambda _c, d: received.append(bytes(d)))
            await asyncio.sleep(0.2)
            assert received and all(_pmd.DataFrame.from_bytes(f).frame_type == 0x01 for f in received)


async def test_not_a_sensor_and_vanished_device_give_clear_errors(world: VirtualWorld) -> None:
    from bumble import gatt
    from bumble.core import AdvertisingData

    # A heart-rate-only strap: advertises, serves GATT, but has no PMD service.
    device = await world.add_peripheral("HR strap", "D1:00:00:00:00:01")
    device.add_services(
        [gatt.Service("180D", [gatt.Characteristic("2A37", 0x10, gatt.Characteristic.READABLE, b"\x00")])]
    )
    adv = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"HR strap")])
    await device.start_advertising(advertising_data=bytes(adv))
    assert await scan(timeout_s=0.3, backend=world) == []  # not listed as a supported sensor
    with pytest.raises(DeviceError, match="HR strap is not a supported polar-h10 sensor"):
        await PolarH10Driver("D1:00:00:00:00:01", backend=world).connect()
    vanished = PolarH10Driver("D1:00:00:00:00:09", backend=world)
    vanished.scan_timeout_s = 0.5
    with pytest.raises(DeviceError, match=r"no device with address D1:00:00:00:00:09 found within 0\.5 s"):
        await vanished.connect()


async def test_sensor_refusal_names_the_error(world: VirtualWorld, walk_8s: Recording) -> None:
    async with VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor:
        async with PolarH10Driver(sensor.address or "", sample_rate_hz=130, backend=world) as driver:
            with pytest.raises(
                DeviceError, match="refused REQUEST_MEASUREMENT_START ACC: INVALID_SAMPLE_RATE"
            ):
                await driver.start()
            assert not sensor.is_streaming
        async with PolarH10Driver(sensor.address or "", range_g=16, backend=world) as driver:
            with pytest.raises(DeviceError, match="INVALID_RANGE"):
                await driver.start()


# ----------------------------------------------------------------------------- sessions and faults
async def test_disconnect_reconnects_without_duplicates_or_loss(world: VirtualWorld) -> None:
    walk = oxford_recording(12.0)
    async with VirtualSensor(world, walk, kind="polar-h10", speed=20, faults=["disconnect@3"]) as sensor:
        session = SensorSession(
            PolarH10Driver, sensor.address or "", backend=world, end_signal=sensor.finished
        )
        items = session.stream()
        before: list[ImuBatch] = []
        async for item in items:  # up to the drop
            if isinstance(item, ImuBatch):
                before.append(item)
            elif item.kind is EventKind.DISCONNECTED:
                break
        # Everything the sensor sent before the drop was delivered before DISCONNECTED, and no
        # reconnect has been attempted yet (the consumer has not asked for the next item).
        t_before, _, _ = joined(before)
        assert len(t_before) == sensor.samples_sent
        assert sensor.connections == 1 and session.reconnects == 0
        after, events = await collect(items, timeout_s=20.0)
    kinds = [e.kind for e in events]
    assert (
        kinds[0] is EventKind.RECONNECTING and EventKind.RECONNECTED in kinds and kinds[-1] is EventKind.ENDED
    )
    assert sensor.connections == 2 and session.reconnects == 1
    # One CCCD write per connection on each PMD characteristic: re-subscribed exactly once.
    assert sensor.subscriptions == {_pmd.PMD_DATA_UUID: 2, _pmd.PMD_CONTROL_POINT_UUID: 2}
    reconnected = next(e for e in events if e.kind is EventKind.RECONNECTED)
    t_after, acc_after, _ = joined(after)
    assert reconnected.sensor_time_s == t_after[0]
    assert reconnected.gap_s == pytest.approx(t_after[0] - t_before[-1])
    assert (
        reconnected.gap_s is not None and reconnected.gap_s > 0.5
    )  # the outage lost samples, as on hardware
    t = np.concatenate([t_before, t_after])
    assert np.all(np.diff(t) > 0)  # no duplicates, no reordering
    assert session.duplicates_dropped == 0
    np.testing.assert_allclose(
        acc_after, expected(walk, t_after, PolarH10Twin.clock_origin_s, 200.0), atol=0.006
    )
    # After the reconnect the stream runs to the end of the replay.
    assert t_after[-1] - PolarH10Twin.clock_origin_s > walk.duration_s - 0.5


async def test_sensor_initiated_stop_is_reported_and_the_stream_restarts(world: VirtualWorld) -> None:
    recording = ipol_recording(6.0)
    async with VirtualSensor(world, recording, kind="polar-verity", speed=20, faults=["stop@2"]) as sensor:
        session = SensorSession(
            PolarVerityDriver, sensor.address or "", backend=world, end_signal=sensor.finished
        )
        batches, events = await collect(session.stream(), timeout_s=20.0)
    stopped = [e for e in events if e.kind is EventKind.STOPPED_BY_SENSOR]
    assert len(stopped) == 1 and "ACC, GYRO" in stopped[0].detail
    assert session.restarts == 1 and sensor.connections == 1
    t, _, gyr = joined(batches)
    origin = PolarVerityTwin.clock_origin_s
    assert np.all(np.diff(t) > 0) and gyr is not None
    assert (t[0] - origin) < 1.0 and (t[-1] - origin) > 5.0  # samples before and after the stop
    assert events[-1].kind is EventKind.ENDED


async def test_garbage_frames_are_counted_skipped_and_the_stream_continues(
    world: VirtualWorld, walk_8s: Recording
) -> None:
    async with VirtualSensor(world, walk_8s, kind="polar-h10", speed=20, faults=["garbage@2"]) as sensor:
        session = SensorSession(
            PolarH10Driver, sensor.address or "", backend=world, end_signal=sensor.finished
        )
        batches, events = await collect(session.stream(), timeout_s=20.0)
    malformed = [e for e in events if e.kind is EventKind.MALFORMED_FRAME]
    assert len(malformed) == 3
    assert session.driver is not None and session.driver.malformed_frames == 3  # type: ignore[attr-defined]
    t, acc, _ = joined(batches)
    origin = PolarH10Twin.clock_origin_s
    assert (t[-1] - origin) > walk_8s.duration_s - 0.5
    # No sample lost around the garbage: one continuous 200 Hz grid.
    np.testing.assert_allclose(np.diff(t), 1 / 200, atol=1e-6)
    np.testing.assert_allclose(acc, expected(walk_8s, t, origin, 200.0), atol=0.006)


async def test_session_stop_stops_the_sensor_and_ends(world: VirtualWorld, walk_8s: Recording) -> None:
    async with VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor:
        session = SensorSession(PolarH10Driver, sensor.address or "", backend=world)
        items = session.stream()
        first = await asyncio.wait_for(items.__anext__(), 5.0)
        assert isinstance(first, ImuBatch)
        await session.stop()
        assert not sensor.is_streaming
        _, events = await collect(items, timeout_s=5.0)
        assert events[-1] == StreamEvent(EventKind.ENDED, "stopped")
        assert session.driver is not None and not session.driver.is_connected


async def test_device_gone_for_good_ends_after_give_up(world: VirtualWorld) -> None:
    sensor = VirtualSensor(world, oxford_recording(2.0), kind="polar-h10", speed=20)
    await sensor.start()
    session = SensorSession(
        PolarH10Driver, sensor.address or "", backend=world, max_reconnect_s=1.0, backoff_s=(0.1, 0.3)
    )
    # No end_signal: the session only sees a link drop, then a device that never comes back.
    batches, events = await collect(session.stream(), timeout_s=10.0)
    await sensor.close()
    assert batches
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.DISCONNECTED and kinds[-1] is EventKind.ENDED
    assert kinds.count(EventKind.RECONNECTING) >= 1
    assert "gave up reconnecting" in events[-1].detail and "no device with address" in events[-1].detail


def test_fault_parsing() -> None:
    assert Fault.parse("disconnect@12.5") == Fault("disconnect", 12.5)
    assert Fault.parse(" stop@3 ") == Fault("stop", 3.0)
    for bad in ("explode@3", "stop", "garbage@soon", "stop@-1", "stop@nan"):
        with pytest.raises(DeviceError, match="bad fault"):
            Fault.parse(bad)


def test_bumble_is_loaded_only_by_the_virtual_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gaitdir.devices, gaitdir.devices.virtual; "
        "sys.exit(1 if any(m.split('.')[0] == 'bumble' for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ----------------------------------------------------------------------------- replay end and teardown
async def test_a_late_replay_still_sends_every_whole_frame_before_finishing(world: VirtualWorld) -> None:
    """Under load the replay clock can pass the end of the recording before the frames due are out:
    they are sent anyway, from the recording's first sample, and ``finished`` comes after the last."""
    walk = oxford_recording(6.0)
    received: list[bytes] = []
    at_finish: list[int] = []
    async with (
        VirtualSensor(world, walk, kind="polar-h10", speed=20) as sensor,
        BleakClient(sensor.address or "", backend=world.client_backend) as client,
    ):

        async def watch() -> None:
            await sensor.finished.wait()
            at_finish.append(len(received))

        watcher = asyncio.create_task(watch())
        await client.start_notify(_pmd.PMD_CONTROL_POINT_UUID, lambda _c, _d: None)
        await client.start_notify(_pmd.PMD_DATA_UUID, lambda _c, d: received.append(bytes(d)))
        start = bytes.fromhex("02 02 00 01 C8 00 01 01 10 00 02 01 08 00")
        await client.write_gatt_char(_pmd.PMD_CONTROL_POINT_UUID, start, response=True)
        await asyncio.sleep(0.05)
        time.sleep(0.5)  # the event loop is held up past the end of the 6 s replay (0.3 s at ×20)
        await asyncio.wait_for(watcher, 10.0)
    frames = [_pmd.DataFrame.from_bytes(f) for f in received]
    acc = np.concatenate([_pmd.decode_acc(f, 1.0) for f in frames]) * 1e-3 * G
    per_frame = acc.shape[0] // len(frames)
    n_grid = int(np.floor(walk.duration_s * 200.0)) + 1
    # Every whole frame of the 200 Hz grid, sample 0 included, and nothing after finished was set.
    assert sensor.samples_sent == acc.shape[0] == per_frame * (n_grid // per_frame)
    assert at_finish == [len(received)] == [sensor.frames_sent]
    t_first = frames[0].timestamp_ns * 1e-9 - (per_frame - 1) / 200.0
    assert t_first == pytest.approx(PolarH10Twin.clock_origin_s, abs=1e-6)
    k = np.arange(acc.shape[0])
    t = walk.time_s - walk.time_s[0]
    grid = np.column_stack([np.interp(k / 200.0, t, walk.acc_mps2[:, i]) for i in range(3)])
    np.testing.assert_allclose(acc, grid, atol=0.5e-3 * G + 1e-9)


def _run_and_collect_errors(
    scenario: Callable[[], Awaitable[None]], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """Run ``scenario`` in its own event loop as ``asyncio.run`` does for the CLI (cancelling what is
    left when it returns) and return every ERROR logged or warned meanwhile."""
    caplog.clear()
    with caplog.at_level(logging.ERROR), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(scenario())
        gc.collect()
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] + [
        str(w.message) for w in caught
    ]


def test_closing_while_the_sensor_readvertises_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    """A central that leaves makes the sensor advertise again; closing right then (as the CLI does
    when a live run ends) must wait for that instead of leaving HCI commands to a cancelled task."""

    async def central_leaves_then_close(close_twice: bool, fault: str | None) -> None:
        async with VirtualWorld() as world:
            sensor = VirtualSensor(world, oxford_recording(4.0), speed=20, faults=[fault] if fault else [])
            await sensor.start()
            session = SensorSession(PolarH10Driver, sensor.address or "", backend=world, backoff_s=(0.01,))
            items = session.stream()
            async for item in items:
                if isinstance(item, StreamEvent) and item.kind is EventKind.RECONNECTING:
                    break  # the sensor dropped the link and is advertising again
                if isinstance(item, ImuBatch) and fault is None and sensor.samples_sent > 200:
                    break
            await session.stop()
            await items.aclose()
            await sensor.close()
            if close_twice:
                await asyncio.gather(sensor.close(), sensor.close())
            assert sensor.finished.is_set()
        # Nothing the world or its sensor started is left running.
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    for close_twice, fault in ((False, None), (True, None), (False, "disconnect@1")):
        errors = _run_and_collect_errors(
            functools.partial(central_leaves_then_close, close_twice, fault), caplog
        )
        assert errors == [], (close_twice, fault, errors)

    async def world_exit_only() -> None:
        async with VirtualWorld() as world:
            sensor = VirtualSensor(world, oxford_recording(4.0), speed=20, faults=["disconnect@0.5"])
            await sensor.start()
            driver = PolarH10Driver(sensor.address or "", backend=world)
            await driver.connect()
            await driver.start()
            async for item in driver.stream():
                if isinstance(item, StreamEvent):
                    break  # DISCONNECTED: the sensor is re-advertising; leave without closing it
        assert sensor.finished.is_set()

    assert _run_and_collect_errors(world_exit_only, caplog) == []


async def test_stopping_a_driver_while_the_link_drops_raises_no_cancelled_error(
    world: VirtualWorld, walk_8s: Recording
) -> None:
    """bumble cancels requests pending on a link that goes away; the driver reports a DeviceError
    (and the backend a BleakError), never a CancelledError, and does not wait for its timeout."""
    outcomes: list[str] = []
    for spins in range(6):  # stop at different points of the drop, from "request pending" to "gone"
        async with VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor:
            driver = PolarH10Driver(sensor.address or "", backend=world)
            await driver.connect()
            await driver.start()
            connection = sensor._connection
            assert connection is not None
            drop = asyncio.ensure_future(connection.disconnect())
            for _ in range(spins):
                await asyncio.sleep(0)
            started = asyncio.get_running_loop().time()
            try:
                await driver.stop()
                outcomes.append("stopped")
            except DeviceError as exc:
                assert "dropped" in str(exc)
                outcomes.append("dropped")
            assert asyncio.get_running_loop().time() - started < 1.0
            await drop
            await driver.disconnect()
    assert "dropped" in outcomes  # the race was really exercised

    # The backend itself: stop_notify during a drop is a BleakError.
    async with (
        VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor,
        BleakClient(sensor.address or "", backend=world.client_backend) as client,
    ):
        await client.start_notify(_pmd.PMD_DATA_UUID, lambda _c, _d: None)
        assert sensor._connection is not None
        drop = asyncio.ensure_future(sensor._connection.disconnect())
        with pytest.raises(BleakError, match="dropped during a GATT operation"):
            await client.stop_notify(_pmd.PMD_DATA_UUID)
        await drop


async def test_a_cancelled_caller_still_gets_cancelled_error(world: VirtualWorld, walk_8s: Recording) -> None:
    async with (
        VirtualSensor(world, walk_8s, kind="polar-h10", speed=20) as sensor,
        BleakClient(sensor.address or "", backend=world.client_backend) as client,
    ):
        await client.start_notify(_pmd.PMD_DATA_UUID, lambda _c, _d: None)
        stopping = asyncio.ensure_future(client.stop_notify(_pmd.PMD_DATA_UUID))
        await asyncio.sleep(0)
        stopping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        assert client.is_connected  # the link is fine; only the caller went away
