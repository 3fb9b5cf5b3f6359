"""GridResampler: causal linear resampling, identical for any chunking, gaps not bridged."""

from __future__ import annotations

import numpy as np

from gaitdir.signal import GridResampler


def _run(t: np.ndarray, x: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    r = GridResampler(100.0, 0.5)
    pieces = []
    i = 0
    for n in sizes:
        pieces += r.push(t[i : i + n], x[i : i + n])
        i += n
    ks = np.concatenate([np.arange(p.start_k, p.start_k + len(p.values)) for p in pieces])
    vals = np.concatenate([p.values for p in pieces])
    starts = [p.start_k for p in pieces if p.new_segment]
    return ks, vals, starts


def test_chunking_does_not_change_output_and_gaps_split_segments() -> None:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.004, 0.016, 2000))
    t[1000:] += 1.5  # a gap longer than max_gap_s
    x = np.column_stack([np.sin(3 * t), np.cos(2 * t)])
    whole = _run(t, x, [t.size])
    ones = _run(t, x, [1] * t.size)
    sizes = rng.integers(1, 60, 200).tolist()
    sizes = [s for s in np.diff(np.concatenate([[0], np.minimum(np.cumsum(sizes), t.size)])) if s > 0]
    sizes.append(t.size - sum(sizes))
    ragged = _run(t, x, sizes)
    for other in (ones, ragged):
        np.testing.assert_array_equal(whole[0], other[0])
        np.testing.assert_array_equal(whole[1], other[1])
        assert whole[2] == other[2]
    ks, vals, starts = whole
    assert len(starts) == 2 and starts[0] == 0
    grid_t = t[0] + ks / 100.0
    # nothing produced inside the gap
    assert not np.any((grid_t > t[999]) & (grid_t < t[1000]))
    # linear interpolation of a smooth signal is close to the truth
    np.testing.assert_allclose(vals[:, 0], np.sin(3 * grid_t), atol=5e-4)
