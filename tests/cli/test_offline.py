"""``gaitdir classify / train / evaluate / datasets download`` on real recordings."""

from __future__ import annotations

import csv
import gc
import hashlib
import http.server
import io
import json
import os
import pty
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gaitdir.cli import app

OXFORD_FILE = "user1_armband_1506423438471.csv"
IPOL_TRIAL = "3-1"
STEPS_HEADER = ["time_s", "duration_s", "direction", "confidence"]


def _write_gaitdir_csv(
    src: Path, dst: Path, *, bad_row: int | None = None, subject: str = "ipol-x", label: str | None = None
) -> int:
    """Write an IPOL lower-back file in gaitdir's CSV; optionally spoil ``acc_y`` on data row ``bad_row``.

    ``label`` adds a label column with that value on every row. Returns the 1-based file line of the
    spoiled row (metadata and header lines included), or 0.
    """
    data = np.loadtxt(src, skiprows=2, usecols=(1, 2, 3, 4, 5, 6))
    lines = [
        "# sensor: xsens-mtw-awinda",
        "# placement: lower_back",
        f"# subject: {subject}",
        "time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z" + (",label" if label else ""),
    ]
    for row, values in enumerate(data):
        cells = [f"{row / 100:.2f}", *(f"{v:.6f}" for v in values), *([label] if label else [])]
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
    # What the readers had to say about the data reaches the user as plain lines on stderr.
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines())
    assert set(payload) == {"files", "total", "errors", "skipped"}
    assert payload["errors"] == [] and payload["skipped"] == []
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
        f"{source.stem}{suffix}" for source in (oxford, ipol) for suffix in (".steps.csv", ".summary.json")
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
    # Only the good file's outputs exist: nothing partial or temporary for the bad one.
    assert sorted(p.name for p in out.iterdir()) == ["good.steps.csv", "good.summary.json"]
    assert gc.isenabled()  # the collector, paused per file, is back on after a file that failed


def test_classify_pauses_the_collector_per_file_and_restores_it(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gaitdir.pipeline
    from gaitdir.recordings import sample_recording_path

    during: list[bool] = []
    real = gaitdir.pipeline.iter_classify_recording

    def spy(*args: object, **kwargs: object) -> Iterator[object]:
        for piece in real(*args, **kwargs):
            during.append(gc.isenabled())
            yield piece

    monkeypatch.setattr(gaitdir.pipeline, "iter_classify_recording", spy)
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            result = runner.invoke(
                app, ["classify", str(sample_recording_path()), "--out", str(tmp_path / "out"), "--json"]
            )
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["total"]["steps"] > 100
            assert gc.isenabled() is enabled  # as it was before the command
    finally:
        gc.enable()
    assert during and not any(during)  # paused while every piece was computed, on both runs


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
    assert sorted(p.name for p in out.iterdir()) == [
        "a.steps.csv",
        "a.summary.json",
        "b.steps.csv",
        "b.summary.json",
    ]
    assert all(f["steps"] > 10 for f in payload["files"])
    assert result.stderr == ""  # stderr is not a terminal here: no progress bar


def test_installed_command_runs_as_a_process(tmp_path: Path, oxford_dir: Path, ipol_dir: Path) -> None:
    """The console script itself, with stderr on a terminal: a batch shows a progress bar there."""
    exe = Path(sys.executable).parent / "gaitdir"
    command = [str(exe)] if exe.exists() else [shutil.which("gaitdir") or "gaitdir"]
    recordings = [oxford_dir / "user1_hand_1506421989895.csv", ipol_dir / f"{IPOL_TRIAL}_lb.txt"]
    master, slave = pty.openpty()
    terminal: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side closed
                return
            if not chunk:
                return
            terminal.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            [*command, "classify", *map(str, recordings), "--out", str(tmp_path), "--json"],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**os.environ, "TERM": "xterm"},
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    shown = b"".join(terminal).decode(errors="replace")
    assert proc.returncode == 0, shown
    payload = json.loads(proc.stdout)  # stdout is a pipe: only the JSON object
    for entry in payload["files"]:
        assert entry["steps"] == len(_read_steps(Path(entry["output"])))
    assert payload["total"]["steps"] > 300
    assert "classifying" in shown and "2/2" in shown


_LIGHT_START = """
import sys
from gaitdir.cli import main
try:
    main()
finally:
    print("LOADED", sorted(m for m in ("rich", "asyncio", "pydantic") if m in sys.modules), file=sys.stderr)
"""


