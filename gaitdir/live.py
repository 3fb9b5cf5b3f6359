"""Live step labelling: a sensor stream in, labelled steps, a recording and a state feed out.

:class:`LiveSession` consumes any async stream of :class:`~gaitdir.devices.ImuBatch` /
:class:`~gaitdir.devices.StreamEvent` items — a :class:`~gaitdir.devices.SensorSession` on a real or a
virtual sensor alike — and

* feeds the samples into one :class:`~gaitdir.pipeline.StepPipeline` (the same code that
  ``gaitdir classify`` runs on files), on a *stream time* base: sensor time minus the first sensor time,
  continued across reconnects;
* optionally records the raw samples in gaitdir's CSV through
  :class:`~gaitdir.recordings.RecordingWriter` (flushed at least every ``flush_interval_s``, and at once
  when the connection drops, before the stream is asked for anything else; a reconnect marks a gap and the
  same file continues);
* optionally writes one JSON line per labelled step (``time_s``, ``end_s``, ``direction``,
  ``confidence``, ``emitted_s``) — the latency record;
* publishes a :class:`LiveState` snapshot to an observer callback after every batch and event.

It never prints; the command line renders the state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gaitdir.devices import EventKind, ImuBatch, StreamEvent
from gaitdir.errors import GaitdirError
from gaitdir.model.front import ForwardReference, format_axis

__all__ = [
    "ConnectionState",
    "EndReason",
    "LiveSession",
    "LiveState",
    "LiveStep",
    "LiveSummary",
    "StreamSource",
    "run_live",
]

logger = logging.getLogger(__name__)

#: Window over which cadence is computed (s of stream time).
CADENCE_WINDOW_S = 10.0
#: Window over which the received sample rate is measured (s).
RATE_WINDOW_S = 2.0
#: After a reconnect, a sensor clock this far (s) behind the last sample means the clock restarted.
CLOCK_RESTART_S = 1.0


class ConnectionState:
    """Connection states shown to the user (plain strings so observers can print them as they are)."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


class EndReason:
    """Why a live session ended (``LiveSummary.end_reason``)."""

    STREAM_ENDED = "stream ended"
    DURATION = "duration reached"
    STOPPED = "stopped by user"
    CANCELLED = "cancelled"
    ERROR = "error"


class StreamSource(Protocol):
    """What :meth:`LiveSession.run` consumes: a :class:`~gaitdir.devices.SensorSession` or alike."""

    def stream(self) -> AsyncIterator[ImuBatch | StreamEvent]: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class LiveStep:
    """One labelled step as emitted live.

    Attributes
    ----------
    time_s : float
        Initial contact (s, stream time).
    end_s : float
        End of the step = next initial contact (s, stream time).
    direction : str
        ``"forward"`` or ``"backward"``.
    confidence : float
        Probability of ``direction`` (0–1).
    emitted_s : float
        Stream time of the newest sample fed when the label came out (s); ``emitted_s - end_s`` is the
        labelling latency.
    """

    time_s: float
    end_s: float
    direction: str
    confidence: float
    emitted_s: float

    def to_json(self) -> str:
        """One JSON line (no newline) as written to ``--events``."""
        return json.dumps(
            {
                "time_s": round(self.time_s, 4),
                "end_s": round(self.end_s, 4),
                "direction": self.direction,
                "confidence": round(self.confidence, 4),
                "emitted_s": round(self.emitted_s, 4),
            }
        )


