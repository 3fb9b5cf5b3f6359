"""Nordic Thingy:52 motion service: Q-format raw samples and the config characteristic; twin over GATT.

Source: ``NordicSemiconductor/Nordic-Thingy52-FW`` ``include/ble_services/ble_tms.h`` (``ble_tms_raw_t`` =
3 × int16 acc, gyro, compass; ``ble_tms_config_t`` = ``<HHHHB``; ``BLE_TMS_CONFIG_MPUF_MIN/MAX`` = 1/200)
and the ``RAW_Q_FORMAT_*`` constants of its ``drv_motion.h`` (acc Q6.10, gyro Q11.5, compass Q12.4).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from _sensor_helpers import best_lag, ipol_lower_back, run_end_to_end

from gaitdir.devices import EventKind
from gaitdir.devices import _thingy52 as th
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual import VirtualWorld


def test_raw_q_formats() -> None:
    # 1 g on z = 1024 in Q6.10; 90 °/s = 2880 in Q11.5; 40 µT = 640 in Q12.4
    data = struct.pack("<9h", 0, -512, 1024, 2880, -32, 0, 640, 0, -16)
    raw = th.ThingyRaw.from_bytes(data)
    np.testing.assert_allclose(raw.acc_g, [0.0, -0.5, 1.0])
    np.testing.assert_allclose(raw.gyro_dps, [90.0, -1.0, 0.0])
    np.testing.assert_allclose(raw.compass_ut, [40.0, 0.0, -1.0])
    assert bytes(raw) == data
    with pytest.raises(FrameError):
        th.ThingyRaw.from_bytes(data[:-1])


def test_acceleration_sign_follows_the_firmware() -> None:
    """The firmware's accelerometer matrix is −I ("positive readings when axis is aligned with g"),
    so a Thingy lying on a table sends about +1 g on z (Nordic DevZone question 47415 quotes
    ``FAFF F4FF F603`` for x, y, z). gaitdir reports specific force: −0.99 g on that z."""
    wire = bytes.fromhex("faff f4ff f603") + bytes(12)
    raw = th.ThingyRaw.from_bytes(wire)
    np.testing.assert_allclose(raw.acc_g, np.array([-6, -12, 1014]) / 1024)
    batch = th.ThingyDecoder(10.0).feed(wire, 1.0)[0]
    np.testing.assert_allclose(batch.acc_mps2[0], -np.array([-6, -12, 1014]) / 1024 * 9.80665)
    # The twin's encoder is the inverse: specific force in, the firmware's bytes out.
    again = th.ThingyRaw.from_si(batch.acc_mps2[0], np.zeros(3))
    assert bytes(again)[:6] == wire[:6]


def test_config_layout_and_limits() -> None:
    config = th.ThingyConfig(1000, 500, 500, 100, 1)
    assert bytes(config) == bytes.fromhex("e803 f401 f401 6400 01")
    assert th.ThingyConfig.from_bytes(bytes(config)) == config
    for bad in (0, 201):
        with pytest.raises(FrameError):
            th.ThingyConfig(1000, 500, 500, bad, 1)
    assert th.recognise_uuid("EF680400-9B35-4933-9B10-52FFA9740042")


def test_decoder_derives_times() -> None:
    dec = th.ThingyDecoder(100.0)
    a = dec.feed(struct.pack("<9h", 0, 0, 1024, 0, 0, 0, 0, 0, 0), 5.0)
    b = dec.feed(struct.pack("<9h", 0, 0, 1024, 32, 0, 0, 0, 0, 0), 5.3)
    assert a[0].sensor_time_s[0] == 5.0 and b[0].sensor_time_s[0] == pytest.approx(5.01)
    np.testing.assert_allclose(b[0].gyr_radps[0], [np.radians(1.0), 0, 0])
    assert dec.feed(bytes(17), 5.4)[0].kind == EventKind.MALFORMED_FRAME


async def test_twin_end_to_end_over_gatt(world: VirtualWorld) -> None:
    rec = ipol_lower_back(25.0, start_s=3.0)
    # one sample per notification: 50 Hz keeps the replay at speed 20 within what pure Python carries
    got, sensor = await run_end_to_end(world, rec, "thingy52", stream_s=5.0, sample_rate_hz=50)
    assert got.kind == "thingy52"
    assert sensor.twin.config.motion_freq_hz == 50  # read-modify-write of the config
    assert sensor.twin.config.pedo_interval_ms == 1000  # other fields kept
    np.testing.assert_allclose(np.diff(got.time_s), 0.02, atol=1e-9)
    acc = got.acc_mps2
    ref_acc, ref_gyr = rec.acc_mps2[::2], rec.gyr_radps[::2]  # the 100 Hz recording on the 50 Hz grid
    lag = best_lag(ref_acc, acc, n_samples=100, max_lag=150)
    np.testing.assert_allclose(acc, ref_acc[lag : lag + len(acc)], atol=9.80665 / 2048)
    np.testing.assert_allclose(got.gyr_radps, ref_gyr[lag : lag + len(acc)], atol=np.radians(1 / 64))


async def test_twin_garbage_is_counted_not_fatal(world: VirtualWorld) -> None:
    rec = ipol_lower_back(20.0, start_s=3.0)
    got, _ = await run_end_to_end(
        world, rec, "thingy52", stream_s=2.0, faults=("garbage@0.5",), sample_rate_hz=25
    )
    assert got.count(EventKind.MALFORMED_FRAME) == 2
