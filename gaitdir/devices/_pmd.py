"""Polar Measurement Data (PMD) protocol: a pure codec (bytes ↔ dataclasses), no I/O.

Byte layouts follow Polar's own SDK (``polarofficial/polar-ble-sdk``, Android sources under
``api/ble/model/gatt/client/pmd``): ``PmdControlPointCommand.kt``, ``PmdControlPointResponse.kt``,
``PmdSetting.kt``, ``PmdDataFrame.kt``, ``model/AccData.kt``, ``model/GyrData.kt``,
``BlePMDClient.parseDeltaFramesAll`` and ``model/PmdTimeStampUtils.kt``. Every decoder here has an
encoder, which the virtual sensor uses to speak the same bytes.

Units: accelerometer samples decode to mG, gyroscope samples to °/s; timestamps are ns since
2000-01-01T00:00:00Z and belong to the *last* sample of a frame.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

#: Unix time (ns) of the PMD epoch 2000-01-01T00:00:00Z (polar-ble-sdk ``TimeSystemExplained.md``).
PMD_EPOCH_UNIX_NS: int = 946_684_800_000_000_000

#: First byte of a control-point response; of a feature read; of "measurement stopped".
RESPONSE_CODE = 0xF0
FEATURES_CODE = 0x0F
MEASUREMENT_STOPPED_CODE = 0x01

DATA_HEADER_BYTES = 10


class PmdError(ValueError):
    """Bytes that are not a valid PMD message."""


class MeasurementType(enum.IntEnum):
    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SKIN_TEMP = 7
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12
    OFFLINE_REC = 13
    OFFLINE_HR = 14


class Opcode(enum.IntEnum):
    GET_MEASUREMENT_SETTINGS = 0x01
    REQUEST_MEASUREMENT_START = 0x02
    STOP_MEASUREMENT = 0x03
    GET_SDK_MODE_SETTINGS = 0x04
    GET_MEASUREMENT_STATUS = 0x05
    GET_SDK_MODE_STATUS = 0x06


class Status(enum.IntEnum):
    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


class Setting(enum.IntEnum):
    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


#: Bytes per value of each setting (``PmdSetting.typeToFieldSize``).
SETTING_SIZE: dict[Setting, int] = {
    Setting.SAMPLE_RATE: 2,
    Setting.RESOLUTION: 2,
    Setting.RANGE: 2,
    Setting.RANGE_MILLIUNIT: 4,
    Setting.CHANNELS: 1,
    Setting.FACTOR: 4,
    Setting.SECURITY: 16,
}

SettingValue = int | float


def status_name(code: int) -> str:
    """Name of a response status code (``"INVALID_SAMPLE_RATE"``), or ``"UNKNOWN(0x..)"``."""
    try:
        return Status(code).name
    except ValueError:
        return f"UNKNOWN(0x{code:02X})"


def opcode_name(code: int) -> str:
    """Name of a control-point opcode, or its hex value."""
    try:
        return Opcode(code).name
    except ValueError:
        return f"OPCODE(0x{code:02X})"


def type_name(code: int) -> str:
    try:
        return MeasurementType(code & 0x3F).name
    except ValueError:
        return f"TYPE(0x{code:02X})"


def _encode_value(setting: Setting, value: SettingValue) -> bytes:
    size = SETTING_SIZE[setting]
    if setting is Setting.FACTOR:
        return struct.pack("<f", float(value))
    return int(value).to_bytes(size, "little", signed=False)


def _decode_value(setting: Setting, raw: bytes) -> SettingValue:
    if setting is Setting.FACTOR:
        return float(struct.unpack("<f", raw)[0])
    return int.from_bytes(raw, "little", signed=False)


def encode_settings(settings: Mapping[Setting, SettingValue | Sequence[SettingValue]]) -> bytes:
    """TLV ``[type, count, count × value LE]`` for each setting (one value or a sequence)."""
    out = bytearray()
    for setting, values in settings.items():
        vals = list(values) if isinstance(values, (list, tuple)) else [values]
        out += bytes([int(setting), len(vals)])
        for v in vals:
            out += _encode_value(Setting(setting), v)  # type: ignore[arg-type]
    return bytes(out)


def decode_settings(data: bytes) -> dict[Setting, list[SettingValue]]:
    """Parse a settings TLV (GET response parameters or START response parameters)."""
    out: dict[Setting, list[SettingValue]] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise PmdError(f"settings TLV truncated at byte {i}")
        try:
            setting = Setting(data[i])
        except ValueError:
            raise PmdError(f"unknown setting type 0x{data[i]:02X} at byte {i}") from None
        count = data[i + 1]
        size = SETTING_SIZE[setting]
        i += 2
        if i + count * size > len(data):
            raise PmdError(f"settings TLV: {setting.name} needs {count * size} bytes, {len(data) - i} left")
        out[setting] = [_decode_value(setting, data[i + k * size : i + (k + 1) * size]) for k in range(count)]
        i += count * size
    return out


# --------------------------------------------------------------------------- control point
@dataclass(frozen=True)
class ControlPointCommand:
    """A command written to the PMD control point: ``[opcode, type, settings TLV...]``.

    Attributes
    ----------
    opcode : int
        An :class:`Opcode`.
    measurement_type : int
        A :class:`MeasurementType`; bit 0x80 selects offline recording (never used here).
    settings : dict
        START only: one value per setting (sample rate Hz, resolution bits, range g or °/s, channels).
    """

    opcode: int
    measurement_type: int
    settings: dict[Setting, SettingValue] = field(default_factory=dict)

    @classmethod
    def get_settings(cls, measurement_type: int) -> ControlPointCommand:
        return cls(Opcode.GET_MEASUREMENT_SETTINGS, measurement_type)

    @classmethod
    def start(cls, measurement_type: int, settings: Mapping[Setting, SettingValue]) -> ControlPointCommand:
        return cls(Opcode.REQUEST_MEASUREMENT_START, measurement_type, dict(settings))

    @classmethod
    def stop(cls, measurement_type: int) -> ControlPointCommand:
        return cls(Opcode.STOP_MEASUREMENT, measurement_type)

    @classmethod
    def sdk_mode(cls, enable: bool) -> ControlPointCommand:
        """SDK mode on (``02 09``) or off (``03 09``) (``BlePMDClient.startSDKMode/stopSDKMode``)."""
        opcode = Opcode.REQUEST_MEASUREMENT_START if enable else Opcode.STOP_MEASUREMENT
        return cls(opcode, MeasurementType.SDK_MODE)

    @classmethod
    def from_bytes(cls, data: bytes) -> ControlPointCommand:
        if len(data) < 2:
            raise PmdError(f"command too short ({len(data)} bytes)")
        settings = decode_settings(data[2:])
        return cls(data[0], data[1], {k: v[0] for k, v in settings.items() if v})

    def __bytes__(self) -> bytes:
        return bytes([int(self.opcode), int(self.measurement_type)]) + encode_settings(
            {k: v for k, v in self.settings.items() if k is not Setting.FACTOR}
        )


@dataclass(frozen=True)
class ControlPointResponse:
    """A control-point response ``[F0, opcode, type, status, more, params...]``.

    ``more != 0`` means further packets follow whose parameters (from byte 5 on) continue these;
    join them with :meth:`join`.
    """

    opcode: int
    measurement_type: int
    status: int
    more: bool = False
    parameters: bytes = b""

    @classmethod
    def from_bytes(cls, data: bytes) -> ControlPointResponse:
        if len(data) < 4 or data[0] != RESPONSE_CODE:
            raise PmdError(f"not a control-point response: {data.hex(' ')}")
        more = len(data) > 4 and data[4] != 0
        return cls(data[1], data[2], data[3], more, bytes(data[5:]))

    def __bytes__(self) -> bytes:
        return (
            bytes([RESPONSE_CODE, self.opcode, self.measurement_type, self.status, int(self.more)])
            + self.parameters
        )

    @classmethod
    def join(cls, parts: Sequence[ControlPointResponse]) -> ControlPointResponse:
        """One response from a first packet and its ``more`` continuations."""
        first = parts[0]
        return cls(
            first.opcode, first.measurement_type, first.status, False, b"".join(p.parameters for p in parts)
        )

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCESS

    @property
    def status_name(self) -> str:
        return status_name(self.status)

    def settings(self) -> dict[Setting, list[SettingValue]]:
        """Parameters parsed as a settings TLV (GET and START responses)."""
        return decode_settings(self.parameters)

    @property
    def factor(self) -> float | None:
        """The FACTOR a START response carries (scales compressed samples), if any."""
        values = self.settings().get(Setting.FACTOR) if self.parameters else None
        return float(values[0]) if values else None


@dataclass(frozen=True)
class MeasurementStopped:
    """Unsolicited control-point notification ``[0x01, type, type...]``: the sensor ended streams."""

    measurement_types: tuple[int, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> MeasurementStopped:
        if not data or data[0] != MEASUREMENT_STOPPED_CODE:
            raise PmdError(f"not a measurement-stopped notification: {data.hex(' ')}")
        return cls(tuple(b & 0x3F for b in data[1:]))

    def __bytes__(self) -> bytes:
        return bytes([MEASUREMENT_STOPPED_CODE, *self.measurement_types])


@dataclass(frozen=True)
class Features:
    """The control point's read value ``[0x0F, flags1, flags2]``: which measurements the sensor has."""

    measurement_types: frozenset[int]
    sdk_mode: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> Features:
        if len(data) < 2 or data[0] != FEATURES_CODE:
            raise PmdError(f"not a PMD feature read: {data.hex(' ')}")
        flags1 = data[1]
        types = frozenset(t for t in range(8) if flags1 & (1 << t))
        sdk = len(data) > 2 and bool(data[2] & 0x02)
        return cls(types, sdk)

    def __bytes__(self) -> bytes:
        flags1 = 0
        for t in self.measurement_types:
            if t < 8:
                flags1 |= 1 << t
        return bytes([FEATURES_CODE, flags1, 0x02 if self.sdk_mode else 0x00])


