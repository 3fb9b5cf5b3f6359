"""Peak picking on a stream: the candidate search gives exactly the peaks of the definition."""

from __future__ import annotations

import numpy as np
import pytest

from gaitdir.signal._peaks import noise_floor, window_peaks


def _peaks_by_definition(ext: np.ndarray, left: int, right: int) -> np.ndarray:
    """Every position tested against its own windows, one by one."""
    found = [
        i
        for i in range(left, ext.shape[0] - right)
        if np.isfinite(ext[i])
        and ext[i] > ext[i - left : i].max()
        and ext[i] >= ext[i + 1 : i + right + 1].max()
    ]
    return np.asarray(found, dtype=np.int64)


def _walking_like(n: int, seed: int) -> np.ndarray:
    """Smoothed noise: a few maxima per 100 samples, as a band-passed step signal has."""
    rng = np.random.default_rng(seed)
    return np.convolve(rng.standard_normal(n + 20), np.hanning(21), mode="valid")[:n]


@pytest.mark.parametrize(("left", "right"), [(1, 1), (2, 1), (1, 3), (30, 15), (30, 30), (7, 40)])
def test_window_peaks_match_the_definition(left: int, right: int) -> None:
    for seed in range(3):
        x = _walking_like(3000, seed)
        x[:5] = -np.inf  # before a segment's start
        x[-9:] = -np.inf  # after its end
        np.testing.assert_array_equal(window_peaks(x, left, right), _peaks_by_definition(x, left, right))
        # ties and plateaus: the first sample of a plateau can be a peak, the later ones cannot
        steps = np.round(x * 2.0) / 2.0
        np.testing.assert_array_equal(
            window_peaks(steps, left, right), _peaks_by_definition(steps, left, right)
        )


def test_window_peaks_at_the_ends_and_on_short_input() -> None:
    left, right = 4, 3
    # the only peak is the last position with a full window after it
    x = np.arange(12.0)
    x[-right:] = -1.0
    assert window_peaks(x, left, right).tolist() == [12 - right - 1]
    assert window_peaks(x, left, right).tolist() == _peaks_by_definition(x, left, right).tolist()
    # the first position with a full window before it
    y = np.zeros(12)
    y[left] = 1.0
    assert window_peaks(y, left, right).tolist() == [left]
    # too short for any full window, exactly long enough, flat, and all absent
    assert window_peaks(np.ones(left + right), left, right).size == 0
    z = np.zeros(left + right + 1)
    z[left] = 1.0
    assert window_peaks(z, left, right).tolist() == [left]
    assert window_peaks(np.ones(50), left, right).size == 0
    assert window_peaks(np.full(50, -np.inf), left, right).size == 0


@pytest.mark.parametrize(("window", "span"), [(1, 1), (15, 150), (3, 7)])
def test_noise_floor_matches_the_definition(window: int, span: int) -> None:
    x = np.abs(_walking_like(800, 4))
    x[:6] = -np.inf  # before a segment's start
    expected = np.full(x.shape, -np.inf)
    for i in range(span, x.shape[0]):
        # the stretches [j - window + 1, j] ending in [i - span, i - 1]; none before a full span
        maxima = [x[max(j - window + 1, 0) : j + 1].max() for j in range(i - span, i)]
        expected[i] = min(maxima)
    np.testing.assert_array_equal(noise_floor(x, window, span), expected)
