"""MetaMotion: commands and samples checked against MbientLab's own SDK test vectors, twin over GATT.

Sources of the bytes (MbientLab, ``mbientlab/MetaWear-SDK-Cpp``):
``test/test_accelerometer_bmi160.py`` (config, enable, subscribe, single and packed data),
``test/test_gyro_bmi160.py`` (gyro config and data), ``src/metawear/sensor/cpp/accelerometer_bosch.cpp``
(``mbl_mw_acc_bosch_start``: power mode register 1 ← 1; ``FSR_SCALE``), and the C# SDK's test
``InitializeResponse`` (module-info answer ``03 80 01 01`` of a BMI160).
"""

from __future__ import annotations

import numpy as np
import pytest
from _sensor_helpers import best_lag, ipol_lower_back, run_end_to_end

from gaitdir.devices import EventKind
from gaitdir.devices import _metamotion as mm
from gaitdir.devices._codeccommon import DerivedClock, FrameError
from gaitdir.devices.virtual import VirtualWorld


@pytest.mark.parametrize(
    ("rate_hz", "range_g", "expected"),
    [
        (12.5, 2, "03 03 25 03"),
        (25.0, 2, "03 03 26 03"),
        (50.0, 2, "03 03 27 03"),
        (100.0, 2, "03 03 28 03"),
        (200.0, 2, "03 03 29 03"),
        (1600.0, 2, "03 03 2c 03"),
        (100.0, 16, "03 03 28 0c"),  # test_set_range
        (200.0, 8, "03 03 29 08"),  # test_set_odr_and_range
    ],
)
def test_acc_config_matches_sdk(rate_hz: float, range_g: int, expected: str) -> None:
    assert mm.acc_config_command(rate_hz, range_g) == bytes.fromhex(expected)
    assert mm.decode_acc_config(bytes.fromhex(expected)) == (rate_hz, range_g)


def test_commands_match_sdk() -> None:
    assert bytes.fromhex("03 02 01 00") == mm.CMD_ACC_ENABLE
    assert bytes.fromhex("03 02 00 01") == mm.CMD_ACC_DISABLE
    assert bytes.fromhex("03 04 01") == mm.CMD_ACC_SUBSCRIBE
    assert bytes.fromhex("03 04 00") == mm.CMD_ACC_UNSUBSCRIBE
    assert bytes.fromhex("03 1c 01") == mm.CMD_ACC_PACKED_SUBSCRIBE
    assert bytes.fromhex("03 1c 00") == mm.CMD_ACC_PACKED_UNSUBSCRIBE
    assert bytes.fromhex("03 01 01") == mm.CMD_ACC_START
    assert mm.gyro_config_command(200.0, 2000) == bytes.fromhex("13 03 29 00")
    assert mm.gyro_config_command(50.0, 125) == bytes.fromhex("13 03 27 04")
    with pytest.raises(ValueError):
        mm.acc_config_command(100.0, 3)


def test_single_acc_sample_sdk_vector() -> None:
    samples = mm.AccSamples.from_bytes(bytes.fromhex("03 04 16 c4 94 a2 2a d0"))
    np.testing.assert_allclose(samples.to_g(4)[0], [-1.872, -2.919, -1.495], atol=5e-4)


def test_packed_acc_sdk_vector() -> None:
    data = bytes.fromhex("03 1c 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01")
    samples = mm.AccSamples.from_bytes(data)
    expected = [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]]
    np.testing.assert_allclose(samples.to_g(8), expected, atol=5e-4)
    assert bytes(samples) == data


def test_gyro_sdk_vectors() -> None:
    single = mm.AccSamples.from_bytes(bytes.fromhex("13 05 3e 43 ff 7f 00 80"))
    np.testing.assert_allclose(single.to_dps(500)[0], [262.409, 499.497, -499.512], atol=5e-4)
    packed = mm.AccSamples.from_bytes(
        bytes.fromhex("13 07 09 15 ad 26 08 de 8a 1a 0d 26 65 e4 8d 20 ac 27 73 ec")
    )
    expected = [[164.177, 301.860, -265.122], [207.134, 296.982, -215.457], [254.055, 309.634, -152.591]]
    np.testing.assert_allclose(packed.to_dps(1000), expected, atol=5e-4)


