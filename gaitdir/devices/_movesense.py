"""Movesense over the GATT SensorData Protocol (the ``gatt_sensordata_app`` firmware).

Protocol (see ``firmware_notes/movesense.md``): the client writes ``[op, ref, ASCII path]`` to the
command characteristic — ``op`` 1 subscribes to a whiteboard resource such as ``/Meas/IMU6/104``,
2 unsubscribes ``ref`` — and the sensor notifies ``[type, ref, payload]`` on the data characteristic:
type 1 answers a command, type 2 carries a data packet, type 3 continues the previous type-2 packet
when it did not fit one notification. A data payload is a uint32 LE timestamp (ms, sensor clock)
followed by float32 LE values: ``n`` acc xyz samples (m/s²), then for IMU6 ``n`` gyro xyz samples (°/s).

This module holds the pure codec (commands, notifications, packets, a reassembling decoder) and the
driver built on it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from gaitdir.devices._base import TimestampSource, register_driver
from gaitdir.devices._codeccommon import FrameError, WrapUnwrapper
from gaitdir.devices._eventful import EventfulDecoder, EventfulDriverMixin
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.errors import DeviceError
from gaitdir.mounting import MOUNTING_PROFILES, MountingProfile

logger = logging.getLogger(__name__)

SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
DATA_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"

#: Command opcodes (client → sensor).
OP_HELLO = 0
OP_SUBSCRIBE = 1
OP_UNSUBSCRIBE = 2
#: Notification types (sensor → client).
TYPE_COMMAND_RESULT = 1
TYPE_DATA = 2
TYPE_DATA_CONTINUATION = 3

#: Output rates (Hz) of /Meas/Acc and /Meas/Gyro (hence IMU6) on Movesense sensors.
RATES_HZ: tuple[int, ...] = (13, 26, 52, 104, 208, 416, 833, 1666)
#: Whiteboard resources gaitdir subscribes to, by whether gyro is wanted.
RESOURCES: dict[str, int] = {"Acc": 1, "IMU6": 2}  # name → vectors (xyz blocks) per sample

_DEG_TO_RAD = math.pi / 180.0
_TS_MODULUS = 2**32


def resource_path(resource: str, rate_hz: int) -> str:
    """Whiteboard path of ``resource`` (``"Acc"``/``"IMU6"``) at ``rate_hz``, e.g. ``/Meas/IMU6/104``."""
    if resource not in RESOURCES:
        raise ValueError(f"unknown Movesense resource {resource!r}; expected one of {sorted(RESOURCES)}")
    if rate_hz not in RATES_HZ:
        raise ValueError(f"Movesense rate {rate_hz} Hz not supported; expected one of {RATES_HZ}")
    return f"/Meas/{resource}/{rate_hz}"


def samples_per_packet(rate_hz: int) -> int:
    """Samples the firmware puts in one data packet at ``rate_hz``.

    Movesense batches measurements into notifications at about 13 per second (the published IMU9
    client reads 8 samples per packet at 104 Hz). gaitdir uses this only as the first guess for
    reassembly and learns the real count from complete packets (see :class:`MovesenseDecoder`).
    """
    return max(1, round(rate_hz / 13))


@dataclass(frozen=True)
class MovesenseCommand:
    """A command written to the command characteristic.

    Attributes
    ----------
    op : int
        ``OP_HELLO``, ``OP_SUBSCRIBE`` or ``OP_UNSUBSCRIBE``.
    ref : int
        Client reference (1–255, never 0: the firmware uses 0 for a free slot).
    path : str
        Resource path for ``OP_SUBSCRIBE`` (ASCII), empty otherwise.
    """

    op: int
    ref: int
    path: str = ""

    def __post_init__(self) -> None:
        if self.op not in (OP_HELLO, OP_SUBSCRIBE, OP_UNSUBSCRIBE):
            raise FrameError(f"unknown Movesense command opcode {self.op}")
        if not 1 <= self.ref <= 255:
            raise FrameError(f"Movesense client reference must be 1..255, got {self.ref}")
        if self.op == OP_SUBSCRIBE and not self.path:
            raise FrameError("a Movesense subscribe command needs a resource path")

    def __bytes__(self) -> bytes:
        return bytes([self.op, self.ref]) + self.path.encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> MovesenseCommand:
        if len(data) < 2:
            raise FrameError(f"Movesense command too short ({len(data)} bytes)")
        try:
            path = bytes(data[2:]).decode("ascii")
        except UnicodeDecodeError as exc:
            raise FrameError("Movesense resource path is not ASCII") from exc
        return cls(op=data[0], ref=data[1], path=path)


@dataclass(frozen=True)
class MovesenseNotification:
    """One notification on the data characteristic: ``[type, ref, payload]``."""

    type: int
    ref: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if self.type not in (TYPE_COMMAND_RESULT, TYPE_DATA, TYPE_DATA_CONTINUATION):
            raise FrameError(f"unknown Movesense notification type {self.type}")
        if not 0 <= self.ref <= 255:
            raise FrameError(f"Movesense reference out of range: {self.ref}")

    def __bytes__(self) -> bytes:
        return bytes([self.type, self.ref]) + bytes(self.payload)

    @classmethod
    def from_bytes(cls, data: bytes) -> MovesenseNotification:
        if len(data) < 2:
            raise FrameError(f"Movesense notification too short ({len(data)} bytes)")
        return cls(type=data[0], ref=data[1], payload=bytes(data[2:]))


@dataclass(frozen=True)
class MovesensePacket:
    """One reassembled data packet of ``/Meas/Acc`` or ``/Meas/IMU6``.

    Attributes
    ----------
    timestamp_ms : int
        Sensor clock (ms, uint32, wraps after ~49.7 days) of the packet's first sample.
    acc_mps2 : ndarray, shape (n, 3), float32
        Acceleration including gravity (m/s²).
    gyr_dps : ndarray, shape (n, 3), float32, optional
        Angular rate (°/s), present for IMU6.
    """

    timestamp_ms: int
    acc_mps2: np.ndarray
    gyr_dps: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.timestamp_ms < _TS_MODULUS:
            raise FrameError(f"Movesense timestamp out of uint32 range: {self.timestamp_ms}")
        acc = np.asarray(self.acc_mps2)
        if acc.ndim != 2 or acc.shape[1] != 3 or acc.shape[0] == 0:
            raise FrameError(f"Movesense packet needs (n>0, 3) acc samples, got {acc.shape}")
        if self.gyr_dps is not None and np.asarray(self.gyr_dps).shape != acc.shape:
            raise FrameError("Movesense IMU6 packet needs as many gyro samples as acc samples")

    @property
    def n_samples(self) -> int:
        return int(np.asarray(self.acc_mps2).shape[0])

    def __bytes__(self) -> bytes:
        parts = [struct.pack("<I", self.timestamp_ms), np.asarray(self.acc_mps2, dtype="<f4").tobytes()]
        if self.gyr_dps is not None:
            parts.append(np.asarray(self.gyr_dps, dtype="<f4").tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, payload: bytes, *, resource: str) -> MovesensePacket:
        """Decode a complete payload of ``resource`` (``"Acc"`` or ``"IMU6"``)."""
        vectors = RESOURCES[resource]
        sample_bytes = 12 * vectors
        body = len(payload) - 4
        if body <= 0 or body % sample_bytes:
            raise FrameError(
                f"Movesense {resource} payload of {len(payload)} bytes is not 4 + n×{sample_bytes} bytes"
            )
        n = body // sample_bytes
        (ts,) = struct.unpack_from("<I", payload, 0)
        values = np.frombuffer(payload, dtype="<f4", offset=4).reshape(vectors, n, 3)
        if not np.all(np.isfinite(values)):
            raise FrameError("Movesense packet holds non-finite values")
        return cls(
            timestamp_ms=ts, acc_mps2=values[0].copy(), gyr_dps=values[1].copy() if vectors == 2 else None
        )


def command_result_code(payload: bytes) -> int | None:
    """The HTTP-style status in a type-1 answer, or None when the answer carries none (HELLO → ``Hello``).

    The firmware writes the code high byte first: its "no free subscription slot" answer is
    ``01 FB`` = 507 (``GATTSensorDataClient.cpp``).
    """
    if len(payload) != 2:
        return None
    return int.from_bytes(payload, "big")


def split_notifications(ref: int, payload: bytes, max_notification_bytes: int) -> list[bytes]:
    """Split a data packet into a type-2 notification and type-3 continuations, as the firmware does.

    Parameters
    ----------
    ref : int
        Client reference of the subscription.
    payload : bytes
        The whole packet payload.
    max_notification_bytes : int
        Largest notification the link carries (ATT MTU − 3).
    """
    room = max_notification_bytes - 2
    if room < 1:
        raise ValueError("notifications too small to carry Movesense data")
    chunks = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
    out = [bytes(MovesenseNotification(TYPE_DATA, ref, chunks[0]))]
    out.extend(bytes(MovesenseNotification(TYPE_DATA_CONTINUATION, ref, c)) for c in chunks[1:])
    return out


@dataclass
class MovesenseDecoder:
    """Reassembles type-2/type-3 notifications into packets and turns them into SI batches.

    A packet is complete when its payload reaches the expected size (``4 + n × 12 × vectors``, ``n``
    first guessed from the rate, then learned), or when a notification shorter than the largest the link
    carries ends a whole packet (the firmware continues a packet only when it did not fit). Otherwise a
    whole packet is released when the next type-2 part starts, and the expected count adapts.
    Sample ``i`` of a packet is at ``timestamp + i / rate``; a jump in packet timestamps beyond the
    expected spacing is reported as ``LOST_PACKETS`` (the protocol has no sequence number).

    Parameters
    ----------
    ref : int
        Client reference of the subscription to decode; other references are ignored.
    resource : str
        ``"Acc"`` or ``"IMU6"``.
    rate_hz : int
        Subscribed rate (Hz).
    max_notification_bytes : int, optional
        Largest notification the link carries (ATT MTU − 3), when known.
    """

    ref: int
    resource: str
    rate_hz: int
    max_notification_bytes: int | None = None
    _pending: bytearray | None = field(default=None, init=False, repr=False)
    _expected_n: int = field(default=0, init=False, repr=False)
    _clock: WrapUnwrapper = field(default_factory=lambda: WrapUnwrapper(_TS_MODULUS), init=False, repr=False)
    _next_ms: float | None = field(default=None, init=False, repr=False)

    kind: ClassVar[str] = "movesense"

    def __post_init__(self) -> None:
        self._expected_n = samples_per_packet(self.rate_hz)

    def reset(self) -> MovesenseDecoder:
        """Drop any half-received packet and the timing history (a new subscription starts)."""
        self._pending = None
        self._clock.reset()
        self._next_ms = None
        self._expected_n = samples_per_packet(self.rate_hz)
        return self

    @property
    def _sample_bytes(self) -> int:
        return 12 * RESOURCES[self.resource]

    def _complete(self, buf: bytes | bytearray) -> bool:
        body = len(buf) - 4
        return body > 0 and body % self._sample_bytes == 0

    def feed(self, data: bytes, host_time_s: float = 0.0) -> list[ImuBatch | StreamEvent]:
        """Decode one notification; returns the batches and events it completes.

        Raises
        ------
        FrameError
            If the notification is not a Movesense notification at all.
        """
        note = MovesenseNotification.from_bytes(data)
        out: list[ImuBatch | StreamEvent] = []
        if note.ref != self.ref or note.type == TYPE_COMMAND_RESULT:
            return out
        if note.type == TYPE_DATA:
            if self._pending is not None:
                out.extend(self._release(bytes(self._pending), learn=True))
            self._pending = bytearray(note.payload)
        else:
            if self._pending is None:
                out.append(StreamEvent(EventKind.MALFORMED_FRAME, "Movesense continuation without a packet"))
                return out
            self._pending.extend(note.payload)
        expected_len = 4 + self._expected_n * self._sample_bytes
        short = self.max_notification_bytes is not None and len(data) < self.max_notification_bytes
        if (len(self._pending) >= expected_len or short) and self._complete(self._pending):
            out.extend(self._release(bytes(self._pending), learn=len(self._pending) != expected_len))
            self._pending = None
        return out

    def flush(self) -> list[ImuBatch | StreamEvent]:
        """Release a pending packet at the end of the stream if it is whole."""
        if self._pending is None:
            return []
        pending, self._pending = bytes(self._pending), None
        return self._release(pending, learn=False)

    def _release(self, payload: bytes, *, learn: bool) -> list[ImuBatch | StreamEvent]:
        if not self._complete(payload):
            return [
                StreamEvent(EventKind.MALFORMED_FRAME, f"incomplete Movesense packet ({len(payload)} bytes)")
            ]
        try:
            packet = MovesensePacket.from_bytes(payload, resource=self.resource)
        except FrameError as exc:
            return [StreamEvent(EventKind.MALFORMED_FRAME, str(exc))]
        if learn:
            self._expected_n = packet.n_samples
        return self._to_si(packet)

    def _to_si(self, packet: MovesensePacket) -> list[ImuBatch | StreamEvent]:
        out: list[ImuBatch | StreamEvent] = []
        t_ms = float(self._clock.unwrap(packet.timestamp_ms))
        period_ms = 1000.0 / self.rate_hz
        if self._next_ms is not None:
            gap_ms = t_ms - self._next_ms
            if gap_ms < -0.5 * period_ms * packet.n_samples:
                # the clock went back: a duplicate (re-subscribed twice) or a restarted sensor
                out.append(StreamEvent(EventKind.MALFORMED_FRAME, "Movesense packet older than the last"))
                return out
            if gap_ms > 0.5 * period_ms * packet.n_samples:
                lost = max(1, round(gap_ms / (period_ms * packet.n_samples)))
                out.append(
                    StreamEvent(
                        EventKind.LOST_PACKETS, f"{lost} Movesense packet(s) missing", self._next_ms / 1e3
                    )
                )
        times_s = (t_ms + np.arange(packet.n_samples) * period_ms) / 1000.0
        self._next_ms = t_ms + packet.n_samples * period_ms
        gyr = None if packet.gyr_dps is None else np.asarray(packet.gyr_dps, dtype=np.float64) * _DEG_TO_RAD
        out.append(ImuBatch(times_s, np.asarray(packet.acc_mps2, dtype=np.float64), gyr))
        return out


# --------------------------------------------------------------------------------------------- driver
#: Client references gaitdir uses (any 1..255 works; fixed values make traces readable).
HELLO_REF = 0x01
STREAM_REF = 0x63


def nearest_rate_hz(requested_hz: float, supported_hz: Sequence[float]) -> float:
    """The supported rate closest to ``requested_hz`` (ties go to the higher rate)."""
    return min(supported_hz, key=lambda hz: (abs(hz - requested_hz), -hz))


@register_driver
class MovesenseDriver(EventfulDriverMixin):
    """Movesense sensor running the ``gatt_sensordata_app`` firmware: IMU6 (acc + gyro) stream.

    The rate is the supported one nearest to ``sample_rate_hz`` (13…1666 Hz; default 104). The
    accelerometer range cannot be set through this protocol (the firmware keeps its own), so
    ``range_g`` is ignored with a warning. Times come from the packet timestamps (ms, sensor clock).
    """

    kind: ClassVar[str] = "movesense"
    mounting: ClassVar[MountingProfile | None] = MOUNTING_PROFILES["movesense"]
    service_uuids: ClassVar[tuple[str, ...]] = (SERVICE_UUID,)
    name_prefixes: ClassVar[tuple[str, ...]] = ("Movesense",)
    default_sample_rate_hz: ClassVar[float] = 104.0
    has_gyro: ClassVar[bool] = True
    timestamps: ClassVar[TimestampSource] = "sensor"
    control_uuid: ClassVar[str | None] = COMMAND_UUID
    control_notifies: ClassVar[bool] = False
    data_uuids: ClassVar[tuple[str, ...]] = (DATA_UUID,)
    hello_timeout_s: ClassVar[float] = 3.0

    @property
    def effective_sample_rate_hz(self) -> float:
        requested = self.sample_rate_hz if self.sample_rate_hz is not None else self.default_sample_rate_hz
        return float(nearest_rate_hz(float(requested), RATES_HZ))

    async def after_subscribe(self) -> None:
        """Say HELLO: only the gatt_sensordata_app firmware answers ``[1, ref, "Hello"]``."""
        if self.range_g is not None:
            logger.warning(
                "movesense: the range cannot be set over the SensorData protocol; ignoring %s g", self.range_g
            )
        await self.client.write_gatt_char(
            COMMAND_UUID, bytes(MovesenseCommand(OP_HELLO, HELLO_REF)), response=True
        )
        held: list[tuple[str, str, bytes, float]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hello_timeout_s
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise DeviceError(
                        f"{self.info.name or self.address} did not answer the SensorData HELLO within "
                        f"{self.hello_timeout_s:g} s: is the gatt_sensordata_app firmware installed?"
                    )
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    continue
                _, _, payload, _ = item
                if len(payload) >= 2 and payload[0] == TYPE_COMMAND_RESULT and payload[1] == HELLO_REF:
                    return
                held.append(item)
        finally:
            for item in held:
                self._queue.put_nowait(item)

    def start_commands(self) -> list[bytes]:
        path = resource_path("IMU6", int(self.effective_sample_rate_hz))
        return [bytes(MovesenseCommand(OP_SUBSCRIBE, STREAM_REF, path))]

    def stop_commands(self) -> list[bytes]:
        return [bytes(MovesenseCommand(OP_UNSUBSCRIBE, STREAM_REF))]

    def new_decoder(self) -> EventfulDecoder:
        decoder = MovesenseDecoder(
            STREAM_REF,
            "IMU6",
            int(self.effective_sample_rate_hz),
            max_notification_bytes=self.client.mtu_size - 3,
        )

        def feed(data: bytes, arrival_s: float) -> list[ImuBatch | StreamEvent]:
            if len(data) >= 2 and data[0] == TYPE_COMMAND_RESULT and data[1] == STREAM_REF:
                code = command_result_code(bytes(data[2:]))
                if code is not None and code >= 400:
                    return [
                        StreamEvent(
                            EventKind.STOPPED_BY_SENSOR, f"Movesense refused the subscription (HTTP {code})"
                        )
                    ]
                return []
            return decoder.feed(data, arrival_s)

        return EventfulDecoder(feed, self)
