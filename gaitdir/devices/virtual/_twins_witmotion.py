"""Virtual WitMotion BWT901BLE: ``55 61`` packets on the 9a34fb UUID base, register writes for the rate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from gaitdir.devices import _witmotion as wm
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual._twin import Chunk, Twin, register_twin

if TYPE_CHECKING:
    from bumble.gatt import Characteristic, Service

_RATES_BY_CODE = {code: hz for hz, code in wm.RATE_CODES.items()}


@register_twin
class WitMotionTwin(Twin):
    """Streams one packet per notification whenever a client has notifications on (10 Hz until the
    rate register is written, the factory default). Register writes need a preceding unlock."""

    kind: ClassVar[str] = "witmotion"
    name_template: ClassVar[str] = "WT901BLE{serial}"
    default_rate_hz: ClassVar[float] = 10.0

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.notify_char: Characteristic | None = None
        self.write_char: Characteristic | None = None
        self.rate_hz = self.default_rate_hz
        self.unlocked = False
        self.listening = False

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.notify_char = gatt.Characteristic(
            wm.NOTIFY_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        self.notify_char.on("subscription", self._on_subscription)
        self.write_char = gatt.Characteristic(
            wm.WRITE_UUID,
            props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write),
        )
        return [gatt.Service(wm.SERVICE_UUID, [self.notify_char, self.write_char])]

    def _on_subscription(self, connection: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        self.listening = notify_enabled or indicate_enabled
        if self.listening:
            self.sensor.start_stream(self.rate_hz)
        else:
            self.sensor.stop_stream()

    def _on_write(self, connection: Any, value: bytes) -> None:
        try:
            write = wm.RegisterWrite.from_bytes(bytes(value))
        except FrameError:
            return
        if write.register == wm.REG_UNLOCK:
            self.unlocked = write.value == wm.UNLOCK_VALUE
            return
        if not self.unlocked:
            return
        if write.register == wm.REG_RATE and write.value in _RATES_BY_CODE:
            self.rate_hz = _RATES_BY_CODE[write.value]
            if self.listening:
                self.sensor.start_stream(self.rate_hz)
        elif write.register == wm.REG_SAVE:
            self.unlocked = False

    def samples_per_frame(self, mtu: int) -> int:
        return 1

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.notify_char is not None
        return [
            (self.notify_char, bytes(wm.WitPacket.from_si(acc, gyr)))
            for acc, gyr in zip(chunk.acc_mps2, chunk.gyr_radps, strict=True)
        ]

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.notify_char is not None
        return [
            (self.notify_char, bytes([0x12, 0x34, 0x56])),  # noise before a header
            (self.notify_char, bytes([wm.HEADER, wm.FLAG_IMU, 1, 2, 3, 4])),  # packet cut short
        ]

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        # The module has no "stopped" message; it falls silent.
        self.listening = False
        return []

    def on_disconnect(self) -> None:
        self.listening = False
        self.unlocked = False
