"""Virtual Nordic Thingy:52: motion service with the raw characteristic and the motion config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from gaitdir.devices import _thingy52 as th
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual._twin import ListeningTwin, register_twin

if TYPE_CHECKING:
    import numpy as np
    from bumble.gatt import Characteristic, Service


@register_twin
class ThingyTwin(ListeningTwin):
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

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.config_char = gatt.Characteristic(
            th.CONFIG_UUID,
            props.READ | props.WRITE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=lambda connection: bytes(self.config), write=self._on_config),
        )
        self.stream_char = gatt.Characteristic(th.RAW_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b"")
        self.stream_char.on("subscription", self._on_subscription)
        name_char = gatt.Characteristic(
            "ef680101" + th._BASE, props.READ, gatt.Characteristic.READABLE, self.sensor.name.encode()
        )
        return [
            gatt.Service(th.CONFIGURATION_SERVICE_UUID, [name_char]),
            gatt.Service(th.SERVICE_UUID, [self.config_char, self.stream_char]),
        ]

    def _on_config(self, connection: Any, value: bytes) -> None:
        from bumble.att import ATT_Error, ErrorCode

        try:
            self.config = th.ThingyConfig.from_bytes(bytes(value))
        except FrameError:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED) from None
        if self.listening:
            self.sensor.start_stream(self.stream_rate_hz)

    @property
    def stream_rate_hz(self) -> float:
        return float(self.config.motion_freq_hz)

    def encode_sample(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> bytes:
        return bytes(th.ThingyRaw.from_si(acc_mps2, gyr_radps))

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.stream_char is not None
        return [(self.stream_char, bytes(17)), (self.stream_char, bytes([1, 2, 3, 4, 5]))]
