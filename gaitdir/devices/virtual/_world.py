"""An in-process Bluetooth LE world: bumble controllers on one link, a central, and bleak backends.

Every device in a :class:`VirtualWorld` runs a complete bumble stack (controller, host, L2CAP, ATT,
GATT) joined by a :class:`bumble.link.LocalLink`. The central is driven through bleak's *public* API
via the backend classes exposed as :attr:`VirtualWorld.scanner_backend` and
:attr:`VirtualWorld.client_backend`::

    async with VirtualWorld() as world:
        devices = await BleakScanner.discover(backend=world.scanner_backend)
        async with BleakClient(devices[0], backend=world.client_backend) as client: ...

so a driver exercises real ATT semantics (MTU exchange, CCCD writes, truncation at MTU − 3,
peripheral-side disconnects) exactly as it would against a sensor on a radio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuid_module
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

if TYPE_CHECKING:
    from bumble.core import UUID as BumbleUUID
    from bumble.device import Advertisement, Connection, Device, Peer

    from gaitdir.devices.virtual._twin import VirtualSensor

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: LE ACL data length of every virtual controller (bytes): 251 emulates data length extension, which
#: lets a 244-byte notification travel in one link packet (≈5× the throughput of the 27-byte default).
LE_ACL_DATA_LENGTH: int = 251
#: ATT MTU the central asks for (bytes), as phones and desktop stacks do.
CENTRAL_MTU: int = 247
#: Longest wait (s) for the other end's disconnect when both ends drop a link at once.
TERMINATE_TIMEOUT_S: float = 5.0

_PROPERTY_NAMES: tuple[tuple[int, str], ...] = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def bleak_uuid(uuid: BumbleUUID) -> str:
    """A bumble UUID as bleak spells it: lower-case 128-bit with dashes."""
    # bumble's to_bytes is little-endian (pitfall 4 in the harness notes).
    return str(uuid_module.UUID(bytes=bytes(reversed(uuid.to_bytes(force_128=True)))))


def address_string(address: Any) -> str:
    """A bumble address without its type qualifier ("/P")."""
    return address.to_string(with_type_qualifier=False)


class _ScannerBackend(BaseBleakScanner):
    """bleak scanner backend over the world's central; bound to a world by subclassing."""

    world: ClassVar[VirtualWorld]

    def __init__(
        self,
        detection_callback: Any = None,
        service_uuids: list[str] | None = None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._merged: dict[str, tuple[str | None, list[str], int]] = {}

    async def start(self) -> None:
        self.seen_devices = {}
        self._merged = {}
        await self.world._add_scanner(self)

    async def stop(self) -> None:
        await self.world._remove_scanner(self)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        from bumble.core import AdvertisingData

        address = address_string(advertisement.address)
        name, uuids, _ = self._merged.get(address, (None, [], 0))
        data = advertisement.data
        name = (
            data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
            or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
            or name
        )
        for ad_type in (
            AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        ):
            for u in data.get(ad_type) or []:
                s = bleak_uuid(u)
                if s not in uuids:
                    uuids = [*uuids, s]
        rssi = int(advertisement.rssi)
        self._merged[address] = (name, uuids, rssi)
        if not self.is_allowed_uuid(uuids):
            return
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, name, advertisement, adv)
        self.call_detection_callbacks(device, adv)


