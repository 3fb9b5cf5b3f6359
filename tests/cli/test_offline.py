"""``gaitdir classify / train / evaluate / datasets download`` on real recordings."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from gaitdir.cli import app

OXFORD_FILE = "user1_armband_1506423438471.csv"
IPOL_TRIAL = "3-1"
STEPS_HEADER = ["time_s", "duration_s", "direction", "confidence"]


def _write_gaitdir_csv(src: Path, dst: Path, *, bad_row: int | None = None, subject: str = "ipol-x") -> int:
    """Write an IPOL lower-back file in gaitdir's CSV; optionally spoil ``acc_y`` on data row ``bad_row``.

    Returns the 1-based file line of the spoiled row (metadata and header lines included), or 0.
    """
    data = np.loadtxt(src, skiprows=2, usecols=(1, 2, 3, 4, 5, 6))
    lines = [
        "# sensor: xsens-mtw-awinda",
        "# placement: lower_back",
        f"# subject: {subject}",
        "time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z",
    ]
    for row, values in enumerate(data):
        cells = [f"{row / 100:.2f}", *(f"{v:.6f}" for v in values)]
        if row == bad_row:
            cells[2] = "n/a"
        lines.append(",".join(cells))
    dst.write_text("\n".join(lines) + "\n")
    return 0 if bad_row is None else 4 + bad_row + 1


def _read_steps(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == STEPS_HEADER
        return list(reader)


def _annotated_heel_strikes(ipol_dir: Path, trial: str) -> int:
    meta = json.loads((ipol_dir / f"{trial}.json").read_text())
    start, end = meta["TrialBoundaries"]
    events = meta["LeftFootEvents"] + meta["RightFootEvents"]
    return sum(start <= heel_strike <= end for _, heel_strike in events)


def _oxford_true_steps(path: Path) -> int:
    counts = np.loadtxt(path, delimiter=",", usecols=5)[1:]
    return int(counts[-1] - counts[0])


def test_classify_real_oxford_and_ipol_files_json(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path, oxford_dir: Path
) -> None:
    oxford = oxford_dir / OXFORD_FILE
    ipol = ipol_dir / f"{IPOL_TRIAL}_lb.txt"
    out = tmp_path / "out"
    result = runner.invoke(app, ["classify", str(oxford), str(ipol), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert set(payload) == {"files", "total", "errors"}
    assert payload["errors"] == []
    assert [f["path"] for f in payload["files"]] == [str(oxford), str(ipol)]
    for entry in payload["files"]:
        assert {"path", "steps", "forward", "backward"} <= set(entry)
        assert entry["forward"] + entry["backward"] == entry["steps"]
        rows = _read_steps(Path(entry["output"]))
        assert len(rows) == entry["steps"]
        assert sum(r["direction"] == "forward" for r in rows) == entry["forward"]
        times = [float(r["time_s"]) for r in rows]
        assert times == sorted(times)
        assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)
        assert all(float(r["duration_s"]) > 0.0 for r in rows)
    for key in ("steps", "forward", "backward"):
        assert payload["total"][key] == sum(f[key] for f in payload["files"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [oxford.stem + ".steps.csv", ipol.stem + ".steps.csv"]
    )

    # Counts are in the right range against each file's own ground truth (a pipeline that finds
    # nothing, or every sample, fails here); both recordings are of forward walking.
    by_name = {Path(f["path"]).name: f for f in payload["files"]}
    oxford_truth = _oxford_true_steps(oxford)
    assert abs(by_name[oxford.name]["steps"] - oxford_truth) <= 0.25 * oxford_truth
    ipol_truth = _annotated_heel_strikes(ipol_dir, IPOL_TRIAL)
    assert abs(by_name[ipol.name]["steps"] - ipol_truth) <= 0.25 * ipol_truth + 2
    assert by_name[ipol.name]["forward"] >= 0.8 * by_name[ipol.name]["steps"]


def test_classify_prints_a_table_per_file_and_total(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path
) -> None:
    ipol = ipol_dir / f"{IPOL_TRIAL}_lb.txt"
    result = runner.invoke(app, ["classify", str(ipol), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    steps = _read_steps(tmp_path / f"{IPOL_TRIAL}_lb.steps.csv")
    assert ipol.name in result.stdout
    total_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("total"))
    assert str(len(steps)) in total_line.split()
    assert result.stderr == ""


def test_batch_with_one_bad_file(runner: CliRunner, tmp_path: Path, ipol_dir: Path) -> None:
    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    _write_gaitdir_csv(ipol_dir / f"{IPOL_TRIAL}_lb.txt", good)
    bad_line = _write_gaitdir_csv(ipol_dir / "4-1_lb.txt", bad, bad_row=700)
    out = tmp_path / "out"

    result = runner.invoke(app, ["classify", str(bad), str(good), "--out", str(out), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [f["path"] for f in payload["files"]] == [str(good)]
    assert payload["files"][0]["steps"] > 0
    assert [e["path"] for e in payload["errors"]] == [str(bad)]
    message = payload["errors"][0]["error"]
    assert str(bad) in message and f"line {bad_line}" in message and "acc_y" in message
    assert f"error: {message}" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr + result.stdout
    # Only the good file's steps exist: nothing partial or temporary for the bad one.
    assert sorted(p.name for p in out.iterdir()) == ["good.steps.csv"]


def test_missing_file_is_one_error_line_and_exit_1(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    result = runner.invoke(app, ["classify", str(missing), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and str(missing) in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_format_option_is_a_usage_error(runner: CliRunner, ipol_dir: Path) -> None:
    result = runner.invoke(app, ["classify", str(ipol_dir / "1-1_lb.txt"), "--format", "xlsx"])
    assert result.exit_code == 2


def test_directory_expands_to_its_recordings(runner: CliRunner, tmp_path: Path, ipol_dir: Path) -> None:
    folder = tmp_path / "walks"
    folder.mkdir()
    _write_gaitdir_csv(ipol_dir / "5-2_lb.txt", folder / "a.csv")
    _write_gaitdir_csv(ipol_dir / "6-1_lb.txt", folder / "b.csv")
    out = tmp_path / "out"
    result = runner.invoke(app, ["classify", str(folder), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert sorted(Path(f["path"]).name for f in payload["files"]) == ["a.csv", "b.csv"]
    assert sorted(p.name for p in out.iterdir()) == ["a.steps.csv", "b.steps.csv"]
    assert all(f["steps"] > 10 for f in payload["files"])


def test_installed_command_runs_as_a_process(tmp_path: Path, oxford_dir: Path) -> None:
    exe = Path(sys.executable).parent / "gaitdir"
    command = [str(exe)] if exe.exists() else [shutil.which("gaitdir") or "gaitdir"]
    recording = oxford_dir / "user1_hand_1506421989895.csv"
    proc = subprocess.run(
        [*command, "classify", str(recording), "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["total"]["steps"] == len(_read_steps(tmp_path / (recording.stem + ".steps.csv")))
    assert payload["total"]["steps"] > 50
