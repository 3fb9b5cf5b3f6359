"""Causal filters that carry their state across chunks (``lfilter``/``sosfilt`` with ``zi``).

``scipy.signal`` is imported where it is used, not with this module: the import takes over a second,
and a command line run can then do it in a background thread while it parses its input
(:func:`gaitdir.signal.preload`).
"""

from __future__ import annotations

import numpy as np


class StreamingSos:
    """A causal IIR filter (second-order sections) applied chunk by chunk along axis 0.

    The state is primed with the first sample seen (steady-state response to a constant input), so the
    start of a stream does not ring; feeding the same samples in any chunking gives identical output.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Filter coefficients (see :func:`scipy.signal.butter` with ``output="sos"``).
    """

    def __init__(self, sos: np.ndarray) -> None:
        from scipy import signal

        self.sos = sos
        self._zi_unit = signal.sosfilt_zi(sos)  # (n_sections, 2)
        self._zi: np.ndarray | None = None

    def reset(self) -> StreamingSos:
        self._zi = None
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter the next chunk ``x`` (shape (m,) or (m, c)) and return the output of the same shape."""
        if x.shape[0] == 0:
            return x.astype(float, copy=True)
        if self._zi is None:
            first = x[0]
            # (n_sections, 2, *channel_shape): steady state for a constant input equal to the first sample
            self._zi = self._zi_unit.reshape(self._zi_unit.shape + (1,) * np.ndim(first)) * first
        from scipy import signal

        y, self._zi = signal.sosfilt(self.sos, x, axis=0, zi=self._zi)
        return y


class StreamingEma:
    """Causal first-order exponential moving average along axis 0, chunk by chunk.

    Parameters
    ----------
    time_constant_s : float
        Time constant (s).
    sample_rate_hz : float
        Sample rate of the input (Hz).
    """

    def __init__(self, time_constant_s: float, sample_rate_hz: float) -> None:
        self.time_constant_s = time_constant_s
        self.sample_rate_hz = sample_rate_hz
        self._alpha = 1.0 - np.exp(-1.0 / (time_constant_s * sample_rate_hz))
        self._zi: np.ndarray | None = None

    def reset(self) -> StreamingEma:
        self._zi = None
        return self

    def __call__(self, x: np.ndarray, initial: np.ndarray | float | None = None) -> np.ndarray:
        """Smooth the next chunk; ``initial`` seeds the average at the start of a stream (default: x[0])."""
        if x.shape[0] == 0:
            return x.astype(float, copy=True)
        b = np.array([self._alpha])
        a = np.array([1.0, self._alpha - 1.0])
        if self._zi is None:
            start = x[0] if initial is None else np.broadcast_to(np.asarray(initial, float), x[0].shape)
            self._zi = (np.asarray(start, float) * (1.0 - self._alpha))[np.newaxis, ...]
        from scipy import signal

        y, self._zi = signal.lfilter(b, a, x, axis=0, zi=self._zi)
        return y


def butter_sos(
    order: int, cutoff_hz: float | tuple[float, float], sample_rate_hz: float, btype: str
) -> np.ndarray:
    """Butterworth coefficients as second-order sections, cut-offs in Hz."""
    from scipy import signal

    return signal.butter(order, cutoff_hz, btype=btype, fs=sample_rate_hz, output="sos")


def group_delay_s(sos: np.ndarray, frequency_hz: float, sample_rate_hz: float) -> float:
    """Group delay (s) of a filter at one frequency: how far back detected events are moved."""
    from scipy import signal

    b, a = signal.sos2tf(sos)
    _, gd = signal.group_delay((b, a), w=[frequency_hz], fs=sample_rate_hz)
    return float(gd[0]) / sample_rate_hz


def preload() -> None:
    """Import the scientific modules the signal stage computes with (a second or more on first use).

    Safe to call from a background thread while the main thread does unrelated work (e.g. parsing a
    file): a module that the main thread then needs is waited for, not imported twice.
    """
    import scipy.ndimage
    import scipy.signal  # noqa: F401
