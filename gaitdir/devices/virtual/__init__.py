"""Virtual sensors: real sensor protocols over a real in-process GATT stack (bumble), for tests and demos.

Importing this package does not import bumble; bumble is loaded when a world is entered or a
sensor started. Product code outside this package never imports bumble.
"""

from gaitdir.devices.virtual import _polar  # noqa: F401  (registers the Polar twins)
from gaitdir.devices.virtual._twin import TWINS, Chunk, Fault, Twin, VirtualSensor, register_twin
from gaitdir.devices.virtual._world import VirtualWorld

__all__ = ["TWINS", "Chunk", "Fault", "Twin", "VirtualSensor", "VirtualWorld", "register_twin"]
