"""KU-HAR trimmed-layout reader, on a layout fixture (KU-HAR itself is not on this machine)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import RecordingError
from gaitdir.recordings import read_kuhar_dataset, read_recording


def test_dataset_reads_both_walking_folders(kuhar_fixture: Path) -> None:
    recordings = read_kuhar_dataset(kuhar_fixture)
    summary = [(r.meta["subject"], r.meta["activity"], str(r.labels[0])) for r in recordings]
    assert summary == [
        ("kuhar-1001", "Walk", "forward"),
        ("kuhar-1002", "Walk", "forward"),
        ("kuhar-1001", "Walk-backwards", "backward"),
    ]
    for rec in recordings:
        assert rec.gravity_removed and rec.meta["placement"] == "waist" and rec.meta["format"] == "kuhar"
        assert rec.n_samples == 200 and len(set(rec.labels)) == 1
        assert rec.nominal_rate_hz == pytest.approx(100.0)
        assert rec.time_s[0] == 0.0
        assert rec.gyr_radps is not None and rec.gyr_radps.shape == (200, 3)
        # gravity removed: the mean acceleration is near zero, not 9.8
        assert np.linalg.norm(rec.acc_mps2.mean(axis=0)) < 1.0


def test_dataset_root_may_be_a_few_levels_above(kuhar_fixture: Path, tmp_path: Path) -> None:
    shutil.copytree(kuhar_fixture, tmp_path / "KU-HAR" / "2.Trimmed_interpolated_data")
    (tmp_path / "KU-HAR" / "2.Trimmed_interpolated_data" / "1.Stand").mkdir()
    assert len(read_kuhar_dataset(tmp_path)) == 3


def test_only_walking_folders_are_read(kuhar_fixture: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(kuhar_fixture, root)
    stand = root / "1.Stand"
    stand.mkdir()
    shutil.copy(root / "11.Walk" / "1001_L_1.csv", stand / "1001_A_1.csv")
    assert len(read_kuhar_dataset(root)) == 3
    # A single file of another class reads, labelled "other".
    assert set(read_recording(stand / "1001_A_1.csv").labels) == {"other"}


def test_single_file_is_detected(kuhar_fixture: Path) -> None:
    rec = read_recording(kuhar_fixture / "12.Walk-backwards" / "1001_M_1.csv")
    assert rec.meta["format"] == "kuhar" and set(rec.labels) == {"backward"}


def test_no_walking_folders(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"11\.Walk"):
        read_kuhar_dataset(tmp_path)
    with pytest.raises(RecordingError, match="no such directory"):
        read_kuhar_dataset(tmp_path / "absent")


def test_bad_cell_in_a_dataset_file(kuhar_fixture: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(kuhar_fixture, root)
    path = root / "11.Walk" / "1002_L_1.csv"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace(",", ",,", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as info:
        read_kuhar_dataset(root)
    assert info.value.line == 5 and "1002_L_1.csv" in str(info.value)


def test_time_column_in_seconds_is_recognised(kuhar_fixture: Path, tmp_path: Path) -> None:
    folder = tmp_path / "11.Walk"
    folder.mkdir()
    lines = (kuhar_fixture / "11.Walk" / "1001_L_1.csv").read_text().splitlines()
    in_seconds = []
    for line in lines:
        fields = line.split(",")
        fields[0] = fields[4] = f"{float(fields[0]) / 1000:.2f}"
        in_seconds.append(",".join(fields))
    (folder / "1001_L_1.csv").write_text("\n".join(in_seconds) + "\n")
    rec = read_recording(folder / "1001_L_1.csv")
    assert rec.nominal_rate_hz == pytest.approx(100.0) and rec.duration_s == pytest.approx(1.99)
