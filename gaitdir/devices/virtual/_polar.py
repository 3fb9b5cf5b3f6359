"""Virtual Polar H10 and Verity Sense: the PMD service answering like the real sensors do.

What each twin does and the source for it (details in ``firmware_notes/polar-pmd.md``):

* Both saturate acceleration (and angular rate) at the range the START command asked for, as the
  hardware does: an H10 at ±2 g reads -2000 mG at full scale (polar-ble-sdk #634).
* The Verity offers its normal-mode settings (ACC 52 Hz ±8 g, GYRO 52 Hz 2000 °/s) in answer to
  GET_MEASUREMENT_SETTINGS outside SDK mode and its SDK-mode settings inside it (bleakheart #11);
  GET_SDK_MODE_SETTINGS (0x04) answers the SDK-mode settings in either mode (the SDK's
  ``requestFullStreamSettings`` "in any operation mode", ``SdkModeExplained.md``).
* Outside SDK mode the Verity answers an ACC START with no parameters and sends plain mG
  (polar-ble-sdk #443; the SDK's ``getFactor`` falls back to 1.0 when no FACTOR came). In SDK mode
  it sends a FACTOR (mG or °/s per count: range / 32768) and counts scaled by it, as bleakheart notes
  for the Verity's ACC answer.
* SDK mode cannot be switched while a stream runs (INVALID_STATE, ``SdkModeExplained.md``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gaitdir.devices import _pmd
from gaitdir.devices._base import STANDARD_GRAVITY_MPS2
from gaitdir.devices.virtual._twin import Chunk, Twin, register_twin

if TYPE_CHECKING:
    from bumble.gatt import Characteristic, Service

_PMD_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
_MPS2_TO_MG = 1e3 / STANDARD_GRAVITY_MPS2
_RADPS_TO_DPS = 180.0 / np.pi
S = _pmd.Setting
T = _pmd.MeasurementType


class PolarTwin(Twin):
    """What the H10 and the Verity share: the PMD service, its control point, and data frames."""

    advertised_uuids: ClassVar[tuple[str, ...]] = (_pmd.PMD_SERVICE_UUID,)
    #: Measurement types reported in the feature read.
    feature_types: ClassVar[frozenset[int]] = frozenset({T.ACC})
    sdk_mode_feature: ClassVar[bool] = False
    #: Settings the sensor offers per measurement type outside SDK mode (GET answer; START is validated
    #: against it).
    offered: ClassVar[dict[int, dict[_pmd.Setting, tuple[int, ...]]]] = {}
    #: Settings offered in SDK mode (and answered to GET_SDK_MODE_SETTINGS); None without SDK mode.
    sdk_offered: ClassVar[dict[int, dict[_pmd.Setting, tuple[int, ...]]] | None] = None
    #: Measurement types whose START answer carries a FACTOR and whose frames carry counts scaled by
    #: it, outside and inside SDK mode.
    scaled_types: ClassVar[frozenset[int]] = frozenset()
    sdk_scaled_types: ClassVar[frozenset[int]] = frozenset()
    #: Physical units per count unit of the range setting: ACC ranges are in g, samples in mG.
    range_units: ClassVar[dict[int, float]] = {T.ACC: 1000.0, T.GYRO: 1.0}

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.control_point: Characteristic | None = None
        self.data: Characteristic | None = None
        self.active: set[int] = set()
        self.sdk_mode = False
        self.rate_hz = 0.0
        #: Full scale (mG for ACC, °/s for GYRO) each active stream was started with.
        self.full_scale: dict[int, float] = {}
        #: FACTOR each active stream was started with (absent: samples are sent unscaled).
        self.factors: dict[int, float] = {}

    @property
    def settings_now(self) -> dict[int, dict[_pmd.Setting, tuple[int, ...]]]:
        """What the sensor offers in its current mode."""
        if self.sdk_mode and self.sdk_offered is not None:
            return self.sdk_offered
        return self.offered

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.control_point = gatt.Characteristic(
            _pmd.PMD_CONTROL_POINT_UUID,
            props.READ | props.WRITE | props.INDICATE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=self._read_features, write=self._on_write),
        )
        self.data = gatt.Characteristic(_pmd.PMD_DATA_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b"")
        return [gatt.Service(_pmd.PMD_SERVICE_UUID, [self.control_point, self.data])]

    def _read_features(self, connection: Any) -> bytes:
        return bytes(_pmd.Features(self.feature_types, self.sdk_mode_feature))

    def _respond(self, opcode: int, measurement_type: int, status: int, parameters: bytes = b"") -> None:
        assert self.control_point is not None
        response = _pmd.ControlPointResponse(opcode, measurement_type, status, False, parameters)
        self.sensor.send(self.control_point, bytes(response))

    def _on_write(self, connection: Any, value: bytes) -> None:
        value = bytes(value)
        if len(value) < 2:
            self._respond(value[0] if value else 0, 0, _pmd.Status.INVALID_LENGTH)
            return
        opcode, mtype = value[0], value[1] & 0x3F
        try:
            command = _pmd.ControlPointCommand.from_bytes(value)
        except _pmd.PmdError:
            self._respond(opcode, mtype, _pmd.Status.INVALID_PARAMETER)
            return
        if opcode == _pmd.Opcode.GET_MEASUREMENT_SETTINGS:
            self._answer_settings(opcode, mtype, self.settings_now)
        elif opcode == _pmd.Opcode.GET_SDK_MODE_SETTINGS and self.sdk_offered is not None:
            self._answer_settings(opcode, mtype, self.sdk_offered)
        elif opcode == _pmd.Opcode.REQUEST_MEASUREMENT_START:
            self._start(command)
        elif opcode == _pmd.Opcode.STOP_MEASUREMENT:
            self._stop(command)
        else:
            self._respond(opcode, mtype, _pmd.Status.INVALID_OP_CODE)

    def _answer_settings(
        self, opcode: int, mtype: int, table: dict[int, dict[_pmd.Setting, tuple[int, ...]]]
    ) -> None:
        if mtype not in table:
            self._respond(opcode, mtype, _pmd.Status.NOT_SUPPORTED)
            return
        self._respond(opcode, mtype, _pmd.Status.SUCCESS, _pmd.encode_settings(table[mtype]))

    def _validate(self, mtype: int, settings: dict[_pmd.Setting, Any]) -> int:
        offered = self.settings_now[mtype]
        checks = (
            (S.SAMPLE_RATE, _pmd.Status.INVALID_SAMPLE_RATE),
            (S.RESOLUTION, _pmd.Status.INVALID_RESOLUTION),
            (S.RANGE, _pmd.Status.INVALID_RANGE),
            (S.CHANNELS, _pmd.Status.INVALID_NUMBER_OF_CHANNELS),
        )
        for setting, error in checks:
            if setting in settings and setting in offered and int(settings[setting]) not in offered[setting]:
                return error
        if S.SAMPLE_RATE not in settings:
            return _pmd.Status.INVALID_PARAMETER
        return _pmd.Status.SUCCESS

    def _start(self, command: _pmd.ControlPointCommand) -> None:
        opcode, mtype = command.opcode, command.measurement_type & 0x3F
        if mtype == T.SDK_MODE:
            if not self.sdk_mode_feature:
                self._respond(opcode, mtype, _pmd.Status.NOT_SUPPORTED)
                return
            self._switch_sdk_mode(opcode, True)
            return
        if mtype not in self.settings_now:
            self._respond(opcode, mtype, _pmd.Status.NOT_SUPPORTED)
            return
        if mtype in self.active:
            self._respond(opcode, mtype, _pmd.Status.ALREADY_IN_STATE)
            return
        status = self._validate(mtype, command.settings)
        rate = float(command.settings.get(S.SAMPLE_RATE, 0))
        if status == _pmd.Status.SUCCESS and self.active and rate != self.rate_hz:
            status = _pmd.Status.INVALID_SAMPLE_RATE  # one clock drives every stream of the sensor
        if status != _pmd.Status.SUCCESS:
            self._respond(opcode, mtype, status)
            return
        # A START without RANGE gets the widest range offered (UNVERIFIED on hardware).
        range_ = float(command.settings.get(S.RANGE, max(self.settings_now[mtype].get(S.RANGE, (0,)))))
        self.full_scale[mtype] = range_ * self.range_units.get(mtype, 1.0)
        scaled = self.sdk_scaled_types if self.sdk_mode else self.scaled_types
        params = b""
        self.factors.pop(mtype, None)
        if mtype in scaled:
            # Counts span the range over 16 bits; range / 32768 is exact in float32 for these ranges.
            self.factors[mtype] = self.full_scale[mtype] / 32768.0
            params = _pmd.encode_settings({S.FACTOR: self.factors[mtype]})
        self._respond(opcode, mtype, _pmd.Status.SUCCESS, params)
        self.active.add(mtype)
        self.rate_hz = rate
        if mtype == T.ACC:
            self.sensor.start_stream(rate)

    def _switch_sdk_mode(self, opcode: int, on: bool) -> None:
        if self.sdk_mode == on:
            status = _pmd.Status.ALREADY_IN_STATE
        elif self.active:
            status = _pmd.Status.INVALID_STATE  # not while a stream runs (SdkModeExplained.md)
        else:
            status = _pmd.Status.SUCCESS
            self.sdk_mode = on
        self._respond(opcode, T.SDK_MODE, status)

    def clip(self, mtype: int, values: np.ndarray) -> np.ndarray:
        """Saturate samples (mG or °/s) at the full scale their stream was started with."""
        limit = self.full_scale[mtype]
        return np.clip(values, -limit, limit)

    def _stop(self, command: _pmd.ControlPointCommand) -> None:
        opcode, mtype = command.opcode, command.measurement_type & 0x3F
        if mtype == T.SDK_MODE:
            self._switch_sdk_mode(opcode, False)
            return
        status = _pmd.Status.SUCCESS if mtype in self.active else _pmd.Status.ALREADY_IN_STATE
        self.active.discard(mtype)
        if mtype == T.ACC:
            self.sensor.stop_stream()
        self._respond(opcode, mtype, status)

    def on_disconnect(self) -> None:
        # A Polar sensor ends its streams when the link drops; SDK mode ends with the connection.
        self.active.clear()
        self.sdk_mode = False
        self.factors.clear()

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        assert self.control_point is not None
        stopped = tuple(sorted(self.active))
        self.active.clear()
        return [(self.control_point, bytes(_pmd.MeasurementStopped(stopped)))]

    @staticmethod
    def _timestamp_ns(sensor_time_s: float) -> int:
        return round(sensor_time_s * 1e9)


@register_twin
class PolarH10Twin(PolarTwin):
    """H10: ACC only, raw 16-bit mG frames (type 0x01); clock at its 2019-01-01 default (time not set)."""

    kind: ClassVar[str] = "polar-h10"
    name_template: ClassVar[str] = "Polar H10 {serial}"
    default_rate_hz: ClassVar[float] = 200.0
    clock_origin_s: ClassVar[float] = (
        dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc) - _PMD_EPOCH
    ).total_seconds()
    feature_types: ClassVar[frozenset[int]] = frozenset({T.ECG, T.ACC})
    offered: ClassVar[dict[int, dict[_pmd.Setting, tuple[int, ...]]]] = {
        T.ACC: {S.SAMPLE_RATE: (25, 50, 100, 200), S.RESOLUTION: (16,), S.RANGE: (2, 4, 8)},
        T.ECG: {S.SAMPLE_RATE: (130,), S.RESOLUTION: (14,)},
    }

    def samples_per_frame(self, mtu: int) -> int:
        return max(1, (mtu - 3 - _pmd.DATA_HEADER_BYTES) // 6)

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.data is not None
        mg = self.clip(T.ACC, chunk.acc_mps2 * _MPS2_TO_MG)
        frame = _pmd.encode_acc(mg, self._timestamp_ns(float(chunk.sensor_time_s[-1])), frame_type=0x01)
        return [(self.data, bytes(frame))]

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.data is not None
        ts = self._timestamp_ns(float(self.sensor.sensor_time_s(np.array([0.0]))[0])).to_bytes(8, "little")
        return [
            (self.data, b"\x02\x00\x01"),  # shorter than a header
            (self.data, b"\x02" + ts + b"\x01" + b"\x10\x00\x20"),  # half a sample
            (self.data, b"\x02" + ts + b"\x7f" + bytes(12)),  # unknown frame type
        ]


@register_twin
class PolarVerityTwin(PolarTwin):
    """Verity Sense: ACC (type 0x81) and GYRO (type 0x80) delta frames; SDK mode with FACTORs."""

    kind: ClassVar[str] = "polar-verity"
    name_template: ClassVar[str] = "Polar Sense {serial}"
    default_rate_hz: ClassVar[float] = 52.0
    clock_origin_s: ClassVar[float] = (
        dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) - _PMD_EPOCH
    ).total_seconds()
    feature_types: ClassVar[frozenset[int]] = frozenset({T.PPG, T.ACC, T.PPI, T.GYRO, T.MAG})
    sdk_mode_feature: ClassVar[bool] = True
    # Normal mode: ACC 52 Hz ±8 g, GYRO 52 Hz 2000 °/s (documentation/products/PolarVeritySense.md).
    offered: ClassVar[dict[int, dict[_pmd.Setting, tuple[int, ...]]]] = {
        T.ACC: {S.SAMPLE_RATE: (52,), S.RESOLUTION: (16,), S.RANGE: (8,), S.CHANNELS: (3,)},
        T.GYRO: {S.SAMPLE_RATE: (52,), S.RESOLUTION: (16,), S.RANGE: (2000,), S.CHANNELS: (3,)},
    }
    # SDK-mode settings as read from a live Verity (bleakheart PR #11).
    sdk_offered: ClassVar[dict[int, dict[_pmd.Setting, tuple[int, ...]]] | None] = {
        T.ACC: {
            S.SAMPLE_RATE: (26, 52, 104, 208, 416),
            S.RESOLUTION: (16,),
            S.RANGE: (2, 4, 8, 16),
            S.CHANNELS: (3,),
        },
        T.GYRO: {
            S.SAMPLE_RATE: (26, 52, 104, 208, 416),
            S.RESOLUTION: (16,),
            S.RANGE: (250, 500, 1000, 2000),
            S.CHANNELS: (3,),
        },
    }
    # Plain mG outside SDK mode (#443); the normal-mode GYRO answer is not documented (UNVERIFIED:
    # kept scaled, which a client following the SDK decodes either way).
    scaled_types: ClassVar[frozenset[int]] = frozenset({T.GYRO})
    sdk_scaled_types: ClassVar[frozenset[int]] = frozenset({T.ACC, T.GYRO})
    #: Samples per frame (the Verity sends larger, burstier frames than the H10).
    frame_samples: ClassVar[int] = 36

    def samples_per_frame(self, mtu: int) -> int:
        return self.frame_samples

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.data is not None
        mtu = self.sensor.mtu
        out: list[tuple[Characteristic, bytes]] = []

        def acc_frame(c: Chunk) -> Any:
            return lambda s: _pmd.encode_acc(
                self.clip(T.ACC, c.acc_mps2[s] * _MPS2_TO_MG),
                self._timestamp_ns(float(c.sensor_time_s[s][-1])),
                frame_type=0x81,
                factor=self.factors.get(T.ACC, 1.0),
            )

        def gyr_frame(c: Chunk) -> Any:
            return lambda s: _pmd.encode_gyro(
                self.clip(T.GYRO, c.gyr_radps[s] * _RADPS_TO_DPS),
                self._timestamp_ns(float(c.sensor_time_s[s][-1])),
                factor=self.factors.get(T.GYRO, 1.0),
            )

        for payload in self._fit_chunks(chunk, acc_frame, mtu):
            out.append((self.data, payload))
        if T.GYRO in self.active:
            for payload in self._fit_chunks(chunk, gyr_frame, mtu):
                out.append((self.data, payload))
        return out

    def _fit_chunks(self, chunk: Chunk, factory: Any, mtu: int) -> list[bytes]:
        n = chunk.index.shape[0]
        frame = bytes(factory(chunk)(slice(0, n)))
        if len(frame) <= mtu - 3 or n == 1:
            return [frame]
        half = n // 2
        return self._fit_chunks(_sub(chunk, slice(0, half)), factory, mtu) + self._fit_chunks(
            _sub(chunk, slice(half, n)), factory, mtu
        )

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.data is not None
        ts = self._timestamp_ns(float(self.sensor.sensor_time_s(np.array([0.0]))[0])).to_bytes(8, "little")
        return [
            (self.data, b"\x02\x00"),  # shorter than a header
            # A delta block announcing 20 samples of 8 bits but carrying only 4 bytes.
            (self.data, b"\x02" + ts + b"\x81" + bytes(6) + b"\x08\x14" + bytes(4)),
            (self.data, b"\x05" + ts + b"\x83" + bytes(8)),  # unknown GYRO frame type
        ]


def _sub(chunk: Chunk, s: slice) -> Chunk:
    return Chunk(chunk.index[s], chunk.sensor_time_s[s], chunk.acc_mps2[s], chunk.gyr_radps[s])
