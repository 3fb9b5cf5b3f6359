"""Virtual sensors: real sensor protocols over a real in-process GATT stack (bumble), for tests and demos.

Importing this package does not import bumble; bumble is loaded when a world is entered or a
sensor started. Product code outside this package never imports bumble.
"""

# importing a family's twin module registers its twin in TWINS
from gaitdir.devices.virtual import (  # noqa: F401
    _polar,
    _twins_metamotion,
    _twins_movesense,
    _twins_openprofile,
    _twins_thingy52,
    _twins_witmotion,
)
from gaitdir.devices.virtual._twin import TWINS, Chunk, Fault, Twin, VirtualSensor, register_twin
from gaitdir.devices.virtual._world import VirtualWorld

__all__ = ["TWINS", "Chunk", "Fault", "Twin", "VirtualSensor", "VirtualWorld", "register_twin"]
