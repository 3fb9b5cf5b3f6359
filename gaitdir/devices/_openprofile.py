"""The gaitdir open profile (version 1.0): a GATT service any BLE board can implement to stream its IMU.

Full specification: ``firmware_notes/gaitdir-open-profile.md``. In short:

* service ``fbc90001-ce16-47ea-841f-46d39472efcf``; control point ``…0002`` (write + notify);
  data ``…0003`` (notify).
* control point requests ``[opcode, params…]``; answers ``[0x80, opcode, status, params…]``;
  unsolicited events ``[0x81, event, params…]``.
* data frames: an 8-byte header (12 with a 64-bit timestamp) then ``count`` samples of int16 LE
  ``ax ay az [gx gy gz]``::

      byte 0   bits 7-6 version (1) | bit 5 gyro present | bit 4 64-bit timestamp | bits 3-0 rate code
      byte 1   bits 7-6 acc range code | bits 5-4 gyro range code | bits 3-0 sample count (1..15)
      byte 2-3 sequence number, uint16 LE, +1 per frame, wraps
      byte 4-7 sensor time of the first sample, uint32 LE µs (or bytes 4-11 uint64 LE µs)

This module is the executable specification: the virtual twin encodes with it, the driver decodes
with it, and the reference firmware's packing is tested to give the same bytes.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gaitdir.devices._base import TimestampSource, register_driver
from gaitdir.devices._codeccommon import (
    STANDARD_GRAVITY_MPS2,
    FrameError,
    WrapUnwrapper,
    to_int16_counts,
)
from gaitdir.devices._eventful import EventfulDecoder, EventfulDriverMixin
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.errors import DeviceError
from gaitdir.mounting import MOUNTING_PROFILES, MountingProfile

PROFILE_VERSION_MAJOR = 1
PROFILE_VERSION_MINOR = 0

SERVICE_UUID = "fbc90001-ce16-47ea-841f-46d39472efcf"
CONTROL_POINT_UUID = "fbc90002-ce16-47ea-841f-46d39472efcf"
DATA_UUID = "fbc90003-ce16-47ea-841f-46d39472efcf"

#: Control point opcodes (client → sensor).
OP_GET_INFO = 0x01
OP_SET_RATE = 0x02
OP_SET_RANGE = 0x03
OP_START = 0x04
OP_STOP = 0x05
OPCODES: frozenset[int] = frozenset({OP_GET_INFO, OP_SET_RATE, OP_SET_RANGE, OP_START, OP_STOP})
#: First byte of control point notifications.
RESPONSE = 0x80
EVENT = 0x81
#: Status codes in responses.
STATUS_SUCCESS = 0x00
STATUS_UNKNOWN_OPCODE = 0x01
STATUS_INVALID_LENGTH = 0x02
STATUS_INVALID_PARAMETER = 0x03
STATUS_NOT_SUPPORTED = 0x04
STATUS_INVALID_STATE = 0x05
STATUS_NAMES: dict[int, str] = {
    STATUS_SUCCESS: "success",
    STATUS_UNKNOWN_OPCODE: "unknown opcode",
    STATUS_INVALID_LENGTH: "invalid length",
    STATUS_INVALID_PARAMETER: "invalid parameter",
    STATUS_NOT_SUPPORTED: "not supported",
    STATUS_INVALID_STATE: "invalid state",
}
#: Events (sensor → client, unsolicited).
EVENT_STREAM_STOPPED = 0x01
STOP_REASONS: dict[int, str] = {
    0x00: "unspecified",
    0x01: "low battery",
    0x02: "sensor error",
    0x03: "overflow",
}
#: START flags.
START_FLAG_GYRO = 0x01

#: Rate code → Hz (0 and 12–15 are invalid/reserved).
RATE_CODES: dict[int, float] = {
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
#: Range code → full scale.
ACC_RANGES_G: dict[int, int] = {0: 2, 1: 4, 2: 8, 3: 16}
GYRO_RANGES_DPS: dict[int, int] = {0: 250, 1: 500, 2: 1000, 3: 2000}

HEADER_BYTES = 8
HEADER_BYTES_TS64 = 12
MAX_SAMPLES_PER_FRAME = 15
#: Bytes of the default ATT MTU (23) left for a notification.
DEFAULT_MTU = 23

_DEG_TO_RAD = math.pi / 180.0

logger = logging.getLogger(__name__)


def rate_code_for(rate_hz: float) -> int:
    """Rate code of ``rate_hz`` (exact match)."""
    for code, hz in RATE_CODES.items():
        if hz == float(rate_hz):
            return code
    raise ValueError(
        f"rate {rate_hz} Hz has no open-profile code; expected one of {sorted(RATE_CODES.values())}"
    )


def acc_range_code_for(range_g: int) -> int:
    for code, g in ACC_RANGES_G.items():
        if g == range_g:
            return code
    raise ValueError(
        f"range ±{range_g} g has no open-profile code; expected one of {sorted(ACC_RANGES_G.values())}"
    )


def gyro_range_code_for(range_dps: int) -> int:
    for code, dps in GYRO_RANGES_DPS.items():
        if dps == range_dps:
            return code
    raise ValueError(
        f"gyro range ±{range_dps} °/s has no code; expected one of {sorted(GYRO_RANGES_DPS.values())}"
    )


def samples_per_frame(mtu: int, *, gyro: bool, ts64: bool = False) -> int:
    """Most samples a frame can carry on a link with ATT MTU ``mtu`` (payload = MTU − 3), capped at 15."""
    room = mtu - 3 - (HEADER_BYTES_TS64 if ts64 else HEADER_BYTES)
    return max(0, min(MAX_SAMPLES_PER_FRAME, room // (12 if gyro else 6)))


@dataclass(frozen=True)
class DataFrame:
    """One data notification.

    Attributes
    ----------
    seq : int
        Frame sequence number (uint16; +1 per frame, wraps; restarts at 0 on START).
    timestamp_us : int
        Sensor time of the first sample (µs; uint32 unless ``ts64``).
    rate_code : int
        Key of :data:`RATE_CODES`.
    acc_range_code, gyro_range_code : int
        Keys of :data:`ACC_RANGES_G` / :data:`GYRO_RANGES_DPS` (gyro code 0 when there is no gyro).
    acc : ndarray, shape (count, 3), int16
        Acceleration counts; g = count × range / 32768.
    gyro : ndarray, shape (count, 3), int16, optional
        Angular-rate counts; °/s = count × range / 32768.
    ts64 : bool
        Timestamp sent as uint64 instead of uint32.
    version : int
        Major profile version of the frame layout (1).
    """

    seq: int
    timestamp_us: int
    rate_code: int
    acc_range_code: int
    acc: np.ndarray
    gyro: np.ndarray | None = None
    gyro_range_code: int = 0
    ts64: bool = False
    version: int = PROFILE_VERSION_MAJOR

    def __post_init__(self) -> None:
        if self.version != PROFILE_VERSION_MAJOR:
            raise FrameError(
                f"open-profile frame version {self.version} not supported (this is {PROFILE_VERSION_MAJOR})"
            )
        if not 0 <= self.seq <= 0xFFFF:
            raise FrameError(f"sequence number out of uint16 range: {self.seq}")
        if not 0 <= self.timestamp_us < (1 << (64 if self.ts64 else 32)):
            raise FrameError(f"timestamp out of range: {self.timestamp_us}")
        if self.rate_code not in RATE_CODES:
            raise FrameError(f"invalid rate code {self.rate_code}")
        if self.acc_range_code not in ACC_RANGES_G or self.gyro_range_code not in GYRO_RANGES_DPS:
            raise FrameError(f"invalid range code(s) {self.acc_range_code}, {self.gyro_range_code}")
        acc = np.asarray(self.acc)
        if acc.ndim != 2 or acc.shape[1] != 3 or not 1 <= acc.shape[0] <= MAX_SAMPLES_PER_FRAME:
            raise FrameError(f"a frame holds 1..{MAX_SAMPLES_PER_FRAME} samples of 3 axes, got {acc.shape}")
        if self.gyro is not None and np.asarray(self.gyro).shape != acc.shape:
            raise FrameError("gyro samples must match acc samples")

    @property
    def count(self) -> int:
        return int(np.asarray(self.acc).shape[0])

    @property
    def rate_hz(self) -> float:
        return RATE_CODES[self.rate_code]

    @property
    def acc_range_g(self) -> int:
        return ACC_RANGES_G[self.acc_range_code]

    @property
    def gyro_range_dps(self) -> int:
        return GYRO_RANGES_DPS[self.gyro_range_code]

    def __bytes__(self) -> bytes:
        b0 = (
            (self.version << 6)
            | (0x20 if self.gyro is not None else 0)
            | (0x10 if self.ts64 else 0)
            | self.rate_code
        )
        b1 = (self.acc_range_code << 6) | (self.gyro_range_code << 4) | self.count
        head = struct.pack("<BBHQ" if self.ts64 else "<BBHI", b0, b1, self.seq, self.timestamp_us)
        acc = np.asarray(self.acc, dtype="<i2")
        if self.gyro is None:
            body = acc.tobytes()
        else:
            body = np.concatenate([acc, np.asarray(self.gyro, dtype="<i2")], axis=1).tobytes()
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> DataFrame:
        data = bytes(data)
        if len(data) < HEADER_BYTES:
            raise FrameError(f"open-profile frame too short ({len(data)} bytes)")
        b0, b1 = data[0], data[1]
        version = b0 >> 6
        if version != PROFILE_VERSION_MAJOR:
            raise FrameError(
                f"open-profile frame version {version} not supported (this is {PROFILE_VERSION_MAJOR})"
            )
        gyro, ts64, rate_code = bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F
        acc_code, gyro_code, count = b1 >> 6, (b1 >> 4) & 0x03, b1 & 0x0F
        head = HEADER_BYTES_TS64 if ts64 else HEADER_BYTES
        expected = head + count * (12 if gyro else 6)
        if count == 0 or len(data) != expected:
            raise FrameError(
                f"open-profile frame of {len(data)} bytes, header says {count} samples = {expected} bytes"
            )
        seq, ts = struct.unpack_from("<HQ" if ts64 else "<HI", data, 2)
        values = np.frombuffer(data, dtype="<i2", offset=head).reshape(count, 6 if gyro else 3)
        return cls(
            seq=seq,
            timestamp_us=ts,
            rate_code=rate_code,
            acc_range_code=acc_code,
            gyro_range_code=gyro_code,
            acc=values[:, :3].copy(),
            gyro=values[:, 3:].copy() if gyro else None,
            ts64=ts64,
            version=version,
        )

    def acc_mps2(self) -> np.ndarray:
        return np.asarray(self.acc, dtype=np.float64) * (self.acc_range_g / 32768.0) * STANDARD_GRAVITY_MPS2

    def gyr_radps(self) -> np.ndarray | None:
        if self.gyro is None:
            return None
        return np.asarray(self.gyro, dtype=np.float64) * (self.gyro_range_dps / 32768.0) * _DEG_TO_RAD

    @classmethod
    def from_si(
        cls,
        *,
        seq: int,
        timestamp_us: int,
        rate_code: int,
        acc_range_code: int,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None = None,
        gyro_range_code: int = 0,
        ts64: bool = False,
    ) -> DataFrame:
        """Encode SI samples the way a sensor would (round to nearest count, saturate at the range)."""
        acc = to_int16_counts(
            np.asarray(acc_mps2) / STANDARD_GRAVITY_MPS2, 32768.0 / ACC_RANGES_G[acc_range_code]
        )
        gyro = None
        if gyr_radps is not None:
            gyro = to_int16_counts(
                np.asarray(gyr_radps) / _DEG_TO_RAD, 32768.0 / GYRO_RANGES_DPS[gyro_range_code]
            )
        return cls(
            seq=seq,
            timestamp_us=timestamp_us,
            rate_code=rate_code,
            acc_range_code=acc_range_code,
            acc=acc,
            gyro=gyro,
            gyro_range_code=gyro_range_code,
            ts64=ts64,
        )


@dataclass(frozen=True)
class Request:
    """A control point request ``[opcode, params…]``."""

    opcode: int
    params: bytes = b""

    def __bytes__(self) -> bytes:
        return bytes([self.opcode]) + bytes(self.params)

    @classmethod
    def from_bytes(cls, data: bytes) -> Request:
        if not data:
            raise FrameError("empty control point request")
        return cls(opcode=data[0], params=bytes(data[1:]))


def request_get_info() -> Request:
    return Request(OP_GET_INFO)


def request_set_rate(rate_code: int) -> Request:
    return Request(OP_SET_RATE, bytes([rate_code]))


def request_set_range(acc_range_code: int, gyro_range_code: int | None = None) -> Request:
    """SET_RANGE; a gyro code of 0xFF (``None``) leaves the gyro range unchanged."""
    return Request(
        OP_SET_RANGE, bytes([acc_range_code, 0xFF if gyro_range_code is None else gyro_range_code])
    )


def request_start(*, gyro: bool) -> Request:
    return Request(OP_START, bytes([START_FLAG_GYRO if gyro else 0]))


def request_stop() -> Request:
    return Request(OP_STOP)


@dataclass(frozen=True)
class Response:
    """A control point answer ``[0x80, opcode, status, params…]``."""

    opcode: int
    status: int
    params: bytes = b""

    def __bytes__(self) -> bytes:
        return bytes([RESPONSE, self.opcode, self.status]) + bytes(self.params)

    @classmethod
    def from_bytes(cls, data: bytes) -> Response:
        if len(data) < 3 or data[0] != RESPONSE:
            raise FrameError(f"not an open-profile response: {bytes(data).hex(' ')}")
        return cls(opcode=data[1], status=data[2], params=bytes(data[3:]))

    @property
    def ok(self) -> bool:
        return self.status == STATUS_SUCCESS

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, f"status {self.status:#04x}")


@dataclass(frozen=True)
class Event:
    """An unsolicited control point notification ``[0x81, event, params…]``."""

    event: int
    params: bytes = b""

    def __bytes__(self) -> bytes:
        return bytes([EVENT, self.event]) + bytes(self.params)

    @classmethod
    def from_bytes(cls, data: bytes) -> Event:
        if len(data) < 2 or data[0] != EVENT:
            raise FrameError(f"not an open-profile event: {bytes(data).hex(' ')}")
        return cls(event=data[1], params=bytes(data[2:]))


@dataclass(frozen=True)
class DeviceInfo:
    """GET_INFO answer parameters (11 bytes; a v1.x sensor may append more, which v1.0 readers ignore).

    ``version_major, version_minor, rates (uint16 bitmask over rate codes), acc_ranges (bitmask over
    acc range codes), gyro_ranges (bitmask; 0 = no gyro), max_samples_per_frame, rate_code,
    acc_range_code, gyro_range_code, streaming``.
    """

    version_major: int
    version_minor: int
    rates_mask: int
    acc_ranges_mask: int
    gyro_ranges_mask: int
    max_samples_per_frame: int
    rate_code: int
    acc_range_code: int
    gyro_range_code: int
    streaming: bool

    _FORMAT: ClassVar[str] = "<BBHBBBBBBB"

    def __bytes__(self) -> bytes:
        return struct.pack(
            self._FORMAT,
            self.version_major,
            self.version_minor,
            self.rates_mask,
            self.acc_ranges_mask,
            self.gyro_ranges_mask,
            self.max_samples_per_frame,
            self.rate_code,
            self.acc_range_code,
            self.gyro_range_code,
            int(self.streaming),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceInfo:
        size = struct.calcsize(cls._FORMAT)
        if len(data) < size:
            raise FrameError(f"GET_INFO answer too short ({len(data)} bytes, need {size})")
        v = struct.unpack_from(cls._FORMAT, bytes(data), 0)
        return cls(*v[:9], streaming=bool(v[9]))

    @property
    def has_gyro(self) -> bool:
        return self.gyro_ranges_mask != 0

    @property
    def rates_hz(self) -> list[float]:
        return [hz for code, hz in RATE_CODES.items() if self.rates_mask & (1 << code)]

    @property
    def acc_ranges_g(self) -> list[int]:
        return [g for code, g in ACC_RANGES_G.items() if self.acc_ranges_mask & (1 << code)]


@dataclass
class OpenProfileDecoder:
    """Data frames → SI batches; sequence gaps → ``LOST_PACKETS``; duplicates dropped.

    Sample ``i`` of a frame is at ``timestamp + i / rate``; the uint32 µs clock is unwrapped. A frame
    whose sequence number is not the next one is reported with the number of frames missing; one that
    repeats an already seen sequence number is dropped (a re-subscription may deliver it twice).
    """

    _seq: WrapUnwrapper = field(default_factory=lambda: WrapUnwrapper(1 << 16), init=False, repr=False)
    _clock: WrapUnwrapper = field(default_factory=lambda: WrapUnwrapper(1 << 32), init=False, repr=False)
    _last_seq: int | None = field(default=None, init=False, repr=False)

    kind: ClassVar[str] = "gaitdir"

    def reset(self) -> OpenProfileDecoder:
        """Forget history: START restarts the sequence at 0."""
        self._seq.reset()
        self._clock.reset()
        self._last_seq = None
        return self

    def feed(self, data: bytes, host_time_s: float = 0.0) -> list[ImuBatch | StreamEvent]:
        try:
            frame = DataFrame.from_bytes(data)
        except FrameError as exc:
            return [StreamEvent(EventKind.MALFORMED_FRAME, str(exc))]
        out: list[ImuBatch | StreamEvent] = []
        seq = self._seq.unwrap(frame.seq)
        ts_us = frame.timestamp_us if frame.ts64 else self._clock.unwrap(frame.timestamp_us)
        if self._last_seq is not None:
            if seq <= self._last_seq:
                return [StreamEvent(EventKind.MALFORMED_FRAME, f"repeated frame (sequence {frame.seq})")]
            if seq > self._last_seq + 1:
                lost = seq - self._last_seq - 1
                out.append(
                    StreamEvent(
                        EventKind.LOST_PACKETS,
                        f"{lost} frame(s) missing before sequence {frame.seq}",
                        ts_us / 1e6,
                    )
                )
        self._last_seq = seq
        times_s = ts_us / 1e6 + np.arange(frame.count) / frame.rate_hz
        out.append(ImuBatch(times_s, frame.acc_mps2(), frame.gyr_radps()))
        return out


# --------------------------------------------------------------------------------------------- driver
@register_driver
class OpenProfileDriver(EventfulDriverMixin):
    """Any board implementing the gaitdir open profile v1.

    On connect it reads GET_INFO (refusing an unknown major version); start sends SET_RATE (nearest
    supported rate), SET_RANGE (smallest supported range covering ``range_g``) and START (with gyro
    when the board has one); stop sends STOP. Every command is answered on the control point and a
    non-success status raises :class:`~gaitdir.errors.DeviceError` naming it. Times come from the
    frames' µs timestamps; sequence gaps become ``LOST_PACKETS``; a ``STREAM_STOPPED`` event from the
    board becomes ``STOPPED_BY_SENSOR``.
    """

    kind: ClassVar[str] = "gaitdir"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["gaitdir"]
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)
    name_prefixes: ClassVar[tuple[str, ...]] = ("gaitdir",)
    default_sample_rate_hz: ClassVar[float] = 100.0
    default_range_g: ClassVar[float] = 8.0
    timestamps: ClassVar[TimestampSource] = "sensor"
    control_uuid: ClassVar[str | None] = CONTROL_POINT_UUID
    control_notifies: ClassVar[bool] = True
    data_uuids: ClassVar[tuple[str, ...]] = (DATA_UUID,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device_info: DeviceInfo | None = None
        self.has_gyro = False

    def is_response(self, data: bytes) -> bool:
        return len(data) >= 1 and data[0] == RESPONSE

    def expects_response(self, payload: bytes) -> bool:
        return True

    def check_response(self, command: bytes, response: Sequence[bytes]) -> None:
        try:
            answer = Response.from_bytes(response[0])
        except FrameError as exc:
            raise DeviceError(f"{self.kind} {self.address}: bad control point answer: {exc}") from exc
        if answer.opcode != command[0]:
            raise DeviceError(
                f"{self.kind} {self.address}: answer to opcode {answer.opcode:#04x}, "
                f"expected {command[0]:#04x}"
            )
        if not answer.ok:
            raise DeviceError(
                f"{self.kind} {self.address}: command {command.hex(' ')} failed: {answer.status_name}"
            )
        if answer.opcode == OP_GET_INFO:
            self.device_info = DeviceInfo.from_bytes(answer.params)

    async def after_subscribe(self) -> None:
        await self.command(bytes(request_get_info()))
        info = self.device_info
        assert info is not None  # set by check_response
        if info.version_major != PROFILE_VERSION_MAJOR:
            raise DeviceError(
                f"{self.info.name or self.address} speaks gaitdir open profile {info.version_major}."
                f"{info.version_minor}; this gaitdir supports {PROFILE_VERSION_MAJOR}.x"
            )
        if not info.rates_hz or not info.acc_ranges_g:
            raise DeviceError(f"{self.info.name or self.address} reports no supported rate or range")
        self.has_gyro = info.has_gyro

    @property
    def effective_sample_rate_hz(self) -> float:
        requested = float(
            self.sample_rate_hz if self.sample_rate_hz is not None else self.default_sample_rate_hz
        )
        rates = self.device_info.rates_hz if self.device_info else list(RATE_CODES.values())
        return min(rates, key=lambda hz: (abs(hz - requested), -hz))

    @property
    def effective_range_g(self) -> float:
        requested = float(self.range_g if self.range_g is not None else self.default_range_g)
        ranges = sorted(self.device_info.acc_ranges_g if self.device_info else ACC_RANGES_G.values())
        covering = [g for g in ranges if g >= requested]
        return float(covering[0] if covering else ranges[-1])

    def start_commands(self) -> list[bytes]:
        gyro_code = None
        if self.device_info is not None and self.device_info.has_gyro:
            # widest supported gyro range: turning the trunk fast must not saturate
            gyro_code = max(c for c in GYRO_RANGES_DPS if self.device_info.gyro_ranges_mask & (1 << c))
        return [
            bytes(request_set_rate(rate_code_for(self.effective_sample_rate_hz))),
            bytes(request_set_range(acc_range_code_for(int(self.effective_range_g)), gyro_code)),
            bytes(request_start(gyro=self.has_gyro)),
        ]

    def stop_commands(self) -> list[bytes]:
        return [bytes(request_stop())]

    def family_control_events(self, data: bytes) -> list[StreamEvent]:
        try:
            event = Event.from_bytes(data)
        except FrameError:
            logger.warning(
                "gaitdir %s: unexpected control point notification %s", self.address, data.hex(" ")
            )
            return []
        if event.event == EVENT_STREAM_STOPPED:
            reason = STOP_REASONS.get(event.params[0], "unspecified") if event.params else "unspecified"
            return [StreamEvent(EventKind.STOPPED_BY_SENSOR, f"the sensor stopped the stream ({reason})")]
        return []

    def new_decoder(self) -> EventfulDecoder:
        return EventfulDecoder(OpenProfileDecoder().feed, self)
