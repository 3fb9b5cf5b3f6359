"""Finding supported sensors nearby."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from gaitdir.devices._base import driver_for, resolve_backends
from gaitdir.errors import DeviceError


@dataclass(frozen=True)
class FoundSensor:
    """A device seen while scanning.

    Attributes
    ----------
    name : str or None
        Advertised name.
    address : str
        Bluetooth address (a UUID on macOS).
    rssi : int
        Signal strength (dBm).
    kind : str or None
        The recognised driver kind; ``None`` only from :func:`find_device` for an unsupported device.
    device : BLEDevice
        What a driver or session connects to.
    """

    name: str | None
    address: str
    rssi: int
    kind: str | None
    device: BLEDevice = field(repr=False, compare=False)


def _found(device: BLEDevice, adv: AdvertisementData) -> FoundSensor:
    name = adv.local_name or device.name
    cls = driver_for(name, adv.service_uuids)
    return FoundSensor(name, device.address, int(adv.rssi), None if cls is None else cls.kind, device)


async def scan(*, timeout_s: float = 5.0, backend: Any = None) -> list[FoundSensor]:
    """Scan for ``timeout_s`` seconds; return recognised sensors, strongest signal first.

    Raises
    ------
    DeviceError
        When Bluetooth is unavailable (no adapter, powered off, no permission).
    """
    scanner_backend, _ = resolve_backends(backend)
    try:
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True, backend=scanner_backend)
    except (BleakError, OSError) as exc:
        raise DeviceError(f"cannot scan for sensors: Bluetooth is not available ({exc})") from exc
    found = [_found(device, adv) for device, adv in seen.values()]
    return sorted((f for f in found if f.kind is not None), key=lambda f: -f.rssi)


async def find_device(name_or_address: str, *, timeout_s: float = 10.0, backend: Any = None) -> FoundSensor:
    """Find one device by address (case-insensitive) or exact advertised name.

    Raises
    ------
    DeviceError
        When nothing matching is seen within ``timeout_s`` or Bluetooth is unavailable.
    """
    scanner_backend, _ = resolve_backends(backend)
    wanted = name_or_address.strip()

    def match(device: BLEDevice, adv: AdvertisementData) -> bool:
        name = adv.local_name or device.name
        return device.address.lower() == wanted.lower() or name == wanted

    async def first_match() -> FoundSensor:
        async with BleakScanner(backend=scanner_backend) as scanner:
            async for device, adv in scanner.advertisement_data():
                if match(device, adv):
                    return _found(device, adv)
        raise DeviceError("scanning stopped unexpectedly")

    try:
        return await asyncio.wait_for(first_match(), timeout_s)
    except asyncio.TimeoutError:
        raise DeviceError(
            f"no device named or addressed {wanted!r} found within {timeout_s:g} s "
            "(is it switched on, in range, and not connected to another app?)"
        ) from None
    except (BleakError, OSError) as exc:
        raise DeviceError(f"cannot scan for {wanted!r}: Bluetooth is not available ({exc})") from exc