@dataclass(frozen=True)
class LiveState:
    """A snapshot of a live session, published to the observer.

    Attributes
    ----------
    connection : str
        One of :class:`ConnectionState`.
    elapsed_s : float
        Wall-clock time since the session started (s).
    stream_time_s : float
        Stream time of the newest sample (s).
    forward, backward : int
        Steps labelled so far in each direction.
    last_step : LiveStep, optional
        The most recent labelled step.
    new_steps : tuple of LiveStep
        Steps labelled since the previous snapshot (for per-step output).
    cadence_spm : float
        Steps per minute over the last ~10 s of stream time (0 when not walking).
    sample_rate_hz : float
        Samples actually received per wall-clock second over the last ~2 s.
    sensor_rate_hz : float
        Samples per second of sensor time over the same window (the sensor's effective output rate).
    samples : int
        Samples received (after de-duplication).
    malformed_frames : int
        Frames the driver reported as malformed and skipped.
    lost_packets : int
        Lost-packet reports from the driver (sequence gaps).
    gaps : int
        Gaps in the stream from reconnects and sensor-initiated stops (each is marked in the recording).
    reconnects : int
        Successful reconnects.
    sensor_stops : int
        Times the sensor stopped the stream by itself (it is restarted).
    forward_reference : ForwardReference or None
        Where the wearer's front comes from (None only for a pipeline that does not say).
    """

    connection: str
    elapsed_s: float
    stream_time_s: float
    forward: int
    backward: int
    last_step: LiveStep | None
    new_steps: tuple[LiveStep, ...]
    cadence_spm: float
    sample_rate_hz: float
    sensor_rate_hz: float
    samples: int
    malformed_frames: int
    lost_packets: int
    gaps: int
    reconnects: int
    sensor_stops: int
    forward_reference: ForwardReference | None = None

    @property
    def steps(self) -> int:
        return self.forward + self.backward


@dataclass(frozen=True)
class LiveSummary:
    """What a finished live session amounted to.

    Attributes
    ----------
    steps, forward, backward : int
        Labelled steps (total and per direction), including those finalised at the end of the stream.
    samples : int
        Samples received (after de-duplication).
    stream_duration_s : float
        Stream time of the last sample (s).
    elapsed_s : float
        Wall-clock duration of the session (s).
    malformed_frames, lost_packets, gaps, reconnects, sensor_stops : int
        As in :class:`LiveState`.
    end_reason : str
        One of :class:`EndReason`.
    end_detail : str
        What the stream said when it ended (e.g. why reconnecting gave up), or "".
    recording_path : Path, optional
        The closed recording, when one was written.
    events_path : Path, optional
        The closed events file, when one was written.
    forward_reference : ForwardReference or None
        Where the wearer's front came from.
    """

    steps: int
    forward: int
    backward: int
    samples: int
    stream_duration_s: float
    elapsed_s: float
    malformed_frames: int
    lost_packets: int
    gaps: int
    reconnects: int
    sensor_stops: int
    end_reason: str
    end_detail: str = ""
    recording_path: Path | None = None
    events_path: Path | None = None
    forward_reference: ForwardReference | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "steps": self.steps,
            "forward": self.forward,
            "backward": self.backward,
            "samples": self.samples,
            "stream_duration_s": round(self.stream_duration_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "malformed_frames": self.malformed_frames,
            "lost_packets": self.lost_packets,
            "gaps": self.gaps,
            "reconnects": self.reconnects,
            "sensor_stops": self.sensor_stops,
            "end_reason": self.end_reason,
            "end_detail": self.end_detail,
            "recording": None if self.recording_path is None else str(self.recording_path),
            "events": None if self.events_path is None else str(self.events_path),
            "forward_reference": None if self.forward_reference is None else self.forward_reference.to_dict(),
        }


@dataclass
class _Counters:
    """Mutable running state of one :meth:`LiveSession.run` (kept apart so ``__init__`` only stores)."""

    started_wall_s: float
    connection: str = ConnectionState.CONNECTING
    forward: int = 0
    backward: int = 0
    samples: int = 0
    malformed_frames: int = 0
    lost_packets: int = 0
    gaps: int = 0
    reconnects: int = 0
    last_step: LiveStep | None = None
    new_steps: list[LiveStep] = field(default_factory=list)
    recent_steps: collections.deque[LiveStep] = field(default_factory=collections.deque)
    # (wall time, sensor stream time, n samples) per batch, for the received-rate estimate
    recent_batches: collections.deque[tuple[float, float, int]] = field(default_factory=collections.deque)
    # stream time = sensor time - sensor_offset_s
    sensor_offset_s: float | None = None
    last_time_s: float | None = None
    last_wall_s: float | None = None
    sensor_stops: int = 0
    gap_pending: bool = False
    end_reason: str = EndReason.STREAM_ENDED
    end_detail: str = ""


