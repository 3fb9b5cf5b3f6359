"""The reference firmware and gaitdir's open-profile codec/twin produce the same bytes.

``firmware_notes/reference-firmware/gaitdir_profile.py`` is MicroPython code; here it runs under CPython
with its one MicroPython-only import (``micropython.const``) stubbed. Its frames are compared with the
frames of :class:`gaitdir.devices._openprofile.DataFrame` (what the virtual board sends and the driver
decodes) for real IMU samples, and its control point answers with the virtual board's for the same
requests.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from gaitdir.devices import _openprofile as op
from gaitdir.devices._codeccommon import to_int16_counts
from gaitdir.devices.virtual._twins_openprofile import BoardState, handle_request

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_notes" / "reference-firmware"
DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


@pytest.fixture(scope="module")
def fw() -> types.ModuleType:
    stub = types.ModuleType("micropython")
    stub.const = lambda value: value  # type: ignore[attr-defined]
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = stub
    try:
        spec = importlib.util.spec_from_file_location("gaitdir_profile_fw", FIRMWARE / "gaitdir_profile.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["micropython"]
        else:
            sys.modules["micropython"] = saved
    return module


def _real_counts(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Real lower-back IMU samples (IPOL subject 2) as int16 counts at ±8 g and ±2000 °/s."""
    raw = np.loadtxt(DATASETS / "ipol-healthy-gait" / "GaitData" / "2-1_lb.txt", skiprows=2, max_rows=n)
    acc = to_int16_counts(raw[:, 1:4] / 9.80665, 32768 / 8)
    gyr = to_int16_counts(np.degrees(raw[:, 4:7]), 32768 / 2000)
    return acc, gyr


def test_constants_agree(fw: types.ModuleType) -> None:
    assert (fw.SERVICE_UUID, fw.CONTROL_POINT_UUID, fw.DATA_UUID) == (
        op.SERVICE_UUID,
        op.CONTROL_POINT_UUID,
        op.DATA_UUID,
    )
    assert (fw.VERSION_MAJOR, fw.VERSION_MINOR) == (op.PROFILE_VERSION_MAJOR, op.PROFILE_VERSION_MINOR)
    assert fw.RATE_HZ == op.RATE_CODES
    assert fw.ACC_RANGE_G == op.ACC_RANGES_G and fw.GYRO_RANGE_DPS == op.GYRO_RANGES_DPS
    for mtu in (23, 27, 64, 185, 247, 512):
        for gyro in (False, True):
            assert fw.samples_per_frame(mtu, gyro) == op.samples_per_frame(mtu, gyro=gyro)


@pytest.mark.parametrize("gyro", [False, True])
@pytest.mark.parametrize("mtu", [23, 247])
def test_frames_are_byte_identical(fw: types.ModuleType, gyro: bool, mtu: int) -> None:
    acc, gyr = _real_counts(400)
    board = fw.Board(0b101010110, 0b1111, 0b1111)
    board.gyro_on = gyro
    per_frame = fw.samples_per_frame(mtu, gyro)
    assembler = fw.FrameAssembler(board, per_frame)
    t0_us = 2**32 - 1_500_000  # the board's clock wraps during this stream
    frames = []
    for i in range(len(acc)):
        sample = tuple(int(v) for v in acc[i]) + (tuple(int(v) for v in gyr[i]) if gyro else ())
        frame = assembler.add(sample, t0_us + i * 10_000)
        if frame is not None:
            frames.append(frame)
    assert len(frames) == len(acc) // per_frame
    for k, frame in enumerate(frames):
        assert len(frame) <= mtu - 3
        rows = slice(k * per_frame, (k + 1) * per_frame)
        expected = op.DataFrame(
            seq=k,
            timestamp_us=(t0_us + k * per_frame * 10_000) % 2**32,
            rate_code=6,
            acc_range_code=2,
            gyro_range_code=3,
            acc=acc[rows],
            gyro=gyr[rows] if gyro else None,
        )
        assert frame == bytes(expected)
    # and gaitdir's decoder reads the firmware's frames back to the same samples and an unwrapped clock
    dec = op.OpenProfileDecoder()
    batches = [item for f in frames for item in dec.feed(f)]
    times = np.concatenate([b.sensor_time_s for b in batches])
    np.testing.assert_allclose(np.diff(times), 0.01, atol=1e-9)
    back = np.concatenate([b.acc_mps2 for b in batches]) / 9.80665 * 32768 / 8
    np.testing.assert_allclose(back, acc[: len(back)], atol=1e-6)


REQUESTS = [
    b"",
    bytes([op.OP_GET_INFO]),
    bytes([op.OP_GET_INFO, 0]),
    bytes([op.OP_SET_RATE, 6]),
    bytes([op.OP_SET_RATE, 3]),  # 26 Hz: valid code, not offered by this board
    bytes([op.OP_SET_RATE, 0]),
    bytes([op.OP_SET_RATE]),
    bytes([op.OP_SET_RANGE, 1, 0xFF]),
    bytes([op.OP_SET_RANGE, 3, 2]),
    bytes([op.OP_SET_RANGE, 4, 2]),
    bytes([op.OP_STOP]),  # not streaming
    bytes([op.OP_START, 0x02]),
    bytes([op.OP_START, 0x01]),
    bytes([op.OP_GET_INFO]),
    bytes([op.OP_SET_RATE, 8]),  # while streaming
    bytes([op.OP_START, 0x00]),  # already streaming
    bytes([op.OP_STOP]),
    bytes([0x42, 1, 2]),
]


@pytest.mark.parametrize("gyro_mask", [0b1111, 0])
def test_control_point_answers_are_byte_identical(fw: types.ModuleType, gyro_mask: int) -> None:
    rates_mask = sum(1 << c for c in (1, 2, 4, 6, 8))
    board = fw.Board(rates_mask, 0b1111, gyro_mask)
    state = BoardState(rates_mask=rates_mask, acc_ranges_mask=0b1111, gyro_ranges_mask=gyro_mask)
    for request in REQUESTS:
        assert fw.handle_request(board, request, 15) == handle_request(state, request, max_samples=15), (
            request
        )
    assert (board.rate_code, board.acc_range_code, board.gyro_range_code) == (
        state.rate_code,
        state.acc_range_code,
        state.gyro_range_code,
    )
    event = fw.stream_stopped_event(1)
    assert op.Event.from_bytes(event) == op.Event(op.EVENT_STREAM_STOPPED, b"\x01")


def test_mpu6050_conversion(fw: types.ModuleType) -> None:
    # a burst read as the chip returns it: big-endian ax, ay, az, temperature, gx, gy, gz
    raw = struct.pack(">7h", 16384, -2, 300, -1234, 131, -131, 0)
    assert fw.mpu6050_counts(raw) == (16384, -2, 300, 131, -131, 0)


def test_main_compiles_and_uses_the_shared_packing() -> None:
    source = (FIRMWARE / "main.py").read_text()
    compile(source, "main.py", "exec")
    assert "gp.FrameAssembler" in source and "gp.handle_request" in source
