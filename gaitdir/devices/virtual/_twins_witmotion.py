"""Virtual WitMotion BWT901BLE: ``55 61`` packets on the 9a34fb UUID base, register writes for the rate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from gaitdir.devices import _witmotion as wm
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual._twin import ListeningTwin, register_twin

if TYPE_CHECKING:
    import numpy as np
    from bumble.gatt import Characteristic, Service

_RATES_BY_CODE = {code: hz for hz, code in wm.RATE_CODES.items()}


@register_twin
class WitMotionTwin(ListeningTwin):
    """Streams one packet per notification whenever a client has notifications on (10 Hz until the
    rate register is written, the factory default). Register writes need a preceding unlock."""

    kind: ClassVar[str] = "witmotion"
    name_template: ClassVar[str] = "WT901BLE{serial}"
    default_rate_hz: ClassVar[float] = 10.0
    listens_on_indicate: ClassVar[bool] = True

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.write_char: Characteristic | None = None
        self.rate_hz = self.default_rate_hz
        self.unlocked = False

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.stream_char = gatt.Characteristic(
            wm.NOTIFY_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        self.stream_char.on("subscription", self._on_subscription)
        self.write_char = gatt.Characteristic(
            wm.WRITE_UUID,
            props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write),
        )
        return [gatt.Service(wm.SERVICE_UUID, [self.stream_char, self.write_char])]

    @property
    def stream_rate_hz(self) -> float:
        return self.rate_hz

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

    def encode_sample(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> bytes:
        return bytes(wm.WitPacket.from_si(acc_mps2, gyr_radps))

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.stream_char is not None
        return [
            (self.stream_char, bytes([0x12, 0x34, 0x56])),  # noise before a header
            (self.stream_char, bytes([wm.HEADER, wm.FLAG_IMU, 1, 2, 3, 4])),  # packet cut short
        ]

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self.unlocked = False
