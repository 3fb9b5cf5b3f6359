"""What the drivers of sensors without time on the wire share (MetaMotion, WitMotion, Thingy:52).

Their sample times are derived from the nominal rate by one
:class:`~gaitdir.devices._codeccommon.DerivedClock` per driver, kept across restarts so that a
reconnect continues the time line. Some of them also stream whenever a client listens, with no
start/stop command: starting and stopping is switching the data notifications on and off.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from gaitdir.devices._base import GattSensorDriver
from gaitdir.devices._codeccommon import DerivedClock, DerivedClockDecoder
from gaitdir.devices._eventful import EventfulDecoder, EventfulDriverMixin
from gaitdir.errors import DeviceError


class DerivedClockDriverMixin(EventfulDriverMixin):
    """A driver whose decoders take their sample times from one :class:`DerivedClock` per driver."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock: DerivedClock | None = None

    @abc.abstractmethod
    def family_decoder(self, rate_hz: float, clock: DerivedClock) -> DerivedClockDecoder:
        """The family's decoder for one stream.

        Parameters
        ----------
        rate_hz : float
            Configured output rate (Hz).
        clock : DerivedClock
            The driver's clock, to be shared by the decoder.

        Returns
        -------
        DerivedClockDecoder
        """

    @property
    def received_rate_hz(self) -> float | None:
        """Samples per second actually received, by host arrival time (Hz); None before any data.

        The sample times are derived from the nominal rate, so this is the way to see a sensor whose
        real output rate differs from the one asked for.
        """
        return None if self._clock is None else self._clock.received_rate_hz

    def new_decoder(self) -> EventfulDecoder:
        rate_hz = self.effective_sample_rate_hz
        # one clock per driver: a restart continues the time line instead of re-anchoring it
        if self._clock is None or self._clock.sample_rate_hz != rate_hz:
            self._clock = DerivedClock(rate_hz)
        else:
            self._clock.resume()
        return EventfulDecoder(self.family_decoder(rate_hz, self._clock).feed, self)


class NotifyToStreamMixin(GattSensorDriver):
    """A driver for a sensor that streams whenever a client listens to :attr:`stream_uuid`.

    The family's ``start`` ends with :meth:`enable_stream`; :meth:`stop` switches the notifications off.
    """

    #: The characteristic whose notifications carry the samples.
    stream_uuid: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._notifying = False

    def require_stream_characteristic(self, description: str) -> None:
        """Check, after a (re)connect, that the sensor has :attr:`stream_uuid`.

        Parameters
        ----------
        description : str
            What the characteristic is, for the error message.

        Raises
        ------
        DeviceError
            If the connected sensor lacks the characteristic.
        """
        # a new connection has no notifications on
        self._notifying = False
        if self.client.services.get_characteristic(self.stream_uuid) is None:
            raise DeviceError(f"{self.info.name or self.address} lacks the {description}")

    async def enable_stream(self) -> None:
        """Switch the data notifications on (once per connection)."""
        if not self._notifying:
            await self.client.start_notify(self.stream_uuid, self._data_callback(self.stream_uuid))
            self._notifying = True

    async def stop(self) -> None:
        if self.is_connected and self._notifying:
            await self.client.stop_notify(self.stream_uuid)
        self._notifying = False
