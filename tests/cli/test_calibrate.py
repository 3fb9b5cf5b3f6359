"""`gaitdir calibrate` on recordings and on a remembered (virtual) sensor, and what `live` does with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from gaitdir.cli import app
from gaitdir.config import SensorStore

MOCAP = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "mocap-backward"
WORLD = {"GAITDIR_VIRTUAL_WORLD": "polar-h10"}


def test_calibrate_a_recording_prints_its_forward_axis(runner: CliRunner) -> None:
    clip = MOCAP / "bandai1_walk_normal_001.csv"  # a forward walk; its file says the front is +x
    result = runner.invoke(app, ["calibrate", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert np.dot(out["forward_axis"], [1.0, 0.0, 0.0]) > 0.95
    assert out["steps"] >= 6 and out["stored"] is False
    plain = runner.invoke(app, ["calibrate", str(clip)])
    assert plain.exit_code == 0 and "classify --forward-axis" in plain.stdout


def test_calibrate_refuses_a_walk_with_no_clear_answer(runner: CliRunner, tmp_path: Path) -> None:
    # Acted "proud" walking, where the steps disagree on where the front is.
    unclear = runner.invoke(app, ["calibrate", str(MOCAP / "bandai1_walk_proud_001.csv")])
    assert unclear.exit_code == 1 and "no clear answer" in unclear.stderr
    # Standing only: the first 1.5 s of a clip, before the walk.
    lines = (MOCAP / "bandai1_walk_normal_001.csv").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("time_s"))
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[: header + 1 + 120]) + "\n")
    few = runner.invoke(app, ["calibrate", str(short)])
    assert few.exit_code == 1
    assert "no walking was found" in few.stderr or "steps of walking were found" in few.stderr


def test_calibrate_a_remembered_sensor_stores_the_axis_and_live_uses_it(runner: CliRunner) -> None:
    assert runner.invoke(app, ["pair", "Polar H10", "--placement", "lower_back"], env=WORLD).exit_code == 0
    sensor = SensorStore().default()
    assert sensor is not None and sensor.calibration is None
    before = runner.invoke(app, ["live", "--duration", "3"], env=WORLD)
    assert "front=first-steps" in before.stdout  # an H10 on the lower back: its profile fixes no front

    result = runner.invoke(app, ["calibrate", "--json"], env=WORLD)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["stored"] is True and out["steps"] >= 6
    stored = SensorStore().default()
    assert stored is not None and stored.calibration is not None
    assert stored.calibration.steps == out["steps"] and stored.calibration.placement == "lower_back"
    np.testing.assert_allclose(stored.calibration.forward_axis, out["forward_axis"], atol=1e-3)

    after = runner.invoke(app, ["live", "--duration", "3"], env=WORLD)
    assert after.exit_code == 0, after.output
    assert "front=calibration" in after.stdout
    # An explicit axis wins over the calibration.
    given = runner.invoke(app, ["live", "--duration", "2", "--forward-axis", "+y"], env=WORLD)
    assert "front=option front_axis=+y" in given.stdout
    listed = runner.invoke(app, ["devices"])
    assert "calibration" in listed.stdout


def test_pairing_a_chest_strap_takes_the_front_from_its_profile(runner: CliRunner) -> None:
    result = runner.invoke(app, ["pair", "Polar H10"], env=WORLD)
    assert result.exit_code == 0, result.output
    assert "worn on: chest" in result.stdout and "front: sensor-profile (+z" in result.stdout


def test_a_backward_walk_replayed_on_a_virtual_chest_strap_counts_backward(runner: CliRunner) -> None:
    """The twin presents the walk as an H10 on the chest; the front comes from the strap's profile, not
    from the file, and the walk starts backward."""
    clip = MOCAP / "bandai1_walk-back_active_001.csv"
    result = runner.invoke(app, ["live", "--virtual", str(clip), "--sensor", "polar-h10", "--speed", "10"])
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert "front=sensor-profile front_axis=+z" in summary
    fields = dict(f.split("=", 1) for f in summary.split()[1:])
    assert int(fields["steps"]) >= 10 and fields["forward"] == "0"