class _EventsFile:
    """``--events`` JSON lines, written to ``<path>.partial`` and renamed when closed (like recordings)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> _EventsFile:
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.partial_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.lines = 0
        return self

    def discard(self) -> None:
        self._handle.close()
        self.partial_path.unlink(missing_ok=True)

    def write(self, step: LiveStep) -> None:
        self._handle.write(step.to_json() + "\n")
        self.lines += 1

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> Path:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.partial_path, self.path)
        return self.path


class LiveSession:
    """Labels steps from a live sensor stream, records it, and reports its state.

    Parameters
    ----------
    pipeline : StepPipeline, optional
        The step pipeline to feed (fresh, not yet used). None = ``StepPipeline(placement=placement,
        forward_axis=forward_axis)`` with the shipped model.
    placement : str
        Sensor placement for the default pipeline and the recording's metadata.
    forward_axis : ForwardReference or str, optional
        The wearer's front for the default pipeline (a :class:`~gaitdir.model.front.ForwardReference`
        says where it came from; a plain axis counts as given by the user); written into the recording's
        metadata when known. None: assumed from the first steps.
    record_path : str or Path, optional
        Write the raw samples to this gaitdir CSV (``<path>.partial`` while streaming, renamed when the
        session ends).
    record_meta : mapping of str to str, optional
        Extra ``# key: value`` metadata for the recording (e.g. ``sensor``).
    label : str, optional
        ``"forward"``/``"backward"``/``"other"``: written as the per-sample label of the recording.
    events_path : str or Path, optional
        Write one JSON line per labelled step here.
    duration_s : float, optional
        Stop after this many wall-clock seconds (None = until the stream ends or :meth:`request_stop`).
    observer : callable, optional
        Called with a :class:`LiveState` after every batch and event; must return quickly.
    flush_interval_s : float
        Longest time (wall-clock s) between recording flushes while samples arrive.
    stop_timeout_s : float
        How long to wait for the sensor to acknowledge the stop command (s).
    clock : callable
        Wall clock in seconds (monotonic); injectable for tests.
    """

    def __init__(
        self,
        pipeline: Any = None,
        *,
        placement: str = "auto",
        forward_axis: ForwardReference | str | None = None,
        record_path: str | Path | None = None,
        record_meta: Mapping[str, str] | None = None,
        label: str | None = None,
        events_path: str | Path | None = None,
        duration_s: float | None = None,
        observer: Callable[[LiveState], None] | None = None,
        flush_interval_s: float = 1.0,
        stop_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        self.placement = placement
        self.forward_axis = forward_axis
        self.record_path = record_path
        self.record_meta = record_meta
        self.label = label
        self.events_path = events_path
        self.duration_s = duration_s
        self.observer = observer
        self.flush_interval_s = flush_interval_s
        self.stop_timeout_s = stop_timeout_s
        self.clock = clock

    # --- control ---------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask a running session to stop cleanly (safe to call from a signal handler on the loop)."""
        self._stop_requested_ = True
        event = getattr(self, "_stop_event", None)
        if event is not None:
            event.set()

    async def run(self, source: StreamSource) -> LiveSummary:
        """Consume ``source`` until it ends, the duration passes, or a stop is requested.

        Parameters
        ----------
        source : StreamSource
            Yields :class:`~gaitdir.devices.ImuBatch` and :class:`~gaitdir.devices.StreamEvent` items;
            its ``stop()`` is awaited when the session ends (it stops the stream on the sensor).

        Returns
        -------
        LiveSummary
            Also stored as ``summary_``.

        Raises
        ------
        GaitdirError
            Whatever the source raises on purpose (e.g. ``DeviceError`` for a sensor that cannot be found);
            the recording is closed first, with every sample received so far.
        asyncio.CancelledError
            When the task running this is cancelled — after the same clean shutdown (``summary_`` set).
        """
        self._validate()
        self._source = source
        self._stop_event = asyncio.Event()
        if getattr(self, "_stop_requested_", False):
            self._stop_event.set()
        self._counters = _Counters(started_wall_s=self.clock())
        self._pipeline = self.pipeline if self.pipeline is not None else self._default_pipeline()
        start = getattr(self._pipeline, "start", None)
        if start is not None:
            start()  # the model is loaded and the front known before the first snapshot says where it is
        self._writer: Any = None
        self._last_flush_wall_s = self.clock()
        self._iterator: AsyncIterator[ImuBatch | StreamEvent] | None = None
        self._events = _EventsFile(Path(self.events_path)).open() if self.events_path is not None else None
        self._recording_closed: Path | None = None
        self._publish()

        consumer = asyncio.create_task(self._consume(source), name="gaitdir-live-consume")
        stopper = asyncio.create_task(self._stop_event.wait(), name="gaitdir-live-stop")
        flusher = asyncio.create_task(self._flush_periodically(), name="gaitdir-live-flush")
        cancelled = False
        failure: BaseException | None = None
        try:
            done, _ = await asyncio.wait(
                {consumer, stopper}, timeout=self.duration_s, return_when=asyncio.FIRST_COMPLETED
            )
            if consumer in done:
                failure = consumer.exception()
                if failure is not None:
                    self._counters.end_reason = EndReason.ERROR
            elif stopper in done:
                self._counters.end_reason = EndReason.STOPPED
            else:
                self._counters.end_reason = EndReason.DURATION
        except asyncio.CancelledError:
            cancelled = True
            self._counters.end_reason = EndReason.CANCELLED
        finally:
            await self._shutdown(source, (consumer, stopper, flusher))
        if failure is not None:
            raise failure
        if cancelled:
            raise asyncio.CancelledError
        return self.summary_

    # --- the stream --------------------------------------------------------------------------------------

    async def _consume(self, source: StreamSource) -> None:
        self._iterator = source.stream().__aiter__()
        async for item in self._iterator:
            if isinstance(item, ImuBatch):
                self._on_batch(item)
            elif isinstance(item, StreamEvent):
                if self._on_event(item):
                    return
            else:
                logger.warning("ignoring unexpected stream item %r", type(item).__name__)

    def _on_batch(self, batch: ImuBatch) -> None:
        c = self._counters
        if len(batch) == 0:
            return
        now = self.clock()
        sensor_t = np.asarray(batch.sensor_time_s, dtype=np.float64)
        if c.sensor_offset_s is None:
            c.sensor_offset_s = float(sensor_t[0])
        t = sensor_t - c.sensor_offset_s
        if c.gap_pending and c.last_time_s is not None and t[0] < c.last_time_s - CLOCK_RESTART_S:
            # The sensor's clock restarted across the reconnect (a power cycle): continue stream time
            # after the last sample, by the wall-clock length of the outage. (Samples slightly older than
            # the last one are resent duplicates instead, dropped below.)
            outage_s = max(now - (c.last_wall_s or now), 1e-3)
            c.sensor_offset_s = float(sensor_t[0]) - (c.last_time_s + outage_s)
            t = sensor_t - c.sensor_offset_s
        acc = np.asarray(batch.acc_mps2, dtype=np.float64)
        gyr = None if batch.gyr_radps is None else np.asarray(batch.gyr_radps, dtype=np.float64)
        keep = _strictly_increasing_after(t, c.last_time_s)
        if not keep.all():
            # Duplicates survive only if the session layer missed them; never feed or record a sample twice.
            logger.warning("dropping %d repeated or out-of-order samples", int((~keep).sum()))
            t, acc = t[keep], acc[keep]
            gyr = None if gyr is None else gyr[keep]
            if t.size == 0:
                return
        if c.gap_pending and c.last_time_s is not None:
            if self._writer is not None:
                self._writer.mark_gap(c.last_time_s, float(t[0]))
            c.gaps += 1
        c.gap_pending = False
        if self.record_path is not None:
            self._record(t, acc, gyr)
        table = self._pipeline.update(t, acc, gyr)
        c.samples += int(t.size)
        c.last_time_s = float(t[-1])
        c.last_wall_s = now
        c.connection = ConnectionState.STREAMING
        c.recent_batches.append((now, float(t[-1]), int(t.size)))
        self._take_steps(table)
        if now - self._last_flush_wall_s >= self.flush_interval_s:
            self._flush()
        self._publish()

    def _on_event(self, event: StreamEvent) -> bool:
        """Handle a stream event; True when it ends the session."""
        c = self._counters
        kind = event.kind
        if kind == EventKind.DISCONNECTED:
            # Everything received before the drop goes to disk before the session layer may reconnect
            # (it does so only when the next item is pulled).
            self._flush()
            c.connection = ConnectionState.DISCONNECTED
        elif kind == EventKind.RECONNECTING:
            c.connection = ConnectionState.RECONNECTING
        elif kind == EventKind.RECONNECTED:
            c.reconnects += 1
            c.gap_pending = True
            c.connection = ConnectionState.STREAMING
        elif kind == EventKind.MALFORMED_FRAME:
            c.malformed_frames += 1
            logger.info("malformed frame skipped: %s", event.detail)  # the driver warned already
        elif kind == EventKind.LOST_PACKETS:
            c.lost_packets += 1
            logger.info("lost packets: %s", event.detail)
        elif kind == EventKind.STOPPED_BY_SENSOR:
            # The session layer starts the stream again; the samples of the pause are lost, so the
            # recording gets a gap just as for a dropped link.
            c.sensor_stops += 1
            c.gap_pending = True
            self._flush()
            logger.info("the sensor stopped the stream: %s", event.detail)
        elif kind == EventKind.ENDED:
            c.end_reason = EndReason.STREAM_ENDED
            c.end_detail = event.detail
            self._publish()
            return True
        self._publish()
        return False

    # --- outputs -------------------------------------------------------------------------------------------

    def _record(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None) -> None:
        if self._writer is None:
            self._writer = self._open_writer(has_gyro=gyr is not None)
        if gyr is None and self._writer_has_gyro:
            # Drivers send gyro with every batch or never; a batch without it cannot fill the file's gyro
            # columns, and inventing values would be worse than the writer's warning and skip.
            gyr = np.full((t.shape[0], 3), np.nan)
        elif gyr is not None and not self._writer_has_gyro:
            gyr = None
        self._writer.append(t, acc, gyr, self.label)

    def _open_writer(self, *, has_gyro: bool) -> Any:
        from gaitdir.recordings import RecordingWriter

        meta = {"source": "gaitdir live", "placement": self.placement}
        kind = _sensor_kind(self._source)
        if kind:
            meta["sensor"] = kind
        reference = self._forward_reference()
        if reference is not None and reference.axis is not None:
            # A later `classify` of the recording then uses the same front (as the file's).
            meta["forward_axis"] = format_axis(reference.axis)
            meta["forward_reference"] = reference.source
        meta.update(dict(self.record_meta or {}))
        self._writer_has_gyro = has_gyro
        writer = RecordingWriter(
            Path(self.record_path),  # type: ignore[arg-type]
            meta=meta,
            has_gyro=has_gyro,
            has_label=self.label is not None,
        )
        enter = getattr(writer, "__enter__", None)
        return enter() if enter is not None else writer

    def _take_steps(self, table: Any) -> None:
        n = len(table)
        if n == 0:
            return
        c = self._counters
        start = np.asarray(table.time_s, dtype=np.float64)
        duration = np.asarray(table.duration_s, dtype=np.float64)
        direction = np.asarray(table.direction)
        confidence = np.asarray(table.confidence, dtype=np.float64)
        emitted = np.asarray(table.emitted_s, dtype=np.float64)
        for i in range(n):
            step = LiveStep(
                time_s=float(start[i]),
                end_s=float(start[i] + duration[i]),
                direction=str(direction[i]),
                confidence=float(confidence[i]),
                emitted_s=float(emitted[i]),
            )
            if step.direction == "forward":
                c.forward += 1
            elif step.direction == "backward":
                c.backward += 1
            c.last_step = step
            c.new_steps.append(step)
            c.recent_steps.append(step)
            if self._events is not None:
                self._events.write(step)

    def _flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        if self._events is not None:
            self._events.flush()
        self._last_flush_wall_s = self.clock()

    async def _flush_periodically(self) -> None:
        # Batches trigger flushes as they arrive; this covers a stream that pauses right after a batch.
        while True:
            await asyncio.sleep(self.flush_interval_s / 2)
            if self.clock() - self._last_flush_wall_s >= self.flush_interval_s:
                self._flush()

    # --- state -------------------------------------------------------------------------------------------

    def _publish(self) -> None:
        state = self._snapshot()
        self._counters.new_steps = []
        if self.observer is not None:
            self.observer(state)

    def _snapshot(self) -> LiveState:
        c = self._counters
        now = self.clock()
        stream_now = c.last_time_s if c.last_time_s is not None else 0.0
        while c.recent_steps and c.recent_steps[0].end_s < stream_now - CADENCE_WINDOW_S:
            c.recent_steps.popleft()
        while c.recent_batches and c.recent_batches[0][0] < now - RATE_WINDOW_S:
            c.recent_batches.popleft()
        return LiveState(
            connection=c.connection,
            elapsed_s=now - c.started_wall_s,
            stream_time_s=stream_now,
            forward=c.forward,
            backward=c.backward,
            last_step=c.last_step,
            new_steps=tuple(c.new_steps),
            cadence_spm=_cadence_spm(c.recent_steps, stream_now),
            sample_rate_hz=_rate(c.recent_batches, 0),
            sensor_rate_hz=_rate(c.recent_batches, 1),
            samples=c.samples,
            malformed_frames=c.malformed_frames,
            lost_packets=c.lost_packets,
            gaps=c.gaps,
            reconnects=c.reconnects,
            sensor_stops=c.sensor_stops,
            forward_reference=self._forward_reference(),
        )

    def _forward_reference(self) -> ForwardReference | None:
        reference = getattr(self._pipeline, "forward_reference_", None)
        return reference if isinstance(reference, ForwardReference) else None

    # --- lifecycle -----------------------------------------------------------------------------------------

    def _validate(self) -> None:
        if self.label is not None and self.label not in ("forward", "backward", "other"):
            raise GaitdirError(f"label must be forward, backward or other; got {self.label!r}")
        if self.label is not None and self.record_path is None:
            raise GaitdirError("a label is written into the recording: give a recording path too")
        if self.duration_s is not None and not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise GaitdirError(f"duration must be a positive number of seconds; got {self.duration_s!r}")
        if not self.flush_interval_s > 0:
            raise GaitdirError(f"flush interval must be positive; got {self.flush_interval_s!r}")

    def _default_pipeline(self) -> Any:
        from gaitdir.pipeline import StepPipeline

        return StepPipeline(placement=self.placement, forward_axis=self.forward_axis)

    async def _shutdown(self, source: StreamSource, tasks: tuple[asyncio.Task[Any], ...]) -> None:
        c = self._counters
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Samples already received are safe on disk before anything that could hang or fail.
        self._flush()
        stop = getattr(source, "stop", None)
        if stop is not None:
            try:
                await asyncio.wait_for(stop(), timeout=self.stop_timeout_s)
            except (asyncio.TimeoutError, Exception) as exc:  # the sensor may already be gone
                logger.warning("stopping the sensor stream failed: %s", exc or type(exc).__name__)
        if self._iterator is not None:
            aclose = getattr(self._iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(aclose(), timeout=self.stop_timeout_s)
        try:
            if c.samples:
                self._take_steps(self._pipeline.flush())
        finally:
            recording = None
            if self._writer is not None:
                self._writer.close()
                recording = Path(self.record_path)  # type: ignore[arg-type]
            events = None
            if self._events is not None:
                # A session that failed before labelling anything leaves no (empty) events file behind.
                failed = c.end_reason in (EndReason.ERROR,) and self._events.lines == 0
                events = self._events.discard() if failed else self._events.close()
            c.connection = ConnectionState.ENDED
            self._publish()
            self.summary_ = LiveSummary(
                steps=c.forward + c.backward,
                forward=c.forward,
                backward=c.backward,
                samples=c.samples,
                stream_duration_s=c.last_time_s or 0.0,
                elapsed_s=self.clock() - c.started_wall_s,
                malformed_frames=c.malformed_frames,
                lost_packets=c.lost_packets,
                gaps=c.gaps,
                reconnects=c.reconnects,
                sensor_stops=c.sensor_stops,
                end_reason=c.end_reason,
                end_detail=c.end_detail,
                recording_path=recording,
                events_path=events,
                forward_reference=self._forward_reference(),
            )


async def run_live(source: StreamSource, **params: Any) -> LiveSummary:
    """Run a :class:`LiveSession` with ``params`` on ``source`` and return its summary."""
    return await LiveSession(**params).run(source)


def _sensor_kind(source: object) -> str | None:
    """The sensor family of a source that can tell (a started SensorSession's ``info.kind``)."""
    try:
        info = getattr(source, "info", None)
    except GaitdirError:  # a session that has not connected yet
        return None
    kind = getattr(info, "kind", None)
    return kind if isinstance(kind, str) else None


def _strictly_increasing_after(t: np.ndarray, last_s: float | None) -> np.ndarray:
    """Mask of samples that keep time strictly increasing after ``last_s``."""
    keep = np.ones(t.shape[0], dtype=bool)
    previous = -math.inf if last_s is None else last_s
    if t.size and np.all(np.diff(t) > 0) and t[0] > previous:
        return keep
    for i, value in enumerate(t):
        if value > previous:
            previous = float(value)
        else:
            keep[i] = False
    return keep


def _cadence_spm(steps: collections.deque[LiveStep], stream_now_s: float) -> float:
    """Steps per minute from the steps that ended within the window; 0 once walking has paused."""
    if len(steps) < 2:
        return 0.0
    last = steps[-1]
    first = steps[0]
    # A pause longer than a slow step means the wearer is standing: cadence is zero, not stale.
    if stream_now_s - last.end_s > 2.5:
        return 0.0
    span_s = last.end_s - first.time_s
    return 60.0 * len(steps) / span_s if span_s > 0 else 0.0


def _rate(batches: collections.deque[tuple[float, float, int]], clock_index: int) -> float:
    """Samples per second on the wall (0) or sensor (1) clock over the recent batches."""
    if len(batches) < 2:
        return 0.0
    span = batches[-1][clock_index] - batches[0][clock_index]
    if span <= 0:
        return 0.0
    # The first batch's samples lie before the window's start instant.
    return sum(n for *_, n in list(batches)[1:]) / span


class _CalibrationFeed:
    """Stands in for the step pipeline of a :class:`LiveSession`: feeds a front calibrator instead.

    The session keeps doing what it does for any stream (one time base across reconnects, repeated
    samples dropped, a recording if asked); the calibrator asks to stop once it has its walk.
    """

    def __init__(self, calibrator: Any, on_done: Callable[[], None]) -> None:
        self.calibrator = calibrator
        self.on_done = on_done

    def start(self) -> _CalibrationFeed:
        return self

    def update(self, time_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None = None) -> Any:
        from gaitdir.pipeline import StepTable

        self.calibrator.update(time_s, acc_mps2, gyr_radps)
        if self.calibrator.done_:
            self.on_done()
        return StepTable()

    def flush(self) -> Any:
        from gaitdir.pipeline import StepTable

        return StepTable()


async def run_calibration(
    source: StreamSource,
    calibrator: Any,
    *,
    timeout_s: float = 60.0,
    observer: Callable[[LiveState], None] | None = None,
    record_path: str | Path | None = None,
) -> Any:
    """Calibrate the wearer's front live: the stream of a sensor worn while the user walks forward.

    Parameters
    ----------
    source : StreamSource
        The sensor's stream (a :class:`~gaitdir.devices.SensorSession`, real or virtual).
    calibrator : FrontCalibrator
        Fed with every sample; the session stops as soon as it has its walk (``done_``).
    timeout_s : float, default=60.0
        Give up after this many wall-clock seconds (the calibrator then answers with what it has).
    observer : callable, optional
        Receives :class:`LiveState` snapshots (connection, samples) as a live session's observer does.
    record_path : str or Path, optional
        Also record the calibration walk (gaitdir CSV).

    Returns
    -------
    FrontCalibration

    Raises
    ------
    CalibrationError
        The walk gave no clear answer (the message says why).
    """
    session: LiveSession | None = None

    def done() -> None:
        if session is not None:
            session.request_stop()

    session = LiveSession(
        _CalibrationFeed(calibrator, done),
        duration_s=timeout_s,
        observer=observer,
        record_path=record_path,
    )
    await session.run(source)
    return calibrator.finish()
