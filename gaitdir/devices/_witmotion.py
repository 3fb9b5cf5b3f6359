"""WitMotion BWT901BLE / WT901BLECL (BLE 5.0 modules) — ``55 61`` packets on a non-standard UUID base.

The module notifies a stream of 20-byte packets ``55 61`` + 9 int16 LE (acc xyz, gyro xyz, angle
xyz) on ``0000ffe4-…-00805f9a34fb`` (note **9a**, not the Bluetooth base's 9b) and takes 5-byte
register writes ``FF AA reg lo hi`` on ``0000ffe9-…9a34fb``. There is no timestamp, no checksum and no
sequence number; packets are found by their header and may straddle notification boundaries, so the
decoder buffers bytes and re-synchronises on ``55 61``. See ``firmware_notes/witmotion.md``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gaitdir.devices._base import TimestampSource, register_driver
from gaitdir.devices._codeccommon import (
    STANDARD_GRAVITY_MPS2,
    DerivedClock,
    DerivedClockDecoder,
    FrameError,
    to_int16_counts,
)
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.devices._untimed import DerivedClockDriverMixin, NotifyToStreamMixin
from gaitdir.mounting import MOUNTING_PROFILES, MountingProfile

SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"

HEADER = 0x55
FLAG_IMU = 0x61
FLAG_REGISTERS = 0x71
PACKET_BYTES = 20

#: Full scales of the BLE 5.0 packet (WitMotion SDK ``device_model.py``): ±16 g, ±2000 °/s, ±180°.
ACC_FULL_SCALE_G = 16.0
GYRO_FULL_SCALE_DPS = 2000.0
ANGLE_FULL_SCALE_DEG = 180.0

REG_SAVE = 0x00
REG_RATE = 0x03
REG_UNLOCK = 0x69
UNLOCK_VALUE = 0xB588
#: Output rate (Hz) → value of register 0x03. 0.2–50 Hz from a published client
#: (``CommandsForDevice.ts``); 100 and 200 Hz are UNVERIFIED for the BLE modules.
RATE_CODES: dict[float, int] = {
    0.2: 0x01,
    0.5: 0x02,
    1.0: 0x03,
    2.0: 0x04,
    5.0: 0x05,
    10.0: 0x06,
    20.0: 0x07,
    50.0: 0x08,
    100.0: 0x09,
    200.0: 0x0B,
}
UNVERIFIED_RATES_HZ: frozenset[float] = frozenset({100.0, 200.0})

_NAME = re.compile(r"^(B?WT9\d\d|WT\d{3}BLE)", re.IGNORECASE)
_DEG_TO_RAD = math.pi / 180.0

logger = logging.getLogger(__name__)


def recognise_name(name: str | None) -> bool:
    """True for advertised names of WitMotion BLE IMUs (``WT901BLE68``, ``BWT901BLE…``)."""
    return bool(name) and bool(_NAME.match(name or ""))


@dataclass(frozen=True)
class RegisterWrite:
    """A register write ``FF AA reg lo hi`` (reads use reg 0x27 with the register to read as value)."""

    register: int
    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.register <= 0xFF or not 0 <= self.value <= 0xFFFF:
            raise FrameError(f"WitMotion register write out of range: reg {self.register} value {self.value}")

    def __bytes__(self) -> bytes:
        return bytes([0xFF, 0xAA, self.register]) + struct.pack("<H", self.value)

    @classmethod
    def from_bytes(cls, data: bytes) -> RegisterWrite:
        if len(data) != 5 or data[0] != 0xFF or data[1] != 0xAA:
            raise FrameError(f"not a WitMotion register write: {bytes(data).hex(' ')}")
        return cls(register=data[2], value=struct.unpack_from("<H", data, 3)[0])


def rate_commands(rate_hz: float) -> list[bytes]:
    """Unlock, set the output rate, save — the sequence of the WitMotion SDK's ``writeReg``."""
    try:
        code = RATE_CODES[float(rate_hz)]
    except KeyError:
        raise ValueError(
            f"WitMotion rate {rate_hz} Hz not supported; expected one of {sorted(RATE_CODES)}"
        ) from None
    return [
        bytes(RegisterWrite(REG_UNLOCK, UNLOCK_VALUE)),
        bytes(RegisterWrite(REG_RATE, code)),
        bytes(RegisterWrite(REG_SAVE, 0x0000)),
    ]


