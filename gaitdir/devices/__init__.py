"""Sensors over BLE: one async driver interface, pure frame codecs, sessions that survive drops.

Drivers register themselves in :data:`DRIVERS` by kind. Virtual sensors (for tests and demos) live
in :mod:`gaitdir.devices.virtual`, which is the only place bumble is used.
"""

# importing a family module registers its driver in DRIVERS
from gaitdir.devices import (  # noqa: F401
    _metamotion,
    _movesense,
    _openprofile,
    _polar,
    _thingy52,
    _witmotion,
)
from gaitdir.devices._base import (
    DRIVERS,
    STANDARD_GRAVITY_MPS2,
    FrameDecoder,
    GattSensorDriver,
    MalformedFrameError,
    SensorDriver,
    SensorInfo,
    driver_for,
    register_driver,
    resolve_backends,
)
from gaitdir.devices._metamotion import MetaMotionDriver
from gaitdir.devices._movesense import MovesenseDriver
from gaitdir.devices._openprofile import OpenProfileDriver
from gaitdir.devices._polar import PmdStreamDecoder, PolarH10Driver, PolarPmdDriver, PolarVerityDriver
from gaitdir.devices._scan import FoundSensor, find_device, scan
from gaitdir.devices._session import SensorSession
from gaitdir.devices._thingy52 import ThingyDriver
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.devices._witmotion import WitMotionDriver

__all__ = [
    "DRIVERS",
    "STANDARD_GRAVITY_MPS2",
    "EventKind",
    "FoundSensor",
    "FrameDecoder",
    "GattSensorDriver",
    "ImuBatch",
    "MalformedFrameError",
    "MetaMotionDriver",
    "MovesenseDriver",
    "OpenProfileDriver",
    "PmdStreamDecoder",
    "PolarH10Driver",
    "PolarPmdDriver",
    "PolarVerityDriver",
    "SensorDriver",
    "SensorInfo",
    "SensorSession",
    "StreamEvent",
    "ThingyDriver",
    "WitMotionDriver",
    "driver_for",
    "find_device",
    "register_driver",
    "resolve_backends",
    "scan",
]
