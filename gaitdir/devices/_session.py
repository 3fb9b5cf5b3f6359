"""A sensor session: one driver kept streaming across drops and sensor-initiated stops.

Policy, in the order things happen:

* A dropped link yields ``DISCONNECTED`` and nothing else happens until the consumer asks for the
  next item — so whatever it does with ``DISCONNECTED`` (flush and mark the recording) is done before
  any reconnect attempt.
* Reconnect attempts follow ``backoff_s`` (the last value repeats), each announced by a
  ``RECONNECTING`` event, until ``max_reconnect_s`` has passed since the drop; then ``ENDED``.
  Each attempt uses a fresh bleak client, so the data characteristic is subscribed exactly once per
  connection (no stale watcher doubling notifications).
* ``RECONNECTED`` is yielded just before the first sample after the gap; ``gap_s`` is the sensor
  time between the last sample before the drop and that sample.
* Samples are de-duplicated by sensor time: nothing at or before the last yielded sensor time is
  yielded again (duplicated notifications after a re-subscribe, replays after a restart).
* A sensor clock that comes back more than ``CLOCK_RESET_S`` behind the last sample (the sensor
  rebooted during the outage) is continued from the last sample plus the wall-clock outage instead
  of having every new sample dropped as a duplicate.
* ``STOPPED_BY_SENSOR`` is passed on, then the stream is started again on the sensor.
* ``ENDED`` is the last item: after :meth:`SensorSession.stop`, when reconnecting gave up (the device
  is gone for good), or when ``end_signal`` is set — the explicit "no more data" a replaying virtual
  sensor gives (:attr:`gaitdir.devices.virtual.VirtualSensor.finished`), since a vanished real
  sensor looks exactly like a dropped one until the give-up time has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from gaitdir.devices._base import GattSensorDriver, SensorDriver, SensorInfo
from gaitdir.devices._types import EventKind, ImuBatch, StreamEvent
from gaitdir.errors import DeviceError

logger = logging.getLogger(__name__)

#: A sensor clock that restarts more than this far (s) behind the last sample was reset, not replayed.
CLOCK_RESET_S: float = 1.0


class SensorSession:
    """Stream from one sensor, surviving drops: reconnect with backoff, restart, de-duplicate.

    Parameters
    ----------
    driver_cls : type of SensorDriver
        The sensor family (a value of :data:`gaitdir.devices.DRIVERS`).
    device : str or BLEDevice
        The sensor's address or a device found by scanning.
    backend : object, optional
        Bluetooth backend (``None`` = the OS stack; a ``VirtualWorld`` for virtual sensors).
    sample_rate_hz : float, optional
        Requested rate (Hz); the family's default when omitted.
    range_g : float, optional
        Requested accelerometer range (g).
    max_reconnect_s : float
        Give up reconnecting this long (wall-clock s) after a drop.
    backoff_s : sequence of float
        Waits (s) before successive reconnect attempts; the last one repeats.
    end_signal : asyncio.Event, optional
        Once set, a drop ends the session instead of starting reconnect attempts.
    """

    def __init__(
        self,
        driver_cls: type[SensorDriver],
        device: str | BLEDevice,
        *,
        backend: Any = None,
        sample_rate_hz: float | None = None,
        range_g: float | None = None,
        max_reconnect_s: float = 60.0,
        backoff_s: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0),
        end_signal: asyncio.Event | None = None,
    ) -> None:
        self.driver_cls = driver_cls
        self._scan_timeout_s = float(getattr(driver_cls, "scan_timeout_s", 10.0))
        self.device = device
        self.backend = backend
        self.sample_rate_hz = sample_rate_hz
        self.range_g = range_g
        self.max_reconnect_s = max_reconnect_s
        self.backoff_s = backoff_s
        self.end_signal = end_signal
        self.driver: SensorDriver | None = None
        self.reconnects = 0
        self.restarts = 0
        self.duplicates_dropped = 0
        self.last_sensor_time_s = -math.inf
        self._offset_s = 0.0
        self._stopping = False

    @property
    def info(self) -> SensorInfo:
        """The driver's :class:`SensorInfo` (available once :meth:`stream` has started)."""
        if self.driver is None:
            raise DeviceError("the session has not been started")
        return self.driver.info

    def _new_driver(self) -> SensorDriver:
        return self.driver_cls(
            self.device, sample_rate_hz=self.sample_rate_hz, range_g=self.range_g, backend=self.backend
        )

    async def stop(self) -> None:
        """Stop the stream on the sensor and disconnect; :meth:`stream` then yields ``ENDED``."""
        self._stopping = True
        driver = self.driver
        if driver is None:
            return
        if driver.is_connected:
            try:
                await driver.stop()
            except (DeviceError, BleakError, asyncio.TimeoutError) as exc:
                logger.warning("could not stop the stream on %s: %s", driver.address, exc)
        await driver.disconnect()

    def _fresh(self, batch: ImuBatch) -> ImuBatch:
        keep = batch.sensor_time_s > self.last_sensor_time_s
        if keep.all():
            return batch
        self.duplicates_dropped += int((~keep).sum())
        return ImuBatch(
            batch.sensor_time_s[keep],
            batch.acc_mps2[keep],
            None if batch.gyr_radps is None else batch.gyr_radps[keep],
        )

    def _rebase_if_clock_reset(self, batch: ImuBatch, since_s: float | None) -> ImuBatch:
        """Shift a reset sensor clock so that it continues after the last sample.

        A sensor that rebooted during an outage (a Polar H10 falls back to its 2019-01-01 default
        time) restarts its clock far behind the last sample; de-duplication would then drop every
        new sample. A first batch more than :data:`CLOCK_RESET_S` behind is taken as such a reset:
        its clock is offset to continue after the last sample plus the wall-clock outage.
        """
        if self._offset_s:
            batch = ImuBatch(batch.sensor_time_s + self._offset_s, batch.acc_mps2, batch.gyr_radps)
        last = self.last_sensor_time_s
        if since_s is None or not math.isfinite(last) or batch.sensor_time_s[-1] >= last - CLOCK_RESET_S:
            return batch
        outage_s = max(time.monotonic() - since_s, 0.0)
        shift = last + outage_s - float(batch.sensor_time_s[0])
        self._offset_s += shift
        logger.warning("sensor clock went back by %.1f s (sensor restarted?); continuing it", shift)
        return ImuBatch(batch.sensor_time_s + shift, batch.acc_mps2, batch.gyr_radps)

    async def stream(self) -> AsyncIterator[ImuBatch | StreamEvent]:
        """Batches and events until ``ENDED``. Raises :class:`DeviceError` if the first connect fails."""
        self._stopping = False
        self.last_sensor_time_s = -math.inf
        self._offset_s = 0.0
        driver = self._new_driver()
        self.driver = driver
        try:
            await driver.connect()
            await driver.start()
        except BaseException:
            await driver.disconnect()
            raise
        pending: StreamEvent | None = None
        resumed_at: float | None = None  # wall time of the drop/stop the stream resumed from
        try:
            while True:
                async for item in driver.stream():
                    if isinstance(item, ImuBatch):
                        batch = self._fresh(self._rebase_if_clock_reset(item, resumed_at))
                        resumed_at = None
                        if not len(batch):
                            continue
                        if pending is not None:
                            first_s = float(batch.sensor_time_s[0])
                            gap_s = (
                                first_s - self.last_sensor_time_s
                                if math.isfinite(self.last_sensor_time_s)
                                else None
                            )
                            yield StreamEvent(EventKind.RECONNECTED, pending.detail, first_s, gap_s)
                            pending = None
                        self.last_sensor_time_s = float(batch.sensor_time_s[-1])
                        yield batch
                        continue
                    if item.kind is EventKind.DISCONNECTED and pending is not None:
                        yield pending  # reconnected, but the link fell again before any sample
                        pending = None
                    yield item
                    if item.kind is EventKind.STOPPED_BY_SENSOR and not self._stopping:
                        resumed_at = time.monotonic()
                        try:
                            await driver.start()
                            self.restarts += 1
                        except DeviceError as exc:
                            if not driver.is_connected:
                                continue  # the DISCONNECTED event follows in the stream
                            yield StreamEvent(
                                EventKind.ENDED, f"the sensor stopped and refused to restart: {exc}"
                            )
                            return
                if self._stopping:
                    yield StreamEvent(EventKind.ENDED, "stopped")
                    return
                # Only now — the consumer has handled DISCONNECTED — do we try to get the link back.
                resumed_at = time.monotonic()
                outcome = None
                async for event in self._reconnect(driver):
                    if event.kind is EventKind.RECONNECTED:
                        pending = event
                    else:
                        yield event
                    outcome = event.kind
                if outcome is not EventKind.RECONNECTED:
                    return
        finally:
            if driver.is_connected:
                with contextlib.suppress(DeviceError, BleakError, asyncio.TimeoutError):
                    await driver.disconnect()

    async def _reconnect(self, driver: SensorDriver) -> AsyncIterator[StreamEvent]:
        """RECONNECTING events, then RECONNECTED or ENDED."""
        dropped_at = time.monotonic()
        attempt = 0
        last_error = "no attempt made"
        while True:
            if self._stopping:
                yield StreamEvent(EventKind.ENDED, "stopped")
                return
            if self.end_signal is not None and self.end_signal.is_set():
                yield StreamEvent(EventKind.ENDED, "the sensor finished its stream")
                return
            delay_s = float(self.backoff_s[min(attempt, len(self.backoff_s) - 1)])
            if time.monotonic() + delay_s - dropped_at > self.max_reconnect_s:
                yield StreamEvent(
                    EventKind.ENDED,
                    f"gave up reconnecting to {driver.address} after {attempt} attempt(s) in "
                    f"{time.monotonic() - dropped_at:.1f} s: {last_error}",
                )
                return
            attempt += 1
            yield StreamEvent(EventKind.RECONNECTING, f"attempt {attempt} in {delay_s:g} s")
            if self.end_signal is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.end_signal.wait(), delay_s)
                if self.end_signal.is_set():
                    continue
            else:
                await asyncio.sleep(delay_s)
            if self._stopping:
                continue
            if isinstance(driver, GattSensorDriver):
                # Look for the device no longer than the time left before giving up.
                left_s = self.max_reconnect_s - (time.monotonic() - dropped_at)
                driver.scan_timeout_s = max(0.5, min(self._scan_timeout_s, left_s))
            try:
                await driver.connect()
                await driver.start()
            except (DeviceError, BleakError, asyncio.TimeoutError, OSError) as exc:
                last_error = str(exc)
                logger.info("reconnect attempt %d to %s failed: %s", attempt, driver.address, exc)
                await driver.disconnect()
                continue
            self.reconnects += 1
            yield StreamEvent(
                EventKind.RECONNECTED,
                f"reconnected to {driver.address} after {time.monotonic() - dropped_at:.2f} s "
                f"({attempt} attempt(s))",
            )
            return
