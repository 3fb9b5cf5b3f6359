"""IPOL healthy-gait reader on the real files in ../shared/datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import RecordingError
from gaitdir.recordings import read_recording


def heel_strikes(ipol_dir: Path, trial: str, foot: str) -> list[int]:
    info = json.loads((ipol_dir / f"{trial}.json").read_text())
    return [event[1] for event in info[f"{foot}FootEvents"]]


def n_data_rows(path: Path) -> int:
    return sum(1 for _ in path.open()) - 2


def test_lower_back_has_both_feet_time_base_labels_and_meta(ipol_dir: Path) -> None:
    path = ipol_dir / "1-1_lb.txt"
    rec = read_recording(path)
    info = json.loads((ipol_dir / "1-1.json").read_text())
    assert rec.meta["format"] == "ipol"
    assert rec.meta["placement"] == "lower_back" and "side" not in rec.meta
    assert rec.meta["subject"] == "ipol-1" and rec.meta["reference"] == "both_feet"
    assert rec.n_samples == n_data_rows(path)
    # time base = row / 100 Hz, whatever PacketCounter says
    np.testing.assert_allclose(rec.time_s, np.arange(rec.n_samples) / 100.0)
    assert rec.nominal_rate_hz == pytest.approx(100.0)
    expected = sorted(heel_strikes(ipol_dir, "1-1", "Left") + heel_strikes(ipol_dir, "1-1", "Right"))
    np.testing.assert_allclose(rec.reference_steps_s, np.array(expected) / 100.0)
    assert len(rec.reference_steps_s) == 35
    start, end = info["TrialBoundaries"]
    assert rec.reference_window_s == (start / 100.0, end / 100.0)
    assert set(rec.labels[start : end + 1]) == {"forward"}
    assert set(rec.labels[:start]) == {"other"} and set(rec.labels[end + 1 :]) == {"other"}
    u0, u1 = info["UTurnBoundaries"]
    assert rec.meta["uturn_s"] == f"{u0 / 100:g},{u1 / 100:g}"
    # units: m/s² with gravity, gyro in rad/s
    assert np.median(np.linalg.norm(rec.acc_mps2, axis=1)) == pytest.approx(9.81, abs=0.3)
    assert rec.gyr_radps is not None and np.abs(rec.gyr_radps).max() < 20
    assert not rec.gravity_removed


@pytest.mark.parametrize(("site", "foot", "side"), [("lf", "Left", "left"), ("rf", "Right", "right")])
def test_foot_sensor_gets_own_foot_only(ipol_dir: Path, site: str, foot: str, side: str) -> None:
    rec = read_recording(ipol_dir / f"2-3_{site}.txt")
    assert (
        rec.meta["placement"] == "foot" and rec.meta["side"] == side and rec.meta["reference"] == "own_foot"
    )
    own = [r for r in heel_strikes(ipol_dir, "2-3", foot) if r < rec.n_samples]
    np.testing.assert_allclose(rec.reference_steps_s, np.array(sorted(own)) / 100.0)


def test_annotations_past_the_file_end_are_left_out(ipol_dir: Path) -> None:
    # 8-5: the right-foot annotations run past the end of the lower-back file.
    rec = read_recording(ipol_dir / "8-5_lb.txt")
    every = heel_strikes(ipol_dir, "8-5", "Left") + heel_strikes(ipol_dir, "8-5", "Right")
    assert len(rec.reference_steps_s) == sum(1 for r in every if r < rec.n_samples) < len(every)
    assert rec.reference_steps_s.max() <= rec.time_s[-1]


def test_reference_step_total_over_subjects_1_to_3(ipol_dir: Path) -> None:
    total = 0
    expected = 0
    for path in sorted(ipol_dir.glob("[123]-*_lb.txt")):
        rec = read_recording(path)
        total += len(rec.reference_steps_s)
        trial = path.name.split("_")[0]
        n = rec.n_samples
        expected += sum(
            r < n for r in heel_strikes(ipol_dir, trial, "Left") + heel_strikes(ipol_dir, trial, "Right")
        )
    assert total == expected > 500


def test_corrupt_cell_names_line_and_column(ipol_dir: Path, tmp_path: Path) -> None:
    shutil.copy(ipol_dir / "1-1.json", tmp_path / "1-1.json")
    lines = (ipol_dir / "1-1_lb.txt").read_text().splitlines()
    fields = lines[99].split("\t")
    fields[2] = "x1"
    lines[99] = "\t".join(fields)
    (tmp_path / "1-1_lb.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as info:
        read_recording(tmp_path / "1-1_lb.txt")
    assert (info.value.line, info.value.column) == (100, "Acc_Y")


def test_missing_json_reads_without_annotations(ipol_dir: Path, tmp_path: Path) -> None:
    shutil.copy(ipol_dir / "1-1_lf.txt", tmp_path / "1-1_lf.txt")
    with pytest.warns(UserWarning, match="no 1-1.json"):
        rec = read_recording(tmp_path / "1-1_lf.txt")
    assert rec.reference_steps_s is None and rec.meta["placement"] == "foot"
