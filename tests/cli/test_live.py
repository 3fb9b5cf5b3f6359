"""The live commands through the command line: scan, pair, devices, forget, live, demo.

Virtual sensors stand in for hardware: ``live --virtual`` / ``demo`` replay real recordings through the
virtual Polar H10 over real GATT; ``scan``/``pair`` see virtual twins through the hidden
``--virtual-world`` option. stdout of the test runner is not a terminal, so ``live`` prints its
pipe-friendly lines.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gaitdir.cli import app
from gaitdir.cli._live import _PlainView
from gaitdir.live import LiveState, LiveStep
from gaitdir.pipeline import classify_recording
from gaitdir.recordings import read_recording

TRIAL = "9-2_lb.txt"


def fields(line: str) -> dict[str, str]:
    """``key=value`` fields of one output line (the first word is the line's kind)."""
    return dict(item.split("=", 1) for item in line.split()[1:])


def parse_live(stdout: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("summary "), stdout
    assert all(line.startswith("step ") for line in lines[:-1]), stdout
    return [fields(line) for line in lines[:-1]], fields(lines[-1])


def test_live_virtual_prints_one_line_per_step_and_a_summary(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path
) -> None:
    record, events = tmp_path / "walk.csv", tmp_path / "walk.jsonl"
    result = runner.invoke(
        app,
        [
            "live",
            "--virtual",
            str(ipol_dir / TRIAL),
            "--speed",
            "20",
            "--record",
            str(record),
            "--events",
            str(events),
            "--label",
            "forward",
        ],
    )
    assert result.exit_code == 0, result.output
    steps, summary = parse_live(result.stdout)
    assert int(summary["steps"]) == len(steps) > 20
    assert int(summary["forward"]) + int(summary["backward"]) == len(steps)
    assert [int(s["n"]) for s in steps] == list(range(1, len(steps) + 1))
    assert summary["end"] == "stream_ended" and summary["recording"] == str(record)
    assert all(s["direction"] in ("forward", "backward") for s in steps)
    # each line's counts are the running counts up to its own step (snapshots often carry several)
    running = np.cumsum([[s["direction"] == "forward", s["direction"] == "backward"] for s in steps], axis=0)
    assert [[int(s["forward"]), int(s["backward"])] for s in steps] == running.tolist()
    assert len(events.read_text().splitlines()) == len(steps)
    # The recording is what `classify` reads, with the label for `train`, and counts the same.
    back = read_recording(record)
    assert back.n_samples == int(summary["samples"])
    assert back.labels is not None and set(back.labels.tolist()) == {"forward"}
    offline = classify_recording(back).counts()["steps"]
    assert abs(offline - len(steps)) <= max(1, offline // 100)
    classify = runner.invoke(app, ["classify", str(record), "--json", "--out", str(tmp_path / "out")])
    assert classify.exit_code == 0, classify.output
    assert json.loads(classify.stdout)["total"]["steps"] == offline


def test_plain_lines_count_up_step_by_step_when_a_snapshot_carries_several() -> None:
    # The end of a stream (and a slow consumer) hands the view several steps in one snapshot, whose
    # counts already include all of them; each line must still show the counts up to its own step.
    from rich.console import Console

    out, err = Console(file=io.StringIO(), width=200), Console(file=io.StringIO(), width=200)
    view = _PlainView(out, err)

    def state(forward: int, backward: int, directions: list[str]) -> LiveState:
        new = tuple(LiveStep(float(i), i + 0.5, d, 0.9, i + 1.0) for i, d in enumerate(directions))
        return LiveState(
            connection="streaming",
            elapsed_s=1.0,
            stream_time_s=1.0,
            forward=forward,
            backward=backward,
            last_step=new[-1] if new else None,
            new_steps=new,
            cadence_spm=0.0,
            sample_rate_hz=0.0,
            sensor_rate_hz=0.0,
            samples=0,
            malformed_frames=0,
            lost_packets=0,
            gaps=0,
            reconnects=0,
            sensor_stops=0,
        )

    view.update(state(1, 0, ["forward"]))
    view.update(state(3, 1, ["forward", "backward", "forward"]))
    view.update(state(3, 1, []))
    lines = [fields(line) for line in out.file.getvalue().splitlines()]
    assert [(s["n"], s["direction"], s["forward"], s["backward"]) for s in lines] == [
        ("1", "forward", "1", "0"),
        ("2", "forward", "2", "0"),
        ("3", "backward", "2", "1"),
        ("4", "forward", "3", "1"),
    ]


def test_live_virtual_faults_are_survived_and_reported(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path
) -> None:
    record = tmp_path / "faults.csv"
    # Speed 10 and the stop before the drop: reconnecting takes wall-clock time, which a fast replay
    # multiplies into stream seconds; a stop due while the link is down would not happen.
    args = ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "10", "--record", str(record)]
    args += ["--fault", "garbage@3", "--fault", "stop@6", "--fault", "disconnect@11"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    _, summary = parse_live(result.stdout)
    assert summary["reconnects"] == "1" and summary["sensor_stops"] == "1" and summary["gaps"] == "2"
    assert int(summary["malformed_frames"]) >= 1
    assert float(summary["duration_s"]) > 12.0
    back = read_recording(record)
    assert back.n_samples == int(summary["samples"])
    assert np.all(np.diff(back.time_s) > 0)
    # A gap is marked once samples after it arrive: both the stop and the drop were followed by more data.
    assert back.gaps_s is not None and back.gaps_s.shape == (2, 2)
    assert 5.0 < back.gaps_s[0, 0] < 6.5 and 10.0 < back.gaps_s[1, 0] < 11.5
    # Connection changes go to stderr, keeping stdout machine-readable.
    assert "connection: disconnected" in result.stderr and "connection: reconnecting" in result.stderr


def test_demo_runs_with_a_short_duration(runner: CliRunner) -> None:
    result = runner.invoke(app, ["demo", "--duration", "2", "--speed", "4"])
    assert result.exit_code == 0, result.output
    steps, summary = parse_live(result.stdout)
    assert summary["end"] == "duration_reached"
    assert 4.0 <= float(summary["duration_s"]) <= 9.0  # ~2 s of wall clock at 4x
    assert int(summary["samples"]) > 800 and len(steps) == int(summary["steps"])


def test_scan_pair_devices_forget_and_live_on_the_paired_sensor(runner: CliRunner, tmp_path: Path) -> None:
    world = ["--virtual-world", "polar-h10,polar-verity"]
    scan = runner.invoke(app, ["scan", "--timeout", "1", *world])
    assert scan.exit_code == 0, scan.output
    assert "Polar H10" in scan.stdout and "polar-h10" in scan.stdout
    assert "Polar Sense" in scan.stdout and "polar-verity" in scan.stdout

    assert "No remembered sensors" in runner.invoke(app, ["devices"]).stdout
    pair = runner.invoke(app, ["pair", "Polar H10", "--timeout", "1", *world])
    assert pair.exit_code == 0, pair.output
    assert "Paired Polar H10" in pair.stdout and "chest" in pair.stdout
    listed = runner.invoke(app, ["devices"])
    assert listed.exit_code == 0 and "polar-h10" in listed.stdout and "*" in listed.stdout

    # `live` with no --device connects to the paired default, found again by scanning.
    live = runner.invoke(app, ["live", "--duration", "1.5", "--scan-timeout", "2", *world])
    assert live.exit_code == 0, live.output
    _, summary = parse_live(live.stdout)
    assert int(summary["samples"]) > 100

    paired_address = next(w for w in pair.stdout.replace(",", " ").split() if w.startswith("D0:"))
    forget = runner.invoke(app, ["forget", paired_address])
    assert forget.exit_code == 0 and "Forgot Polar H10" in forget.stdout
    assert "No remembered sensors" in runner.invoke(app, ["devices"]).stdout


def test_pair_with_a_kind_needs_no_scan(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["pair", "A0:9E:1A:12:34:56", "--kind", "polar-verity", "--forward-axis", "+x"]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["devices"]).stdout
    assert "A0:9E:1A:12:34:56" in listed and "polar-verity" in listed and "arm" in listed and "+x" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["live"], "pair one first"),
        (["forget", "nothing"], "no remembered sensor called 'nothing'"),
        (["pair", "X", "--kind", "toaster"], "unknown sensor type 'toaster'"),
        (["live", "--label", "forward", "--virtual", "x.csv"], "give --record FILE too"),
        (["live", "--fault", "disconnect@3"], "use it with --virtual"),
        (["live", "--virtual", "x.csv", "--placement", "belt"], "unknown placement 'belt'"),
        (["pair", "X", "--kind", "polar-h10", "--placement", "belt"], "unknown placement 'belt'"),
    ],
)
def test_usage_mistakes_are_one_line_errors(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_devices_not_found_or_bad_faults_are_one_line_errors(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path
) -> None:
    world = ["--virtual-world", "polar-h10"]
    missing = runner.invoke(app, ["live", "--device", "Polar H10 NOPE", "--scan-timeout", "1", *world])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ")
    assert "Polar H10 NOPE" in missing.stderr and "Traceback" not in missing.output
    not_paired = runner.invoke(app, ["pair", "Movesense 123", "--timeout", "1", *world])
    assert not_paired.exit_code == 1 and "was not found" in not_paired.stderr
    bad_fault = runner.invoke(app, ["live", "--virtual", str(ipol_dir / TRIAL), "--fault", "explode@3"])
    assert bad_fault.exit_code == 1 and "bad fault 'explode@3'" in bad_fault.stderr
    no_file = runner.invoke(app, ["live", "--virtual", str(tmp_path / "missing.csv")])
    assert no_file.exit_code == 1 and no_file.stderr.startswith("error: ")
    twin = runner.invoke(app, ["live", "--virtual", str(ipol_dir / TRIAL), "--sensor", "toaster"])
    assert twin.exit_code == 1 and "no virtual twin of sensor kind 'toaster'" in twin.stderr


def test_on_a_terminal_live_shows_a_panel(
    runner: CliRunner, ipol_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from gaitdir.cli import _live

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, color_system=None)
    monkeypatch.setattr(_live, "_stdout", lambda: terminal)
    result = runner.invoke(app, ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "20"])
    assert result.exit_code == 0, result.output
    shown = screen.getvalue()
    for text in ("gaitdir live", "forward", "backward", "last step", "cadence", "elapsed", "connection"):
        assert text in shown
    assert "200 Hz sensor clock" in shown  # the rate actually received, measured
    assert "steps/min" in shown and "Ctrl-C stops" in shown
    lines = shown.strip().splitlines()
    final = next(line for line in reversed(lines) if line.endswith("(stream ended)"))
    assert " forward, " in final
    # The panel and the summary say where the front came from: the replayed IPOL file knows its own front,
    # so the virtual H10 presents it as a strap worn on the chest, whose profile gives the front.
    after = lines[lines.index(final) + 1 :]
    assert after and after[0].startswith("front: sensor-profile (+z; polar-h10 worn at chest")


def test_a_killed_live_process_leaves_a_readable_recording(ipol_dir: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    record = tmp_path / "killed.csv"
    partial = tmp_path / "killed.csv.partial"
    entry = "import sys; from gaitdir.cli import main; sys.argv[0] = 'gaitdir'; main()"
    args = ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "2", "--record", str(record)]
    process = subprocess.Popen(
        [sys.executable, "-c", entry, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        # Wait until at least two flushes (>= 1 s of wall clock each) have reached the disk.
        while time.monotonic() < deadline and process.poll() is None:
            if partial.exists() and partial.read_text().count("\n") > 1000:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the replay ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert not record.exists()
    back = read_recording(partial)
    assert back.n_samples >= 900
    assert np.all(np.diff(back.time_s) > 0)
    assert back.meta["sensor"] == "polar-h10"
