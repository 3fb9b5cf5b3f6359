"""The history through the command line: live and classify --history store sessions, `history` lists them."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from gaitdir.cli import app
from gaitdir.recordings import read_recording, sample_recording_path

TRIAL = "9-2_lb.txt"


def data_dir() -> Path:
    return Path(os.environ["GAITDIR_DATA_DIR"])


def history_json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["history", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_classify_leaves_the_history_alone_unless_asked(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["classify", str(sample_recording_path()), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert not data_dir().exists()  # batch research never creates a personal history
    assert history_json(runner) == {"sessions": [], "days": []}
    assert not data_dir().exists()  # reading an absent history does not create it either


def test_classify_history_adds_each_file_once(runner: CliRunner, tmp_path: Path, ipol_dir: Path) -> None:
    files = [str(sample_recording_path()), str(ipol_dir / TRIAL)]
    first = runner.invoke(app, ["classify", *files, "--history", "--json", "--out", str(tmp_path)])
    assert first.exit_code == 0, first.output
    counts = {f["path"]: f for f in json.loads(first.stdout)["files"]}
    again = runner.invoke(app, ["classify", files[0], "--history", "--out", str(tmp_path)])
    assert again.exit_code == 0, again.output

    listed = history_json(runner)
    sessions = listed["sessions"]
    assert len(sessions) == 2  # classifying a file again replaces its row
    for s in sessions:
        assert s["status"] == "classified"
        assert set(s) >= {"id", "started", "ended", "sensor", "placement", "forward_reference", "steps"}
        source = next(f for path, f in counts.items() if Path(path).resolve() == Path(s["recording"]))
        assert (s["steps"], s["forward"], s["backward"]) == (
            source["steps"],
            source["forward"],
            source["backward"],
        )
        assert s["forward_reference"] == source["forward_reference"]
    assert sum(d["steps"] for d in listed["days"]) == sum(f["steps"] for f in counts.values())
    assert sum(d["sessions"] for d in listed["days"]) == 2

    text = runner.invoke(app, ["history"])
    assert text.exit_code == 0
    assert "classified" in text.stdout and str(data_dir() / "history.sqlite3") in text.stdout
    assert "GAITDIR_DATA_DIR" in text.stdout


def test_since_filters_and_bad_dates_are_usage_errors(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(app, ["classify", str(sample_recording_path()), "--history", "--out", str(tmp_path)])
    assert len(history_json(runner, "--since", "2000-01-01")["sessions"]) == 1
    assert history_json(runner, "--since", "2999-01-01") == {"sessions": [], "days": []}
    bad = runner.invoke(app, ["history", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_live_session_is_saved_and_the_summary_says_where(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path
) -> None:
    record = tmp_path / "walk.csv"
    args = ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "20", "--record", str(record), "--history"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = dict(item.split("=", 1) for item in result.stdout.strip().splitlines()[-1].split()[1:])
    assert f"{record}.partial" in result.stderr and "gaitdir classify" in result.stderr
    history_file = data_dir() / "history.sqlite3"
    assert f"history: session 1 saved in {history_file}" in result.stderr
    assert "GAITDIR_DATA_DIR" in result.stderr

    (session,) = history_json(runner)["sessions"]
    assert session["status"] == "completed"
    assert session["steps"] == int(summary["steps"]) > 20
    assert (session["forward"], session["backward"]) == (int(summary["forward"]), int(summary["backward"]))
    assert session["recording"] == str(record.resolve())
    assert session["sensor"] == "polar-h10 (virtual)"
    # the virtual H10 presents the IPOL walk as a strap worn on the chest: its profile gives the front
    assert session["forward_reference"] == {"source": "sensor-profile", "axis": [0.0, 0.0, 1.0]}
    # the recording says when it started: classifying it later files it under that day
    assert read_recording(record).meta["started"][:10] == session["started"][:10]


def test_replays_and_the_demo_are_not_saved_by_default(runner: CliRunner, ipol_dir: Path) -> None:
    replay = runner.invoke(app, ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "40"])
    assert replay.exit_code == 0, replay.output
    demo = runner.invoke(app, ["demo", "--duration", "1", "--speed", "10"])
    assert demo.exit_code == 0, demo.output
    assert not (data_dir() / "history.sqlite3").exists()
    assert "history:" not in replay.stderr


def test_live_counts_when_the_history_cannot_be_written(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("GAITDIR_DATA_DIR", str(blocker / "gaitdir"))
    result = runner.invoke(app, ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "20", "--history"])
    assert result.exit_code == 0, result.output
    assert "warning: the history is not saved" in result.stderr and "steps are still counted" in result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("summary ") and int(summary.split("steps=")[1].split()[0]) > 20
    assert blocker.read_text() == "a file where the data folder should be"


def test_a_newer_history_is_refused_in_one_line_and_left_untouched(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path
) -> None:
    runner.invoke(app, ["classify", str(sample_recording_path()), "--history", "--out", str(tmp_path)])
    db = data_dir() / "history.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    listed = runner.invoke(app, ["history"])
    assert listed.exit_code == 1
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: history {db}: ") and "newer gaitdir" in lines[0]

    out = tmp_path / "again"
    classified = runner.invoke(
        app, ["classify", str(sample_recording_path()), "--history", "--out", str(out)]
    )
    assert classified.exit_code == 1 and "newer gaitdir" in classified.stderr
    assert (out / "sample_walk.steps.csv").is_file()  # the steps are not lost

    live = runner.invoke(app, ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "20", "--history"])
    assert live.exit_code == 0 and "warning: the history is not saved" in live.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_classify_history_waits_for_another_writer(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(app, ["classify", str(sample_recording_path()), "--history", "--out", str(tmp_path)])
    db = data_dir() / "history.sqlite3"
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another gaitdir writing
    releaser = threading.Timer(1.0, lambda: other.execute("COMMIT"))
    releaser.start()
    try:
        t0 = time.monotonic()
        copy = tmp_path / "second.csv"
        copy.write_bytes(sample_recording_path().read_bytes())
        result = runner.invoke(app, ["classify", str(copy), "--history", "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert time.monotonic() - t0 >= 0.9
    finally:
        releaser.join()
        other.close()
    assert len(history_json(runner)["sessions"]) == 2


def test_a_killed_live_session_keeps_its_steps_as_interrupted(
    runner: CliRunner, ipol_dir: Path, tmp_path: Path
) -> None:
    record = tmp_path / "killed.csv"
    db = data_dir() / "history.sqlite3"
    entry = "import sys; from gaitdir.cli import main; sys.argv[0] = 'gaitdir'; main()"
    args = ["live", "--virtual", str(ipol_dir / TRIAL), "--speed", "2", "--record", str(record), "--history"]
    process = subprocess.Popen(
        [sys.executable, "-c", entry, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stored = 0
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        row = conn.execute("SELECT steps FROM sessions").fetchone()
                except sqlite3.OperationalError:
                    row = None  # the other process is still creating the database's schema
                stored = 0 if row is None else row[0]
                if stored >= 10:
                    break
            time.sleep(0.2)
        assert process.poll() is None, "the replay ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()

    (session,) = history_json(runner)["sessions"]
    assert session["status"] == "interrupted"
    assert session["steps"] >= stored >= 10
    assert session["ended"] is None
    # the recording is where the live summary said it would be, and it can be drawn
    assert not record.exists() and Path(f"{record}.partial").exists()
    out = tmp_path / "report"
    drawn = runner.invoke(app, ["report", str(session["id"]), "--out", str(out)])
    assert drawn.exit_code == 0, drawn.output
    assert (out / "killed.png").is_file() and (out / "killed.html").is_file()
