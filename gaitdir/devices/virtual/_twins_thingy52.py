"""Virtual Nordic Thingy:52: motion service with the raw characteristic and the motion config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from gaitdir.devices import _thingy52 as th
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual._twin import Chunk, Twin, register_twin

if TYPE_CHECKING:
    from bumble.gatt import Characteristic, Service


@register_twin
class ThingyTwin(Twin):
    """Raw samples flow while a client is subscribed to the raw characteristic, at ``motion_freq_hz``.

    The config starts as pedometer 1000 ms, temperature 1000 ms, compass 1000 ms, 10 Hz, wake on
    motion on (UNVERIFIED factory values; the driver reads and writes back the whole config anyway).
    An out-of-range config write is rejected with ATT error 0x13 (value not allowed), as the firmware
    refuses it.
    """

    kind: ClassVar[str] = "thingy52"
    name_template: ClassVar[str] = "Thingy"
    advertised_uuids: ClassVar[tuple[str, ...]] = (th.CONFIGURATION_SERVICE_UUID,)
    default_rate_hz: ClassVar[float] = 10.0

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.config = th.ThingyConfig(1000, 1000, 1000, 10, 1)
        self.config_char: Characteristic | None = None
        self.raw_char: Characteristic | None = None
        self.listening = False

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.config_char = gatt.Characteristic(
            th.CONFIG_UUID,
            props.READ | props.WRITE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=lambda connection: bytes(self.config), write=self._on_config),
        )
        self.raw_char = gatt.Characteristic(th.RAW_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b"")
        self.raw_char.on("subscription", self._on_subscription)
        name_char = gatt.Characteristic(
            "ef680101" + th._BASE, props.READ, gatt.Characteristic.READABLE, self.sensor.name.encode()
        )
        return [
            gatt.Service(th.CONFIGURATION_SERVICE_UUID, [name_char]),
            gatt.Service(th.SERVICE_UUID, [self.config_char, self.raw_char]),
        ]

    def _on_config(self, connection: Any, value: bytes) -> None:
        from bumble.att import ATT_Error, ErrorCode

        try:
            self.config = th.ThingyConfig.from_bytes(bytes(value))
        except FrameError:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED) from None
        if self.listening:
            self.sensor.start_stream(float(self.config.motion_freq_hz))

    def _on_subscription(self, connection: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        self.listening = notify_enabled
        if notify_enabled:
            self.sensor.start_stream(float(self.config.motion_freq_hz))
        else:
            self.sensor.stop_stream()

    def samples_per_frame(self, mtu: int) -> int:
        return 1

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.raw_char is not None
        return [
            (self.raw_char, bytes(th.ThingyRaw.from_si(acc, gyr)))
            for acc, gyr in zip(chunk.acc_mps2, chunk.gyr_radps, strict=True)
        ]

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.raw_char is not None
        return [(self.raw_char, bytes(17)), (self.raw_char, bytes([1, 2, 3, 4, 5]))]

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        self.listening = False
        return []

    def on_disconnect(self) -> None:
        self.listening = False
