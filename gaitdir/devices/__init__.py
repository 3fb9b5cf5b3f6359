"""Sensors over BLE: one async driver interface, pure frame codecs, and virtual twins."""

from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent

__all__ = ["EventKind", "ImuBatch", "StreamEvent"]
