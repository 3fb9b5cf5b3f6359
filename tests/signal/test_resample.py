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


def _pieces(rate_hz: float, max_gap_s: float, t: np.ndarray, x: np.ndarray, sizes: list[int]) -> list:
    r = GridResampler(rate_hz, max_gap_s)
    out, i = [], 0
    for n in sizes:
        out += [(p.start_k, p.new_segment, p.values.copy()) for p in r.push(t[i : i + n], x[i : i + n])]
        i += n
    return out


def test_samples_on_the_grid_pass_through_unchanged_and_coarse_grids_still_see_gaps() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 3))
    # 100 Hz samples exactly on the grid (as a file written at a fixed rate), then a gap, then more:
    # the values come out untouched in the chunking's pieces; after the gap a new segment starts (at
    # the first grid point past the first sample after it).
    t = np.arange(600) / 100.0
    t[400:] += 2.0
    pieces = _pieces(100.0, 0.5, t, x, [150, 250, 200])
    assert [(k, new) for k, new, _ in pieces] == [(0, True), (150, False), (601, True)]
    np.testing.assert_array_equal(np.concatenate([v for _, _, v in pieces[:2]]), x[:400])
    np.testing.assert_array_equal(pieces[2][2], x[401:])
    # A coarse grid (2 Hz) with max_gap_s 0.6 s: on-grid samples 0.5 s apart are still bridged.
    coarse = _pieces(2.0, 0.6, np.arange(8) / 2.0, x[:8], [3, 5])
    assert [(k, new) for k, new, _ in coarse] == [(0, True), (3, False)]
    np.testing.assert_array_equal(np.concatenate([v for _, _, v in coarse]), x[:8])
    # A 1 s grid step with max_gap_s 0.5 s: every interval is a gap, even on the grid; nothing bridges one.
    gappy = _pieces(1.0, 0.5, np.arange(5, dtype=float), x[:5], [5])
    assert all(len(v) <= 1 for _, _, v in gappy)
