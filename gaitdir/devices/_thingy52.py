"""Nordic Thingy:52 — Thingy Motion Service raw characteristic (Q-format fixed point).

The raw characteristic ``EF680406-…`` notifies one sample per notification: 9 × int16 LE, acc xyz in
Q6.10 (g), gyro xyz in Q11.5 (°/s), compass xyz in Q12.4 (µT), no timestamp. The motion processing
rate is ``motion_freq_hz`` (1–200) in the 9-byte config characteristic ``EF680401-…``. Layout and
Q formats are Nordic's firmware (``ble_tms.h``, ``drv_motion.h``); see ``firmware_notes/thingy52.md``.

The firmware sends acceleration with the opposite sign to every other family: its accelerometer
orientation matrix is −I, "inverted to get positive readings when axis is aligned with g (down)"
(``drv_motion.c``, ``s_accel_pdata``), while the gyroscope's is +I. The wire therefore carries the
gravity vector, not the specific force; the decoder negates it so that, as for the other sensors, an
axis pointing up reads +1 g at rest and acceleration and angular rate share one right-handed frame.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Sequence
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
from gaitdir.devices._untimed import DerivedClockDriverMixin, NotifyToStreamMixin
from gaitdir.errors import DeviceError
from gaitdir.mounting import MOUNTING_PROFILES, MountingProfile

_BASE = "-9b35-4933-9b10-52ffa9740042"
SERVICE_UUID = "ef680400" + _BASE
CONFIG_UUID = "ef680401" + _BASE
RAW_UUID = "ef680406" + _BASE
#: The Thingy configuration service; Thingy firmware advertises it.
CONFIGURATION_SERVICE_UUID = "ef680100" + _BASE

#: Q-format fractional bits (``RAW_Q_FORMAT_*`` in ``drv_motion.h``).
ACC_FRAC_BITS = 10  # Q6.10 → /1024 = g
GYRO_FRAC_BITS = 5  # Q11.5 → /32 = °/s
COMPASS_FRAC_BITS = 4  # Q12.4 → /16 = µT

#: Limits of ``motion_freq_hz`` (``BLE_TMS_CONFIG_MPUF_MIN/MAX``).
MOTION_FREQ_MIN_HZ = 1
MOTION_FREQ_MAX_HZ = 200

_DEG_TO_RAD = math.pi / 180.0

logger = logging.getLogger(__name__)


def recognise_uuid(uuid: str) -> bool:
    """True for any UUID on the Thingy base (``EF68xxxx-9B35-4933-9B10-52FFA9740042``)."""
    u = uuid.lower()
    return u.startswith("ef68") and u.endswith(_BASE)


@dataclass(frozen=True)
class ThingyConfig:
    """The motion config characteristic: ``<HHHHB`` = pedometer, temperature and compass intervals (ms),
    motion processing frequency (Hz), wake-on-motion flag."""

    pedo_interval_ms: int
    temp_interval_ms: int
    compass_interval_ms: int
    motion_freq_hz: int
    wake_on_motion: int

    def __post_init__(self) -> None:
        if not MOTION_FREQ_MIN_HZ <= self.motion_freq_hz <= MOTION_FREQ_MAX_HZ:
            raise FrameError(
                f"Thingy motion_freq_hz must be {MOTION_FREQ_MIN_HZ}..{MOTION_FREQ_MAX_HZ}, "
                f"got {self.motion_freq_hz}"
            )
        for name in ("pedo_interval_ms", "temp_interval_ms", "compass_interval_ms"):
            if not 0 <= getattr(self, name) <= 0xFFFF:
                raise FrameError(f"Thingy {name} out of uint16 range")
        if self.wake_on_motion not in (0, 1):
            raise FrameError(f"Thingy wake_on_motion must be 0 or 1, got {self.wake_on_motion}")

    def __bytes__(self) -> bytes:
        return struct.pack(
            "<HHHHB",
            self.pedo_interval_ms,
            self.temp_interval_ms,
            self.compass_interval_ms,
            self.motion_freq_hz,
            self.wake_on_motion,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ThingyConfig:
        if len(data) != 9:
            raise FrameError(f"Thingy motion config is 9 bytes, got {len(data)}")
        return cls(*struct.unpack("<HHHHB", bytes(data)))


@dataclass(frozen=True)
class ThingyRaw:
    """One raw notification in fixed-point counts (acc Q6.10, gyro Q11.5, compass Q12.4)."""

    acc: tuple[int, int, int]
    gyro: tuple[int, int, int]
    compass: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        for v in (*self.acc, *self.gyro, *self.compass):
            if not -32768 <= v <= 32767:
                raise FrameError(f"Thingy raw field out of int16 range: {v}")

    def __bytes__(self) -> bytes:
        return struct.pack("<9h", *self.acc, *self.gyro, *self.compass)

    @classmethod
    def from_bytes(cls, data: bytes) -> ThingyRaw:
        if len(data) != 18:
            raise FrameError(f"Thingy raw notification is 18 bytes, got {len(data)}")
        v = struct.unpack("<9h", bytes(data))
        return cls(acc=v[0:3], gyro=v[3:6], compass=v[6:9])

    @property
    def acc_g(self) -> np.ndarray:
        """Acceleration as the wire carries it (g, gravity-aligned: +1 g on an axis pointing down)."""
        return np.asarray(self.acc, dtype=np.float64) / (1 << ACC_FRAC_BITS)

    @property
    def specific_force_g(self) -> np.ndarray:
        """Acceleration as every other family reports it (g, +1 g on an axis pointing up at rest)."""
        return -self.acc_g

    @property
    def gyro_dps(self) -> np.ndarray:
        return np.asarray(self.gyro, dtype=np.float64) / (1 << GYRO_FRAC_BITS)

    @property
    def compass_ut(self) -> np.ndarray:
        return np.asarray(self.compass, dtype=np.float64) / (1 << COMPASS_FRAC_BITS)

    @classmethod
    def from_si(cls, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None) -> ThingyRaw:
        """Encode one sample (specific force m/s², rad/s) as the firmware would: acceleration negated
        (see the module docstring), saturating; compass left at 0."""
        acc = to_int16_counts(-np.asarray(acc_mps2) / STANDARD_GRAVITY_MPS2, 1 << ACC_FRAC_BITS)
        gyr = np.zeros(3) if gyr_radps is None else np.asarray(gyr_radps) / _DEG_TO_RAD
        gyro = to_int16_counts(gyr, 1 << GYRO_FRAC_BITS)
        return cls(acc=tuple(int(x) for x in acc), gyro=tuple(int(x) for x in gyro))


@dataclass
class ThingyDecoder(DerivedClockDecoder):
    """Raw notifications → SI batches; times derived from ``motion_freq_hz``.

    Parameters
    ----------
    rate_hz : float
        Configured ``motion_freq_hz``.
    """

    rate_hz: float
    clock: DerivedClock | None = None

    kind: ClassVar[str] = "thingy52"

    def feed(self, data: bytes, host_time_s: float) -> list[ImuBatch | StreamEvent]:
        try:
            raw = ThingyRaw.from_bytes(data)
        except FrameError as exc:
            return [StreamEvent(EventKind.MALFORMED_FRAME, str(exc))]
        acc = raw.specific_force_g[None, :] * STANDARD_GRAVITY_MPS2
        gyr = raw.gyro_dps[None, :] * _DEG_TO_RAD
        return [ImuBatch(self._clock.times(1, host_time_s), acc, gyr)]


# --------------------------------------------------------------------------------------------- driver
@register_driver
class ThingyDriver(NotifyToStreamMixin, DerivedClockDriverMixin):
    """Nordic Thingy:52: acc + gyro from the motion service's raw characteristic, derived times.

    Start reads the motion config, writes it back with ``motion_freq_hz`` = the requested rate
    (1–200 Hz, default 100; other fields unchanged) and enables raw notifications; the firmware runs
    the raw motion feature while a client is subscribed, so stop disables them. The accelerometer
    range is not configurable over BLE, so ``range_g`` is ignored with a warning.
    """

    kind: ClassVar[str] = "thingy52"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["thingy52"]
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)
    name_prefixes: ClassVar[tuple[str, ...]] = ("Thingy",)
    default_sample_rate_hz: ClassVar[float] = 100.0
    has_gyro: ClassVar[bool] = True
    timestamps: ClassVar[TimestampSource] = "derived"
    control_uuid: ClassVar[str | None] = CONFIG_UUID
    control_notifies: ClassVar[bool] = False
    data_uuids: ClassVar[tuple[str, ...]] = ()
    stream_uuid: ClassVar[str] = RAW_UUID

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: ThingyConfig | None = None

    @classmethod
    def recognise(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        return super().recognise(name, service_uuids) or any(recognise_uuid(u) for u in service_uuids)

    @property
    def effective_sample_rate_hz(self) -> float:
        requested = self.sample_rate_hz if self.sample_rate_hz is not None else self.default_sample_rate_hz
        return float(min(MOTION_FREQ_MAX_HZ, max(MOTION_FREQ_MIN_HZ, round(float(requested)))))

    async def after_subscribe(self) -> None:
        self.require_stream_characteristic("Thingy raw motion characteristic")
        if self.range_g is not None:
            logger.warning(
                "thingy52: the accelerometer range is not configurable over BLE; ignoring %s g", self.range_g
            )

    def start_commands(self) -> list[bytes]:
        return []

    def stop_commands(self) -> list[bytes]:
        return []

    async def start(self) -> None:
        self._decoder = self.new_decoder()
        try:
            current = ThingyConfig.from_bytes(bytes(await self.client.read_gatt_char(CONFIG_UUID)))
        except FrameError as exc:
            raise DeviceError(
                f"{self.info.name or self.address}: unreadable Thingy motion config: {exc}"
            ) from exc
        wanted = ThingyConfig(
            current.pedo_interval_ms,
            current.temp_interval_ms,
            current.compass_interval_ms,
            int(self.effective_sample_rate_hz),
            current.wake_on_motion,
        )
        if wanted != current:
            await self.command(bytes(wanted), expect_response=False)
        self.config = wanted
        await self.enable_stream()

    def family_decoder(self, rate_hz: float, clock: DerivedClock) -> ThingyDecoder:
        return ThingyDecoder(rate_hz, clock=clock)
