"""Virtual gaitdir open-profile board: the executable specification of ``gaitdir-open-profile.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from gaitdir.devices import _openprofile as op
from gaitdir.devices.virtual._twin import Chunk, Twin, register_twin

if TYPE_CHECKING:
    from bumble.gatt import Characteristic, Service


@dataclass
class BoardState:
    """What a v1 board keeps between commands."""

    rates_mask: int
    acc_ranges_mask: int
    gyro_ranges_mask: int
    rate_code: int = 6  # 100 Hz
    acc_range_code: int = 2  # ±8 g
    gyro_range_code: int = 3  # ±2000 °/s
    streaming: bool = False
    gyro_on: bool = False


def handle_request(state: BoardState, data: bytes, *, max_samples: int) -> tuple[bytes, str | None]:
    """Apply one control point request to ``state``: the answer bytes and ``"start"``/``"stop"``/None.

    This is the board side of the protocol, shared by the twin; the reference firmware implements the
    same rules (``firmware_notes/reference-firmware/gaitdir_profile.py``) and a test holds them equal.
    """
    if not data:
        return bytes(op.Response(0, op.STATUS_INVALID_LENGTH)), None
    opcode, params = data[0], bytes(data[1:])

    def answer(status: int, payload: bytes = b"") -> bytes:
        return bytes(op.Response(opcode, status, payload))

    if opcode == op.OP_GET_INFO:
        if params:
            return answer(op.STATUS_INVALID_LENGTH), None
        info = op.DeviceInfo(
            op.PROFILE_VERSION_MAJOR,
            op.PROFILE_VERSION_MINOR,
            state.rates_mask,
            state.acc_ranges_mask,
            state.gyro_ranges_mask,
            max_samples,
            state.rate_code,
            state.acc_range_code,
            state.gyro_range_code,
            state.streaming,
        )
        return answer(op.STATUS_SUCCESS, bytes(info)), None
    if opcode == op.OP_SET_RATE:
        if len(params) != 1:
            return answer(op.STATUS_INVALID_LENGTH), None
        if state.streaming:
            return answer(op.STATUS_INVALID_STATE), None
        if params[0] not in op.RATE_CODES:
            return answer(op.STATUS_INVALID_PARAMETER), None
        if not state.rates_mask & (1 << params[0]):
            return answer(op.STATUS_NOT_SUPPORTED), None
        state.rate_code = params[0]
        return answer(op.STATUS_SUCCESS), None
    if opcode == op.OP_SET_RANGE:
        if len(params) != 2:
            return answer(op.STATUS_INVALID_LENGTH), None
        if state.streaming:
            return answer(op.STATUS_INVALID_STATE), None
        acc_code, gyro_code = params
        if acc_code not in op.ACC_RANGES_G or (gyro_code != 0xFF and gyro_code not in op.GYRO_RANGES_DPS):
            return answer(op.STATUS_INVALID_PARAMETER), None
        if not state.acc_ranges_mask & (1 << acc_code) or (
            gyro_code != 0xFF and not state.gyro_ranges_mask & (1 << gyro_code)
        ):
            return answer(op.STATUS_NOT_SUPPORTED), None
        state.acc_range_code = acc_code
        if gyro_code != 0xFF:
            state.gyro_range_code = gyro_code
        return answer(op.STATUS_SUCCESS), None
    if opcode == op.OP_START:
        if len(params) != 1:
            return answer(op.STATUS_INVALID_LENGTH), None
        if params[0] & ~op.START_FLAG_GYRO:
            return answer(op.STATUS_INVALID_PARAMETER), None
        gyro = bool(params[0] & op.START_FLAG_GYRO)
        if gyro and not state.gyro_ranges_mask:
            return answer(op.STATUS_NOT_SUPPORTED), None
        if state.streaming:
            return answer(op.STATUS_INVALID_STATE), None
        state.streaming, state.gyro_on = True, gyro
        return answer(op.STATUS_SUCCESS), "start"
    if opcode == op.OP_STOP:
        if params:
            return answer(op.STATUS_INVALID_LENGTH), None
        if not state.streaming:
            return answer(op.STATUS_INVALID_STATE), None
        state.streaming = False
        return answer(op.STATUS_SUCCESS), "stop"
    return answer(op.STATUS_UNKNOWN_OPCODE), None


@register_twin
class OpenProfileTwin(Twin):
    """A DIY board with an accelerometer and gyro (rates 12.5–200 Hz as an MPU-6050 gives them).

    Its µs clock starts one second before the uint32 counter wraps, so a replay exercises the wrap.
    """

    kind: ClassVar[str] = "gaitdir"
    name_template: ClassVar[str] = "gaitdir-{serial}"
    advertised_uuids: ClassVar[tuple[str, ...]] = (op.SERVICE_UUID,)
    default_rate_hz: ClassVar[float] = 100.0
    clock_origin_s: ClassVar[float] = (2**32 - 1_000_000) / 1e6
    #: rate codes the board offers: 12.5, 25, 50, 100, 200 Hz
    supported_rate_codes: ClassVar[tuple[int, ...]] = (1, 2, 4, 6, 8)

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor)
        self.state = self._fresh_state()
        self.seq = 0
        self.control_point: Characteristic | None = None
        self.data: Characteristic | None = None

    def _fresh_state(self) -> BoardState:
        return BoardState(
            rates_mask=sum(1 << c for c in self.supported_rate_codes),
            acc_ranges_mask=0b1111,
            gyro_ranges_mask=0b1111,
        )

    def build_services(self) -> list[Service]:
        from bumble import gatt

        props = gatt.Characteristic.Properties
        self.control_point = gatt.Characteristic(
            op.CONTROL_POINT_UUID,
            props.WRITE | props.NOTIFY,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write),
        )
        self.data = gatt.Characteristic(op.DATA_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b"")
        return [gatt.Service(op.SERVICE_UUID, [self.control_point, self.data])]

    def _max_samples(self) -> int:
        return op.samples_per_frame(self.sensor.mtu, gyro=bool(self.state.gyro_ranges_mask))

    def _on_write(self, connection: Any, value: bytes) -> None:
        assert self.control_point is not None
        answer, action = handle_request(self.state, bytes(value), max_samples=self._max_samples())
        self.sensor.send(self.control_point, answer)
        if action == "start":
            self.seq = 0
            self.sensor.start_stream(op.RATE_CODES[self.state.rate_code])
        elif action == "stop":
            self.sensor.stop_stream()

    def samples_per_frame(self, mtu: int) -> int:
        return op.samples_per_frame(mtu, gyro=self.state.gyro_on)

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.data is not None
        frame = op.DataFrame.from_si(
            seq=self.seq,
            timestamp_us=round(float(chunk.sensor_time_s[0]) * 1e6) % 2**32,
            rate_code=self.state.rate_code,
            acc_range_code=self.state.acc_range_code,
            acc_mps2=chunk.acc_mps2,
            gyr_radps=chunk.gyr_radps if self.state.gyro_on else None,
            gyro_range_code=self.state.gyro_range_code,
        )
        self.seq = (self.seq + 1) % 2**16
        return [(self.data, bytes(frame))]

    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        assert self.data is not None
        return [
            (self.data, bytes([0x06, 0x81, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6])),  # version 0
            (self.data, bytes([0x46, 0x82, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6])),  # says 2 samples, has 1
            (self.data, bytes([0x46, 0x81, 0])),  # shorter than a header
        ]

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        assert self.control_point is not None
        self.state.streaming = False
        return [(self.control_point, bytes(op.Event(op.EVENT_STREAM_STOPPED, bytes([0x01]))))]

    def on_disconnect(self) -> None:
        # a v1 board stops streaming when the link drops and keeps its settings
        self.state.streaming = False
