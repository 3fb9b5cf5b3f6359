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
        Expected without NaN.
    left, right : int
        Window lengths (samples), both ≥ 1.

    Returns
    -------
    ndarray of int
        Peak positions in ``ext``, ascending.
    """
    n = ext.shape[0]
    if n < left + right + 1:
        return np.zeros(0, dtype=np.int64)
    # A peak is above the sample before it and not below the one after it; the windows are then
    # checked at those few candidates only (a walking signal has a handful per second), not at every
    # sample as running maxima over the whole signal would.
    core = ext[left : n - right]
    cand = np.flatnonzero((core > ext[left - 1 : n - right - 1]) & (core >= ext[left + 1 : n - right + 1]))
    if cand.size == 0:
        return cand
    cand += left
    # One reduceat over [i - left, i), [i, i + 1), [i + 1, i + right + 1), [i + right + 1, next start)
    # per candidate: the first and third are the windows (reduceat takes each bound pair on its own,
    # so windows may overlap; the fourth pair is unused). The last end may be n, which reduceat
    # cannot take: the window then runs to the end of the array, which is the same.
    bounds = np.empty(4 * cand.size, dtype=np.intp)
    bounds[0::4] = cand - left
    bounds[1::4] = cand
    bounds[2::4] = cand + 1
    bounds[3::4] = cand + (right + 1)
    maxima = np.maximum.reduceat(ext, bounds if bounds[-1] < n else bounds[:-1])
    centre = ext[cand]
    ok = (centre > maxima[0::4]) & (centre >= maxima[2::4]) & np.isfinite(centre)
    return cand[ok]


def stance_onsets(
    ext: np.ndarray, left: int, right: int, still_below: float | np.ndarray, moving_above: float
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
    below = np.asarray(still_below, dtype=float)
    if below.ndim:
        still = leading[i] < below[i]
        was_moving = leading[i - 1] >= below[i - 1]
    else:
        still = leading[i] < below
        was_moving = leading[i - 1] >= below
    swing = trailing[i - 1] >= moving_above
    ok = still & was_moving & swing & np.isfinite(ext[i])
    return i[ok]


def noise_floor(ext: np.ndarray, window: int, span: int) -> np.ndarray:
    """At each sample, the quietest ``window``-sample stretch (its maximum) that ended within the ``span``
    samples before it: a foot's stance noise, for :func:`stance_onsets`'s threshold.

    Parameters
    ----------
    ext : ndarray, shape (n,)
        Activity signal; ``-inf`` where absent.
    window, span : int
        Stretch length and how far back stretches are looked for (samples), both ≥ 1.

    Returns
    -------
    ndarray, shape (n,)
        The floor; ``-inf`` before ``span`` samples of history (and wherever the stretches hold only
        absent samples).
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    # stretch maximum over [j - window + 1, j], then the smallest of those over [i - span, i - 1]
    stretch = maximum_filter1d(ext, size=window, origin=(window - 1) // 2, mode="constant", cval=-np.inf)
    floor = minimum_filter1d(stretch, size=span, origin=(span - 1) // 2, mode="constant", cval=-np.inf)
    return np.concatenate([[-np.inf], floor[:-1]])
