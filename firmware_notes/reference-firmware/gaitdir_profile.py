"""gaitdir open profile v1.0 — frame packing and control point rules for a board's firmware.

Pure code: only ``struct`` and ``micropython.const``, no hardware, no Bluetooth. It runs unchanged
under MicroPython on the board and under CPython in gaitdir's tests, which check that it produces the
same bytes as gaitdir's own codec (the specification is ``../gaitdir-open-profile.md``).
"""

import struct

from micropython import const

VERSION_MAJOR = const(1)
VERSION_MINOR = const(0)

SERVICE_UUID = "fbc90001-ce16-47ea-841f-46d39472efcf"
CONTROL_POINT_UUID = "fbc90002-ce16-47ea-841f-46d39472efcf"
DATA_UUID = "fbc90003-ce16-47ea-841f-46d39472efcf"

OP_GET_INFO = const(0x01)
OP_SET_RATE = const(0x02)
OP_SET_RANGE = const(0x03)
OP_START = const(0x04)
OP_STOP = const(0x05)
RESPONSE = const(0x80)
EVENT = const(0x81)
EVENT_STREAM_STOPPED = const(0x01)

STATUS_SUCCESS = const(0x00)
STATUS_UNKNOWN_OPCODE = const(0x01)
STATUS_INVALID_LENGTH = const(0x02)
STATUS_INVALID_PARAMETER = const(0x03)
STATUS_NOT_SUPPORTED = const(0x04)
STATUS_INVALID_STATE = const(0x05)

START_FLAG_GYRO = const(0x01)
KEEP_GYRO_RANGE = const(0xFF)

# rate code -> Hz; range code -> full scale (g, deg/s)
RATE_HZ = {
    1: 12.5,
    2: 25.0,
    3: 26.0,
    4: 50.0,
    5: 52.0,
    6: 100.0,
    7: 104.0,
    8: 200.0,
    9: 208.0,
    10: 400.0,
    11: 416.0,
}
ACC_RANGE_G = {0: 2, 1: 4, 2: 8, 3: 16}
GYRO_RANGE_DPS = {0: 250, 1: 500, 2: 1000, 3: 2000}

HEADER_BYTES = const(8)
MAX_SAMPLES = const(15)


def samples_per_frame(mtu, gyro):
    """Samples that fit one notification for an ATT MTU of ``mtu`` bytes (payload = mtu - 3), max 15."""
    room = mtu - 3 - HEADER_BYTES
    n = room // (12 if gyro else 6)
    return max(0, min(MAX_SAMPLES, n))


def pack_frame(seq, timestamp_us, rate_code, acc_range_code, gyro_range_code, samples, gyro):
    """One data frame.

    ``samples`` is a list of tuples of int16 counts ``(ax, ay, az)`` or ``(ax, ay, az, gx, gy, gz)``;
    ``timestamp_us`` is the board clock at the first sample (only its low 32 bits are sent).
    """
    count = len(samples)
    b0 = (VERSION_MAJOR << 6) | (0x20 if gyro else 0) | rate_code
    b1 = (acc_range_code << 6) | (gyro_range_code << 4) | count
    out = bytearray(struct.pack("<BBHI", b0, b1, seq & 0xFFFF, timestamp_us & 0xFFFFFFFF))
    per = 6 if gyro else 3
    fmt = "<" + "h" * per
    for sample in samples:
        out.extend(struct.pack(fmt, *sample[:per]))
    return bytes(out)


class Board:
    """The settings a board keeps between control point commands."""

    def __init__(self, rates_mask, acc_ranges_mask, gyro_ranges_mask):
        self.rates_mask = rates_mask
        self.acc_ranges_mask = acc_ranges_mask
        self.gyro_ranges_mask = gyro_ranges_mask  # 0 = no gyroscope
        self.rate_code = 6  # 100 Hz
        self.acc_range_code = 2  # +-8 g
        self.gyro_range_code = 3  # +-2000 deg/s
        self.streaming = False
        self.gyro_on = False


def _answer(opcode, status, params=b""):
    return bytes([RESPONSE, opcode, status]) + params


