"""Polar Sensor Logger ACC exports, built from real IPOL lower-back samples converted to mg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import RecordingError
from gaitdir.recordings import read_recording

HEADER = "Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]"
NS_2026 = 828_000_000_000_000_000  # ~26 years after the Polar epoch 2000-01-01, in ns


def make_export(path: Path, ipol_dir: Path, header: str = HEADER, rows: int = 400) -> np.ndarray:
    source = read_recording(ipol_dir / "4-2_lb.txt")
    acc_mg = np.round(source.acc_mps2[:rows] / 9.80665e-3).astype(int)
    lines = [header]
    for i, (x, y, z) in enumerate(acc_mg):
        # 52 Hz-like spacing with a non-integer ns step, as the sensor reports
        lines.append(f"2026-03-29T10:00:{i // 52:02d}.{i % 52:03d};{NS_2026 + i * 19_230_769};{x};{y};{z}")
    path.write_text("\n".join(lines) + "\n")
    return acc_mg


def test_reads_sensor_time_and_converts_mg(tmp_path: Path, ipol_dir: Path) -> None:
    path = tmp_path / "Polar_H10_A1B2C3D4_20260329_100000_ACC.txt"
    acc_mg = make_export(path, ipol_dir)
    rec = read_recording(path)
    assert rec.meta["format"] == "polar-logger"
    assert rec.meta["sensor"] == "Polar H10" and rec.meta["placement"] == "chest"
    np.testing.assert_allclose(rec.acc_mps2, acc_mg * 9.80665e-3)
    # integer ns arithmetic: no float rounding of the 8e17 ns epoch offset
    np.testing.assert_allclose(rec.time_s, np.arange(400) * 19_230_769 / 1e9, rtol=0, atol=1e-12)
    assert rec.nominal_rate_hz == pytest.approx(52.0, abs=0.01)
    assert np.median(np.linalg.norm(rec.acc_mps2, axis=1)) == pytest.approx(9.81, abs=0.3)


def test_header_tolerates_case_spacing_and_trailing_space(tmp_path: Path, ipol_dir: Path) -> None:
    path = tmp_path / "export.txt"
    make_export(path, ipol_dir, header="phone timestamp; Sensor timestamp [ns] ;x [mg];Y  [mg];Z [mg] ")
    assert read_recording(path).n_samples == 400


def test_missing_axis_column(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text("Phone timestamp;sensor timestamp [ns];X [mg];Y [mg]\nt;1;2;3\nt;2;2;3\n")
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert info.value.line == 1 and "z [mg]" in str(info.value) and HEADER in str(info.value)


def test_bad_timestamp_names_line_and_column(tmp_path: Path, ipol_dir: Path) -> None:
    path = tmp_path / "export.txt"
    make_export(path, ipol_dir, rows=50)
    lines = path.read_text().splitlines()
    lines[20] = lines[20].replace(";", ";x", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert (info.value.line, info.value.column) == (21, "sensor timestamp [ns]")
