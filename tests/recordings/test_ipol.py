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
    # time base = PacketCounter / 100 Hz: 1-1 drops 124 packets, so the clock runs past row / 100
    counter = np.loadtxt(path, skiprows=2, usecols=0)
    np.testing.assert_allclose(rec.time_s, (counter - counter[0]) / 100.0)
    assert rec.time_s[-1] > (rec.n_samples - 1) / 100.0 + 1.0
    assert rec.meta["time_base"] == "counter"
    assert rec.nominal_rate_hz == pytest.approx(100.0)
    expected = sorted(heel_strikes(ipol_dir, "1-1", "Left") + heel_strikes(ipol_dir, "1-1", "Right"))
    np.testing.assert_allclose(rec.reference_steps_s, np.array(expected) / 100.0)
    assert len(rec.reference_steps_s) == 35
    start, end = info["TrialBoundaries"]
    assert rec.reference_window_s == (start / 100.0, end / 100.0)
    inside = (rec.time_s >= start / 100.0) & (rec.time_s <= end / 100.0)
    assert set(rec.labels[inside]) == {"forward"} and set(rec.labels[~inside]) == {"other"}
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
    own = [r for r in heel_strikes(ipol_dir, "2-3", foot) if r / 100.0 <= rec.time_s[-1]]
    np.testing.assert_allclose(rec.reference_steps_s, np.array(sorted(own)) / 100.0)


def test_every_annotation_falls_inside_its_file_on_the_counter_clock(ipol_dir: Path) -> None:
    # 8-5: by row, the right-foot annotations run past the end of the lower-back file; on the
    # PacketCounter clock every one of them lies inside it (evidence for that time base).
    from gaitdir.recordings import _ipol

    every = heel_strikes(ipol_dir, "8-5", "Left") + heel_strikes(ipol_dir, "8-5", "Right")
    rec = read_recording(ipol_dir / "8-5_lb.txt")
    assert len(rec.reference_steps_s) == len(every)
    assert rec.reference_steps_s.max() <= rec.time_s[-1]
    by_row = _ipol.read(ipol_dir / "8-5_lb.txt", time_base="row")
    assert len(by_row.reference_steps_s) == sum(1 for r in every if r < by_row.n_samples) < len(every)


def test_reference_step_total_over_subjects_1_to_3(ipol_dir: Path) -> None:
    total = 0
    expected = 0
    for path in sorted(ipol_dir.glob("[123]-*_lb.txt")):
        rec = read_recording(path)
        total += len(rec.reference_steps_s)
        trial = path.name.split("_")[0]
        expected += len(heel_strikes(ipol_dir, trial, "Left") + heel_strikes(ipol_dir, trial, "Right"))
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


def test_row_time_base_is_available_for_comparison(ipol_dir: Path) -> None:
    from gaitdir.recordings import _ipol

    path = ipol_dir / "1-1_lb.txt"
    rec = _ipol.read(path, time_base="row")
    np.testing.assert_allclose(rec.time_s, np.arange(rec.n_samples) / 100.0)
    assert rec.meta["time_base"] == "row"


def test_repeated_packet_counter_rows_are_dropped(ipol_dir: Path) -> None:
    # 11-1 repeats PacketCounter 308 once in each of its three files.
    rec = read_recording(ipol_dir / "11-1_lb.txt")
    assert rec.n_samples == n_data_rows(ipol_dir / "11-1_lb.txt") - 1
    assert np.all(np.diff(rec.time_s) > 0)


def test_lower_back_front_is_minus_z_in_every_trial(ipol_dir: Path) -> None:
    """The reader's ``forward_axis: -z`` for the lower back holds for every trial here: along -z, AP
    acceleration leads vertical acceleration by a quarter step (the trunk's pendular exchange, which
    points along the direction of travel, forward in every IPOL trial)."""
    from gaitdir.features import step_features, travel_index
    from gaitdir.model import ap_sign_from_axis, parse_forward_axis
    from gaitdir.signal import detect_steps

    paths = sorted(ipol_dir.glob("*_lb.txt"))
    assert len(paths) >= 70
    for path in paths:
        rec = read_recording(path)
        front = parse_forward_axis(rec.meta["forward_axis"])
        swings = []
        for batch in detect_steps(rec, placement="lower_back"):
            if len(batch):
                sign = ap_sign_from_axis(front, batch)
                assert sign != 0.0, path.name
                swings.append(travel_index(step_features(batch, ap_sign=sign)))
        assert float(np.median(np.concatenate(swings))) > 0, path.name
