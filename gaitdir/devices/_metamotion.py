"""MbientLab MetaMotion / MetaWear (BMI160 accelerometer) over the MetaWear command protocol.

Every message is ``[module, register, data…]`` in both directions: commands are written to the command
characteristic, answers and data are notified on the notify characteristic. The accelerometer is
module 0x03 (BMI160 registers: 1 power mode, 2 data-interrupt enable, 3 data config, 4 data,
0x1C packed data); the BMI160 gyro is module 0x13 (5 data, 7 packed data). Samples are int16 LE,
scaled by the configured range; notifications carry **no timestamp**, so times are derived from the
nominal rate (:class:`~gaitdir.devices._codeccommon.DerivedClock`). Byte values and test vectors come
from MbientLab's own SDK tests; see ``firmware_notes/metamotion.md``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
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
from gaitdir.devices._untimed import DerivedClockDriverMixin
from gaitdir.errors import DeviceError
from gaitdir.mounting import MOUNTING_PROFILES, MountingProfile

SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
COMMAND_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
NOTIFY_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"

MODULE_ACC = 0x03
MODULE_GYRO = 0x13
#: Accelerometer (Bosch) registers.
REG_POWER_MODE = 0x01
REG_DATA_INTERRUPT_ENABLE = 0x02
REG_DATA_CONFIG = 0x03
REG_DATA = 0x04
REG_PACKED_DATA = 0x1C
#: BMI160 gyro registers.
REG_GYRO_DATA = 0x05
REG_GYRO_PACKED_DATA = 0x07
#: Register 0 read (0x80 | 0): every module answers with ``[module, 0x80, implementation, revision…]``.
READ_INFO = 0x80
#: Accelerometer implementation ids in the module-info answer.
ACC_IMPL_BMI160 = 0x01
ACC_IMPL_BMA255 = 0x03
#: Packed acceleration exists from accelerometer module revision 1 on (SDK ``PACKED_ACC_REVISION``).
PACKED_ACC_REVISION = 1

#: Output data rate (Hz) → BMI160 ODR field (``acc_conf`` bits 0–3).
ODR_CODES: dict[float, int] = {
    12.5: 0x5,
    25.0: 0x6,
    50.0: 0x7,
    100.0: 0x8,
    200.0: 0x9,
    400.0: 0xA,
    800.0: 0xB,
    1600.0: 0xC,
}
#: Bandwidth field the SDK sets for every ODR ≥ 12.5 Hz (``bwp = 2``, normal filter mode).
_BWP_NORMAL = 0x2 << 4
#: Range (±g) → range byte and counts per g (SDK ``FSR_BITMASKS`` / ``FSR_SCALE``).
ACC_RANGES: dict[int, tuple[int, float]] = {
    2: (0x03, 16384.0),
    4: (0x05, 8192.0),
    8: (0x08, 4096.0),
    16: (0x0C, 2048.0),
}
#: Gyro range (±°/s) → range field and counts per °/s (BMI160 datasheet, as the SDK test vectors show).
GYRO_RANGES: dict[int, tuple[int, float]] = {
    2000: (0, 16.4),
    1000: (1, 32.8),
    500: (2, 65.6),
    250: (3, 131.2),
    125: (4, 262.4),
}

_DEG_TO_RAD = math.pi / 180.0

logger = logging.getLogger(__name__)


def _odr_byte(rate_hz: float) -> int:
    try:
        return _BWP_NORMAL | ODR_CODES[float(rate_hz)]
    except KeyError:
        raise ValueError(
            f"MetaMotion rate {rate_hz} Hz not supported; expected one of {sorted(ODR_CODES)}"
        ) from None


def acc_config_command(rate_hz: float, range_g: int) -> bytes:
    """``03 03 <odr> <range>``: accelerometer data config (e.g. 100 Hz ±4 g → ``03 03 28 05``)."""
    if range_g not in ACC_RANGES:
        raise ValueError(f"MetaMotion range ±{range_g} g not supported; expected one of {sorted(ACC_RANGES)}")
    return bytes([MODULE_ACC, REG_DATA_CONFIG, _odr_byte(rate_hz), ACC_RANGES[range_g][0]])


def gyro_config_command(rate_hz: float, range_dps: int) -> bytes:
    """``13 03 <odr> <range>``: gyro data config (e.g. 200 Hz ±2000 °/s → ``13 03 29 00``)."""
    if range_dps not in GYRO_RANGES:
        raise ValueError(
            f"MetaMotion gyro range ±{range_dps} °/s not supported; expected {sorted(GYRO_RANGES)}"
        )
    return bytes([MODULE_GYRO, REG_DATA_CONFIG, _odr_byte(rate_hz), GYRO_RANGES[range_dps][0]])


def decode_acc_config(data: bytes) -> tuple[float, int]:
    """Inverse of :func:`acc_config_command`: ``(rate_hz, range_g)``."""
    if len(data) != 4 or data[0] != MODULE_ACC or data[1] != REG_DATA_CONFIG:
        raise FrameError(f"not a MetaMotion accelerometer config: {bytes(data).hex(' ')}")
    rates = {code: hz for hz, code in ODR_CODES.items()}
    ranges = {code: g for g, (code, _) in ACC_RANGES.items()}
    odr = data[2] & 0x0F
    if odr not in rates or data[3] not in ranges:
        raise FrameError(f"MetaMotion accelerometer config out of range: {bytes(data).hex(' ')}")
    return rates[odr], ranges[data[3]]


#: Commands with no parameters (SDK functions named in ``firmware_notes/metamotion.md``).
CMD_READ_ACC_INFO = bytes([MODULE_ACC, READ_INFO])
CMD_ACC_START = bytes([MODULE_ACC, REG_POWER_MODE, 0x01])
CMD_ACC_STOP = bytes([MODULE_ACC, REG_POWER_MODE, 0x00])
CMD_ACC_ENABLE = bytes([MODULE_ACC, REG_DATA_INTERRUPT_ENABLE, 0x01, 0x00])
CMD_ACC_DISABLE = bytes([MODULE_ACC, REG_DATA_INTERRUPT_ENABLE, 0x00, 0x01])
CMD_ACC_SUBSCRIBE = bytes([MODULE_ACC, REG_DATA, 0x01])
CMD_ACC_UNSUBSCRIBE = bytes([MODULE_ACC, REG_DATA, 0x00])
CMD_ACC_PACKED_SUBSCRIBE = bytes([MODULE_ACC, REG_PACKED_DATA, 0x01])
CMD_ACC_PACKED_UNSUBSCRIBE = bytes([MODULE_ACC, REG_PACKED_DATA, 0x00])


@dataclass(frozen=True)
class ModuleInfo:
    """Answer to a module-info read: ``[module, 0x80, implementation, revision, extra…]``.

    A module that is absent answers with the two header bytes only (``present`` is then False).
    """

    module: int
    implementation: int | None = None
    revision: int | None = None

    @property
    def present(self) -> bool:
        return self.implementation is not None

    def __bytes__(self) -> bytes:
        out = bytes([self.module, READ_INFO])
        if self.implementation is not None:
            out += bytes([self.implementation, self.revision or 0])
        return out

    @classmethod
    def from_bytes(cls, data: bytes) -> ModuleInfo:
        if len(data) < 2 or data[1] != READ_INFO:
            raise FrameError(f"not a MetaWear module-info answer: {bytes(data).hex(' ')}")
        if len(data) < 4:
            return cls(module=data[0])
        return cls(module=data[0], implementation=data[2], revision=data[3])


@dataclass(frozen=True)
class AccSamples:
    """Accelerometer samples of one notification: 1 (register 0x04) or 3 (packed, register 0x1C).

    Attributes
    ----------
    counts : ndarray, shape (n, 3), int16
        Raw x, y, z counts.
    packed : bool
        True for the packed register (three samples per notification).
    module : int
        ``MODULE_ACC`` (0x03) or ``MODULE_GYRO`` (0x13): the same layout serves both.
    """

    counts: np.ndarray
    packed: bool = True
    module: int = MODULE_ACC

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.shape != ((3, 3) if self.packed else (1, 3)):
            raise FrameError(
                f"MetaWear {'packed' if self.packed else 'single'} data needs shape "
                f"{(3, 3) if self.packed else (1, 3)}, got {counts.shape}"
            )
        if self.module not in (MODULE_ACC, MODULE_GYRO):
            raise FrameError(f"MetaWear data module must be 0x03 or 0x13, got {self.module:#04x}")

    @property
    def register(self) -> int:
        if self.module == MODULE_ACC:
            return REG_PACKED_DATA if self.packed else REG_DATA
        return REG_GYRO_PACKED_DATA if self.packed else REG_GYRO_DATA

    def __bytes__(self) -> bytes:
        return bytes([self.module, self.register]) + np.asarray(self.counts, dtype="<i2").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> AccSamples:
        if len(data) < 2:
            raise FrameError(f"MetaWear notification too short ({len(data)} bytes)")
        module, register = data[0], data[1]
        packed_regs = {MODULE_ACC: REG_PACKED_DATA, MODULE_GYRO: REG_GYRO_PACKED_DATA}
        single_regs = {MODULE_ACC: REG_DATA, MODULE_GYRO: REG_GYRO_DATA}
        if module not in packed_regs or register not in (packed_regs[module], single_regs[module]):
            raise FrameError(f"not a MetaWear motion data notification: {bytes(data[:2]).hex(' ')}")
        packed = register == packed_regs[module]
        expected = 2 + (18 if packed else 6)
        if len(data) != expected:
            raise FrameError(f"MetaWear data notification of {len(data)} bytes, expected {expected}")
        counts = np.frombuffer(bytes(data), dtype="<i2", offset=2).reshape(-1, 3)
        return cls(counts=counts.copy(), packed=packed, module=module)

    def to_g(self, range_g: int) -> np.ndarray:
        """Acceleration (g) for an accelerometer range of ±``range_g``."""
        return np.asarray(self.counts, dtype=np.float64) / ACC_RANGES[range_g][1]

    def to_dps(self, range_dps: int) -> np.ndarray:
        """Angular rate (°/s) for a gyro range of ±``range_dps``."""
        return np.asarray(self.counts, dtype=np.float64) / GYRO_RANGES[range_dps][1]

    @classmethod
    def from_mps2(cls, acc_mps2: np.ndarray, range_g: int, *, packed: bool = True) -> AccSamples:
        """Encode acceleration (m/s²) as a sensor of range ±``range_g`` would (rounding, saturating)."""
        counts = to_int16_counts(np.asarray(acc_mps2) / STANDARD_GRAVITY_MPS2, ACC_RANGES[range_g][1])
        return cls(counts=counts, packed=packed)


@dataclass
class MetaMotionDecoder(DerivedClockDecoder):
    """Turns accelerometer notifications into SI batches with derived times.

    Anything that is not accelerometer data (module-info answers, other modules' notifications, the
    board's own messages after power-on) is ignored, not treated as an error: the board initialisation
    sequence is not fully documented, so the decoder stays tolerant.

    Parameters
    ----------
    rate_hz : float
        Configured output data rate (Hz).
    range_g : int
        Configured range (±g).
    """

    rate_hz: float
    range_g: int
    clock: DerivedClock | None = None

    kind: ClassVar[str] = "metamotion"

    def feed(self, data: bytes, host_time_s: float) -> list[ImuBatch | StreamEvent]:
        if len(data) >= 2 and data[0] == MODULE_ACC and data[1] in (REG_DATA, REG_PACKED_DATA):
            try:
                samples = AccSamples.from_bytes(data)
            except FrameError as exc:
                return [StreamEvent(EventKind.MALFORMED_FRAME, str(exc))]
            acc = samples.to_g(self.range_g) * STANDARD_GRAVITY_MPS2
            return [ImuBatch(self._clock.times(acc.shape[0], host_time_s), acc, None)]
        return []


# --------------------------------------------------------------------------------------------- driver
@register_driver
class MetaMotionDriver(DerivedClockDriverMixin):
    """MetaMotion / MetaWear board with a BMI160: packed accelerometer stream (3 samples/notification).

    The accelerometer module is asked for its implementation and revision first (``03 80``); packed
    data needs revision ≥ 1, older boards get one sample per notification. No answer within
    :attr:`info_timeout_s` is tolerated (the board initialisation sequence is not fully documented):
    gaitdir then assumes a BMI160 of revision 1. Rate = nearest BMI160 ODR to ``sample_rate_hz``
    (12.5…1600 Hz, default 100); range = smallest of ±2/4/8/16 g covering ``range_g`` (default 8).
    Times are derived (no timestamps on the wire); only acceleration is streamed, because two
    untimed streams (acc, gyro) cannot be aligned sample by sample with any certainty.
    """

    kind: ClassVar[str] = "metamotion"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["metamotion"]
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)
    name_prefixes: ClassVar[tuple[str, ...]] = ("MetaWear", "MetaMotion")
    default_sample_rate_hz: ClassVar[float] = 100.0
    default_range_g: ClassVar[float] = 8.0
    has_gyro: ClassVar[bool] = False
    timestamps: ClassVar[TimestampSource] = "derived"
    control_uuid: ClassVar[str | None] = COMMAND_UUID
    control_notifies: ClassVar[bool] = False
    data_uuids: ClassVar[tuple[str, ...]] = (NOTIFY_UUID,)
    info_timeout_s: ClassVar[float] = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acc_info: ModuleInfo | None = None

    @property
    def effective_sample_rate_hz(self) -> float:
        requested = self.sample_rate_hz if self.sample_rate_hz is not None else self.default_sample_rate_hz
        return min(ODR_CODES, key=lambda hz: (abs(hz - float(requested)), -hz))

    @property
    def effective_range_g(self) -> float:
        requested = self.range_g if self.range_g is not None else self.default_range_g
        covering = [g for g in sorted(ACC_RANGES) if g >= requested]
        return float(covering[0] if covering else max(ACC_RANGES))

    @property
    def packed(self) -> bool:
        return self.acc_info is None or (self.acc_info.revision or 0) >= PACKED_ACC_REVISION

    async def after_subscribe(self) -> None:
        await self.client.write_gatt_char(COMMAND_UUID, CMD_READ_ACC_INFO, response=True)
        held: list[tuple[str, str, bytes, float]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.info_timeout_s
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                payload = item[2]
                if len(payload) >= 2 and payload[0] == MODULE_ACC and payload[1] == READ_INFO:
                    self.acc_info = ModuleInfo.from_bytes(payload)
                    break
                held.append(item)
        finally:
            for item in held:
                self._queue.put_nowait(item)
        if self.acc_info is None:
            logger.warning("metamotion %s: no accelerometer module info; assuming BMI160 rev 1", self.address)
        elif not self.acc_info.present:
            raise DeviceError(f"{self.info.name or self.address} reports no accelerometer module")
        elif self.acc_info.implementation != ACC_IMPL_BMI160:
            logger.warning(
                "metamotion %s: accelerometer implementation %d is not the BMI160 this driver was checked "
                "against; rate codes may differ",
                self.address,
                self.acc_info.implementation,
            )

    def start_commands(self) -> list[bytes]:
        rate_hz, range_g = self.effective_sample_rate_hz, int(self.effective_range_g)
        subscribe = CMD_ACC_PACKED_SUBSCRIBE if self.packed else CMD_ACC_SUBSCRIBE
        return [acc_config_command(rate_hz, range_g), subscribe, CMD_ACC_ENABLE, CMD_ACC_START]

    def stop_commands(self) -> list[bytes]:
        unsubscribe = CMD_ACC_PACKED_UNSUBSCRIBE if self.packed else CMD_ACC_UNSUBSCRIBE
        return [CMD_ACC_STOP, CMD_ACC_DISABLE, unsubscribe]

    def family_decoder(self, rate_hz: float, clock: DerivedClock) -> MetaMotionDecoder:
        return MetaMotionDecoder(rate_hz, int(self.effective_range_g), clock=clock)
