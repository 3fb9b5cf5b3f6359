"""The pure Polar stream decoder: SI units, sample times, gyro pairing, losses and bad frames."""

from __future__ import annotations

import numpy as np
import pytest
from _device_recordings import ipol_recording
from _pmd_vectors import SDK_ACC_RAW_TYPE1

from gaitdir.devices import EventKind, ImuBatch, MalformedFrameError, PmdStreamDecoder, StreamEvent, _pmd

G = 9.80665
ACC, GYRO = _pmd.MeasurementType.ACC, _pmd.MeasurementType.GYRO


def batches(items: list[ImuBatch | StreamEvent]) -> list[ImuBatch]:
    return [i for i in items if isinstance(i, ImuBatch)]


def test_published_h10_frame_in_si_units_and_sensor_seconds() -> None:
    out = PmdStreamDecoder(52.0, {}).decode(_pmd.PMD_DATA_UUID, SDK_ACC_RAW_TYPE1, 0.0)
    (batch,) = batches(out)
    np.testing.assert_allclose(batch.acc_mps2[0], np.array([-9, -1, 999]) * G / 1000)
    assert batch.sensor_time_s[-1] == pytest.approx(2.0)  # 2 000 000 000 ns since 2000-01-01
    np.testing.assert_allclose(np.diff(batch.sensor_time_s), 1 / 52, rtol=1e-9)


def test_verity_acc_and_gyro_frames_are_paired_on_the_acc_clock() -> None:
    rec = ipol_recording(2.0)
    rate = 52.0
    t = np.arange(0, 104) / rate
    acc_mg = np.column_stack([np.interp(t, rec.time_s, rec.acc_mps2[:, i]) for i in range(3)]) * 1000 / G
    gyr_dps = np.degrees(np.column_stack([np.interp(t, rec.time_s, rec.gyr_radps[:, i]) for i in range(3)]))  # type: ignore[index]
    factors = {ACC: 8000 / 32768, GYRO: 2000 / 32768}
    decoder = PmdStreamDecoder(rate, factors, with_gyro=True)
    origin_ns = 10**18
    got: list[ImuBatch] = []
    for start in range(0, 104, 26):
        s = slice(start, start + 26)
        ts = origin_ns + round(t[s][-1] * 1e9)
        acc = _pmd.encode_acc(acc_mg[s], ts, frame_type=0x81, factor=factors[ACC])
        gyr = _pmd.encode_gyro(gyr_dps[s], ts, factor=factors[GYRO])
        got += batches(decoder.decode(_pmd.PMD_DATA_UUID, bytes(acc), 0.0))
        # Nothing is released before the gyro frame covering those samples has arrived.
        assert sum(len(b) for b in got) == start
        got += batches(decoder.decode(_pmd.PMD_DATA_UUID, bytes(gyr), 0.0))
    time_s = np.concatenate([b.sensor_time_s for b in got])
    np.testing.assert_allclose(time_s - origin_ns * 1e-9, t, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([b.acc_mps2 for b in got]), acc_mg * G / 1000, atol=0.002)
    gyr = np.concatenate([b.gyr_radps for b in got])  # type: ignore[misc]
    np.testing.assert_allclose(np.degrees(gyr), gyr_dps, atol=0.031)


def test_lost_frames_are_reported_and_times_stay_on_the_rate() -> None:
    decoder = PmdStreamDecoder(200.0, {})
    mg = np.zeros((10, 3))
    frame = lambda ts: bytes(_pmd.encode_acc(mg, ts, frame_type=0x01))  # noqa: E731
    first = batches(decoder.decode("", frame(1_000_000_000), 0.0))[0]
    # Two frames (20 samples = 100 ms) went missing.
    out = decoder.decode("", frame(1_000_000_000 + 150_000_000), 0.0)
    lost = [e for e in out if isinstance(e, StreamEvent)]
    assert len(lost) == 1 and lost[0].kind is EventKind.LOST_PACKETS and "0.100 s" in lost[0].detail
    second = batches(out)[0]
    np.testing.assert_allclose(np.diff(second.sensor_time_s), 0.005, rtol=1e-9)
    assert second.sensor_time_s[0] - first.sensor_time_s[-1] == pytest.approx(0.105)


def test_bad_frames_raise_malformed() -> None:
    decoder = PmdStreamDecoder(200.0, {})
    ts = (5_000_000_000).to_bytes(8, "little")
    decoder.decode("", b"\x02" + ts + b"\x01" + bytes(6), 0.0)
    for bad, message in [
        (b"\x02" + bytes(4), "too short"),
        (b"\x00" + ts + b"\x00" + bytes(6), "unexpected measurement type ECG"),
        (b"\x05" + ts + b"\x80" + bytes(6), "unexpected measurement type GYRO"),  # no gyro asked for
        (b"\x02" + ts + b"\x01" + bytes(6), "does not follow the previous one"),  # same timestamp again
        (b"\x02" + ts + b"\x81" + bytes(6) + b"\x08\x05", "needs 15 bytes"),
    ]:
        with pytest.raises(MalformedFrameError, match=message):
            decoder.decode("", bad, 0.0)
