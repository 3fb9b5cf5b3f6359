"""What the sensor codecs share: frame errors, derived sample times, wrap-around clocks, int16 scaling.

MetaMotion, WitMotion and Thingy:52 stream samples without any time information; Movesense and the
gaitdir open profile send wrapping integer clocks. The helpers here turn both into a continuous,
increasing ``sensor_time_s`` as :class:`~gaitdir.devices.ImuBatch` requires. They are pure (no I/O):
the host arrival time is passed in by the caller.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from gaitdir.devices._base import STANDARD_GRAVITY_MPS2
from gaitdir.errors import DeviceError

__all__ = [
    "STANDARD_GRAVITY_MPS2",
    "DerivedClock",
    "DerivedClockDecoder",
    "FrameError",
    "WrapUnwrapper",
    "to_int16_counts",
]


class FrameError(DeviceError, ValueError):
    """A notification or frame does not follow its protocol (short, bad header, out-of-range field).

    Drivers count and skip such frames (a ``MALFORMED_FRAME`` stream event); they never end the stream.
    """


def to_int16_counts(values: np.ndarray, counts_per_unit: float) -> np.ndarray:
    """Scale physical values to int16 counts, rounding and saturating as a sensor's ADC does.

    Parameters
    ----------
    values : ndarray
        Values in the unit that ``counts_per_unit`` refers to (g, °/s, ...).
    counts_per_unit : float
        Counts per unit (LSB/g, LSB/(°/s), ...).

    Returns
    -------
    ndarray of int16
    """
    scaled = np.rint(np.asarray(values, dtype=np.float64) * counts_per_unit)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


class DerivedClock:
    """Per-sample times from a nominal rate, anchored on host arrival time.

    The first batch is anchored so that its last sample carries the host arrival time (a notification
    can only arrive after its last sample was measured). Later samples follow at exactly
    ``1 / sample_rate_hz``: counting samples keeps the spacing exact and immune to notification
    jitter, and it stays right when a recording is replayed faster than real time. After
    :meth:`resume` (a restart or reconnect) the host time that passed while nothing arrived is added,
    so a gap in the stream stays a gap in time instead of being silently closed.

    Parameters
    ----------
    sample_rate_hz : float
        Nominal output rate of the sensor (Hz), as configured.
    """

    def __init__(self, sample_rate_hz: float) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._next_s: float | None = None
        self._last_host_s: float | None = None
        self._resumed = False
        self._n_samples = 0
        self._first_host_s: float | None = None

    def reset(self) -> DerivedClock:
        """Forget all history: the next batch is anchored afresh on its arrival time."""
        self._next_s = None
        self._last_host_s = None
        self._resumed = False
        self._n_samples = 0
        self._first_host_s = None
        return self

    def resume(self) -> DerivedClock:
        """Mark a restart: the next batch is placed after the host time that elapsed meanwhile."""
        self._resumed = True
        return self

    def times(self, n_samples: int, host_time_s: float) -> np.ndarray:
        """Times (s) of the next ``n_samples`` samples, which arrived at ``host_time_s``.

        Parameters
        ----------
        n_samples : int
            Number of samples in the batch just received.
        host_time_s : float
            Host monotonic time (s) at which the batch arrived.

        Returns
        -------
        ndarray, shape (n_samples,)
            Strictly increasing sample times (s).
        """
        period_s = 1.0 / self.sample_rate_hz
        if self._next_s is None:
            first_s = host_time_s - (n_samples - 1) * period_s
            self._first_host_s = host_time_s
        elif self._resumed and self._last_host_s is not None:
            # host time that passed without data, minus what this batch itself spans
            silent_s = host_time_s - self._last_host_s - (n_samples - 1) * period_s
            first_s = max(self._next_s, self._next_s - period_s + silent_s)
        else:
            first_s = self._next_s
        self._resumed = False
        out = first_s + np.arange(n_samples, dtype=np.float64) * period_s
        self._next_s = float(out[-1] + period_s) if n_samples else first_s
        self._last_host_s = host_time_s
        self._n_samples += n_samples
        return out

    @property
    def received_rate_hz(self) -> float | None:
        """Rate actually received (Hz) by host arrival time, once more than one batch arrived."""
        if self._first_host_s is None or self._last_host_s is None:
            return None
        span_s = self._last_host_s - self._first_host_s
        return self._n_samples / span_s if span_s > 0 else None


class DerivedClockDecoder:
    """Base of the decoders whose sample times come from a :class:`DerivedClock` (no time on the wire).

    Subclasses are dataclasses with the fields ``rate_hz`` (the configured output rate, Hz) and
    ``clock`` (a :class:`DerivedClock` or None); they decode in ``feed`` and take sample times from
    ``self._clock``. A clock passed in is shared across restarts, so that one time line is kept
    (see :meth:`DerivedClock.resume`); without one the decoder makes its own.
    """

    rate_hz: float
    clock: DerivedClock | None

    def __post_init__(self) -> None:
        self._clock = self.clock if self.clock is not None else DerivedClock(self.rate_hz)

    def reset(self) -> Self:
        """Forget all history: the next batch is anchored afresh on its arrival time."""
        self._clock.reset()
        return self

    def resume(self) -> Self:
        """Mark a restart: the next batch is placed after the host time that elapsed meanwhile."""
        self._clock.resume()
        return self

    @property
    def received_rate_hz(self) -> float | None:
        """Rate actually received (Hz) by host arrival time; None before a second batch."""
        return self._clock.received_rate_hz


class WrapUnwrapper:
    """Unwraps an unsigned wrapping counter (a sensor clock or sequence number) into an increasing int.

    Parameters
    ----------
    modulus : int
        The counter wraps to 0 at this value (``2**32`` for a uint32 clock).
    """

    def __init__(self, modulus: int) -> None:
        self.modulus = modulus
        self._last_raw: int | None = None
        self._offset = 0

    def reset(self) -> WrapUnwrapper:
        """Forget history."""
        self._last_raw = None
        self._offset = 0
        return self

    def unwrap(self, raw: int) -> int:
        """The unwrapped value of ``raw``: a step back of more than half the range counts as a wrap."""
        if self._last_raw is not None and raw < self._last_raw and self._last_raw - raw > self.modulus // 2:
            self._offset += self.modulus
        self._last_raw = raw
        return raw + self._offset