@dataclass(frozen=True)
class WitPacket:
    """One ``55 61`` packet in raw counts.

    Attributes
    ----------
    acc : tuple of int
        x, y, z counts; g = count / 32768 × 16.
    gyro : tuple of int
        x, y, z counts; °/s = count / 32768 × 2000.
    angle : tuple of int
        roll, pitch, yaw counts; ° = count / 32768 × 180.
    """

    acc: tuple[int, int, int]
    gyro: tuple[int, int, int]
    angle: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        for v in (*self.acc, *self.gyro, *self.angle):
            if not -32768 <= v <= 32767:
                raise FrameError(f"WitMotion field out of int16 range: {v}")

    def __bytes__(self) -> bytes:
        return bytes([HEADER, FLAG_IMU]) + struct.pack("<9h", *self.acc, *self.gyro, *self.angle)

    @classmethod
    def from_bytes(cls, data: bytes) -> WitPacket:
        if len(data) != PACKET_BYTES or data[0] != HEADER or data[1] != FLAG_IMU:
            raise FrameError(f"not a WitMotion 55 61 packet: {bytes(data[:4]).hex(' ')}… ({len(data)} bytes)")
        v = struct.unpack_from("<9h", data, 2)
        return cls(acc=v[0:3], gyro=v[3:6], angle=v[6:9])

    @property
    def acc_g(self) -> np.ndarray:
        return np.asarray(self.acc, dtype=np.float64) / 32768.0 * ACC_FULL_SCALE_G

    @property
    def gyro_dps(self) -> np.ndarray:
        return np.asarray(self.gyro, dtype=np.float64) / 32768.0 * GYRO_FULL_SCALE_DPS

    @property
    def angle_deg(self) -> np.ndarray:
        return np.asarray(self.angle, dtype=np.float64) / 32768.0 * ANGLE_FULL_SCALE_DEG

    @classmethod
    def from_si(cls, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None) -> WitPacket:
        """Encode one sample (m/s², rad/s) as the module would (angles left at 0)."""
        acc = to_int16_counts(np.asarray(acc_mps2) / STANDARD_GRAVITY_MPS2, 32768.0 / ACC_FULL_SCALE_G)
        gyr = np.zeros(3) if gyr_radps is None else np.asarray(gyr_radps) / _DEG_TO_RAD
        gyro = to_int16_counts(gyr, 32768.0 / GYRO_FULL_SCALE_DPS)
        return cls(acc=tuple(int(x) for x in acc), gyro=tuple(int(x) for x in gyro))


@dataclass
class WitMotionDecoder(DerivedClockDecoder):
    """Finds ``55 61`` packets in a byte stream split arbitrarily into notifications.

    Bytes before a header are skipped and reported once per run as ``MALFORMED_FRAME``; ``55 71``
    register answers are consumed and ignored. Sample times are derived from the nominal rate.

    Parameters
    ----------
    rate_hz : float
        Configured output rate (Hz).
    """

    rate_hz: float
    _buffer: bytearray = field(default_factory=bytearray, init=False, repr=False)
    clock: DerivedClock | None = None

    kind: ClassVar[str] = "witmotion"

    def reset(self) -> WitMotionDecoder:
        self._buffer.clear()
        return super().reset()

    def resume(self) -> WitMotionDecoder:
        # a packet cut by the restart would be glued to the next stream's bytes: drop it
        self._buffer.clear()
        return super().resume()

    def packets(self, data: bytes) -> tuple[list[WitPacket], int]:
        """Append ``data`` to the buffer and cut out complete packets; returns them and bytes skipped."""
        buf = self._buffer
        found: list[WitPacket] = []
        skipped = 0
        if buf and len(data) >= 2 and data[0] == HEADER and data[1] in (FLAG_IMU, FLAG_REGISTERS):
            # The module sends whole packets per notification, so a notification that starts with a
            # header starts a packet: a partial one left over is stale (without this, the stale bytes
            # and the new packet would be glued into one bogus packet — there is no checksum).
            skipped += len(buf)
            buf.clear()
        buf.extend(data)
        while True:
            start = buf.find(HEADER)
            if start < 0:
                skipped += len(buf)
                buf.clear()
                break
            if start:
                skipped += start
                del buf[:start]
            if len(buf) < 2:
                break
            if buf[1] not in (FLAG_IMU, FLAG_REGISTERS):
                skipped += 1
                del buf[:1]
                continue
            if len(buf) < PACKET_BYTES:
                break
            if buf[1] == FLAG_IMU:
                found.append(WitPacket.from_bytes(bytes(buf[:PACKET_BYTES])))
            del buf[:PACKET_BYTES]
        return found, skipped

    def feed(self, data: bytes, host_time_s: float) -> list[ImuBatch | StreamEvent]:
        found, skipped = self.packets(data)
        out: list[ImuBatch | StreamEvent] = []
        if skipped:
            out.append(
                StreamEvent(EventKind.MALFORMED_FRAME, f"skipped {skipped} byte(s) to re-sync on 55 61")
            )
        if found:
            acc = np.stack([p.acc_g for p in found]) * STANDARD_GRAVITY_MPS2
            gyr = np.stack([p.gyro_dps for p in found]) * _DEG_TO_RAD
            out.append(ImuBatch(self._clock.times(len(found), host_time_s), acc, gyr))
        return out


