"""Virtual sensors: a real recording replayed through a sensor family's own frames over real GATT.

A *twin* describes one sensor family as a peripheral: what it advertises, its GATT services, how it
reacts to control writes, and how it encodes samples into frames. :class:`VirtualSensor` is the
family-independent part: it advertises, accepts one central at a time, keeps the sensor clock running,
paces frames by stream time (÷ ``speed``), and injects faults.

A twin whose family's mounting profile fixes the wearer's front at a placement presents a recording
that says where its front is (``forward_axis`` metadata, gravity included) as that sensor would have
sensed it worn there: acceleration and angular rate are rotated from the recording's axes into the
family's (see :mod:`gaitdir.devices.virtual._worn`). Otherwise it replays the recording's raw axes.

Stream time starts when the first stream is started, with the recording's first sample. The sensor
clock keeps running while the stream is stopped or the link is down: samples of such outages are lost,
as on hardware, and the next stream continues from where the clock is. When the replay is over the
sensor sends every whole frame of the recording that is still due (however late the event loop let
it run), waits until the last one has reached the central, then sets :attr:`VirtualSensor.finished`,
drops the link and stops advertising (it is gone); a :class:`gaitdir.devices.SensorSession` given that
event as ``end_signal`` then ends instead of trying to reconnect.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import zlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from gaitdir.devices._base import STANDARD_GRAVITY_MPS2
from gaitdir.devices.virtual._worn import Wearing, wearing_for
from gaitdir.errors import DeviceError
from gaitdir.mounting import WornPlacement

if TYPE_CHECKING:
    from bumble.device import Connection, Device
    from bumble.gatt import Characteristic, Service

    from gaitdir.devices.virtual._world import VirtualWorld
    from gaitdir.recordings import Recording

logger = logging.getLogger(__name__)

FaultKind = Literal["disconnect", "stop", "garbage"]

#: Longest wait (s) for frames already handed to the link to leave before the link goes down; a
#: heavily loaded host can take seconds to consume a fast replay's backlog.
DRAIN_TIMEOUT_S: float = 30.0
#: Longest wait (s) in close() for the replay to reach a point where it can stop without abandoning
#: an HCI command; it normally takes one pass of the event loop.
CLOSE_TIMEOUT_S: float = 10.0


@dataclass(frozen=True)
class Fault:
    """A fault injected at a given stream time.

    Attributes
    ----------
    kind : {"disconnect", "stop", "garbage"}
        ``disconnect``: the peripheral drops the link (and accepts a reconnect); ``stop``: the sensor
        ends the stream itself (Polar's "measurement stopped"); ``garbage``: a few malformed frames.
    at_s : float
        Stream time (s) at which it happens.
    """

    kind: FaultKind
    at_s: float

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse ``"disconnect@12.5"``, ``"stop@S"`` or ``"garbage@S"`` (S = stream seconds)."""
        kind, sep, at = spec.strip().partition("@")
        if not sep or kind not in ("disconnect", "stop", "garbage"):
            raise DeviceError(
                f"bad fault {spec!r}: expected disconnect@S, stop@S or garbage@S (S in seconds)"
            )
        try:
            at_s = float(at)
        except ValueError:
            raise DeviceError(f"bad fault {spec!r}: {at!r} is not a number of seconds") from None
        if not math.isfinite(at_s) or at_s < 0:
            raise DeviceError(f"bad fault {spec!r}: the time must be a non-negative number of seconds")
        return cls(kind, at_s)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Chunk:
    """Samples to encode into frames: indices on the sensor's sample grid and SI values."""

    index: np.ndarray  # (n,) sample numbers since the stream clock started
    sensor_time_s: np.ndarray  # (n,) sensor clock (s) of each sample
    acc_mps2: np.ndarray  # (n, 3)
    gyr_radps: np.ndarray  # (n, 3)


class Twin(abc.ABC):
    """One sensor family as a GATT peripheral. Subclass it and register it in :data:`TWINS`.

    A twin builds its GATT services in :meth:`build_services` (bumble ``gatt.Service`` /
    ``gatt.Characteristic`` with ``CharacteristicValue(write=...)`` callbacks that call
    :meth:`VirtualSensor.start_stream` / :meth:`VirtualSensor.stop_stream` / :meth:`VirtualSensor.send`),
    and turns chunks of samples into notification payloads in :meth:`encode`.
    """

    kind: ClassVar[str]
    #: Advertised local name; ``{serial}`` is replaced by a per-sensor serial number.
    name_template: ClassVar[str]
    #: Service UUIDs put in the advertisement (lower-case 128-bit strings).
    advertised_uuids: ClassVar[tuple[str, ...]] = ()
    #: Rate used when the client starts a stream without choosing one (Hz).
    default_rate_hz: ClassVar[float] = 100.0
    #: Sensor clock at stream time 0 (s, on the family's own epoch).
    clock_origin_s: ClassVar[float] = 0.0

    def __init__(self, sensor: VirtualSensor) -> None:
        self.sensor = sensor

    @abc.abstractmethod
    def build_services(self) -> list[Service]:
        """The GATT services (called once, before advertising)."""

    @abc.abstractmethod
    def samples_per_frame(self, mtu: int) -> int:
        """How many samples one frame carries for an ATT MTU of ``mtu`` bytes."""

    @abc.abstractmethod
    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        """Notifications (characteristic, payload) carrying ``chunk``; order is preserved."""

    @abc.abstractmethod
    def garbage(self) -> list[tuple[Characteristic, bytes]]:
        """A few malformed notifications (short, unknown type, truncated payload)."""

    @abc.abstractmethod
    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        """What the sensor sends when it ends the stream itself."""

    @abc.abstractmethod
    def on_disconnect(self) -> None:
        """Reset per-connection state (a real sensor forgets its stream when the link drops)."""


class ListeningTwin(Twin):
    """A sensor that sends one sample per notification whenever a client listens (WitMotion, Thingy:52).

    Such a sensor has no start/stop command: turning notifications on :attr:`stream_char` on starts
    the stream at :attr:`stream_rate_hz`, turning them off stops it. The family builds
    :attr:`stream_char` in :meth:`build_services` (with ``on("subscription", self._on_subscription)``)
    and encodes one sample in :meth:`encode_sample`.
    """

    #: Whether indications turned on count as listening, as notifications do.
    listens_on_indicate: ClassVar[bool] = False

    def __init__(self, sensor: VirtualSensor) -> None:
        super().__init__(sensor)
        self.stream_char: Characteristic | None = None
        self.listening = False

    @property
    @abc.abstractmethod
    def stream_rate_hz(self) -> float:
        """The output rate currently configured (Hz)."""

    @abc.abstractmethod
    def encode_sample(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> bytes:
        """One notification payload carrying one sample (acc m/s², gyro rad/s, each shape (3,))."""

    def _on_subscription(self, connection: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        self.listening = notify_enabled or (self.listens_on_indicate and indicate_enabled)
        if self.listening:
            self.sensor.start_stream(self.stream_rate_hz)
        else:
            self.sensor.stop_stream()

    def samples_per_frame(self, mtu: int) -> int:
        return 1

    def encode(self, chunk: Chunk) -> list[tuple[Characteristic, bytes]]:
        assert self.stream_char is not None
        return [
            (self.stream_char, self.encode_sample(acc, gyr))
            for acc, gyr in zip(chunk.acc_mps2, chunk.gyr_radps, strict=True)
        ]

    def sensor_stop(self) -> list[tuple[Characteristic, bytes]]:
        # The sensor has no "stopped" message; it falls silent.
        self.listening = False
        return []

    def on_disconnect(self) -> None:
        self.listening = False


#: Twins by kind; sensor families add theirs (``TWINS["movesense"] = MovesenseTwin``).
TWINS: dict[str, type[Twin]] = {}


def register_twin(cls: type[Twin]) -> type[Twin]:
    """Class decorator adding a twin to :data:`TWINS`."""
    TWINS[cls.kind] = cls
    return cls


class VirtualSensor:
    """A virtual sensor in a :class:`VirtualWorld` replaying a recording.

    Parameters
    ----------
    world : VirtualWorld
        The world it lives in.
    recording : Recording
        What it replays. Resampled (linear interpolation) to the rate the client asks for; gravity is
        added on the sensor's z axis when the recording had it removed (the sensor is taken to be
        upright then); a twin with a gyroscope sends zero angular rate for a recording without one.
        When it says where the wearer's front is (``forward_axis``) and includes gravity, it is
        presented as worn at ``placement`` (see :attr:`worn`).
    kind : str
        A key of :data:`TWINS`.
    speed : float
        Replay speed (stream seconds per wall-clock second); 1 = real time.
    faults : sequence of Fault or str
        Faults to inject (strings are parsed with :meth:`Fault.parse`).
    address : str, optional
        Its Bluetooth address; allocated by the world when omitted.
    placement : str, optional
        Where the twin is worn (a key of :data:`gaitdir.signal.PLACEMENTS`). None: the recording's
        ``placement`` metadata when the family's mounting profile has that placement, else the
        profile's natural one (chest for the H10). A placement the profile does not have means no
        worn presentation.

    Attributes
    ----------
    worn : WornPlacement or None
        Set by :meth:`start`: the family's front and up axes at :attr:`worn_placement` when the twin
        presents the recording as worn there; None when it replays the raw axes (the recording has no
        ``forward_axis``, has gravity removed, or the profile has no such placement).
    worn_placement : str or None
        The placement it is worn at, when :attr:`worn` is set.
    rotation : ndarray, shape (3, 3), or None
        The rotation applied to acceleration and angular rate (recording axes → the twin's axes).
    """

    def __init__(
        self,
        world: VirtualWorld,
        recording: Recording,
        *,
        kind: str = "polar-h10",
        speed: float = 1.0,
        faults: Any = (),
        address: str | None = None,
        placement: str | None = None,
    ) -> None:
        self.world = world
        self.recording = recording
        self.kind = kind
        self.speed = speed
        self.faults = faults
        self.address = address
        self.placement = placement
        self.worn: WornPlacement | None = None
        self.worn_placement: str | None = None
        self.rotation: np.ndarray | None = None
        self.finished = asyncio.Event()
        self.frames_sent = 0
        self.frames_unsubscribed = 0
        self.samples_sent = 0
        self.connections = 0
        #: CCCD writes enabling notifications/indications, by characteristic UUID (lower-case).
        self.subscriptions: dict[str, int] = {}
        self.device: Device | None = None
        self.twin: Twin | None = None
        self.name: str | None = None
        self._connection: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._streaming = False
        self._rate_hz = 0.0
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._next_index = 0
        self._t0_wall: float | None = None
        self._pending_faults: list[Fault] = []
        self._closing = False
        self._vanished = False
        #: Set once close() has been asked for: wakes a drain that would otherwise keep it waiting.
        self._close_requested = asyncio.Event()
        self._close_lock = asyncio.Lock()
        self._closed = False
        #: Tasks the sensor started on its own (re-advertising, control responses); awaited on close.
        self._background: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> VirtualSensor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> VirtualSensor:
        """Create the peripheral, serve GATT, advertise, and run the replay clock."""
        from bumble.core import AdvertisingData

        if self.kind not in TWINS:
            raise DeviceError(
                f"unknown virtual sensor {self.kind!r}; choose one of {', '.join(sorted(TWINS))}"
            )
        if not self.speed > 0:
            raise DeviceError(f"replay speed must be positive, got {self.speed}")
        if self.recording.n_samples < 2:
            raise DeviceError("the recording to replay has fewer than two samples")
        self._pending_faults = sorted(
            (f if isinstance(f, Fault) else Fault.parse(str(f)) for f in self.faults), key=lambda f: f.at_s
        )
        self._wear()
        twin_cls = TWINS[self.kind]
        self.twin = twin_cls(self)
        # Serial numbers like a real sensor's 8-hex-digit device id, unique within the world.
        serial = zlib.crc32(f"{self.kind}/{self.address}/{self.world.peripheral_count}".encode())
        self.name = twin_cls.name_template.format(serial=f"{serial:08X}")
        self.device = await self.world.add_peripheral(self.name, self.address)
        self.address = self.device.random_address.to_string(with_type_qualifier=False)
        self.device.add_services(self.twin.build_services())
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        server = self.device.gatt_server
        server.on(server.EVENT_CHARACTERISTIC_SUBSCRIPTION, self._on_subscription)
        # Legacy advertising carries 31 bytes: flags + name go in the advertisement (what scanners
        # recognise sensors by), the 128-bit service UUIDs in the scan response.
        self.advertising_data = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                ]
            )
        )
        self.scan_response = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, _uuid_le_bytes(u))
                    for u in twin_cls.advertised_uuids
                ]
            )
        )
        self.world._register_sensor(self)
        await self._advertise()
        self._task = asyncio.create_task(self._run(), name=f"virtual-{self.kind}-{self.address}")
        return self

    async def close(self) -> None:
        """Stop replaying, drop any link and leave the world; safe to call any number of times.

        When it returns nothing the sensor started is still running: the replay has stopped at a safe
        point, re-advertising and pending responses have completed (an HCI command abandoned halfway
        would have its answer arrive at a cancelled future), the link is down and the peripheral is
        powered off. :attr:`finished` is set: no more frames will come.
        """
        self._closing = True
        self._close_requested.set()
        self._wake.set()
        async with self._close_lock:  # a concurrent close() waits for the first one, then returns
            if self._closed:
                return
            task = self._task
            if task is not None:
                # The replay loop leaves at its next check of _closing; cancelling it is the last
                # resort, as it may be in the middle of an HCI command.
                done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
                if not done:
                    logger.warning(
                        "virtual %s %s: replay did not stop; cancelling it", self.kind, self.address
                    )
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                self._task = None
            await self._vanish()
            self.finished.set()
            self._closed = True

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a background task that close() waits for."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_task_error)

    async def _settle(self) -> None:
        """Wait for every background task (re-advertising, responses) to complete."""
        while self._background:
            await asyncio.wait(set(self._background))

    async def _advertise(self) -> None:
        if self.device is None or self._closing or self._vanished or self.finished.is_set():
            return
        if not self.device.is_advertising:
            await self.device.start_advertising(
                advertising_data=self.advertising_data,
                scan_response_data=self.scan_response,
                advertising_interval_min=20.0,
                advertising_interval_max=20.0,
            )

    async def _vanish(self) -> None:
        """Leave the world for good: stop advertising, drop the link, power off (once)."""
        device = self.device
        if device is None or self._vanished:
            return
        self._vanished = True  # from here on nothing is started again (no re-advertising)
        self.world.remove_peripheral(self.address or "")
        # Re-advertising after a drop may be under way: let its HCI commands complete first.
        await self._settle()
        with contextlib.suppress(Exception):
            if device.is_advertising:
                await device.stop_advertising()
        if self._connection is not None:
            await self.world._disconnect(self._connection, self.address or "")
        await self._settle()
        with contextlib.suppress(Exception):
            await device.power_off()

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self.connections += 1
        connection.on(connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection))

    def _on_subscription(
        self, bearer: Any, characteristic: Characteristic, notify: bool, indicate: bool
    ) -> None:
        if notify or indicate:
            uuid = _bleak_uuid_of(characteristic)
            self.subscriptions[uuid] = self.subscriptions.get(uuid, 0) + 1

    def _on_disconnection(self, connection: Connection) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._streaming = False
        if self.twin is not None:
            self.twin.on_disconnect()
        if not (self._closing or self._vanished or self.finished.is_set()):
            self._spawn(self._advertise())
        self._wake.set()

    # ----------------------------------------------------------------- called by twins
    @property
    def stream_time_s(self) -> float:
        """Stream time now (s); 0 before the first stream started."""
        if self._t0_wall is None:
            return 0.0
        return (asyncio.get_running_loop().time() - self._t0_wall) * self.speed

    @property
    def mtu(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_streaming(self) -> bool:
        return self._streaming

    def start_stream(self, rate_hz: float) -> None:
        """Begin sending frames at ``rate_hz`` from the current sensor-clock position."""
        if self._streaming and rate_hz == self._rate_hz:
            return  # already streaming at that rate: a repeated start changes nothing
        if self._grid is None or rate_hz != self._rate_hz:
            self._rate_hz = float(rate_hz)
            self._grid = self._resample(self._rate_hz)
        if self._t0_wall is None:
            # The sensor clock starts now: the first stream begins with the recording's first sample.
            self._t0_wall = asyncio.get_running_loop().time()
            self._next_index = 0
        else:
            # Samples of the time the stream was off are gone; continue from the clock.
            self._next_index = math.floor(self.stream_time_s * self._rate_hz) + 1
        self._streaming = True
        self._wake.set()

    def stop_stream(self) -> None:
        """Stop sending frames (the clock keeps running)."""
        self._streaming = False

    def send(self, characteristic: Characteristic, payload: bytes) -> None:
        """Notify/indicate ``payload`` on ``characteristic`` to the connected central, in order."""
        if self._connection is None or self.device is None or self._vanished:
            return
        self._spawn(self._send_now(characteristic, payload))

    def sensor_time_s(self, index: np.ndarray) -> np.ndarray:
        """Sensor clock (s) of sample numbers ``index`` at the current rate."""
        assert self.twin is not None
        return self.twin.clock_origin_s + index / self._rate_hz

    async def _send_now(self, characteristic: Characteristic, payload: bytes) -> None:
        connection, device = self._connection, self.device
        if connection is None or device is None:
            return
        if not self._subscribed(connection, characteristic):
            # No CCCD write from the client, no notification: exactly what a real sensor does.
            self.frames_unsubscribed += 1
            return
        if characteristic.properties & characteristic.Properties.NOTIFY:
            await device.notify_subscriber(connection, characteristic, payload)
        else:
            await device.indicate_subscriber(connection, characteristic, payload)

    def _subscribed(self, connection: Connection, characteristic: Characteristic) -> bool:
        assert self.device is not None
        subscribers = self.device.gatt_server.subscribers.get(connection, {})
        cccd = subscribers.get(characteristic.handle, b"\x00\x00")
        return cccd[0] & 0x03 != 0 if cccd else False

    def _wear(self) -> None:
        """Decide whether and how the recording is presented as worn (sets worn, rotation...)."""
        rec = self.recording
        wearing: Wearing | None = wearing_for(
            self.kind,
            rec.acc_mps2,
            forward_axis=rec.meta.get("forward_axis"),
            gravity_removed=rec.gravity_removed,
            placement=self.placement,
            recording_placement=rec.meta.get("placement"),
        )
        if wearing is None:
            self.worn = self.worn_placement = self.rotation = None
            return
        self.worn, self.worn_placement, self.rotation = wearing.worn, wearing.placement, wearing.rotation
        logger.info(
            "virtual %s: presents the recording as worn at %s (front %s, up %s)",
            self.kind,
            wearing.placement,
            wearing.worn.front,
            wearing.worn.up,
        )

    # ----------------------------------------------------------------- replay
    def _resample(self, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        rec = self.recording
        t = rec.time_s - rec.time_s[0]
        n = math.floor(t[-1] * rate_hz) + 1
        grid = np.arange(n) / rate_hz
        acc = np.column_stack([np.interp(grid, t, rec.acc_mps2[:, i]) for i in range(3)])
        if rec.gravity_removed:
            acc[:, 2] += STANDARD_GRAVITY_MPS2
        if rec.gyr_radps is not None:
            gyr = np.column_stack([np.interp(grid, t, rec.gyr_radps[:, i]) for i in range(3)])
        else:
            gyr = np.zeros_like(acc)
        if self.rotation is not None:
            # Rows are samples: v_twin = R v_rec for each row is rows @ R.T.
            acc, gyr = acc @ self.rotation.T, gyr @ self.rotation.T
        return acc, gyr

    @property
    def duration_s(self) -> float:
        return self.recording.duration_s

    async def _run(self) -> None:
        try:
            await self._replay()
        except Exception:
            # A twin that cannot encode must not leave its central waiting forever: it goes away.
            logger.exception("virtual %s %s: replay failed; the sensor switches off", self.kind, self.address)
            self._streaming = False
            self.finished.set()
            await self._vanish()

    async def _replay(self) -> None:
        while not self._closing:
            self._wake.clear()
            next_due_s = math.inf
            if self._t0_wall is not None:
                now_s = self.stream_time_s
                # Frames and faults in stream-time order, however late this wake-up is.
                while self._pending_faults and self._pending_faults[0].at_s <= now_s and not self._closing:
                    fault = self._pending_faults.pop(0)
                    await self._emit_due(min(fault.at_s, self.duration_s))
                    await self._inject(fault)
                if self._closing:
                    return
                if now_s > self.duration_s:
                    # However late this wake-up is, every whole frame of the recording goes out before
                    # the sensor switches off (a last, incomplete frame never fills: it is not sent).
                    await self._emit_due(self.duration_s)
                    await self._finish()
                    return
                next_due_s = await self._emit_due(now_s)
                if self._pending_faults:
                    next_due_s = min(next_due_s, self._pending_faults[0].at_s)
                next_due_s = min(next_due_s, self.duration_s + 1e-3)
            wait_s = (
                None if math.isinf(next_due_s) else max(0.0, (next_due_s - self.stream_time_s) / self.speed)
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_s)

    async def _emit_due(self, now_s: float) -> float:
        """Send every complete frame whose last sample is due by stream time ``now_s``.

        Returns the stream time (s) at which the next frame is due.
        """
        if not self._streaming or self._grid is None or self.twin is None:
            return math.inf
        acc, gyr = self._grid
        per_frame = max(1, self.twin.samples_per_frame(self.mtu))
        last_due = min(math.floor(now_s * self._rate_hz + 1e-9), acc.shape[0] - 1)
        while self._streaming and not self._closing and self._next_index + per_frame - 1 <= last_due:
            idx = np.arange(self._next_index, self._next_index + per_frame)
            chunk = Chunk(idx, self.sensor_time_s(idx), acc[idx], gyr[idx])
            for characteristic, payload in self.twin.encode(chunk):
                self.frames_sent += 1
                await self._send_now(characteristic, payload)
            self.samples_sent += per_frame
            self._next_index += per_frame
        return (self._next_index + per_frame - 1) / self._rate_hz

    async def _inject(self, fault: Fault) -> None:
        logger.info("virtual %s %s: injecting %s at %.3f s", self.kind, self.address, fault.kind, fault.at_s)
        assert self.twin is not None
        if fault.kind == "disconnect":
            await self._drain()
            if self._connection is not None and not self._closing:
                await self.world._disconnect(self._connection, self.address or "")
        elif fault.kind == "stop":
            if self._streaming:
                self._streaming = False
                for characteristic, payload in self.twin.sensor_stop():
                    await self._send_now(characteristic, payload)
        else:
            for characteristic, payload in self.twin.garbage():
                await self._send_now(characteristic, payload)

    async def _finish(self) -> None:
        self._streaming = False
        # finished tells a session "no more data": only once the last frame has reached the central.
        await self._drain()
        self.finished.set()
        await self._vanish()

    async def _drain(self) -> bool:
        """Wait until the frames already sent have left the peripheral (as a sensor's radio would).

        bumble's link delivers packets in order, so once the peripheral's controller has taken the
        last one the central has received it. Returns False only when the queue made no progress for
        :data:`DRAIN_TIMEOUT_S` (a stalled link); a dropped link or close() ends the wait too.
        """
        connection = self._connection
        queue = None if connection is None else connection.data_packet_queue
        if connection is None or queue is None:
            return True
        closer = asyncio.ensure_future(self._close_requested.wait())
        try:
            last_completed, last_progress = queue.completed, asyncio.get_running_loop().time()
            while queue.pending > 0 and self._connection is connection and not self._closing:
                try:
                    drained = asyncio.ensure_future(queue.drain(connection.handle))
                except ValueError:  # no packet ever sent on this connection
                    break
                done, _ = await asyncio.wait(
                    {drained, closer}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED
                )
                if drained not in done:
                    drained.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ValueError):
                        await drained
                elif drained.exception() is not None:
                    break  # the connection's queue state went with the link
                now = asyncio.get_running_loop().time()
                if queue.completed != last_completed:
                    last_completed, last_progress = queue.completed, now
                elif now - last_progress > DRAIN_TIMEOUT_S:
                    logger.warning(
                        "virtual %s %s: %d frame(s) still queued after %.0f s without progress",
                        self.kind,
                        self.address,
                        queue.pending,
                        DRAIN_TIMEOUT_S,
                    )
                    return False
        finally:
            closer.cancel()
        # Let the central's host hand the last notifications to the client before the link goes.
        await asyncio.sleep(0.02)
        return True


def _bleak_uuid_of(characteristic: Characteristic) -> str:
    from gaitdir.devices.virtual._world import bleak_uuid

    return bleak_uuid(characteristic.uuid)


def _uuid_le_bytes(uuid: str) -> bytes:
    import uuid as uuid_module

    return bytes(reversed(uuid_module.UUID(uuid).bytes))


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("virtual sensor task failed: %r", task.exception())
