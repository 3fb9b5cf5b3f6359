"""Polar PMD codec on published bytes (polar-ble-sdk unit tests and user reports), plus round trips.

Sources of the published vectors (polarofficial/polar-ble-sdk, Android library unit tests under
``sources/Android/android-communications/library/src/test/java/com/polar/androidcommunications/
api/ble/model/gatt/client/pmd/``):

* ``model/AccDataTest.kt``: "process acc raw data frame type 1", "process acc compressed data
  type 0" and "process acc compressed data type 1";
* ``model/GyrDataTest.kt``: "process gyro compressed data type 0" and "type 1";
* ``model/PmdTimeStampUtilsTest.kt``: sample time spreading;
* ``BlePmdClientControlPointResponseTest.kt``: control-point responses;
* polar-ble-sdk issue #443: a Verity Sense start command, its response ``F0 02 02 00 00``, and the
  start of a 227-byte delta-compressed ACC frame.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from _pmd_vectors import (
    ISSUE_443_FRAME_START,
    ISSUE_443_START_COMMAND,
    SDK_ACC_DELTA_TYPE0,
    SDK_ACC_DELTA_TYPE1,
    SDK_ACC_RAW_TYPE1,
    SDK_GYRO_TYPE0,
    SDK_GYRO_TYPE1,
)

from gaitdir.devices import _pmd
from gaitdir.devices._pmd import (
    ControlPointCommand,
    ControlPointResponse,
    DataFrame,
    Features,
    MeasurementStopped,
    MeasurementType,
    PmdError,
    Setting,
    Status,
)


# ----------------------------------------------------------------------------- published frames
def test_raw_acc_type1_published_frame() -> None:
    frame = DataFrame.from_bytes(SDK_ACC_RAW_TYPE1)
    assert frame.measurement_type == MeasurementType.ACC
    assert frame.timestamp_ns == 2_000_000_000
    assert frame.frame_type == 0x01 and not frame.compressed
    mg = _pmd.decode_acc(frame)
    assert mg.shape == (36, 3)
    np.testing.assert_array_equal(mg[0], [-9, -1, 999])
    np.testing.assert_array_equal(mg[1], [-8, -2, 997])
    np.testing.assert_array_equal(mg[-1], [-9, -2, 998])
    # The frame timestamp is the last sample's (first frame: back from it at 1/fs, here 52 Hz).
    times = _pmd.sample_times_ns(None, frame.timestamp_ns, 36, 52.0)
    assert times[-1] == 2_000_000_000
    assert times[-2] == pytest.approx(2_000_000_000 - 1e9 / 52)


def test_delta_acc_type0_published_frame_with_factor() -> None:
    frame = DataFrame.from_bytes(SDK_ACC_DELTA_TYPE0)
    assert frame.compressed and frame.base_type == 0
    factor = float(np.float32(2.44e-4))
    mg = _pmd.decode_acc(frame, factor)
    assert mg.shape == (57, 3)  # reference + 56 deltas
    counts0 = np.array([1905, 27376, -29282])
    counts1 = counts0 + np.array([190, -105, -85])
    # The SDK truncates (factor · counts · 1000) to int mG; the decoder keeps the exact value.
    np.testing.assert_allclose(mg[0], counts0 * factor * 1000)
    np.testing.assert_allclose(mg[1], counts1 * factor * 1000)
    assert np.all(np.abs(mg) <= 8000)  # the SDK checks every sample is within the ±8 g range
    # Evenly spread between the previous frame's timestamp (100 ns) and this one.
    times = _pmd.sample_times_ns(100, frame.timestamp_ns, 57, 52.0)
    assert round(times[0]) == round(100 + (2_000_000_000 - 100) / 57)
    assert times[-1] == 2_000_000_000


def test_delta_acc_type1_published_frame() -> None:
    frame = DataFrame.from_bytes(SDK_ACC_DELTA_TYPE1)
    mg = _pmd.decode_acc(frame, 1.0)
    np.testing.assert_array_equal(mg, [[-15, 20, 1008], [-20, 17, 1008]])


def test_verity_frame_from_issue_443() -> None:
    """The reference is (750, −481, −126) and the first block holds 10 samples of 8-bit deltas.

    Only the first 48 bytes were kept in the report's copy; the second block's header announces
    47 samples of 10 bits = 177 bytes, which brings the frame to exactly the reported 227 bytes.
    """
    frame = DataFrame.from_bytes(ISSUE_443_FRAME_START)
    assert frame.measurement_type == MeasurementType.ACC and frame.frame_type == 0x81
    first_block_end = 6 + 2 + 30
    counts = _pmd.decode_delta_payload(frame.payload[:first_block_end], 3, 16)
    assert counts.shape == (11, 3)
    np.testing.assert_array_equal(counts[0], [750, -481, -126])
    # First delta: bytes 10 DA 20 as int8 → (+16, −38, +32).
    np.testing.assert_array_equal(counts[1], [766, -519, -94])
    bits, count = frame.payload[first_block_end], frame.payload[first_block_end + 1]
    assert (bits, count) == (10, 47)
    assert 10 + first_block_end + 2 + (bits * count * 3 + 7) // 8 == 227
    with pytest.raises(PmdError, match="needs 177 bytes"):
        _pmd.decode_acc(frame, 1.0)
    assert ControlPointCommand.from_bytes(ISSUE_443_START_COMMAND) == ControlPointCommand.start(
        MeasurementType.ACC,
        {Setting.SAMPLE_RATE: 52, Setting.RESOLUTION: 16, Setting.RANGE: 8, Setting.CHANNELS: 3},
    )
    assert ControlPointResponse.from_bytes(bytes.fromhex("F0 02 02 00 00")).ok


def test_gyro_published_frames() -> None:
    frame = DataFrame.from_bytes(SDK_GYRO_TYPE0)
    assert frame.timestamp_ns == 9_223_372_036_854_775_807
    np.testing.assert_array_equal(_pmd.decode_gyro(frame, 1.0), [[-22, 8, 13], [-23, 11, 16]])
    frame = DataFrame.from_bytes(SDK_GYRO_TYPE1)
    dps = _pmd.decode_gyro(frame, 1.0)
    bits = lambda v: struct.unpack("<f", struct.pack("<I", v & 0xFFFFFFFF))[0]  # noqa: E731
    np.testing.assert_array_equal(
        dps,
        [
            [1.0, 10.0, 20.0],
            [bits(0x3F800000 + 0x1A00000), bits(0x41200000 + 0x800000), bits(0x41A00000 + 0xFDECCCCD)],
        ],
    )
    np.testing.assert_array_equal(_pmd.decode_gyro(frame, 0.5), dps * 0.5)


def test_timestamp_spreading_as_the_sdk() -> None:
    # PmdTimeStampUtilsTest: first frame 10 samples at 1 Hz ending at 10 s.
    np.testing.assert_allclose(_pmd.sample_times_ns(None, 10_000_000_000, 10, 1.0), np.arange(1, 11) * 1e9)
    # ...previous frame at 1 s, this one at 11 s: evenly between.
    np.testing.assert_allclose(
        _pmd.sample_times_ns(1_000_000_000, 11_000_000_000, 10, 1.0), np.arange(2, 12) * 1e9
    )
    # ...previous 100 ns, 3 samples to 2 s.
    t = _pmd.sample_times_ns(100, 2_000_000_000, 3, 1.0)
    assert [round(v) for v in t] == [round(666666733.33), round(1333333366.66), 2_000_000_000]


# ----------------------------------------------------------------------------- control point
def test_published_control_point_responses() -> None:
    ok = ControlPointResponse.from_bytes(bytes.fromhex("F0 01 02 00 00 FF FF FF"))
    assert (ok.opcode, ok.measurement_type, ok.status, ok.more) == (0x01, 0x02, 0, False)
    assert ok.parameters == b"\xff\xff\xff" and ok.ok
    err = ControlPointResponse.from_bytes(bytes.fromhex("F0 01 06 07 00"))
    assert err.measurement_type == MeasurementType.MAG
    assert err.status_name == "INVALID_RESOLUTION" and not err.ok and err.parameters == b""
    assert _pmd.status_name(8) == "INVALID_SAMPLE_RATE" and _pmd.status_name(0x42) == "UNKNOWN(0x42)"


def test_worked_command_examples() -> None:
    h10 = ControlPointCommand.start(
        MeasurementType.ACC, {Setting.SAMPLE_RATE: 200, Setting.RESOLUTION: 16, Setting.RANGE: 8}
    )
    assert bytes(h10) == bytes.fromhex("02 02 00 01 C8 00 01 01 10 00 02 01 08 00")
    assert bytes(ControlPointCommand.get_settings(MeasurementType.ACC)) == b"\x01\x02"
    assert bytes(ControlPointCommand.stop(MeasurementType.ACC)) == b"\x03\x02"
    assert bytes(ControlPointCommand.sdk_mode(True)) == b"\x02\x09"
    assert bytes(ControlPointCommand.sdk_mode(False)) == b"\x03\x09"


def test_start_response_factor_and_continuation() -> None:
    params = _pmd.encode_settings({Setting.FACTOR: 2.44e-4})
    response = ControlPointResponse(0x02, MeasurementType.ACC, Status.SUCCESS, False, params)
    assert ControlPointResponse.from_bytes(bytes(response)).factor == pytest.approx(2.44e-4, rel=1e-6)
    # A GET answer split over two packets ("more" set on the first).
    tlv = _pmd.encode_settings(
        {Setting.SAMPLE_RATE: [25, 50, 100, 200], Setting.RESOLUTION: 16, Setting.RANGE: [2, 4, 8]}
    )
    first = ControlPointResponse(0x01, 2, 0, True, tlv[:7])
    second = ControlPointResponse(0x01, 2, 0, False, tlv[7:])
    parts = [ControlPointResponse.from_bytes(bytes(p)) for p in (first, second)]
    assert parts[0].more and not parts[1].more
    settings = ControlPointResponse.join(parts).settings()
    assert settings == {
        Setting.SAMPLE_RATE: [25, 50, 100, 200],
        Setting.RESOLUTION: [16],
        Setting.RANGE: [2, 4, 8],
    }


def test_measurement_stopped_and_features() -> None:
    stopped = MeasurementStopped.from_bytes(b"\x01\x02\x05")
    assert stopped.measurement_types == (MeasurementType.ACC, MeasurementType.GYRO)
    assert bytes(stopped) == b"\x01\x02\x05"
    features = Features.from_bytes(bytes([0x0F, 0b0110_0110, 0x02]))
    assert {MeasurementType.ACC, MeasurementType.GYRO, MeasurementType.PPG} <= features.measurement_types
    assert features.sdk_mode
    assert Features.from_bytes(bytes(features)) == features


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02\x00", "too short"),
        (b"\xf0\x01", "not a control-point response"),
        (b"\x07\x00", "not a measurement-stopped"),
    ],
)
def test_bad_messages_raise(data: bytes, message: str) -> None:
    with pytest.raises(PmdError, match=message):
        if data[0] == 0xF0:
            ControlPointResponse.from_bytes(data)
        elif data[0] == 0x07:
            MeasurementStopped.from_bytes(data)
        else:
            DataFrame.from_bytes(data)


def test_malformed_payloads_raise() -> None:
    ts = (123).to_bytes(8, "little")
    with pytest.raises(PmdError, match="not a whole number of samples"):
        _pmd.decode_acc(DataFrame.from_bytes(b"\x02" + ts + b"\x01" + bytes(7)))
    with pytest.raises(PmdError, match="unknown ACC frame type"):
        _pmd.decode_acc(DataFrame.from_bytes(b"\x02" + ts + b"\x07" + bytes(6)))
    with pytest.raises(PmdError, match="reference sample"):
        _pmd.decode_acc(DataFrame.from_bytes(b"\x02" + ts + b"\x81" + bytes(3)))
    with pytest.raises(PmdError, match="delta width"):
        _pmd.decode_acc(DataFrame.from_bytes(b"\x02" + ts + b"\x81" + bytes(6) + b"\x00\x01"))
    with pytest.raises(PmdError, match="unknown setting type"):
        _pmd.decode_settings(b"\x09\x01\x00")


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("frame_type", [0x00, 0x01, 0x02])
def test_raw_acc_round_trip(frame_type: int) -> None:
    rng = np.random.default_rng(frame_type)
    lim = {0x00: 127, 0x01: 8000, 0x02: 100_000}[frame_type]
    mg = rng.integers(-lim, lim, size=(20, 3)).astype(float)
    frame = _pmd.encode_acc(mg, 5_000_000_000, frame_type=frame_type)
    again = DataFrame.from_bytes(bytes(frame))
    assert again == frame
    np.testing.assert_array_equal(_pmd.decode_acc(again), mg)


@pytest.mark.parametrize(("frame_type", "factor"), [(0x81, 1.0), (0x81, 8000 / 32768), (0x80, 2.44e-4)])
def test_delta_acc_round_trip(frame_type: int, factor: float) -> None:
    rng = np.random.default_rng(7)
    # A walking-like signal: smooth with occasional jumps, so blocks need different delta widths.
    mg = np.cumsum(rng.normal(0, 40, size=(300, 3)), axis=0) + np.array([0.0, 0.0, 1000.0])
    mg[150] += 3000
    frame = _pmd.encode_acc(mg, 9_000_000_000, frame_type=frame_type, factor=factor)
    decoded = _pmd.decode_acc(DataFrame.from_bytes(bytes(frame)), factor)
    step = factor if frame_type == 0x81 else factor * 1000
    np.testing.assert_allclose(decoded, mg, atol=step / 2 + 1e-9)


def test_gyro_round_trip_and_delta_widths() -> None:
    dps = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [-250.0, 300.0, 2.0], [-249.0, 299.0, 2.0]])
    factor = 2000 / 32768
    frame = _pmd.encode_gyro(dps, 1, factor=factor)
    np.testing.assert_allclose(
        _pmd.decode_gyro(DataFrame.from_bytes(bytes(frame)), factor), dps, atol=factor / 2
    )
    # Forced widths pack and unpack identically (LSB-first bit order across byte boundaries).
    counts = np.array([[0, 0, 0], [3, -4, 1], [2, -1, -4], [-1, 3, 0]])
    for bits in (4, 5, 7, 13):
        payload = _pmd.encode_delta_payload(counts, 16, delta_bits=bits)
        np.testing.assert_array_equal(_pmd.decode_delta_payload(payload, 3, 16), counts)
    with pytest.raises(PmdError, match="need 4 bits"):
        _pmd.encode_delta_payload(counts, 16, delta_bits=3)