# --------------------------------------------------------------------------- data frames
@dataclass(frozen=True)
class DataFrame:
    """A PMD data notification ``[type, timestamp u64 LE (ns), frame type, payload...]``."""

    measurement_type: int
    timestamp_ns: int
    frame_type: int
    payload: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> DataFrame:
        if len(data) < DATA_HEADER_BYTES:
            raise PmdError(
                f"data frame too short ({len(data)} bytes, the header alone is {DATA_HEADER_BYTES})"
            )
        ts = int.from_bytes(data[1:9], "little")
        return cls(data[0], ts, data[9], bytes(data[10:]))

    def __bytes__(self) -> bytes:
        return (
            bytes([self.measurement_type])
            + int(self.timestamp_ns).to_bytes(8, "little")
            + bytes([self.frame_type])
            + self.payload
        )

    @property
    def compressed(self) -> bool:
        return bool(self.frame_type & 0x80)

    @property
    def base_type(self) -> int:
        return self.frame_type & 0x7F


def _sign_extend(values: np.ndarray, bits: int) -> np.ndarray:
    sign = np.int64(1) << (bits - 1)
    return (values ^ sign) - sign


def decode_delta_payload(payload: bytes, channels: int, resolution_bits: int) -> np.ndarray:
    """Decode a delta-compressed payload into integer samples.

    Layout (``BlePMDClient.parseDeltaFramesAll``): a reference sample of ``channels × ceil(res/8)``
    signed LE bytes, then blocks ``[delta_bits u8, count u8, ceil(delta_bits·count·channels/8) bytes]``
    of two's-complement deltas packed LSB-first; samples are cumulative sums from the reference,
    which is itself sample 0.

    Returns
    -------
    ndarray of int64, shape (n, channels)
    """
    ref_bytes = math.ceil(resolution_bits / 8)
    head = channels * ref_bytes
    if len(payload) < head:
        raise PmdError(f"delta frame shorter ({len(payload)} bytes) than its reference sample ({head})")
    ref = np.array(
        [
            int.from_bytes(payload[c * ref_bytes : (c + 1) * ref_bytes], "little", signed=True)
            for c in range(channels)
        ],
        dtype=np.int64,
    )
    rows = [ref[None, :]]
    i = head
    current = ref
    while i < len(payload):
        if i + 2 > len(payload):
            raise PmdError(f"delta block header truncated at payload byte {i}")
        bits, count = payload[i], payload[i + 1]
        if bits == 0 or bits > 32:
            raise PmdError(f"delta width {bits} bits at payload byte {i} is invalid")
        nbytes = math.ceil(bits * count * channels / 8)
        i += 2
        if i + nbytes > len(payload):
            raise PmdError(
                f"delta block of {count} samples × {bits} bits needs {nbytes} bytes, {len(payload) - i} left"
            )
        raw = np.frombuffer(payload[i : i + nbytes], dtype=np.uint8)
        i += nbytes
        if count == 0:
            continue
        allbits = np.unpackbits(raw, bitorder="little")[: bits * count * channels].astype(np.int64)
        weights = np.int64(1) << np.arange(bits, dtype=np.int64)
        deltas = _sign_extend(allbits.reshape(count * channels, bits) @ weights, bits).reshape(
            count, channels
        )
        block = current + np.cumsum(deltas, axis=0)
        rows.append(block)
        current = block[-1]
    return np.concatenate(rows, axis=0)


