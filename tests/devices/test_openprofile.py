"""gaitdir open profile: codec on the spec's worked example, decoder behaviour, the twin over GATT."""

from __future__ import annotations

import numpy as np
import pytest
from _sensor_helpers import ipol_lower_back, run_end_to_end

from gaitdir.devices import EventKind
from gaitdir.devices import _openprofile as op
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual import VirtualWorld

# The worked example of firmware_notes/gaitdir-open-profile.md ("Frame format"): 100 Hz, ±8 g,
# ±2000 °/s, sequence 7, first sample at 123 456 789 µs, two samples, board lying flat then tilting.
SPEC_FRAME = bytes.fromhex("66b2070015cd5b070000 0000 0010 0000 0000 00000001 feff 0010 4000 c0ff 0000")


def test_spec_worked_example_decodes() -> None:
    frame = op.DataFrame.from_bytes(SPEC_FRAME)
    assert (frame.seq, frame.timestamp_us, frame.rate_hz, frame.count) == (7, 123_456_789, 100.0, 2)
    assert (frame.acc_range_g, frame.gyro_range_dps) == (8, 2000)
    # 0x1000 = 4096 counts at ±8 g = 1 g
    np.testing.assert_allclose(frame.acc_mps2()[0], [0.0, 0.0, 9.80665])
    np.testing.assert_allclose(
        frame.acc_mps2()[1], [256 * 8 / 32768 * 9.80665, -2 * 8 / 32768 * 9.80665, 9.80665]
    )
    np.testing.assert_allclose(np.degrees(frame.gyr_radps()[1]), [64 * 2000 / 32768, -64 * 2000 / 32768, 0.0])
    assert bytes(frame) == SPEC_FRAME


def test_frames_fit_the_default_mtu_and_grow_with_it() -> None:
    assert op.samples_per_frame(23, gyro=False) == 2
    assert op.samples_per_frame(23, gyro=True) == 1
    assert op.samples_per_frame(185, gyro=True) == 14
    assert op.samples_per_frame(247, gyro=True) == 15
    frame = op.DataFrame.from_si(
        seq=0, timestamp_us=0, rate_code=6, acc_range_code=2, acc_mps2=np.zeros((2, 3))
    )
    assert len(bytes(frame)) == 20  # exactly the 20-byte payload of the default MTU