def test_classify_json_loads_no_console_or_event_loop_modules(tmp_path: Path) -> None:
    """The start-up of ``classify --json`` is on every file's clock: it leaves out what it does not use
    (rich prints nothing there, asyncio runs no loop, and typer below 0.29 needs no pydantic)."""
    from gaitdir.recordings import sample_recording_path

    args = ["classify", str(sample_recording_path()), "--out", str(tmp_path), "--json"]
    proc = subprocess.run(
        [sys.executable, "-c", _LIGHT_START, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"]["steps"] > 100
    assert "LOADED []" in proc.stderr, proc.stderr


def test_classify_the_bundled_sample(runner: CliRunner, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "datasets" / "sample_walk.csv"
    truth = next(
        int(line.split(":")[1])
        for line in sample.read_text().splitlines()
        if line.startswith("# ground_truth_steps")
    )
    result = runner.invoke(app, ["classify", str(sample), "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert abs(total["steps"] - truth) <= 0.15 * truth


def _ipol_lb(ipol_dir: Path, *trials: str) -> list[str]:
    return [str(ipol_dir / f"{trial}_lb.txt") for trial in trials]


def test_train_then_evaluate_round_trip(runner: CliRunner, tmp_path: Path, ipol_dir: Path) -> None:
    model = tmp_path / "models" / "mine.json"
    trained = runner.invoke(
        app, ["train", *_ipol_lb(ipol_dir, "1-1", "1-2", "2-1"), "--out", str(model), "--json"]
    )
    assert trained.exit_code == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["subjects"] == ["ipol-1", "ipol-2"]
    assert summary["recordings"] == 3
    assert summary["real_steps"]["forward"] > 50
    # IPOL holds forward walking only, so the backward class is the named synthetic one.
    assert summary["real_steps"]["backward"] == 0
    assert summary["synthetic_backward"] is True
    assert summary["synthetic_backward_steps"] == summary["real_steps"]["forward"]
    assert summary["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert sorted(p.name for p in model.parent.iterdir()) == ["mine.json"]
    # A logistic model is written as data only (JSON), never as a pickle.
    assert json.loads(model.read_text(encoding="utf-8"))["format"] == "gaitdir-direction-model"

    # The model written by train is trusted without --trust-model, and scores unseen subjects.
    held_out = _ipol_lb(ipol_dir, "3-1", "4-1")
    scored = runner.invoke(app, ["evaluate", *held_out, "--model", str(model), "--json"])
    assert scored.exit_code == 0, scored.stderr
    report = json.loads(scored.stdout)
    sd = report["step_detection"]
    assert sd["recordings"] == 2 and sd["reference_steps"] > 40
    assert sd["f1"] > 0.8
    real = report["direction"]["real"]
    assert real["forward"]["n_steps"] > 40 and real["forward"]["accuracy"] > 0.7
    assert real["backward"]["n_steps"] == 0
    assert report["direction"]["backward_on_real_backward_walking"] == "unvalidated"

    classified = runner.invoke(
        app, ["classify", *held_out, "--model", str(model), "--out", str(tmp_path / "o")]
    )
    assert classified.exit_code == 0, classified.stderr

    # Without a model: one model per fold, trained without the fold's test subjects.
    folds = runner.invoke(app, ["evaluate", *_ipol_lb(ipol_dir, "5-1", "6-1", "7-1"), "--splits", "3"])
    assert folds.exit_code == 0, folds.stderr
    assert "GroupKFold(3) by subject" in folds.stdout
    assert "SYNTHETIC" in folds.stdout and "unvalidated" in folds.stdout
    for subject in ("ipol-5", "ipol-6", "ipol-7"):
        assert f"test subjects {subject} " in folds.stdout


@pytest.fixture
def untrusted_model(tmp_path: Path, ipol_dir: Path) -> Path:
    """A valid pickled (boosting) model file whose hash gaitdir has never recorded (written without
    registering it)."""
    from gaitdir.model import DirectionClassifier, save_model, train_model
    from gaitdir.recordings import read_recording

    recordings = [read_recording(p) for p in _ipol_lb(ipol_dir, "8-1", "9-1")]
    boosting = DirectionClassifier(kind="boosting", max_iter=20)
    model = train_model(recordings, classifier=boosting)
    return save_model(model, tmp_path / "foreign.joblib", trust=False)


def test_unknown_model_is_refused_unless_trusted(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path, untrusted_model: Path
) -> None:
    recording = _ipol_lb(ipol_dir, "10-2")[0]
    out = tmp_path / "out"
    refused = runner.invoke(app, ["classify", recording, "--model", str(untrusted_model), "--out", str(out)])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: refusing to load model")
    assert "--trust-model" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists()

    accepted = runner.invoke(
        app,
        [
            "classify",
            recording,
            "--model",
            str(untrusted_model),
            "--trust-model",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert accepted.exit_code == 0, accepted.stderr
    assert json.loads(accepted.stdout)["total"]["steps"] > 10


def test_malformed_json_model_is_a_clear_error(runner: CliRunner, tmp_path: Path, ipol_dir: Path) -> None:
    from gaitdir.model import default_model_path

    recording = _ipol_lb(ipol_dir, "10-2")[0]
    doc = json.loads(default_model_path().read_text(encoding="utf-8"))
    # A JSON model needs no --trust-model (it cannot run code) ...
    model = tmp_path / "copy.json"
    model.write_text(json.dumps(doc))
    ok = runner.invoke(app, ["classify", recording, "--model", str(model), "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.stderr
    # ... but a malformed one is refused with a clear message and no output.
    doc["classifier"]["coef"] = doc["classifier"]["coef"][:-1]
    model.write_text(json.dumps(doc))
    out = tmp_path / "out"
    refused = runner.invoke(app, ["classify", recording, "--model", str(model), "--out", str(out)])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ") and "classifier.coef" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists()


def test_tampered_model_is_refused(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path, untrusted_model: Path
) -> None:
    from gaitdir.model import register_trusted_model

    register_trusted_model(untrusted_model)
    recording = _ipol_lb(ipol_dir, "10-2")[0]
    ok = runner.invoke(app, ["classify", recording, "--model", str(untrusted_model), "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.stderr

    data = bytearray(untrusted_model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    untrusted_model.write_bytes(bytes(data))
    refused = runner.invoke(
        app, ["classify", recording, "--model", str(untrusted_model), "--out", str(tmp_path)]
    )
    assert refused.exit_code == 1
    assert "refusing to load model" in refused.stderr and "Traceback" not in refused.stderr
    # Trusting a corrupted file still ends in a clear error, not a crash.
    forced = runner.invoke(
        app, ["classify", recording, "--model", str(untrusted_model), "--trust-model", "--out", str(tmp_path)]
    )
    assert forced.exit_code == 1
    assert forced.stderr.startswith("error: ") and "Traceback" not in forced.stderr


# --------------------------------------------------------------------------------------------------
# datasets download


def _kuhar_file_text(ipol_lb: Path) -> str:
    """One file in KU-HAR's trimmed layout made from a real IPOL lower-back trial.

    8 headerless columns: acc time (ms), acc x, y, z with gravity removed (here: minus the trial's mean),
    gyro time (ms), gyro x, y, z. Only the layout is KU-HAR's; the walking is IPOL's.
    """
    data = np.loadtxt(ipol_lb, skiprows=2, usecols=(1, 2, 3, 4, 5, 6))
    acc = data[:, :3] - data[:, :3].mean(axis=0)
    stamp_ms = np.arange(data.shape[0]) * 10.0
    rows = np.column_stack([stamp_ms, acc, stamp_ms, data[:, 3:]])
    return "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows) + "\n"


@pytest.fixture
def kuhar_archive(ipol_dir: Path) -> bytes:
    """A zip in KU-HAR's trimmed layout (walking folders plus one other activity that must be dropped)."""
    buffer = io.BytesIO()
    root = "KU-HAR/2.Trimmed_interpolated_data"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for subject, (walk, back) in {"1001": ("11-1", "11-2"), "1002": ("12-1", "12-2")}.items():
            bundle.writestr(
                f"{root}/11.Walk/{subject}_A_1.csv", _kuhar_file_text(ipol_dir / f"{walk}_lb.txt")
            )
            bundle.writestr(
                f"{root}/12.Walk-backwards/{subject}_B_1.csv", _kuhar_file_text(ipol_dir / f"{back}_lb.txt")
            )
        bundle.writestr(f"{root}/1.Stand/1001_C_1.csv", "0,0,0,0,0,0,0,0\n10,0,0,0,10,0,0,0\n")
    return buffer.getvalue()


@pytest.fixture
def http_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A local HTTP server serving the bytes put in its dict, by path."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def test_datasets_download_offline_says_so(runner: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on: what an offline machine looks like
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dest = tmp_path / "data"
    result = runner.invoke(
        app,
        ["datasets", "download", "kuhar", "--dir", str(dest), "--url", f"http://127.0.0.1:{port}/kuhar.zip"],
    )
    assert result.exit_code == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and "offline" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert not (dest / "KU-HAR").exists()
    assert not dest.exists() or list(dest.iterdir()) == []  # no partial download left behind


def test_datasets_download_then_train_on_real_labels(
    runner: CliRunner,
    tmp_path: Path,
    kuhar_archive: bytes,
    http_server: tuple[str, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, files = http_server
    files["/kuhar.zip"] = kuhar_archive
    monkeypatch.setenv("GAITDIR_KUHAR_URL", f"{base}/kuhar.zip")
    dest = tmp_path / "data"
    result = runner.invoke(app, ["datasets", "download", "kuhar", "--dir", str(dest)])
    assert result.exit_code == 0, result.stderr
    root = dest / "KU-HAR"
    assert sorted(p.name for p in root.iterdir()) == ["11.Walk", "12.Walk-backwards"]
    assert sorted(p.name for p in (root / "11.Walk").iterdir()) == ["1001_A_1.csv", "1002_A_1.csv"]
    assert str(root) in result.stdout

    # A KU-HAR folder given to train goes through the dataset reader: per-file labels, a real backward
    # class (with --synthetic-backward never, no synthetic one; by default two people's backward steps
    # would also get the mirrored class).
    model = tmp_path / "kuhar.json"
    args = ["train", str(dest), "--out", str(model), "--json", "--synthetic-backward", "never"]
    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["subjects"] == ["kuhar-1001", "kuhar-1002"]
    assert summary["recordings"] == 4
    assert summary["real_steps"]["forward"] > 10 and summary["real_steps"]["backward"] > 10
    assert summary["synthetic_backward"] is False


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty"),
        ("time_s,acc_x,acc_y,acc_z\n", "no data"),
        ("hello,world\n1,2\n", "Expected one of: gaitdir CSV"),
        ("time_s,acc_x,acc_y,acc_z\n" + "".join(f"{i / 100},0.01,1.0,0.02\n" for i in range(300)), "in g"),
        ("time_s,acc_x,acc_y\n0,0.1,9.8\n", "acc_z"),
        ("time_s,acc_x,acc_y,acc_z\n0,0.1,9.8,0.2\n0.01,0.1,9.8,0.2\n0.01,0.1,9.8,0.2\n", "line 4"),
    ],
    ids=["empty", "header-only", "unknown-format", "in-g", "missing-column", "repeated-time"],
)
def test_bad_input_is_one_error_line(runner: CliRunner, tmp_path: Path, content: str, expected: str) -> None:
    bad = tmp_path / "rec.csv"
    bad.write_text(content)
    out = tmp_path / "out"
    result = runner.invoke(app, ["classify", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {bad}") and expected.lower() in lines[0].lower()
    assert not out.exists()


def test_train_on_a_folder_of_own_labelled_recordings(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    _write_gaitdir_csv(ipol_dir / "5-3_lb.txt", folder / "a.csv", subject="me", label="forward")
    _write_gaitdir_csv(ipol_dir / "5-4_lb.txt", folder / "b.csv", subject="me", label="forward")
    (folder / "notes.txt").write_text("walked the corridor twice\n")
    model = tmp_path / "me.json"
    result = runner.invoke(app, ["train", str(folder), "--out", str(model), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["recordings"] == 2 and summary["subjects"] == ["me"]
    assert summary["real_steps"]["forward"] > 20
    # A file in the folder that is not a recording is skipped, and the user is told.
    assert result.stderr.splitlines() == [
        f"warning: skipped {folder / 'notes.txt'}: not a recording format gaitdir reads"
    ]

    # Without labels there is nothing to learn from: a clear error, no model file.
    unlabelled = tmp_path / "unlabelled.csv"
    _write_gaitdir_csv(ipol_dir / "5-3_lb.txt", unlabelled)
    failed = runner.invoke(app, ["train", str(unlabelled), "--out", str(tmp_path / "none.json")])
    assert failed.exit_code == 1
    assert failed.stderr.startswith("error: ") and "labelled" in failed.stderr
    assert not (tmp_path / "none.json").exists()