# --------------------------------------------------------------------------------------------- driver
@register_driver
class WitMotionDriver(NotifyToStreamMixin, DerivedClockDriverMixin):
    """WitMotion BWT901BLE / WT901BLECL: acc + gyro from ``55 61`` packets, derived times.

    Start writes the output rate (unlock, rate register, save — as the vendor SDK does) and enables
    notifications; stop disables them (the module has no stream on/off command: it sends whenever a
    client listens). Rate = nearest of :data:`RATE_CODES` to ``sample_rate_hz`` (default 50 Hz, the
    highest code confirmed by a published client; 100 and 200 Hz are UNVERIFIED and logged as such).
    The packet's acceleration scale is fixed at ±16 g, so ``range_g`` is ignored with a warning.
    """

    kind: ClassVar[str] = "witmotion"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["witmotion"]
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)
    default_sample_rate_hz: ClassVar[float] = 50.0
    default_range_g: ClassVar[float] = ACC_FULL_SCALE_G
    has_gyro: ClassVar[bool] = True
    timestamps: ClassVar[TimestampSource] = "derived"
    control_uuid: ClassVar[str | None] = WRITE_UUID
    control_notifies: ClassVar[bool] = False
    #: notifications are switched on by start() and off by stop(), not at connect
    data_uuids: ClassVar[tuple[str, ...]] = ()
    stream_uuid: ClassVar[str] = NOTIFY_UUID
    #: pause between register writes (s), as in the vendor SDK's writeReg
    register_pause_s: ClassVar[float] = 0.1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rate_written: float | None = None

    @classmethod
    def recognise(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        return recognise_name(name) or super().recognise(name, service_uuids)

    @property
    def effective_sample_rate_hz(self) -> float:
        requested = self.sample_rate_hz if self.sample_rate_hz is not None else self.default_sample_rate_hz
        return min(RATE_CODES, key=lambda hz: (abs(hz - float(requested)), -hz))

    @property
    def effective_range_g(self) -> float:
        return ACC_FULL_SCALE_G

    async def after_subscribe(self) -> None:
        self.require_stream_characteristic(f"WitMotion data characteristic {NOTIFY_UUID}")
        if self.range_g is not None and self.range_g != ACC_FULL_SCALE_G:
            logger.warning("witmotion: packets are scaled to ±16 g; ignoring range_g=%s", self.range_g)
        if self.effective_sample_rate_hz in UNVERIFIED_RATES_HZ:
            logger.warning(
                "witmotion: the register code for %g Hz is UNVERIFIED on BLE modules; check the rate "
                "actually received",
                self.effective_sample_rate_hz,
            )

    def start_commands(self) -> list[bytes]:
        return rate_commands(self.effective_sample_rate_hz)

    def stop_commands(self) -> list[bytes]:
        return []

    async def start(self) -> None:
        self._decoder = self.new_decoder()
        rate_hz = self.effective_sample_rate_hz
        if self._rate_written != rate_hz:
            # "save" writes flash: once per driver, not again at every reconnect (the module keeps it)
            for i, payload in enumerate(self.start_commands()):
                if i:
                    await asyncio.sleep(self.register_pause_s)
                await self.command(payload, expect_response=False)
            self._rate_written = rate_hz
        await self.enable_stream()

    def family_decoder(self, rate_hz: float, clock: DerivedClock) -> WitMotionDecoder:
        return WitMotionDecoder(rate_hz, clock=clock)
