"""Virtual MetaMotion (BMI160 accelerometer) speaking the MetaWear command protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from gaitdir.devices import _metamotion as mm
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices.virtual._twin import Chunk, Twin, register_twin

if TYPE_CHECKING:
    from bumble.gatt import Characteristic, Service


@register_twin
class MetaMotionTwin(Twin):
    """A MetaMotionR-like board: accelerometer (BMI160, revision 1) and gyro modules present.

    It answers module-info reads, keeps the accelerometer config (power-on default 100 Hz ±2 g, the
    SDK's ``BMI160_DEFAULT_CONFIG``), and streams while the accelerometer is subscribed, enabled and
    powered on — packed (3 samples per notification) or single, as subscribed.
    """

    kind: ClassVar[str] = "metamotion"
    name_template: ClassVar[str] = "MetaWear"
    advertised_uuids: ClassVar[tuple[str, ...]] = (mm.SERVICE_UUID,)
    default_rate_hz: ClassVar[float] = 100.0

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.command_char: Characteristic | None = None
        self.notify_char: Characteristic | None = None
        self.on_disconnect()

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.command_char = gatt.Characteristic(
            mm.COMMAND_UUID,
            props.WRITE | props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_command),
        )
        self.notify_char = gatt.Characteristic(
            mm.NOTIFY_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        return [gatt.Service(mm.SERVICE_UUID, [self.command_char, self.notify_char])]

    def on_disconnect(self) -> None:
        self.rate_hz, self.range_g = 100.0, 2
        self.subscribed: bool | None = None  # None: not subscribed; True: packed; False: single
        self.enabled = False
        self.powered = False

    def _update_stream(self) -> None:
        if self.subscribed is not None and self.enabled and self.powered:
            self.sensor.start_stream(self.rate_hz)
        elif self.sensor.is_streaming:
            self.sensor.stop_stream()

    def _on_command(self, connection: Any, value: bytes) -> None:
        data = bytes(value)
        if len(data) < 2:
            return
        module, register, args = data[0], data[1], data[2:]
        assert self.notify_char is not None
        if register == mm.READ_INFO:
            info = {mm.MODULE_ACC: mm.ModuleInfo(mm.MODULE_ACC, mm.ACC_IMPL_BMI160, 1)}
            info[mm.MODULE_GYRO] = mm.ModuleInfo(mm.MODULE_GYRO, 0, 1)
            self.sensor.send(self.notify_char, bytes(info.get(module, mm.ModuleInfo(module))))
            return
        if module != mm.MODULE_ACC:
            return
        if register == mm.REG_DATA_CONFIG:
            try:
                self.rate_hz, self.range_g = mm.decode_acc_config(data)
            except FrameError:
                return
        elif register in (mm.REG_PACKED_DATA, mm.REG_DATA) and len(args) == 1:
            self.subscribed = (register == mm.REG_PACKED_DATA) if args[0] else None
        elif register == mm.REG_DATA_INTERRUPT_ENABLE and len(args) == 2:
            self.enabled = args == b"\x01\x00"
        elif register == mm.REG_POWER_MODE and len(args) == 1:
            self.powered = args[0] == 1
        self._update_stream()

    def samples_per_frame(self, mtu: int) -> int:
        return 3 if self.subscribed in (True, None) else 1

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.notify_char is not None
        packed = self.subscribed is not False
        samples = mm.AccSamples.from_mps2(chunk.acc_mps2, self.range_g, packed=packed)
        return [(self.notify_char, bytes(samples))]

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.notify_char is not None
        return [
            (self.notify_char, bytes([mm.MODULE_ACC, mm.REG_PACKED_DATA, 1, 2, 3, 4, 5])),  # truncated
            (self.notify_char, bytes([mm.MODULE_ACC, mm.REG_DATA, 9])),  # truncated single sample
        ]

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        # MetaWear boards send no "stopped" message; the accelerometer just stops.
        self.powered = False
        return []
