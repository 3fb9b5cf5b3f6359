"""Causal peak picking on a stream: a sample is a peak once ``confirm`` samples after it are known."""

from __future__ import annotations

import numpy as np


def _running_maxima(ext: np.ndarray, left: int, right: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positions that have full windows, and the running maxima over the windows around each sample.

    Parameters
    ----------
    ext : ndarray, shape (n,)
        Signal; ``-inf`` for samples that do not exist.
    left, right : int
        Window lengths (samples), both ≥ 1.

    Returns
    -------
    positions : ndarray of int
        ``[left, n - right)``; empty when ``n < left + right + 1``.
    trailing : ndarray, shape (n,)
        ``trailing[j]`` = maximum of ``ext[j - left + 1 : j + 1]`` (``-inf`` outside the signal).
    leading : ndarray, shape (n,)
        ``leading[j]`` = maximum of ``ext[j : j + right]`` (``-inf`` outside the signal).
    """
    n = ext.shape[0]
    if n < left + right + 1:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty
    # imported here, not with the module (see gaitdir.signal._filters)
    from scipy.ndimage import maximum_filter1d

    trailing = maximum_filter1d(ext, size=left, origin=(left - 1) // 2, mode="constant", cval=-np.inf)
    leading = maximum_filter1d(ext, size=right, origin=-(right // 2), mode="constant", cval=-np.inf)
    return np.arange(left, n - right), trailing, leading


def window_peaks(ext: np.ndarray, left: int, right: int) -> np.ndarray:
    """Indices ``i`` in ``[left, len(ext) - right)`` where ``ext[i]`` is a strict maximum of the ``left``
    samples before it and at least the maximum of the ``right`` samples after it.

    Parameters
    ----------
    ext : ndarray, shape (n,)
        Signal; use ``-inf`` for samples that do not exist (before a segment start, after its end).
    left, right : int
        Window lengths (samples), both ≥ 1.

    Returns
    -------
    ndarray of int
        Peak positions in ``ext``.
    """
    i, trailing, leading = _running_maxima(ext, left, right)
    centre = ext[i]
    ok = (centre > trailing[i - 1]) & (centre >= leading[i + 1]) & np.isfinite(centre)
    return i[ok]


def stance_onsets(
    ext: np.ndarray, left: int, right: int, still_below: float, moving_above: float
) -> np.ndarray:
    """Indices ``i`` in ``[left, len(ext) - right)`` where a still phase starts after movement.

    ``i`` qualifies when ``ext`` stays below ``still_below`` over ``[i, i + right)``, did not over
    ``[i - 1, i - 1 + right)``, and reached ``moving_above`` within the ``left`` samples before ``i``:
    the moment a foot comes to rest after its swing.

    Parameters
    ----------
    ext : ndarray, shape (n,)
        Activity signal (e.g. the deviation of the acceleration norm from 1 g); ``-inf`` where absent.
    left, right : int
        Look-back for the swing and look-ahead for the stillness (samples), both ≥ 1.
    still_below, moving_above : float
        Thresholds on ``ext``.

    Returns
    -------
    ndarray of int
        Onset positions in ``ext``.
    """
    i, trailing, leading = _running_maxima(ext, left, right)
    still = leading[i] < still_below
    was_moving = leading[i - 1] >= still_below
    swing = trailing[i - 1] >= moving_above
    ok = still & was_moving & swing & np.isfinite(ext[i])
    return i[ok]