def test_module_info() -> None:
    info = mm.ModuleInfo.from_bytes(bytes.fromhex("03 80 01 01"))
    assert info.present and info.implementation == mm.ACC_IMPL_BMI160 and info.revision == 1
    assert not mm.ModuleInfo.from_bytes(bytes.fromhex("14 80")).present


@pytest.mark.parametrize(
    "data", ["03 1c 01 02 03", "03 04 01", "03 1c" + " 00" * 19, "05 04 00 00 00 00 00 00"]
)
def test_bad_data_is_refused(data: str) -> None:
    with pytest.raises(FrameError):
        mm.AccSamples.from_bytes(bytes.fromhex(data))


def test_decoder_derives_times_and_ignores_other_notifications() -> None:
    dec = mm.MetaMotionDecoder(100.0, 8)
    assert dec.feed(bytes.fromhex("03 80 01 01"), 10.0) == []  # module info: not data, not an error
    assert dec.feed(bytes.fromhex("0b 84 00 00"), 10.0) == []  # another module's notification
    first = dec.feed(bytes.fromhex("03 1c 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01"), 10.0)
    # anchored so that the last sample of the first notification is at its arrival time
    np.testing.assert_allclose(first[0].sensor_time_s, [9.98, 9.99, 10.0])
    second = dec.feed(bytes.fromhex("03 1c" + "00 10" * 9), 10.5)  # jitter in arrival does not matter
    np.testing.assert_allclose(second[0].sensor_time_s, [10.01, 10.02, 10.03])
    np.testing.assert_allclose(second[0].acc_mps2, np.full((3, 3), 9.80665))
    bad = dec.feed(bytes.fromhex("03 1c 00"), 10.6)
    assert [e.kind for e in bad] == [EventKind.MALFORMED_FRAME]
    assert dec.received_rate_hz == pytest.approx(6 / 0.5)  # 6 samples in 0.5 s of host time


def test_derived_clock_keeps_a_restart_gap() -> None:
    clock = DerivedClock(50.0)
    first = clock.times(2, 100.0)
    np.testing.assert_allclose(first, [99.98, 100.0])
    clock.resume()
    after = clock.times(2, 103.0)  # 3 s of silence: the gap stays, the spacing inside stays exact
    np.testing.assert_allclose(after, [102.98, 103.0])
    clock.resume()
    soon = clock.times(1, 103.001)  # a restart faster than one period cannot go back in time
    assert soon[0] == pytest.approx(103.02)


async def test_twin_end_to_end_over_gatt(world: VirtualWorld) -> None:
    rec = ipol_lower_back(25.0, start_s=3.0)
    got, _ = await run_end_to_end(world, rec, "metamotion", stream_s=5.0)
    assert got.kind == "metamotion"
    t = got.time_s
    np.testing.assert_allclose(np.diff(t), 0.01, atol=1e-9)  # derived: exact nominal spacing
    assert all(len(b) == 3 for b in got.batches)  # packed: three samples per notification
    acc = got.acc_mps2
    # the replay is the recording at ±8 g resolution: find the offset, then compare sample by sample
    lag = best_lag(rec.acc_mps2, acc, n_samples=200, max_lag=300)
    np.testing.assert_allclose(acc, rec.acc_mps2[lag : lag + len(acc)], atol=8 * 9.80665 / 32768)
    assert got.count(EventKind.MALFORMED_FRAME) == 0


async def test_twin_garbage_is_counted_not_fatal(world: VirtualWorld) -> None:
    rec = ipol_lower_back(20.0, start_s=3.0)
    got, _ = await run_end_to_end(world, rec, "metamotion", stream_s=1.5, faults=("garbage@0.5",))
    assert got.count(EventKind.MALFORMED_FRAME) == 2
    np.testing.assert_allclose(np.diff(got.time_s), 0.01, atol=1e-9)
