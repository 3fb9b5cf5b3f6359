"""Oxford step-counter reader on the real files in ../shared/datasets."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import RecordingError
from gaitdir.recordings import read_recording

PLACEMENTS = {
    "armband": "arm",
    "frontpocket": "pocket",
    "backpocket": "pocket",
    "hand": "hand",
    "neckpouch": "chest",
    "bag": "bag",
}


def read_quietly(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_recording(path)


@pytest.mark.parametrize("position", sorted(PLACEMENTS))
def test_each_position(oxford_dir: Path, position: str) -> None:
    (path,) = oxford_dir.glob(f"user1_{position}_*.csv")
    raw = np.loadtxt(path, delimiter=",")
    rec = read_quietly(path)
    assert rec.meta["format"] == "oxford"
    assert rec.meta["placement"] == PLACEMENTS[position]
    assert rec.meta["subject"] == "oxford-user1"
    assert rec.time_s[0] == 0.0 and np.all(np.diff(rec.time_s) > 0)
    assert rec.nominal_rate_hz == pytest.approx(100.0, abs=0.5)
    assert 180 < rec.duration_s < 220
    # one reference step per increment of the ground-truth count (column 6)
    assert len(rec.reference_steps_s) == int(raw[-1, 5] - raw[0, 5])
    assert 300 < len(rec.reference_steps_s) < 400
    assert np.all(np.diff(rec.reference_steps_s) >= 0)
    assert rec.reference_window_s == (0.0, rec.time_s[-1])
    assert np.median(np.linalg.norm(rec.acc_mps2, axis=1)) == pytest.approx(9.8, abs=1.0)
    # samples: all rows, less the all-zero first row and the exact duplicates
    zero_first = int(not raw[0, 1:4].any())
    duplicates = int(np.sum(np.diff(raw[:, 0]) == 0))
    assert rec.n_samples == raw.shape[0] - zero_first - duplicates


def test_all_zero_first_row_is_dropped(oxford_dir: Path) -> None:
    (path,) = oxford_dir.glob("user1_hand_*.csv")
    raw = np.loadtxt(path, delimiter=",", max_rows=2)
    rec = read_quietly(path)
    np.testing.assert_allclose(rec.acc_mps2[0], raw[1, 1:4])


def test_exact_duplicates_are_dropped_with_a_warning(oxford_dir: Path) -> None:
    (path,) = oxford_dir.glob("user1_neckpouch_*.csv")
    with pytest.warns(UserWarning, match="dropped 2 exact duplicate row"):
        read_recording(path)


def test_time_going_backwards_names_the_line(oxford_dir: Path, tmp_path: Path) -> None:
    (path,) = oxford_dir.glob("user1_bag_*.csv")
    lines = path.read_text().splitlines()[:200]
    lines[150], lines[151] = lines[151], lines[150]
    bad = tmp_path / path.name
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as info:
        read_recording(bad)
    assert info.value.line == 152 and "goes backwards" in str(info.value)
    assert info.value.column == "1 (timestamp ns)"
