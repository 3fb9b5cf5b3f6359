"""Movesense SensorData protocol: commands, multi-part packets, clock wrap, lost packets; twin over GATT.

Sources: the sample firmware ``samples/gatt_sensordata_app/GATTSensorDataClient.cpp`` of the Movesense
device library (command/response layout, HELLO → ``[1, ref, "Hello"]``, "no free slot" → ``[1, ref,
01 FB]``) and its Python bleak client (``[1, 99] + "/Meas/Acc/13"`` to subscribe, ``[2, 99]`` to
unsubscribe; an IMU9 packet = uint32 ms timestamp, then 8 acc xyz, 8 gyro xyz, 8 magn xyz float32, the
first sample at the timestamp, continuation parts of type 3 appended after their 2-byte header).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from _sensor_helpers import ipol_lower_back, run_end_to_end

from gaitdir.devices import EventKind
from gaitdir.devices import _movesense as ms
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual import VirtualWorld


def test_commands_match_the_published_client() -> None:
    assert bytes(ms.MovesenseCommand(ms.OP_SUBSCRIBE, 99, "/Meas/Acc/13")) == bytes([1, 99]) + b"/Meas/Acc/13"
    assert bytes(ms.MovesenseCommand(ms.OP_UNSUBSCRIBE, 99)) == bytes([2, 99])
    assert ms.resource_path("IMU6", 104) == "/Meas/IMU6/104"
    with pytest.raises(ValueError):
        ms.resource_path("IMU6", 100)
    with pytest.raises(FrameError):
        ms.MovesenseCommand(ms.OP_SUBSCRIBE, 0, "/Meas/Acc/13")  # ref 0 marks a free slot in the firmware


def test_firmware_answers() -> None:
    hello = ms.MovesenseNotification.from_bytes(bytes([1, 7]) + b"Hello")
    assert hello.type == ms.TYPE_COMMAND_RESULT and ms.command_result_code(hello.payload) is None
    assert ms.command_result_code(bytes([0x01, 0xFB])) == 507  # HTTP_CODE_INSUFFICIENT_STORAGE


def _imu6_payload(ts_ms: int, acc: np.ndarray, gyr: np.ndarray) -> bytes:
    # built the way the published client reads it: offsets 4 + i*12 (acc) and 4 + n*12 + i*12 (gyro)
    return struct.pack("<I", ts_ms) + acc.astype("<f4").tobytes() + gyr.astype("<f4").tobytes()


def test_packet_layout_matches_the_client_offsets() -> None:
    acc = np.arange(24, dtype=np.float32).reshape(8, 3)
    gyr = -np.arange(24, dtype=np.float32).reshape(8, 3)
    payload = _imu6_payload(123456, acc, gyr)
    packet = ms.MovesensePacket.from_bytes(payload, resource="IMU6")
    assert packet.timestamp_ms == 123456
    for i in range(8):  # the client's DataView offsets (minus the 2-byte notification header)
        assert packet.acc_mps2[i, 0] == struct.unpack_from("<f", payload, 4 + i * 12)[0]
        assert packet.gyr_dps[i, 2] == struct.unpack_from("<f", payload, 4 + 8 * 12 + i * 12 + 8)[0]
    assert bytes(packet) == payload
    with pytest.raises(FrameError):
        ms.MovesensePacket.from_bytes(payload[:-4], resource="IMU6")


@pytest.mark.parametrize("mtu", [23, 64, 161, 247])
def test_multi_part_packets_reassemble(mtu: int) -> None:
    rng = np.random.default_rng(1)
    dec = ms.MovesenseDecoder(ref=5, resource="IMU6", rate_hz=104)
    got = []
    for k in range(4):
        acc, gyr = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
        parts = ms.split_notifications(5, _imu6_payload(1000 + k * 77, acc, gyr), mtu - 3)
        assert all(len(p) <= mtu - 3 for p in parts)
        assert parts[0][0] == ms.TYPE_DATA and all(p[0] == ms.TYPE_DATA_CONTINUATION for p in parts[1:])
        for part in parts:
            got.extend(dec.feed(part))
        np.testing.assert_allclose(got[-1].acc_mps2, acc.astype(np.float32))
        np.testing.assert_allclose(got[-1].gyr_radps, np.radians(gyr.astype(np.float32)), rtol=1e-6)
    assert len(got) == 4
    np.testing.assert_allclose(got[1].sensor_time_s[0], 1.077)
    np.testing.assert_allclose(np.diff(got[1].sensor_time_s), 1 / 104)


def test_clock_wrap_lost_packets_and_stray_parts() -> None:
    dec = ms.MovesenseDecoder(ref=5, resource="Acc", rate_hz=13)  # one sample per packet at 13 Hz
    one = np.ones((1, 3))
    a = dec.feed(bytes([2, 5]) + struct.pack("<I", 2**32 - 40) + one.astype("<f4").tobytes())
    b = dec.feed(bytes([2, 5]) + struct.pack("<I", 37) + one.astype("<f4").tobytes())  # wrapped
    assert b[0].sensor_time_s[0] - a[0].sensor_time_s[0] == pytest.approx(0.077)
    c = dec.feed(bytes([2, 5]) + struct.pack("<I", 37 + 4 * 77) + one.astype("<f4").tobytes())
    assert [type(x).__name__ for x in c] == ["StreamEvent", "ImuBatch"]
    assert c[0].kind == EventKind.LOST_PACKETS and c[0].detail.startswith("3 ")
    stray = ms.MovesenseDecoder(ref=5, resource="Acc", rate_hz=13).feed(bytes([3, 5, 1, 2]))
    assert [e.kind for e in stray] == [EventKind.MALFORMED_FRAME]
    assert dec.feed(bytes([2, 6, 0, 0])) == []  # another subscription's data is not ours
    with pytest.raises(FrameError):
        dec.feed(bytes([9, 5, 0]))


def test_decoder_learns_the_samples_per_packet() -> None:
    dec = ms.MovesenseDecoder(ref=1, resource="Acc", rate_hz=52)  # first guess: 4 per packet
    two = _imu6_payload(0, np.zeros((2, 3)), np.zeros((0, 3)))[: 4 + 24]
    assert dec.feed(bytes([2, 1]) + two) == []  # shorter than expected: wait for the next packet
    out = dec.feed(bytes([2, 1]) + struct.pack("<I", 38) + np.zeros((2, 3), "<f4").tobytes())
    # the held packet is released, 2 per packet is learned, so the new one is complete at once
    assert [len(b) for b in out] == [2, 2]
    assert len(dec.feed(bytes([2, 1]) + struct.pack("<I", 76) + np.zeros((2, 3), "<f4").tobytes())) == 1


async def test_twin_end_to_end_over_gatt(world: VirtualWorld) -> None:
    rec = ipol_lower_back(25.0, start_s=3.0)
    # 208 Hz: 16 IMU6 samples = 388-byte packets, more than one 244-byte notification → type 2 + type 3
    got, sensor = await run_end_to_end(world, rec, "movesense", stream_s=6.0, sample_rate_hz=200)
    assert got.kind == "movesense"
    t = got.time_s
    np.testing.assert_allclose(np.diff(t), 1 / 208, atol=1e-3)  # ms timestamps: within 1 ms
    assert t[0] < 2**32 / 1000 < t[-1]  # the uint32 ms clock wrapped mid-stream and was unwrapped
    assert got.count(EventKind.LOST_PACKETS) == 0 and got.count(EventKind.MALFORMED_FRAME) == 0
    assert sensor.frames_sent > 2 * len(got.batches) - 2  # every packet travelled in two parts
    grid = np.arange(0, rec.duration_s, 1 / 208)
    i0 = round((t[0] - sensor.twin.clock_origin_s) * 208)
    ref = np.interp(grid[i0 : i0 + len(t)], rec.time_s, rec.acc_mps2[:, 0])
    np.testing.assert_allclose(got.acc_mps2[:, 0], ref, atol=1e-4)  # float32 on the wire


async def test_twin_garbage_is_counted_not_fatal(world: VirtualWorld) -> None:
    rec = ipol_lower_back(20.0, start_s=3.0)
    got, _ = await run_end_to_end(world, rec, "movesense", stream_s=2.0, faults=("garbage@0.5",))
    assert got.count(EventKind.MALFORMED_FRAME) == 3
    assert np.all(np.diff(got.time_s) > 0)


def test_a_short_notification_ends_a_packet_at_once() -> None:
    # 3 samples where 8 were expected: the notification is shorter than the link's maximum, so no
    # continuation can follow and the packet is released without waiting for the next one
    dec = ms.MovesenseDecoder(ref=1, resource="IMU6", rate_hz=104, max_notification_bytes=244)
    payload = _imu6_payload(500, np.ones((3, 3)), np.zeros((3, 3)))
    out = dec.feed(bytes([2, 1]) + payload)
    assert len(out) == 1 and len(out[0]) == 3
    # a part of exactly the maximum length may be continued: it waits
    big = _imu6_payload(600, np.ones((16, 3)), np.zeros((16, 3)))
    parts = ms.split_notifications(1, big, 244)
    assert len(parts[0]) == 244 and dec.feed(parts[0]) == []
    assert len(dec.feed(parts[1])[0]) == 16
