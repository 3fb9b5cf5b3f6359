"""The driver interface every sensor family implements, and the bleak plumbing GATT sensors share.

A family driver subclasses :class:`GattSensorDriver` and supplies only what is specific to it: the
service and characteristic UUIDs, the command bytes that start and stop the stream, how control
responses are checked, and a *pure* frame decoder (bytes in, samples out, no I/O). Everything that
talks to bleak — resolving the device, connecting with retries, subscribing exactly once, routing
notifications, turning a dropped link into an event, counting and skipping malformed frames — lives
here once.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.errors import DeviceError
from gaitdir.mounting import MountingProfile

logger = logging.getLogger(__name__)

#: Standard gravity (m/s² per g); also converts mG to m/s² with a factor 1e-3.
STANDARD_GRAVITY_MPS2: float = 9.80665

#: How a driver's per-sample times were obtained.
TimestampSource = Literal["sensor", "derived"]


@dataclass(frozen=True)
class SensorInfo:
    """What a connected driver streams.

    Attributes
    ----------
    kind : str
        Driver kind (``"polar-h10"``...).
    name : str or None
        Advertised name of the device.
    address : str
        Bluetooth address (a UUID on macOS).
    sample_rate_hz : float
        Sample rate requested from the sensor (Hz).
    has_gyro : bool
        Whether batches carry angular rate.
    timestamps : {"sensor", "derived"}
        ``"sensor"`` when per-sample times come from the sensor's clock, ``"derived"`` when the driver
        reconstructs them from host arrival time and the nominal rate.
    """

    kind: str
    name: str | None
    address: str
    sample_rate_hz: float
    has_gyro: bool
    timestamps: TimestampSource


class MalformedFrameError(ValueError):
    """A frame could not be decoded (short, unknown type, inconsistent length). The stream goes on."""


class FrameDecoder(Protocol):
    """A pure decoder: notification bytes in, samples out. No I/O, no clocks other than ``arrival_s``."""

    def decode(self, uuid: str, data: bytes, arrival_s: float) -> list[ImuBatch | StreamEvent]:
        """Decode one notification from characteristic ``uuid`` received at host time ``arrival_s`` (s).

        Returns batches, and events such as ``LOST_PACKETS`` where the frames reveal a loss.

        Raises
        ------
        MalformedFrameError
            When ``data`` is not a valid frame.
        """
        ...


def resolve_backends(
    backend: Any,
) -> tuple[type[BaseBleakScanner] | None, type[BaseBleakClient] | None]:
    """Split a ``backend`` argument into bleak scanner and client backend classes.

    Parameters
    ----------
    backend : object or None
        ``None`` (the operating system's Bluetooth stack), an object exposing ``scanner_backend`` and
        ``client_backend`` (such as :class:`gaitdir.devices.virtual.VirtualWorld`), or a bleak client
        backend class (scanning then uses the OS stack).

    Returns
    -------
    tuple
        ``(scanner_backend_or_None, client_backend_or_None)``; ``None`` means bleak's default.
    """
    if backend is None:
        return None, None
    if hasattr(backend, "client_backend") and hasattr(backend, "scanner_backend"):
        return backend.scanner_backend, backend.client_backend
    if isinstance(backend, type) and issubclass(backend, BaseBleakClient):
        return None, backend
    raise TypeError(
        "backend must be None, a bleak client backend class, or an object with "
        f"scanner_backend/client_backend attributes; got {backend!r}"
    )


class SensorDriver(abc.ABC):
    """One sensor family: connect, start/stop the raw IMU stream, yield decoded samples and events.

    Parameters
    ----------
    device : str or BLEDevice
        The sensor: an address (or platform identifier) or a device found by scanning.
    sample_rate_hz : float, optional
        Requested sample rate (Hz); ``None`` = the family's default.
    range_g : float, optional
        Requested accelerometer full-scale range (g); ``None`` = the family's default.
    backend : object, optional
        Bluetooth backend (see :func:`resolve_backends`); ``None`` = the OS stack.
    """

    kind: ClassVar[str]
    #: Service UUIDs (lower-case 128-bit strings) that identify the family in advertisements.
    service_uuids: ClassVar[tuple[str, ...]] = ()
    #: Advertised-name prefixes that identify the family.
    name_prefixes: ClassVar[tuple[str, ...]] = ()
    default_sample_rate_hz: ClassVar[float] = 100.0
    default_range_g: ClassVar[float] = 8.0
    has_gyro: ClassVar[bool] = False
    timestamps: ClassVar[TimestampSource] = "sensor"
    #: Where the family's axes point on the case and the placements that fix the wearer's front
    #: (:data:`gaitdir.mounting.MOUNTING_PROFILES`); ``None`` for a family without one.
    mounting: ClassVar[MountingProfile | None] = None

    def __init__(
        self,
        device: str | BLEDevice,
        *,
        sample_rate_hz: float | None = None,
        range_g: float | None = None,
        backend: Any = None,
    ) -> None:
        self.device = device
        self.sample_rate_hz = sample_rate_hz
        self.range_g = range_g
        self.backend = backend

    @classmethod
    def recognise(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        """Whether an advertisement (name, advertised service UUIDs) belongs to this family."""
        if name and any(name.startswith(prefix) for prefix in cls.name_prefixes):
            return True
        advertised = {u.lower() for u in service_uuids}
        return any(u.lower() in advertised for u in cls.service_uuids)

    @property
    def effective_sample_rate_hz(self) -> float:
        """The sample rate asked of the sensor (Hz)."""
        return float(self.sample_rate_hz if self.sample_rate_hz is not None else self.default_sample_rate_hz)

    @property
    def effective_range_g(self) -> float:
        """The accelerometer range asked of the sensor (g)."""
        return float(self.range_g if self.range_g is not None else self.default_range_g)

    @property
    def address(self) -> str:
        return self.device.address if isinstance(self.device, BLEDevice) else str(self.device)

    @property
    def info(self) -> SensorInfo:
        """What this driver streams (kind, name, address, rate, gyro, timestamp source)."""
        name = self.device.name if isinstance(self.device, BLEDevice) else None
        return SensorInfo(
            kind=self.kind,
            name=name,
            address=self.address,
            sample_rate_hz=self.effective_sample_rate_hz,
            has_gyro=self.has_gyro,
            timestamps=self.timestamps,
        )

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connect and subscribe; raises :class:`DeviceError` if it is not a supported sensor or is gone."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Disconnect (idempotent)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the raw accelerometer (+ gyro) stream on the sensor."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop the stream on the sensor."""

    @abc.abstractmethod
    def stream(self) -> AsyncIterator[ImuBatch | StreamEvent]:
        """Decoded batches and events of the current connection.

        Ends after yielding ``DISCONNECTED`` (the link dropped) or, silently, after :meth:`disconnect`.
        """

    @property
    @abc.abstractmethod
    def is_connected(self) -> bool:
        """Whether the link is up."""

    async def __aenter__(self) -> SensorDriver:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.is_connected:
            try:
                await self.stop()
            except (DeviceError, BleakError, asyncio.TimeoutError) as exc:
                logger.warning("%s %s: could not stop the stream cleanly: %s", self.kind, self.address, exc)
        await self.disconnect()


#: Registry of driver classes by kind.
DRIVERS: dict[str, type[SensorDriver]] = {}


def register_driver(cls: type[SensorDriver]) -> type[SensorDriver]:
    """Class decorator adding a driver to :data:`DRIVERS` under its ``kind``."""
    if not getattr(cls, "kind", None):
        raise ValueError(f"{cls.__name__} has no kind")
    DRIVERS[cls.kind] = cls
    return cls


def driver_for(name: str | None, service_uuids: Sequence[str]) -> type[SensorDriver] | None:
    """The first registered driver recognising an advertisement, or ``None``."""
    for cls in DRIVERS.values():
        if cls.recognise(name, service_uuids):
            return cls
    return None


# Queue items: ("data", uuid, bytes, arrival_s), ("control", uuid, bytes, arrival_s), ("disconnected",...)
_QueueItem = tuple[str, str, bytes, float]


class GattSensorDriver(SensorDriver):
    """Common plumbing for sensors that stream over GATT notifications.

    Subclasses set :attr:`service_uuids`, :attr:`control_uuid`, :attr:`data_uuids` and implement
    :meth:`start_commands`, :meth:`stop_commands`, :meth:`new_decoder`; they may override
    :meth:`is_response`, :meth:`check_response`, :meth:`control_events` and :meth:`after_subscribe`.

    Connecting uses ``bleak_retry_connector.establish_connection``, which works with any bleak client
    backend (including the virtual one): its BlueZ-specific steps are skipped for devices that are not
    BlueZ objects, and it retries transient failures with backoff.
    """

    #: Characteristic written with commands; also subscribed when :attr:`control_notifies`.
    control_uuid: ClassVar[str | None] = None
    control_notifies: ClassVar[bool] = True
    #: Characteristics whose notifications carry sample frames.
    data_uuids: ClassVar[tuple[str, ...]] = ()
    connect_timeout_s: ClassVar[float] = 10.0
    connect_attempts: ClassVar[int] = 3
    #: How long connect() scans for the device (s); a session shortens it to fit its give-up time.
    scan_timeout_s: float = 10.0
    command_timeout_s: ClassVar[float] = 5.0
    #: Write commands with response (True) or without (False).
    write_with_response: ClassVar[bool] = True

    def __init__(
        self,
        device: str | BLEDevice,
        *,
        sample_rate_hz: float | None = None,
        range_g: float | None = None,
        backend: Any = None,
    ) -> None:
        super().__init__(device, sample_rate_hz=sample_rate_hz, range_g=range_g, backend=backend)
        self._client: BleakClient | None = None
        self._queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._awaiting_response = False
        self._decoder: FrameDecoder | None = None
        self._local_disconnect = False
        self._connected_once = False
        #: Set when the current link goes away (dropped or closed): a command waiting for its answer
        #: fails at once instead of after command_timeout_s.
        self._link_lost = asyncio.Event()
        self.malformed_frames = 0
        self.frames_received = 0

    # ----------------------------------------------------------------- what a family supplies
    @abc.abstractmethod
    def start_commands(self) -> list[bytes]:
        """Commands written to the control characteristic, in order, to start streaming."""

    @abc.abstractmethod
    def stop_commands(self) -> list[bytes]:
        """Commands written to the control characteristic, in order, to stop streaming."""

    @abc.abstractmethod
    def new_decoder(self) -> FrameDecoder:
        """A fresh decoder for one stream (called at every start)."""

    def is_response(self, data: bytes) -> bool:
        """Whether a control notification answers a command (rather than being pushed by the sensor)."""
        return False

    def response_complete(self, parts: Sequence[bytes]) -> bool:
        """Whether the response packets received so far form a whole answer (continuations)."""
        return True

    def check_response(self, command: bytes, response: Sequence[bytes]) -> None:
        """Raise :class:`DeviceError` if ``response`` reports that ``command`` failed; may store state."""

    def control_events(self, data: bytes) -> list[StreamEvent]:
        """Events for an unsolicited control notification (e.g. the sensor stopped the stream)."""
        return []

    async def after_subscribe(self) -> None:
        """Hook run once per connection after subscribing (e.g. read a feature characteristic)."""

    # ----------------------------------------------------------------- connection
    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def client(self) -> BleakClient:
        if self._client is None:
            raise DeviceError(f"{self.kind} {self.address}: not connected")
        return self._client

    async def _resolve_device(self) -> BLEDevice:
        # A device object from a scan is used as is for the first connect. Before a reconnect the
        # device is looked for again: connecting to one that is not advertising would otherwise sit
        # in bleak-retry-connector's "device missing" retries (up to 9 × 4 s) instead of failing
        # fast and letting the session apply its own backoff.
        if isinstance(self.device, BLEDevice) and not self._connected_once:
            return self.device
        scanner_backend, _ = resolve_backends(self.backend)
        try:
            found = await BleakScanner.find_device_by_address(
                self.address, timeout=self.scan_timeout_s, backend=scanner_backend
            )
        except (BleakError, OSError) as exc:
            raise DeviceError(f"cannot scan for {self.device}: {exc}") from exc
        if found is None:
            raise DeviceError(
                f"no device with address {self.address} found within {self.scan_timeout_s:g} s "
                "(is it switched on, in range, and not connected to another app?)"
            )
        return found

    def _on_disconnect(self, client: BleakClient) -> None:
        # Called by bleak only for drops we did not ask for; keep it tiny: enqueue and return.
        if client is not self._client or self._local_disconnect:
            return
        self._link_lost.set()
        self._queue.put_nowait(("disconnected", "", b"", time.monotonic()))

    def _on_control(self, _char: object, data: bytearray) -> None:
        payload = bytes(data)
        if self._awaiting_response and self.is_response(payload):
            self._responses.put_nowait(payload)
        else:
            self._queue.put_nowait(("control", self.control_uuid or "", payload, time.monotonic()))

    def _data_callback(self, uuid: str) -> Callable[[object, bytearray], None]:
        def on_data(_char: object, data: bytearray) -> None:
            self._queue.put_nowait(("data", uuid, bytes(data), time.monotonic()))

        return on_data

    async def connect(self) -> None:
        from bleak_retry_connector import establish_connection

        if self.is_connected:
            return
        ble_device = await self._resolve_device()
        self.device = ble_device
        _, client_backend = resolve_backends(self.backend)
        self._local_disconnect = False
        self._link_lost = asyncio.Event()
        self._queue = asyncio.Queue()
        self._responses = asyncio.Queue()
        try:
            client = await establish_connection(
                BleakClient,
                ble_device,
                ble_device.name or ble_device.address,
                disconnected_callback=self._on_disconnect,
                max_attempts=self.connect_attempts,
                backend=client_backend,
                timeout=self.connect_timeout_s,
            )
        except (BleakError, asyncio.TimeoutError, OSError) as exc:
            raise DeviceError(
                f"cannot connect to {ble_device.name or ''} {ble_device.address}: {exc}"
            ) from exc
        self._client = client
        self._connected_once = True
        try:
            await self._check_services()
            await self._subscribe()
            await self.after_subscribe()
        except (BleakError, asyncio.TimeoutError, OSError) as exc:
            await self.disconnect()
            raise DeviceError(f"{self.kind} {self.address}: setting up the connection failed: {exc}") from exc
        except BaseException:
            await self.disconnect()
            raise

    async def _check_services(self) -> None:
        services = self.client.services
        present = {s.uuid.lower() for s in services}
        wanted = [u for u in self.service_uuids if u.lower() in present]
        name = self.info.name or self.address
        if self.service_uuids and not wanted:
            raise DeviceError(
                f"{name} is not a supported {self.kind} sensor: it has none of the services "
                f"{', '.join(self.service_uuids)} (it offers {', '.join(sorted(present)) or 'no services'})"
            )
        needed = [u for u in (*self.data_uuids, self.control_uuid) if u]
        missing = [u for u in needed if services.get_characteristic(u) is None]
        if missing:
            raise DeviceError(f"{name} lacks the {self.kind} characteristics {', '.join(missing)}")

    async def _subscribe(self) -> None:
        # Exactly once per connection: a fresh BleakClient per connection carries no stale watcher,
        # which is what doubles notifications after a reconnect on some stacks.
        if self.control_uuid and self.control_notifies:
            await self.client.start_notify(self.control_uuid, self._on_control)
        for uuid in self.data_uuids:
            await self.client.start_notify(uuid, self._data_callback(uuid))

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._local_disconnect = True
        self._link_lost.set()
        # Wake a consumer blocked in stream(): a local disconnect fires no bleak callback.
        self._queue.put_nowait(("closed", "", b"", time.monotonic()))
        try:
            await client.disconnect()
        except (BleakError, asyncio.TimeoutError, OSError) as exc:
            logger.debug("%s %s: disconnect: %s", self.kind, self.address, exc)

    # ----------------------------------------------------------------- commands
    async def command(self, payload: bytes, *, expect_response: bool = True) -> list[bytes] | None:
        """Write ``payload`` to the control characteristic; wait for and check the response.

        Returns
        -------
        list of bytes or None
            The response notification(s) (``None`` when none is expected).

        Raises
        ------
        DeviceError
            When the write fails, the sensor refuses, no answer comes within ``command_timeout_s``, or
            the link drops meanwhile. A link that drops never surfaces as ``CancelledError``: that is
            raised only when the calling task itself is cancelled.
        """
        if self.control_uuid is None:
            raise DeviceError(f"{self.kind}: no control characteristic")
        while not self._responses.empty():  # a late answer to an earlier, timed-out command
            self._responses.get_nowait()
        self._awaiting_response = expect_response
        try:
            try:
                await self.client.write_gatt_char(
                    self.control_uuid, payload, response=self.write_with_response
                )
            except BleakError as exc:
                raise DeviceError(
                    f"{self.kind} {self.address}: command {payload.hex(' ')} failed: {exc}"
                ) from exc
            except asyncio.CancelledError:
                # Some stacks cancel a GATT request pending on a link that goes away; unless this
                # task is being cancelled, that is a dropped link, not a cancellation.
                if _cancelling(asyncio.current_task()):
                    raise
                raise DeviceError(
                    f"{self.kind} {self.address}: command {payload.hex(' ')} failed: the link dropped"
                ) from None
            if not expect_response:
                return None
            response: list[bytes] = []
            while not response or not self.response_complete(response):
                response.append(await self._next_response(payload))
        finally:
            self._awaiting_response = False
        self.check_response(payload, response)
        return response

    async def _next_response(self, payload: bytes) -> bytes:
        """The next control response to ``payload``; DeviceError on timeout or a dropped link."""
        getter = asyncio.ensure_future(self._responses.get())
        lost = asyncio.ensure_future(self._link_lost.wait())
        try:
            await asyncio.wait(
                {getter, lost}, timeout=self.command_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in (getter, lost):
                if not waiter.done():
                    waiter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        if lost.done() and not lost.cancelled():
            raise DeviceError(
                f"{self.kind} {self.address}: the link dropped before the answer to command "
                f"{payload.hex(' ')}"
            )
        raise DeviceError(
            f"{self.kind} {self.address}: no answer to command {payload.hex(' ')} "
            f"within {self.command_timeout_s:g} s"
        )

    async def start(self) -> None:
        self._decoder = self.new_decoder()
        for payload in self.start_commands():
            await self.command(payload, expect_response=self.expects_response(payload))

    async def stop(self) -> None:
        if not self.is_connected:
            return
        for payload in self.stop_commands():
            await self.command(payload, expect_response=self.expects_response(payload))

    def expects_response(self, payload: bytes) -> bool:
        """Whether the sensor answers ``payload`` with a control notification."""
        return False

    # ----------------------------------------------------------------- the stream
    async def stream(self) -> AsyncIterator[ImuBatch | StreamEvent]:
        """Yield decoded batches and events until the link drops (``DISCONNECTED``, then the end)."""
        while True:
            kind, uuid, payload, arrival_s = await self._queue.get()
            if kind == "closed":
                return
            if kind == "disconnected":
                self._client = None
                yield StreamEvent(EventKind.DISCONNECTED, f"{self.kind} {self.address}: link lost")
                return
            if kind == "control":
                for event in self.control_events(payload):
                    yield event
                continue
            self.frames_received += 1
            decoder = self._decoder
            if decoder is None:
                continue  # frames before start() (e.g. a stream left running): no settings to decode them
            try:
                batches = decoder.decode(uuid, payload, arrival_s)
            except MalformedFrameError as exc:
                self.malformed_frames += 1
                logger.warning(
                    "%s %s: skipped malformed frame #%d (%d bytes): %s",
                    self.kind,
                    self.address,
                    self.malformed_frames,
                    len(payload),
                    exc,
                )
                yield StreamEvent(
                    EventKind.MALFORMED_FRAME, f"{exc} ({len(payload)} bytes: {payload[:16].hex()})"
                )
                continue
            for item in batches:
                if isinstance(item, StreamEvent) or len(item):
                    yield item


def _cancelling(task: asyncio.Task[Any] | None) -> bool:
    """Whether ``task`` has been asked to cancel (assumed so where Python cannot tell, before 3.11)."""
    cancelling = getattr(task, "cancelling", None)
    return task is None or cancelling is None or cancelling() > 0


def concat_batches(batches: Sequence[ImuBatch]) -> ImuBatch:
    """Join batches (all with or all without gyro) into one."""
    time_s = np.concatenate([b.sensor_time_s for b in batches])
    acc = np.concatenate([b.acc_mps2 for b in batches])
    gyr = None
    if batches and all(b.gyr_radps is not None for b in batches):
        gyr = np.concatenate([b.gyr_radps for b in batches])  # type: ignore[misc]
    return ImuBatch(time_s, acc, gyr)