def _bits_needed(values: np.ndarray) -> int:
    """Smallest two's-complement width holding every value (at least 1)."""
    if values.size == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def encode_delta_payload(
    samples: np.ndarray, resolution_bits: int, *, block_samples: int = 255, delta_bits: int | None = None
) -> bytes:
    """Inverse of :func:`decode_delta_payload`: a reference sample then blocks of packed deltas.

    Parameters
    ----------
    samples : ndarray of int, shape (n, channels)
    resolution_bits : int
        Width of the reference sample (16 for ACC/GYRO).
    block_samples : int
        Samples per delta block (≤ 255).
    delta_bits : int, optional
        Force a delta width; by default each block uses the smallest width its deltas fit in.
    """
    samples = np.asarray(samples, dtype=np.int64)
    n = samples.shape[0]
    ref_bytes = math.ceil(resolution_bits / 8)
    out = bytearray()
    for v in samples[0]:
        out += int(v).to_bytes(ref_bytes, "little", signed=True)
    deltas = np.diff(samples, axis=0)
    for start in range(0, n - 1, block_samples):
        block = deltas[start : start + block_samples]
        bits = _bits_needed(block)
        if delta_bits is not None:
            if delta_bits < bits:
                raise PmdError(f"deltas need {bits} bits, {delta_bits} were asked for")
            bits = delta_bits
        flat = (block.reshape(-1) & ((np.int64(1) << bits) - 1)).astype(np.int64)
        bitmat = ((flat[:, None] >> np.arange(bits, dtype=np.int64)) & 1).astype(np.uint8).reshape(-1)
        out += bytes([bits, block.shape[0]])
        out += np.packbits(bitmat, bitorder="little").tobytes()
    return bytes(out)


