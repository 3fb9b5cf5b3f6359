"""Format detection and directory expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitdir.errors import RecordingError
from gaitdir.recordings import FORMATS, detect_format, iter_recordings, read_recording, sample_recording_path


def test_formats() -> None:
    assert FORMATS == ("gaitdir", "ipol", "oxford", "kuhar", "polar-logger")


def test_detects_each_real_format(ipol_dir: Path, oxford_dir: Path, kuhar_fixture: Path) -> None:
    assert detect_format(ipol_dir / "3-2_rf.txt") == "ipol"
    assert detect_format(next(oxford_dir.glob("user1_bag_*.csv"))) == "oxford"
    assert detect_format(kuhar_fixture / "11.Walk" / "1001_L_1.csv") == "kuhar"
    assert detect_format(sample_recording_path()) == "gaitdir"


def test_detection_is_by_content_not_name(ipol_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "whatever.dat"
    renamed.write_bytes((ipol_dir / "1-1_lb.txt").read_bytes())
    assert detect_format(renamed) == "ipol"


def test_explicit_format_is_used(tmp_path: Path, kuhar_fixture: Path) -> None:
    path = tmp_path / "walk.csv"
    path.write_bytes((kuhar_fixture / "11.Walk" / "1001_L_1.csv").read_bytes())
    assert read_recording(path, format="kuhar").gravity_removed
    with pytest.raises(RecordingError):
        read_recording(path, format="oxford")  # 8 fields, not 7


def test_iter_recordings_expands_directories(ipol_dir: Path, tmp_path: Path) -> None:
    ipol_files = list(iter_recordings([ipol_dir]))
    assert len(ipol_files) == len(list(ipol_dir.glob("*.txt")))
    assert ipol_files == sorted(ipol_files) and all(p.suffix == ".txt" for p in ipol_files)
    (tmp_path / "b").mkdir()
    for name in ("a.csv", "b/c.TXT", "notes.md", "a.steps.csv", ".hidden.csv", "x.json"):
        (tmp_path / name).write_text("time_s,acc_x,acc_y,acc_z\n")
    single = tmp_path / "notes.md"
    found = list(iter_recordings([tmp_path, single]))
    assert found == [tmp_path / "a.csv", tmp_path / "b" / "c.TXT", single]
    assert list(iter_recordings(tmp_path / "a.csv")) == [tmp_path / "a.csv"]


def test_iter_recordings_skips_a_data_sets_licence(ipol_dir: Path) -> None:
    found = list(iter_recordings(ipol_dir.parent))
    assert (ipol_dir.parent / "LICENSE.txt") not in found
    assert found == list(iter_recordings(ipol_dir))


def test_iter_recordings_missing_path(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file or directory"):
        list(iter_recordings([tmp_path / "gone"]))
