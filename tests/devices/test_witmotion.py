"""WitMotion BWT901BLE / WT901BLECL: 55 61 packets, re-sync, register writes; twin over GATT.

Sources: WitMotion's own Python SDK ``WITMOTION/WitBluetooth_BWT901BLE5_0``
``Python/BWT901BLE5.0_python_sdk/device_model.py`` (UUIDs on the …9a34fb base, the byte-wise re-sync in
``onDataReceived``, the scaling in ``processData``, ``get_writeBytes``/``unlock``/``save``); notification
prefixes captured from a WT901BLE68 lying still, as printed by ``obedier/vib`` ``analyze_wt901_data.py``
(the capture shows 16 of the 20 bytes; the last 4 — pitch and yaw — are filled with zeros here).
"""

from __future__ import annotations

import numpy as np
import pytest
from _sensor_helpers import best_lag, ipol_lower_back, run_end_to_end

from gaitdir.devices import EventKind
from gaitdir.devices import _witmotion as wm
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual import VirtualWorld

CAPTURED_PREFIX = bytes.fromhex("55 61 35 ff 59 ff 0a 08 00 00 00 00 00 00 b9 fc")


def test_uuids_use_the_vendor_base() -> None:
    assert wm.NOTIFY_UUID.endswith("00805f9a34fb") and wm.WRITE_UUID.endswith("00805f9a34fb")
    assert (
        wm.recognise_name("WT901BLE68")
        and wm.recognise_name("BWT901BLE5.0")
        and not wm.recognise_name("Thingy")
    )


def test_captured_packet_at_rest_reads_one_g() -> None:
    packet = wm.WitPacket.from_bytes(CAPTURED_PREFIX + bytes(4))
    acc_g = packet.acc_g
    np.testing.assert_allclose(acc_g, [-203 / 2048, -167 / 2048, 2058 / 2048])  # raw / 32768 × 16
    assert np.linalg.norm(acc_g) == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(packet.gyro_dps, 0.0)
    assert packet.angle_deg[0] == pytest.approx(-839 / 32768 * 180)
    assert bytes(packet) == CAPTURED_PREFIX + bytes(4)


def test_register_writes_match_the_sdk() -> None:
    unlock, rate, save = wm.rate_commands(50.0)
    assert unlock == bytes.fromhex("ff aa 69 88 b5")
    assert rate == bytes.fromhex("ff aa 03 08 00")
    assert save == bytes.fromhex("ff aa 00 00 00")
    assert wm.RegisterWrite.from_bytes(rate) == wm.RegisterWrite(wm.REG_RATE, 0x08)
    with pytest.raises(ValueError):
        wm.rate_commands(60.0)
    with pytest.raises(FrameError):
        wm.RegisterWrite.from_bytes(bytes.fromhex("ff ab 03 08 00"))


def _packet(i: int) -> bytes:
    return bytes(wm.WitPacket(acc=(i, -i, 2048), gyro=(10 * i, 0, -5)))


def test_resync_across_notification_boundaries() -> None:
    stream = b"".join(_packet(i) for i in range(5))
    dec = wm.WitMotionDecoder(50.0)
    got = []
    for cut in range(0, len(stream), 7):  # 7-byte notifications: every packet straddles boundaries
        got.extend(x for x in dec.feed(stream[cut : cut + 7], 1.0) if hasattr(x, "acc_mps2"))
    acc = np.concatenate([b.acc_mps2 for b in got])
    np.testing.assert_allclose(acc[:, 0] / 9.80665 * 2048, np.arange(5))
    np.testing.assert_allclose(np.diff(np.concatenate([b.sensor_time_s for b in got])), 0.02)


def test_noise_register_answers_and_stale_parts_are_skipped() -> None:
    dec = wm.WitMotionDecoder(50.0)
    out = dec.feed(bytes([0x00, 0x55, 0x12]) + _packet(1), 1.0)  # noise, false header, then a packet
    assert [getattr(x, "kind", None) for x in out] == [EventKind.MALFORMED_FRAME, None]
    register_answer = bytes([0x55, 0x71]) + bytes(18)
    assert [type(x).__name__ for x in dec.feed(register_answer + _packet(2), 1.1)] == ["ImuBatch"]
    assert dec.feed(_packet(3)[:6], 1.2) == []  # a packet cut short ...
    out = dec.feed(_packet(4), 1.3)  # ... is dropped when the next notification starts a packet
    assert out[0].kind == EventKind.MALFORMED_FRAME and "6 byte" in out[0].detail
    assert out[1].acc_mps2[0, 0] == pytest.approx(4 / 2048 * 9.80665)


async def test_twin_end_to_end_over_gatt(world: VirtualWorld) -> None:
    rec = ipol_lower_back(25.0, start_s=3.0)
    got, sensor = await run_end_to_end(world, rec, "witmotion", stream_s=5.0)
    assert got.kind == "witmotion"  # recognised by its name: the service is not advertised
    assert sensor.twin.rate_hz == 50.0  # the rate register was written (after the unlock)
    np.testing.assert_allclose(np.diff(got.time_s), 0.02, atol=1e-9)
    acc = got.acc_mps2
    grid = np.arange(0, rec.duration_s, 0.02)
    ref = np.column_stack([np.interp(grid, rec.time_s, rec.acc_mps2[:, i]) for i in range(3)])
    lag = best_lag(ref, acc, n_samples=100, max_lag=150)
    np.testing.assert_allclose(acc, ref[lag : lag + len(acc)], atol=16 * 9.80665 / 32768)
    gref = np.column_stack([np.interp(grid, rec.time_s, rec.gyr_radps[:, i]) for i in range(3)])
    np.testing.assert_allclose(got.gyr_radps, gref[lag : lag + len(acc)], atol=np.radians(2000 / 32768))


async def test_twin_garbage_is_counted_not_fatal(world: VirtualWorld) -> None:
    rec = ipol_lower_back(20.0, start_s=3.0)
    got, _ = await run_end_to_end(
        world, rec, "witmotion", stream_s=2.0, faults=("garbage@0.5",), sample_rate_hz=20
    )
    assert got.count(EventKind.MALFORMED_FRAME) == 2
    np.testing.assert_allclose(np.diff(got.time_s), 0.05, atol=1e-9)
