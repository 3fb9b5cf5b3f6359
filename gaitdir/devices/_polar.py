"""Polar drivers over the PMD service: H10 (raw 16-bit ACC) and Verity Sense (SDK mode, ACC + GYRO).

The protocol bytes live in :mod:`gaitdir.devices._pmd`; this module only decides what to ask for and
turns frames into SI batches with sensor timestamps (seconds since 2000-01-01 on the sensor clock).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from gaitdir.devices import _pmd
from gaitdir.devices._base import (
    STANDARD_GRAVITY_MPS2,
    FrameDecoder,
    GattSensorDriver,
    MalformedFrameError,
    register_driver,
)
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.errors import DeviceError
from gaitdir.mounting import MOUNTING_PROFILES, MountingProfile

logger = logging.getLogger(__name__)

_MG_TO_MPS2 = STANDARD_GRAVITY_MPS2 * 1e-3
_DPS_TO_RADPS = np.pi / 180.0
#: Within a stream, frames whose timestamps imply a rate off by more than this factor are treated as
#: following lost frames: their samples are placed back from the frame timestamp at 1/fs instead.
_RATE_TOLERANCE = 1.5


class PmdStreamDecoder:
    """Pure, stateful decoder of one PMD stream (ACC, optionally GYRO) into SI batches.

    Parameters
    ----------
    sample_rate_hz : float
        Rate the stream was started at (Hz), used for the first frame's sample times.
    factors : dict
        FACTOR per measurement type from the START responses (read at decode time, so the dict may be
        filled after the decoder is created).
    with_gyro : bool
        Whether GYRO frames are expected; batches then carry angular rate interpolated onto the
        accelerometer's sample times (both come from the same clock at the same rate).
    """

    def __init__(self, sample_rate_hz: float, factors: dict[int, float], *, with_gyro: bool = False) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.factors = factors
        self.with_gyro = with_gyro
        self._previous_ns: dict[int, int] = {}
        self._acc: list[tuple[np.ndarray, np.ndarray]] = []
        self._gyr_t = np.empty(0)
        self._gyr = np.empty((0, 3))

    def _times_s(self, frame: _pmd.DataFrame, n: int) -> tuple[np.ndarray, list[StreamEvent]]:
        events: list[StreamEvent] = []
        previous = self._previous_ns.get(frame.measurement_type)
        if previous is not None and frame.timestamp_ns <= previous:
            raise MalformedFrameError(
                f"{_pmd.type_name(frame.measurement_type)} frame timestamp {frame.timestamp_ns} ns does not "
                f"follow the previous one ({previous} ns)"
            )
        if previous is not None:
            implied_interval_s = (frame.timestamp_ns - previous) * 1e-9 / n
            if implied_interval_s > _RATE_TOLERANCE / self.sample_rate_hz:
                lost_s = (frame.timestamp_ns - previous) * 1e-9 - n / self.sample_rate_hz
                events.append(
                    StreamEvent(
                        EventKind.LOST_PACKETS,
                        f"about {lost_s:.3f} s of {_pmd.type_name(frame.measurement_type)} frames missing",
                        sensor_time_s=previous * 1e-9,
                    )
                )
                previous = None
        times_ns = _pmd.sample_times_ns(previous, frame.timestamp_ns, n, self.sample_rate_hz)
        self._previous_ns[frame.measurement_type] = frame.timestamp_ns
        return times_ns * 1e-9, events

    def decode(self, uuid: str, data: bytes, arrival_s: float) -> list[ImuBatch | StreamEvent]:
        try:
            frame = _pmd.DataFrame.from_bytes(data)
            if frame.measurement_type == _pmd.MeasurementType.ACC:
                values = _pmd.decode_acc(frame, self.factors.get(_pmd.MeasurementType.ACC, 1.0)) * _MG_TO_MPS2
            elif frame.measurement_type == _pmd.MeasurementType.GYRO and self.with_gyro:
                values = (
                    _pmd.decode_gyro(frame, self.factors.get(_pmd.MeasurementType.GYRO, 1.0)) * _DPS_TO_RADPS
                )
            else:
                raise MalformedFrameError(
                    f"unexpected measurement type {_pmd.type_name(frame.measurement_type)}"
                )
        except _pmd.PmdError as exc:
            raise MalformedFrameError(str(exc)) from exc
        if values.shape[0] == 0 or not np.all(np.isfinite(values)):
            raise MalformedFrameError("frame holds no finite samples")
        times_s, events = self._times_s(frame, values.shape[0])
        out: list[ImuBatch | StreamEvent] = list(events)
        if not self.with_gyro:
            out.append(ImuBatch(times_s, values))
            return out
        if frame.measurement_type == _pmd.MeasurementType.ACC:
            self._acc.append((times_s, values))
        else:
            self._gyr_t = np.concatenate([self._gyr_t, times_s])
            self._gyr = np.concatenate([self._gyr, values])
        out.extend(self._pair())
        return out

    def _pair(self) -> list[ImuBatch]:
        """Accelerometer samples up to the newest gyro sample, with gyro interpolated onto their times."""
        if not self._acc or self._gyr_t.size == 0:
            return []
        t = np.concatenate([a[0] for a in self._acc])
        acc = np.concatenate([a[1] for a in self._acc])
        # Half a period of slack: both streams sample the same instants, timestamps are rounded to ns.
        ready = t <= self._gyr_t[-1] + 0.5 / self.sample_rate_hz
        if not ready.any():
            return []
        tr = t[ready]
        gyr = np.column_stack([np.interp(tr, self._gyr_t, self._gyr[:, i]) for i in range(3)])
        rest = ~ready
        self._acc = [(t[rest], acc[rest])] if rest.any() else []
        keep = self._gyr_t >= tr[-1] - 2.0 / self.sample_rate_hz
        self._gyr_t, self._gyr = self._gyr_t[keep], self._gyr[keep]
        return [ImuBatch(tr, acc[ready], gyr)]


class PolarPmdDriver(GattSensorDriver):
    """Shared PMD logic: commands and responses on the control point, frames on the data characteristic."""

    service_uuids: ClassVar[tuple[str, ...]] = (_pmd.PMD_SERVICE_UUID,)
    control_uuid: ClassVar[str | None] = _pmd.PMD_CONTROL_POINT_UUID
    data_uuids: ClassVar[tuple[str, ...]] = (_pmd.PMD_DATA_UUID,)
    #: Gyro range requested when streaming gyro (°/s).
    gyro_range_dps: ClassVar[int] = 2000
    use_sdk_mode: ClassVar[bool] = False
    acc_channels: ClassVar[int | None] = None

    def __init__(self, device, *, sample_rate_hz=None, range_g=None, backend=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(device, sample_rate_hz=sample_rate_hz, range_g=range_g, backend=backend)
        self._factors: dict[int, float] = {}
        self.features: _pmd.Features | None = None

    def _acc_settings(self) -> dict[_pmd.Setting, int]:
        settings = {
            _pmd.Setting.SAMPLE_RATE: round(self.effective_sample_rate_hz),
            _pmd.Setting.RESOLUTION: 16,
            _pmd.Setting.RANGE: round(self.effective_range_g),
        }
        if self.acc_channels is not None:
            settings[_pmd.Setting.CHANNELS] = self.acc_channels
        return settings

    def _gyro_settings(self) -> dict[_pmd.Setting, int]:
        return {
            _pmd.Setting.SAMPLE_RATE: round(self.effective_sample_rate_hz),
            _pmd.Setting.RESOLUTION: 16,
            _pmd.Setting.RANGE: self.gyro_range_dps,
            _pmd.Setting.CHANNELS: 3,
        }

    def start_commands(self) -> list[bytes]:
        commands = []
        if self.use_sdk_mode:
            commands.append(bytes(_pmd.ControlPointCommand.sdk_mode(True)))
        commands.append(bytes(_pmd.ControlPointCommand.start(_pmd.MeasurementType.ACC, self._acc_settings())))
        if self.has_gyro:
            commands.append(
                bytes(_pmd.ControlPointCommand.start(_pmd.MeasurementType.GYRO, self._gyro_settings()))
            )
        return commands

    def stop_commands(self) -> list[bytes]:
        commands = [bytes(_pmd.ControlPointCommand.stop(_pmd.MeasurementType.ACC))]
        if self.has_gyro:
            commands.append(bytes(_pmd.ControlPointCommand.stop(_pmd.MeasurementType.GYRO)))
        if self.use_sdk_mode:
            commands.append(bytes(_pmd.ControlPointCommand.sdk_mode(False)))
        return commands

    def new_decoder(self) -> FrameDecoder:
        self._factors = {}
        return PmdStreamDecoder(self.effective_sample_rate_hz, self._factors, with_gyro=self.has_gyro)

    def expects_response(self, payload: bytes) -> bool:
        return True

    def is_response(self, data: bytes) -> bool:
        return len(data) >= 4 and data[0] == _pmd.RESPONSE_CODE

    def response_complete(self, parts: Sequence[bytes]) -> bool:
        return len(parts[-1]) < 5 or parts[-1][4] == 0

    def check_response(self, command: bytes, response: Sequence[bytes]) -> None:
        try:
            answer = _pmd.ControlPointResponse.join(
                [_pmd.ControlPointResponse.from_bytes(p) for p in response]
            )
        except _pmd.PmdError as exc:
            raise DeviceError(
                f"{self.kind} {self.address}: unreadable control-point response: {exc}"
            ) from exc
        what = f"{_pmd.opcode_name(command[0])} {_pmd.type_name(command[1]) if len(command) > 1 else ''}"
        if answer.opcode != command[0] or (len(command) > 1 and answer.measurement_type != command[1]):
            raise DeviceError(
                f"{self.kind} {self.address}: answer {bytes(answer).hex(' ')} "
                f"does not match command {command.hex(' ')}"
            )
        if answer.status == _pmd.Status.ALREADY_IN_STATE:
            return  # e.g. SDK mode already on, or a stream the sensor kept running: the goal is reached
        if not answer.ok:
            raise DeviceError(
                f"{self.kind} {self.address} refused {what.strip()}: {answer.status_name} "
                f"(settings {command[2:].hex(' ') or 'none'})"
            )
        if command[0] == _pmd.Opcode.REQUEST_MEASUREMENT_START:
            try:
                factor = answer.factor
            except _pmd.PmdError as exc:
                raise DeviceError(f"{self.kind} {self.address}: bad START parameters: {exc}") from exc
            if factor is not None:
                self._factors[command[1] & 0x3F] = factor

    def control_events(self, data: bytes) -> list[StreamEvent]:
        if data and data[0] == _pmd.MEASUREMENT_STOPPED_CODE:
            stopped = _pmd.MeasurementStopped.from_bytes(data)
            names = ", ".join(_pmd.type_name(t) for t in stopped.measurement_types) or "all"
            return [StreamEvent(EventKind.STOPPED_BY_SENSOR, f"{self.kind} {self.address} stopped {names}")]
        if self.is_response(data):
            logger.debug("%s %s: late control-point response %s", self.kind, self.address, data.hex(" "))
            return []
        logger.warning("%s %s: unknown control-point notification %s", self.kind, self.address, data.hex(" "))
        return []

    async def after_subscribe(self) -> None:
        # The SDK reads the control point for the feature bits before anything else.
        raw = bytes(await self.client.read_gatt_char(self.control_uuid or ""))
        try:
            self.features = _pmd.Features.from_bytes(raw)
        except _pmd.PmdError as exc:
            raise DeviceError(f"{self.kind} {self.address}: unreadable PMD features: {exc}") from exc
        needed = {_pmd.MeasurementType.ACC} | ({_pmd.MeasurementType.GYRO} if self.has_gyro else set())
        missing = needed - self.features.measurement_types
        if missing:
            raise DeviceError(
                f"{self.kind} {self.address} does not offer {', '.join(_pmd.type_name(t) for t in missing)} "
                "streaming (is it the right sensor kind?)"
            )


@register_driver
class PolarH10Driver(PolarPmdDriver):
    """Polar H10 chest strap: ACC as raw 16-bit frames (type 0x01), 25–200 Hz, ±2/4/8 g."""

    kind: ClassVar[str] = "polar-h10"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["polar-h10"]
    name_prefixes: ClassVar[tuple[str, ...]] = ("Polar H10",)
    default_sample_rate_hz: ClassVar[float] = 200.0
    default_range_g: ClassVar[float] = 8.0
    has_gyro: ClassVar[bool] = False

    @classmethod
    def recognise(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        # Any PMD sensor not named as a Verity streams ACC the H10 way.
        if name and name.startswith(PolarVerityDriver.name_prefixes):
            return False
        return super().recognise(name, service_uuids)


@register_driver
class PolarVerityDriver(PolarPmdDriver):
    """Polar Verity Sense: SDK mode, ACC + GYRO as delta-compressed frames scaled by the START FACTOR."""

    kind: ClassVar[str] = "polar-verity"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["polar-verity"]
    name_prefixes: ClassVar[tuple[str, ...]] = ("Polar Sense", "Polar Verity")
    default_sample_rate_hz: ClassVar[float] = 52.0
    default_range_g: ClassVar[float] = 8.0
    has_gyro: ClassVar[bool] = True
    use_sdk_mode: ClassVar[bool] = True
    acc_channels: ClassVar[int | None] = 3

    @classmethod
    def recognise(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        # Both Polar kinds advertise the PMD service: tell them apart by name first.
        if name and name.startswith(PolarH10Driver.name_prefixes):
            return False
        return bool(name and name.startswith(cls.name_prefixes))