@pytest.mark.parametrize(
    "data",
    [
        SPEC_FRAME[:7],  # shorter than the header
        SPEC_FRAME[:-1],  # header says 2 samples, one byte missing
        bytes([0x26]) + SPEC_FRAME[1:],  # version 0
        bytes([0xA6]) + SPEC_FRAME[1:],  # version 2 (unknown major)
        bytes([0x60]) + SPEC_FRAME[1:],  # rate code 0
        SPEC_FRAME[:1] + bytes([0xB0]) + SPEC_FRAME[2:],  # count 0
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(FrameError):
        op.DataFrame.from_bytes(data)


def test_out_of_range_fields_are_refused_when_encoding() -> None:
    with pytest.raises(FrameError):
        op.DataFrame(seq=70000, timestamp_us=0, rate_code=6, acc_range_code=0, acc=np.zeros((1, 3)))
    with pytest.raises(FrameError):
        op.DataFrame(seq=0, timestamp_us=0, rate_code=6, acc_range_code=0, acc=np.zeros((16, 3)))
    with pytest.raises(FrameError):
        op.DataFrame(seq=0, timestamp_us=2**32, rate_code=6, acc_range_code=0, acc=np.zeros((1, 3)))


def test_si_round_trip_saturates_like_a_sensor() -> None:
    acc = np.array([[0.0, 9.80665, 100.0], [-300.0, 1.0, -1.0]])  # 100 m/s² > 8 g saturates
    frame = op.DataFrame.from_bytes(
        bytes(op.DataFrame.from_si(seq=1, timestamp_us=5, rate_code=6, acc_range_code=2, acc_mps2=acc))
    )
    out = frame.acc_mps2()
    assert out[0, 2] == pytest.approx(32767 * 8 / 32768 * 9.80665)
    assert out[1, 0] == pytest.approx(-8 * 9.80665)
    np.testing.assert_allclose(out[0, :2], acc[0, :2], atol=8 * 9.80665 / 32768)


def _frame(seq: int, ts_us: int, n: int = 2) -> bytes:
    return bytes(
        op.DataFrame.from_si(
            seq=seq, timestamp_us=ts_us, rate_code=6, acc_range_code=2, acc_mps2=np.ones((n, 3))
        )
    )


def test_decoder_times_wraps_gaps_and_duplicates() -> None:
    dec = op.OpenProfileDecoder()
    first = dec.feed(_frame(65534, 2**32 - 15_000))
    assert len(first) == 1
    np.testing.assert_allclose(first[0].sensor_time_s, [(2**32 - 15_000) / 1e6, (2**32 - 5_000) / 1e6])
    second = dec.feed(_frame(65535, 2**32 - 15_000 + 20_000 - 2**32))  # clock wrapped
    np.testing.assert_allclose(second[0].sensor_time_s[0], (2**32 + 5_000) / 1e6)
    gap = dec.feed(_frame(2, 2**32 - 15_000 + 80_000 - 2**32))  # sequence wrapped, frames 0 and 1 lost
    assert gap[0].kind == EventKind.LOST_PACKETS and gap[0].detail.startswith("2 frame(s)")
    assert gap[1].sensor_time_s[0] == pytest.approx((2**32 + 65_000) / 1e6)
    repeated = dec.feed(_frame(2, 65_000))
    assert [e.kind for e in repeated] == [EventKind.MALFORMED_FRAME]


def test_control_point_messages_round_trip() -> None:
    assert bytes(op.request_set_rate(6)) == bytes([0x02, 0x06])
    assert bytes(op.request_set_range(2, None)) == bytes([0x03, 0x02, 0xFF])
    assert bytes(op.request_start(gyro=True)) == bytes([0x04, 0x01])
    answer = op.Response.from_bytes(bytes([0x80, 0x02, 0x04]))
    assert not answer.ok and answer.status_name == "not supported"
    info = op.DeviceInfo(1, 0, 0b101010110, 0b1111, 0b1111, 15, 6, 2, 3, False)
    assert op.DeviceInfo.from_bytes(bytes(info) + b"\x99") == info  # v1.x may append fields
    assert info.rates_hz == [12.5, 25.0, 50.0, 100.0, 200.0]


async def test_twin_end_to_end_over_gatt(world: VirtualWorld) -> None:
    rec = ipol_lower_back(25.0, start_s=3.0)
    got, sensor = await run_end_to_end(world, rec, "gaitdir", stream_s=5.0)
    assert got.kind == "gaitdir"
    assert sensor.frames_unsubscribed == 0
    t = got.time_s
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(np.diff(t), 0.01, atol=1e-6)  # the µs clock wrapped 1 s in: unwrapped
    assert t[-1] - t[0] > 4.0 and t[0] >= 2**32 / 1e6 - 1.0 - 1e-9  # sample 0 starts 1 s before the wrap
    # the samples are the recording's, to int16 resolution at ±8 g / ±2000 °/s
    i0 = round((t[0] - sensor.twin.clock_origin_s) * 100)
    ref = rec.acc_mps2[i0 : i0 + len(t)]
    np.testing.assert_allclose(got.acc_mps2, ref, atol=8 * 9.80665 / 32768)
    np.testing.assert_allclose(got.gyr_radps, rec.gyr_radps[i0 : i0 + len(t)], atol=np.radians(2000 / 32768))
    assert got.count(EventKind.LOST_PACKETS) == 0


async def test_twin_sensor_stop_and_garbage(world: VirtualWorld) -> None:
    rec = ipol_lower_back(20.0, start_s=3.0)
    got, _ = await run_end_to_end(world, rec, "gaitdir", stream_s=1.0, faults=("garbage@0.3",))
    assert got.count(EventKind.MALFORMED_FRAME) == 3
    assert np.all(np.diff(got.time_s) > 0)


async def test_sensor_initiated_stop_reaches_the_stream(world: VirtualWorld) -> None:
    import asyncio

    from _sensor_helpers import DRIVERS, VirtualSensor, scan

    rec = ipol_lower_back(20.0, start_s=3.0)
    async with VirtualSensor(world, rec, kind="gaitdir", speed=20, faults=["stop@1.0"]) as sensor:
        found = [f for f in await scan(timeout_s=1.0, backend=world) if f.address == sensor.address]
        async with DRIVERS["gaitdir"](found[0].device, backend=world) as driver:
            await driver.start()

            async def until_stopped() -> tuple[int, str]:
                n = 0
                async for item in driver.stream():
                    if getattr(item, "kind", None) == EventKind.STOPPED_BY_SENSOR:
                        return n, item.detail
                    n += len(item) if hasattr(item, "sensor_time_s") else 0
                raise AssertionError("stream ended without STOPPED_BY_SENSOR")

            n, detail = await asyncio.wait_for(until_stopped(), 5.0)
    assert 80 <= n <= 110 and "low battery" in detail  # ~1 s at 100 Hz, then the board's own stop


async def test_refused_command_names_the_status(world: VirtualWorld) -> None:
    from _sensor_helpers import DRIVERS, VirtualSensor, scan

    from gaitdir.errors import DeviceError

    rec = ipol_lower_back(20.0, start_s=3.0)
    async with VirtualSensor(world, rec, kind="gaitdir", speed=20) as sensor:
        found = [f for f in await scan(timeout_s=1.0, backend=world) if f.address == sensor.address]
        async with DRIVERS["gaitdir"](found[0].device, backend=world) as driver:
            await driver.start()
            with pytest.raises(DeviceError, match="invalid state"):
                await driver.command(bytes(op.request_set_rate(4)))  # rate change while streaming
            with pytest.raises(DeviceError, match="unknown opcode"):
                await driver.command(bytes([0x7E]))