def handle_request(board, data, max_samples):
    """Apply one control point write: returns (answer bytes, "start" | "stop" | None)."""
    if not data:
        return _answer(0, STATUS_INVALID_LENGTH), None
    opcode = data[0]
    params = bytes(data[1:])
    if opcode == OP_GET_INFO:
        if params:
            return _answer(opcode, STATUS_INVALID_LENGTH), None
        info = struct.pack(
            "<BBHBBBBBBB",
            VERSION_MAJOR,
            VERSION_MINOR,
            board.rates_mask,
            board.acc_ranges_mask,
            board.gyro_ranges_mask,
            max_samples,
            board.rate_code,
            board.acc_range_code,
            board.gyro_range_code,
            1 if board.streaming else 0,
        )
        return _answer(opcode, STATUS_SUCCESS, info), None
    if opcode == OP_SET_RATE:
        if len(params) != 1:
            return _answer(opcode, STATUS_INVALID_LENGTH), None
        if board.streaming:
            return _answer(opcode, STATUS_INVALID_STATE), None
        code = params[0]
        if code not in RATE_HZ:
            return _answer(opcode, STATUS_INVALID_PARAMETER), None
        if not board.rates_mask & (1 << code):
            return _answer(opcode, STATUS_NOT_SUPPORTED), None
        board.rate_code = code
        return _answer(opcode, STATUS_SUCCESS), None
    if opcode == OP_SET_RANGE:
        if len(params) != 2:
            return _answer(opcode, STATUS_INVALID_LENGTH), None
        if board.streaming:
            return _answer(opcode, STATUS_INVALID_STATE), None
        acc_code = params[0]
        gyro_code = params[1]
        keep_gyro = gyro_code == KEEP_GYRO_RANGE
        if acc_code not in ACC_RANGE_G or (not keep_gyro and gyro_code not in GYRO_RANGE_DPS):
            return _answer(opcode, STATUS_INVALID_PARAMETER), None
        if not board.acc_ranges_mask & (1 << acc_code):
            return _answer(opcode, STATUS_NOT_SUPPORTED), None
        if not keep_gyro and not board.gyro_ranges_mask & (1 << gyro_code):
            return _answer(opcode, STATUS_NOT_SUPPORTED), None
        board.acc_range_code = acc_code
        if not keep_gyro:
            board.gyro_range_code = gyro_code
        return _answer(opcode, STATUS_SUCCESS), None
    if opcode == OP_START:
        if len(params) != 1:
            return _answer(opcode, STATUS_INVALID_LENGTH), None
        if params[0] & ~START_FLAG_GYRO:
            return _answer(opcode, STATUS_INVALID_PARAMETER), None
        gyro = (params[0] & START_FLAG_GYRO) != 0
        if gyro and not board.gyro_ranges_mask:
            return _answer(opcode, STATUS_NOT_SUPPORTED), None
        if board.streaming:
            return _answer(opcode, STATUS_INVALID_STATE), None
        board.streaming = True
        board.gyro_on = gyro
        return _answer(opcode, STATUS_SUCCESS), "start"
    if opcode == OP_STOP:
        if params:
            return _answer(opcode, STATUS_INVALID_LENGTH), None
        if not board.streaming:
            return _answer(opcode, STATUS_INVALID_STATE), None
        board.streaming = False
        return _answer(opcode, STATUS_SUCCESS), "stop"
    return _answer(opcode, STATUS_UNKNOWN_OPCODE), None


def stream_stopped_event(reason):
    """The notification a board sends when it ends the stream itself (1 = low battery, 2 = sensor error)."""
    return bytes([EVENT, EVENT_STREAM_STOPPED, reason])


class FrameAssembler:
    """Collects samples and emits a frame each time ``per_frame`` of them are in.

    The frame timestamp is the *scheduled* time of its first sample (the sampling deadline), so
    jitter in when the sensor was actually read does not reach the receiver.
    """

    def __init__(self, board, per_frame):
        self.board = board
        self.per_frame = per_frame
        self.seq = 0
        self.samples = []
        self.first_us = 0

    def add(self, sample, scheduled_us):
        """Add one sample (int16 counts); returns a frame (bytes) when one is complete, else None."""
        if not self.samples:
            self.first_us = scheduled_us
        self.samples.append(sample)
        if len(self.samples) < self.per_frame:
            return None
        b = self.board
        frame = pack_frame(
            self.seq, self.first_us, b.rate_code, b.acc_range_code, b.gyro_range_code, self.samples, b.gyro_on
        )
        self.seq = (self.seq + 1) & 0xFFFF
        self.samples = []
        return frame


def mpu6050_counts(raw14):
    """MPU-6050 burst read from ACCEL_XOUT_H (0x3B, 14 bytes, big-endian, temperature in the middle)
    -> (ax, ay, az, gx, gy, gz) int16 counts, which the profile sends unchanged: the MPU-6050's
    AFS_SEL / FS_SEL codes are the profile's range codes, with the same 32768-counts full scale."""
    ax, ay, az, _temp, gx, gy, gz = struct.unpack(">7h", raw14)
    return (ax, ay, az, gx, gy, gz)
