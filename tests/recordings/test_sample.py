"""The bundled sample recording: present, small, real walking, attributed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitdir.recordings import read_recording, sample_recording_path

REPO = Path(__file__).resolve().parents[2]


def test_sample_reads_and_is_attributed() -> None:
    path = sample_recording_path()
    assert path.is_file() and path.stat().st_size < 300_000
    rec = read_recording(path)
    assert rec.meta["format"] == "gaitdir" and rec.meta["placement"] == "chest"
    assert "CC BY 4.0" in rec.meta["licence"] and "Oxford-step-counter" in rec.meta["origin"]
    assert 60 <= rec.duration_s <= 90
    assert rec.nominal_rate_hz == pytest.approx(100.0, abs=0.5)
    assert np.median(np.linalg.norm(rec.acc_mps2, axis=1)) == pytest.approx(9.8, abs=1.0)
    assert int(rec.meta["ground_truth_steps"]) > 100


def test_datasets_link_points_at_the_packaged_sample() -> None:
    link = REPO / "datasets" / "sample_walk.csv"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == sample_recording_path().resolve()


def test_sample_matches_its_source(oxford_dir: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = read_recording(next(oxford_dir.glob("user1_neckpouch_*.csv")))
    sample = read_recording(sample_recording_path())
    start = np.searchsorted(source.time_s, 20.0)
    np.testing.assert_allclose(sample.acc_mps2[:100], source.acc_mps2[start : start + 100], atol=6e-5)
    steps = source.reference_steps_s
    assert int(sample.meta["ground_truth_steps"]) == np.count_nonzero((steps >= 20.0) & (steps < 95.0))