_RAW_ACC_BYTES = {0x00: 1, 0x01: 2, 0x02: 3}


def decode_acc(frame: DataFrame, factor: float = 1.0) -> np.ndarray:
    """Accelerometer samples of a frame (mG), shape (n, 3).

    Raw types 0x00/0x01/0x02 carry 1/2/3-byte signed mG per axis; 0x80 is 16-bit deltas scaled by
    ``factor`` in G (× 1000 → mG); 0x81 is 16-bit reference + deltas, × ``factor`` when it is not 1
    (``model/AccData.kt``).
    """
    if frame.compressed:
        if frame.base_type not in (0x00, 0x01):
            raise PmdError(f"unknown compressed ACC frame type 0x{frame.frame_type:02X}")
        counts = decode_delta_payload(frame.payload, 3, 16).astype(np.float64)
        if frame.base_type == 0x00:
            return counts * factor * 1000.0
        return counts * factor if factor != 1.0 else counts
    width = _RAW_ACC_BYTES.get(frame.frame_type)
    if width is None:
        raise PmdError(f"unknown ACC frame type 0x{frame.frame_type:02X}")
    if len(frame.payload) % (3 * width) or not frame.payload:
        raise PmdError(
            f"ACC frame type 0x{frame.frame_type:02X}: payload of {len(frame.payload)} bytes "
            "is not a whole number of samples"
        )
    if width == 3:
        raw = np.frombuffer(frame.payload, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
        vals = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        return _sign_extend(vals, 24).reshape(-1, 3).astype(np.float64)
    dtype = {1: "<i1", 2: "<i2"}[width]
    return np.frombuffer(frame.payload, dtype=dtype).reshape(-1, 3).astype(np.float64)


def decode_gyro(frame: DataFrame, factor: float = 1.0) -> np.ndarray:
    """Gyroscope samples of a frame (°/s), shape (n, 3) (``model/GyrData.kt``).

    0x80: 16-bit reference + deltas × ``factor``; 0x81: float32 channels whose bit patterns are
    delta-coded, × ``factor``.
    """
    if frame.frame_type == 0x80:
        return decode_delta_payload(frame.payload, 3, 16).astype(np.float64) * factor
    if frame.frame_type == 0x81:
        bits = decode_delta_payload(frame.payload, 3, 32)
        as_u32 = (bits & 0xFFFFFFFF).astype(np.uint32)
        return as_u32.view(np.float32).astype(np.float64) * factor
    raise PmdError(f"unknown GYRO frame type 0x{frame.frame_type:02X}")


def encode_acc(
    samples_mg: np.ndarray, timestamp_ns: int, *, frame_type: int = 0x01, factor: float = 1.0
) -> DataFrame:
    """An ACC frame for ``samples_mg`` (n, 3) whose last sample is at ``timestamp_ns``.

    Raw types quantise mG to integers; 0x81 stores ``round(mG / factor)`` counts; 0x80 stores
    ``round(mG / (factor·1000))``.
    """
    samples_mg = np.asarray(samples_mg, dtype=np.float64)
    if frame_type in _RAW_ACC_BYTES:
        width = _RAW_ACC_BYTES[frame_type]
        lim = (1 << (8 * width - 1)) - 1
        ints = np.clip(np.rint(samples_mg), -lim - 1, lim).astype(np.int64)
        if width == 3:
            payload = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.reshape(-1))
        else:
            payload = ints.astype({1: "<i1", 2: "<i2"}[width]).tobytes()
    elif frame_type == 0x81:
        counts = np.rint(samples_mg / factor) if factor != 1.0 else np.rint(samples_mg)
        payload = encode_delta_payload(np.clip(counts, -32768, 32767).astype(np.int64), 16)
    elif frame_type == 0x80:
        counts = np.rint(samples_mg / (factor * 1000.0))
        payload = encode_delta_payload(np.clip(counts, -32768, 32767).astype(np.int64), 16)
    else:
        raise PmdError(f"cannot encode ACC frame type 0x{frame_type:02X}")
    return DataFrame(MeasurementType.ACC, int(timestamp_ns), frame_type, payload)