class _ClientBackend(BaseBleakClient):
    """bleak client backend over the world's central; bound to a world by subclassing."""

    world: ClassVar[VirtualWorld]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=float(kwargs.get("timeout", 10.0)),
        )
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._mtu = 23
        self._local_disconnect = False
        self._subscribers: dict[int, Any] = {}
        #: Resolved when the current connection goes away (either side); GATT operations race it.
        self._link_lost: asyncio.Future[None] | None = None

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        from bumble.device import Peer

        timeout = float(kwargs.get("timeout", self._timeout))
        connection = await self.world._connect(self.address, timeout)
        self._connection = connection
        self._local_disconnect = False
        self._link_lost = asyncio.get_running_loop().create_future()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        # A peripheral that drops the link (or powers off) mid-setup must fail the connect, not leave
        # a GATT request waiting for an answer that will never come.
        lost: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_lost(reason: int) -> None:
            if not lost.done():
                lost.set_result(reason)

        connection.on(connection.EVENT_DISCONNECTION, on_lost)
        setup = asyncio.ensure_future(self._setup(peer, connection, pair))
        try:
            done, _ = await asyncio.wait({setup, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Abandoning GATT requests on a live link lets their answers hit cancelled futures:
            # finish the setup in the background, then drop the link (the world waits for it).
            self.world._detach(self._abandon(setup))
            raise
        finally:
            connection.remove_listener(connection.EVENT_DISCONNECTION, on_lost)
        if setup in done:
            try:
                setup.result()
                return
            except Exception as exc:
                await self.disconnect()
                raise BleakError(f"GATT setup with {self.address} failed: {exc}") from exc
        # Drop the link first: bumble then fails the pending request itself, with no answer to race.
        await self.disconnect()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await setup
        if lost.done():
            raise BleakError(f"{self.address} dropped the link during connection setup")
        raise asyncio.TimeoutError(f"GATT setup with {self.address} timed out after {timeout:g} s")

    async def _abandon(self, setup: asyncio.Future[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await setup
        await self.disconnect()

    async def _setup(self, peer: Peer, connection: Connection, pair: bool) -> None:
        self._mtu = await peer.request_mtu(CENTRAL_MTU)
        await peer.discover_all()
        self.services = self._build_services(peer)
        if pair:
            await connection.pair()

    def _build_services(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                properties = [name for bit, name in _PROPERTY_NAMES if characteristic.properties & bit]
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    bleak_uuid(characteristic.uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: self._mtu - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, bleak_uuid(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _mark_link_lost(self) -> None:
        if self._link_lost is not None and not self._link_lost.done():
            self._link_lost.set_result(None)

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._peer = None
        self._mark_link_lost()
        if not self._local_disconnect and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        self._local_disconnect = True
        if connection is None:
            return
        await self.world._disconnect(connection, self.address)
        self._connection = None
        self._peer = None
        self._mark_link_lost()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        if self._connection is None:
            raise BleakError("not connected")
        await self._connection.pair()

    async def unpair(self) -> None:
        # The virtual central keeps no bond store: forgetting a bond is a disconnect.
        await self.disconnect()

    async def _gatt(self, operation: Coroutine[Any, Any, _T]) -> _T:
        """Run a bumble GATT operation as bleak would: a link that drops meanwhile is a BleakError.

        The operation races the loss of the link. bumble cancels a request pending on a connection
        that goes away, and one queued behind it would wait for its request timeout (30 s) on the dead
        bearer; neither may escape as a ``CancelledError`` (that means the *caller's* task was
        cancelled, and only then is it raised) nor hang. bumble's own errors (an ATT error response,
        a request timeout) become :class:`BleakError` too, as a bleak backend reports them.
        """
        from bumble.core import BaseBumbleError

        lost = self._link_lost
        if self._peer is None or lost is None or lost.done():
            operation.close()
            raise BleakError(f"not connected to {self.address}")
        request = asyncio.ensure_future(operation)
        try:
            await asyncio.wait({request, lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The caller was cancelled. Cancelling the request on a live link would let its answer
            # arrive at a cancelled future (bumble then logs InvalidStateError): let it complete in
            # the background instead; the world waits for it when it exits.
            self.world._detach(_quietly(request))
            raise
        dropped = BleakError(f"the link to {self.address} dropped during a GATT operation")
        if not request.done():
            # The link is gone, so no answer can come any more: cancelling the request is safe.
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            raise dropped
        if request.cancelled():  # bumble cancelled it: the link went
            raise dropped
        exc = request.exception()
        if exc is None:
            return request.result()
        if isinstance(exc, BaseBumbleError):
            raise BleakError(f"GATT operation with {self.address} failed: {exc}") from exc
        raise exc

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._gatt(self._require_peer().read_value(characteristic.obj)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._gatt(self._require_peer().read_value(descriptor.obj)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        await self._gatt(
            self._require_peer().write_value(characteristic.obj, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._gatt(self._require_peer().write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = subscriber
        # bumble's subscribe writes the CCCD (0x0001 notify / 0x0002 indicate) on the peripheral.
        await self._gatt(self._require_peer().subscribe(characteristic.obj, subscriber, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._gatt(self._require_peer().unsubscribe(characteristic.obj, subscriber))


async def _quietly(future: asyncio.Future[Any]) -> None:
    """Await ``future``, ignoring its outcome."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await future


class VirtualWorld:
    """A Bluetooth LE world in this process: one central plus any number of virtual peripherals.

    Use as an async context manager (the bumble devices must be created inside the running loop).
    """

    def __init__(self) -> None:
        self.link: Any = None
        self.central: Device | None = None
        self._scanners: list[_ScannerBackend] = []
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._peripherals: dict[str, Device] = {}
        #: Virtual sensors started in this world; closed (cleanly, in order) when the world exits.
        self._sensors: list[VirtualSensor] = []
        #: Links being dropped, by peripheral address: the end that starts a disconnect owns it.
        self._terminating: dict[str, asyncio.Future[None]] = {}
        #: Work left behind by cancelled callers (GATT requests, abandoned connects); awaited on exit.
        self._background: set[asyncio.Task[Any]] = set()
        self._next_address = 1
        self._explicit_addresses = 0
        self.scanner_backend: type[BaseBleakScanner] = type(
            "VirtualScannerBackend", (_ScannerBackend,), {"world": self}
        )
        self.client_backend: type[BaseBleakClient] = type(
            "VirtualClientBackend", (_ClientBackend,), {"world": self}
        )

    async def __aenter__(self) -> VirtualWorld:
        from bumble.link import LocalLink

        self.link = LocalLink()
        self.central = self._new_device("C0:00:00:00:00:01", "gaitdir-central")
        await self.central.power_on()
        self.central.on(self.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Sensors first, through their own close(): a sensor whose central leaves would otherwise
        # start advertising again while being powered off (an HCI command answered after its
        # future was abandoned). Nothing the world started is left running when this returns.
        for sensor in list(self._sensors):
            await sensor.close()
        self._sensors.clear()
        # With the sensors gone their links are down, so what callers left behind ends now.
        if self._background:
            await asyncio.wait(set(self._background), timeout=TERMINATE_TIMEOUT_S)
        devices = [*self._peripherals.items(), ("", self.central)]
        self._peripherals.clear()
        self._scanners.clear()
        for address, device in devices:
            if device is None:
                continue
            for connection in list(device.connections.values()):
                # The central names the peripheral by its peer address.
                await self._disconnect(connection, address or address_string(connection.peer_address))
            with contextlib.suppress(Exception):
                if device.is_advertising:
                    await device.stop_advertising()
            with contextlib.suppress(Exception):
                if device is self.central and device.scanning:
                    await device.stop_scanning()
            with contextlib.suppress(Exception):
                await device.power_off()
        self.central = None

    async def _disconnect(self, connection: Connection, peripheral_address: str) -> None:
        """Drop the link to ``peripheral_address`` from either end (``connection`` is that end's).

        If the other end is already dropping it, wait for that instead: two LL_TERMINATE_IND crossing
        on the link make each bumble controller log an error for a connection it no longer has.
        Errors of an already vanished link are ignored; it is gone either way.
        """
        key = peripheral_address.upper()
        pending = self._terminating.get(key)
        if pending is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(pending), TERMINATE_TIMEOUT_S)
            return
        terminating = asyncio.get_running_loop().create_future()
        self._terminating[key] = terminating
        try:
            with contextlib.suppress(Exception):
                await connection.disconnect()
        finally:
            if self._terminating.get(key) is terminating:
                del self._terminating[key]
            terminating.set_result(None)

    def _detach(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; the world waits for it before it exits."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _register_sensor(self, sensor: VirtualSensor) -> None:
        """Called by :meth:`VirtualSensor.start`: the world closes its sensors when it exits."""
        if sensor not in self._sensors:
            self._sensors.append(sensor)

    def _new_device(self, address: str, name: str) -> Device:
        from bumble.controller import Controller
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.transport.common import AsyncPipeSink

        controller = Controller(name, link=self.link, public_address=address)
        controller.le_acl_data_packet_length = LE_ACL_DATA_LENGTH
        device = Device(
            name=name,
            address=Address(address, Address.RANDOM_DEVICE_ADDRESS),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        return device

    async def add_peripheral(self, name: str, address: str | None = None) -> Device:
        """Create, power on and register a peripheral device (not yet advertising).

        Parameters
        ----------
        name : str
            Its advertised name.
        address : str, optional
            A random static address ``"XX:XX:XX:XX:XX:XX"``; one is allocated when omitted.
        """
        if address is None:
            n = self._next_address
            self._next_address += 1
            address = f"D0:00:00:00:{n >> 8:02X}:{n & 0xFF:02X}"
        else:
            self._explicit_addresses += 1
        address = address.upper()
        if address in self._peripherals:
            raise ValueError(f"address {address} is already in use in this world")
        device = self._new_device(address, name)
        await device.power_on()
        self._peripherals[address] = device
        return device

    @property
    def peripheral_count(self) -> int:
        """How many peripherals were ever added to this world."""
        return self._next_address - 1 + self._explicit_addresses

    def remove_peripheral(self, address: str) -> None:
        """Forget a peripheral (it vanished): connects to it fail as "not found"."""
        self._peripherals.pop(address.upper(), None)

    # ----------------------------------------------------------------- scanning
    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for scanner in list(self._scanners):
            scanner._on_advertisement(advertisement)

    async def _add_scanner(self, scanner: _ScannerBackend) -> None:
        async with self._scan_lock:
            self._scanners.append(scanner)
            if len(self._scanners) == 1 and self.central is not None:
                await self.central.start_scanning(filter_duplicates=False)

    async def _remove_scanner(self, scanner: _ScannerBackend) -> None:
        async with self._scan_lock:
            if scanner in self._scanners:
                self._scanners.remove(scanner)
                if not self._scanners and self.central is not None and self.central.scanning:
                    await self.central.stop_scanning()

    # ----------------------------------------------------------------- connecting
    async def _connect(self, address: str, timeout_s: float) -> Connection:
        from bumble.core import PhysicalTransport
        from bumble.hci import Address

        if self.central is None:
            raise BleakError("the virtual world is not running (use it as an async context manager)")
        device = self._peripherals.get(address.upper())
        if device is None or not device.is_advertising:
            # What BlueZ/CoreBluetooth report for a device that is not around (anymore).
            raise BleakDeviceNotFoundError(address, f"Device with address {address} was not found.")
        # bumble cannot scan and initiate at once (harness pitfall 3): pause scanning meanwhile.
        async with self._connect_lock, self._scan_lock:
            was_scanning = self.central.scanning
            if was_scanning:
                await self.central.stop_scanning()
            try:
                return await asyncio.wait_for(
                    self.central.connect(
                        Address(address, Address.RANDOM_DEVICE_ADDRESS), transport=PhysicalTransport.LE
                    ),
                    timeout_s,
                )
            except asyncio.TimeoutError as exc:
                raise asyncio.TimeoutError(
                    f"connecting to {address} timed out after {timeout_s:g} s"
                ) from exc
            finally:
                if was_scanning and self._scanners:
                    await self.central.start_scanning(filter_duplicates=False)
