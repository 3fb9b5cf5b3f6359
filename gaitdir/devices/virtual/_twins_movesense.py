"""Virtual Movesense running ``gatt_sensordata_app``: HELLO, subscribe/unsubscribe, multi-part packets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gaitdir.devices import _movesense as ms
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual._twin import Chunk, Twin, register_twin

if TYPE_CHECKING:
    from bumble.gatt import Characteristic, Service

_PATH = re.compile(r"^/?Meas/(Acc|IMU6)/(\d+)$")
_RADPS_TO_DPS = 180.0 / np.pi


@register_twin
class MovesenseTwin(Twin):
    """The SensorData GATT service of the Movesense sample firmware.

    One subscription at a time streams (the firmware has four slots; gaitdir uses one). A subscribe
    to an unknown path is answered ``[1, ref, 01 94]`` (HTTP 404, written high byte first like the
    firmware's 507). The sensor clock starts 3 s before its uint32 ms counter wraps, so every replay
    exercises the wrap-around.
    """

    kind: ClassVar[str] = "movesense"
    name_template: ClassVar[str] = "Movesense {serial}"
    default_rate_hz: ClassVar[float] = 104.0
    clock_origin_s: ClassVar[float] = (2**32 - 3000) / 1000.0

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.command_char: Characteristic | None = None
        self.data_char: Characteristic | None = None
        self.subscription: tuple[int, str, int] | None = None  # (ref, resource, rate_hz)

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.command_char = gatt.Characteristic(
            ms.COMMAND_UUID,
            props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_command),
        )
        self.data_char = gatt.Characteristic(ms.DATA_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b"")
        return [gatt.Service(ms.SERVICE_UUID, [self.command_char, self.data_char])]

    def _answer(self, ref: int, payload: bytes) -> None:
        assert self.data_char is not None
        self.sensor.send(
            self.data_char, bytes(ms.MovesenseNotification(ms.TYPE_COMMAND_RESULT, ref, payload))
        )

    def _on_command(self, connection: Any, value: bytes) -> None:
        try:
            command = ms.MovesenseCommand.from_bytes(bytes(value))
        except FrameError:
            return  # the firmware ignores what it cannot parse
        if command.op == ms.OP_HELLO:
            self._answer(command.ref, b"Hello")
        elif command.op == ms.OP_SUBSCRIBE:
            match = _PATH.match(command.path)
            if match is None or int(match.group(2)) not in ms.RATES_HZ:
                self._answer(command.ref, (404).to_bytes(2, "big"))
                return
            self.subscription = (command.ref, match.group(1), int(match.group(2)))
            self.sensor.start_stream(float(match.group(2)))
        elif self.subscription is not None and command.ref == self.subscription[0]:
            self.subscription = None
            self.sensor.stop_stream()

    def samples_per_frame(self, mtu: int) -> int:
        rate = self.subscription[2] if self.subscription else int(self.default_rate_hz)
        return ms.samples_per_packet(rate)

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.data_char is not None
        if self.subscription is None:
            return []
        ref, resource, _ = self.subscription
        timestamp_ms = round(float(chunk.sensor_time_s[0]) * 1000.0) % 2**32
        packet = ms.MovesensePacket(
            timestamp_ms=timestamp_ms,
            acc_mps2=chunk.acc_mps2.astype(np.float32),
            gyr_dps=(chunk.gyr_radps * _RADPS_TO_DPS).astype(np.float32) if resource == "IMU6" else None,
        )
        parts = ms.split_notifications(ref, bytes(packet), self.sensor.mtu - 3)
        return [(self.data_char, part) for part in parts]

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.data_char is not None
        ref = self.subscription[0] if self.subscription else 0x63
        return [
            (self.data_char, bytes([ms.TYPE_DATA_CONTINUATION, ref, 1, 2, 3])),  # continuation of nothing
            (self.data_char, bytes([9, ref, 0xFF])),  # unknown notification type
            (self.data_char, bytes([ms.TYPE_DATA, ref, 0, 0, 0, 0, 1, 2, 3])),  # packet cut short
        ]

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        # The SensorData protocol has no "stopped" message: the sensor just falls silent.
        self.subscription = None
        return []

    def on_disconnect(self) -> None:
        # the firmware unsubscribes everything when the peer disconnects (GATTSensorDataClient.cpp)
        self.subscription = None
