"""Glue between the sensor families' stateful decoders and :class:`~gaitdir.devices._base.GattSensorDriver`.

The family decoders (``MovesenseDecoder``, ``OpenProfileDecoder``…) return samples *and* stream
events (``LOST_PACKETS``, ``MALFORMED_FRAME``, a refused subscription) from one notification. The
shared driver base takes a decoder that returns batches only and raises
:class:`~gaitdir.devices._base.MalformedFrameError`; :class:`EventfulDecoder` adapts one to the other
and :class:`EventfulDriverMixin` puts the events back into the stream, in order, before the batch
that revealed them.
"""

from __future__ import annotations

import collections
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from gaitdir.devices._base import GattSensorDriver, MalformedFrameError
from gaitdir.devices._codeccommon import FrameError
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent

#: Control item that only wakes the stream loop so that pending events are delivered.
_WAKE = b""

FeedFn = Callable[[bytes, float], list[ImuBatch | StreamEvent]]


class EventfulDecoder:
    """Adapts ``feed(data, arrival_s) -> [ImuBatch | StreamEvent]`` to the base's ``decode`` protocol.

    Parameters
    ----------
    feed : callable
        The family decoder's ``feed``.
    driver : EventfulDriverMixin
        The driver whose stream delivers the events.
    """

    def __init__(self, feed: FeedFn, driver: EventfulDriverMixin) -> None:
        self.feed = feed
        self.driver = driver

    def decode(self, uuid: str, data: bytes, arrival_s: float) -> list[ImuBatch]:
        try:
            items = self.feed(data, arrival_s)
        except FrameError as exc:
            raise MalformedFrameError(str(exc)) from exc
        batches = [item for item in items if isinstance(item, ImuBatch)]
        events = [item for item in items if isinstance(item, StreamEvent)]
        malformed = [e for e in events if e.kind == EventKind.MALFORMED_FRAME]
        if malformed and not batches and len(malformed) == len(events):
            # the base counts it, logs it and turns it into a MALFORMED_FRAME event
            raise MalformedFrameError("; ".join(e.detail for e in malformed))
        if events:
            self.driver.push_events(events, wake=not batches)
        return batches


class EventfulDriverMixin(GattSensorDriver):
    """Delivers events pushed by an :class:`EventfulDecoder` through :meth:`stream`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_events: collections.deque[StreamEvent] = collections.deque()

    def push_events(self, events: list[StreamEvent], *, wake: bool) -> None:
        """Queue ``events`` for the stream; ``wake`` when no batch follows to carry them out."""
        self._pending_events.extend(events)
        for event in events:
            if event.kind == EventKind.MALFORMED_FRAME:
                self.malformed_frames += 1
        if wake:
            self._queue.put_nowait(("control", "", _WAKE, time.monotonic()))

    def family_control_events(self, data: bytes) -> list[StreamEvent]:
        """Events for an unsolicited control notification of the family (override)."""
        return []

    def control_events(self, data: bytes) -> list[StreamEvent]:
        if data == _WAKE:
            return self._drain()
        return self.family_control_events(data)

    def _drain(self) -> list[StreamEvent]:
        out = list(self._pending_events)
        self._pending_events.clear()
        return out

    async def stream(self) -> AsyncIterator[ImuBatch | StreamEvent]:
        async for item in super().stream():
            for event in self._drain():
                yield event
            yield item
