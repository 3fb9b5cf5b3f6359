"""Shared fixtures for device tests: real recordings and a virtual Bluetooth world."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _device_recordings import oxford_recording

from gaitdir.devices.virtual import VirtualWorld
from gaitdir.recordings import Recording


@pytest.fixture
def walk_8s() -> Recording:
    return oxford_recording(8.0)


@pytest.fixture
async def world() -> AsyncIterator[VirtualWorld]:
    async with VirtualWorld() as w:
        yield w