def encode_gyro(samples_dps: np.ndarray, timestamp_ns: int, *, factor: float = 1.0) -> DataFrame:
    """A GYRO frame (type 0x80: 16-bit counts = round(°/s / factor), delta-coded)."""
    counts = np.clip(np.rint(np.asarray(samples_dps, dtype=np.float64) / factor), -32768, 32767).astype(
        np.int64
    )
    return DataFrame(MeasurementType.GYRO, int(timestamp_ns), 0x80, encode_delta_payload(counts, 16))


def sample_times_ns(previous_ns: int | None, timestamp_ns: int, n: int, sample_rate_hz: float) -> np.ndarray:
    """Per-sample times (ns, float) of a frame of ``n`` samples whose last sample is at ``timestamp_ns``.

    As ``PmdTimeStampUtils.getTimeStamps``: for the first frame of a stream (``previous_ns`` None)
    samples go back from the frame timestamp at 1/fs; afterwards they are spread evenly between the
    previous frame's timestamp (exclusive) and this one's (inclusive).
    """
    k = np.arange(1, n + 1, dtype=np.float64)
    if previous_ns is None:
        return timestamp_ns - (n - k) * (1e9 / sample_rate_hz)
    step = (timestamp_ns - previous_ns) / n
    return timestamp_ns - (n - k) * step  # anchored at the frame timestamp, which is exact
