"""Batches: worker processes, a real Dask cluster, resuming a killed batch, per-file summaries."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from gaitdir.batch import (
    ClassifySettings,
    FileJob,
    FileOutcome,
    ProcessPoolRunner,
    classify_file,
    redelivered_if_lost,
)
from gaitdir.cli import app
from gaitdir.cli._offline import _terminate_as_interrupt

OXFORD_FILES = ("user1_armband_1506423438471.csv", "user1_hand_1506421989895.csv")
IPOL_TRIALS = ("3-1", "4-2", "5-3", "8-1", "11-2")
TILE_RATE_HZ = 100.0


# --------------------------------------------------------------------------------------------------
# Data: real recordings by path, and longer files tiled from real lower-back walking


def _real_files(ipol_dir: Path, oxford_dir: Path) -> list[Path]:
    from gaitdir.recordings import sample_recording_path

    return [
        *(ipol_dir / f"{trial}_lb.txt" for trial in IPOL_TRIALS),
        *(oxford_dir / name for name in OXFORD_FILES),
        sample_recording_path(),
    ]


def _write_tiled(path: Path, ipol_dir: Path, *, hours: float, offset: int = 0) -> None:
    """``hours`` of the IPOL lower-back trials laid end to end at 100 Hz, in gaitdir's CSV.

    ``offset`` starts the tiling at another trial, so that files of equal length differ.
    """
    trials = sorted(ipol_dir.glob("*_lb.txt"))
    segments = [np.loadtxt(p, skiprows=2, usecols=(1, 2, 3), ndmin=2) for p in trials[:24]]
    segments = segments[offset % len(segments) :] + segments[: offset % len(segments)]
    one_pass = np.concatenate(segments)
    n = round(hours * 3600 * TILE_RATE_HZ)
    values = np.tile(one_pass, (-(-n // one_pass.shape[0]), 1))[:n]
    table = pa.table(
        {
            "time_s": np.arange(n) / TILE_RATE_HZ,
            "acc_x": values[:, 0],
            "acc_y": values[:, 1],
            "acc_z": values[:, 2],
        }
    )
    with path.open("wb") as handle:
        handle.write(b"# sensor: xsens-mtw-awinda\n# placement: lower_back\ntime_s,acc_x,acc_y,acc_z\n")
        pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False))


@pytest.fixture(scope="module")
def hour_files(tmp_path_factory: pytest.TempPathFactory, ipol_dir: Path) -> list[Path]:
    """Ten files of an hour of real walking each (a batch that takes a few seconds)."""
    folder = tmp_path_factory.mktemp("hours")
    files = []
    for i in range(10):
        path = folder / f"walk{i:02d}.csv"
        if i < 2:
            _write_tiled(path, ipol_dir, hours=1.0, offset=i)
        else:
            shutil.copyfile(files[i % 2], path)
        files.append(path)
    return files


def _outputs(out: Path) -> dict[str, bytes]:
    """Every file in an output folder: name -> bytes."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _steps_files(out: Path) -> dict[str, bytes]:
    return {name: data for name, data in _outputs(out).items() if name.endswith(".steps.csv")}


def _summaries(out: Path) -> dict[str, dict]:
    """Every summary of a folder without its ``run`` part (time taken, host, process: not the result)."""
    found = {}
    for path in sorted(out.glob("*.summary.json")):
        document = json.loads(path.read_text())
        assert set(document["run"]) == {"time_taken_s", "finished_utc", "host", "pid", "peak_rss_mb"}
        assert document["run"]["time_taken_s"] >= 0 and document["run"]["peak_rss_mb"] > 10
        del document["run"]
        found[path.name] = document
    return found


def _without_out_dir(payload: dict, out: Path) -> dict:
    """A classify --json payload with the output folder taken out of its paths (two runs, two folders)."""
    return json.loads(json.dumps(payload).replace(str(out), "OUT"))


def _temporary(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------------------------------
# Worker processes


def test_jobs_2_writes_what_jobs_1_writes(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path, oxford_dir: Path
) -> None:
    files = [str(p) for p in _real_files(ipol_dir, oxford_dir)]
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,acc_x,acc_y,acc_z\n0.00,0.1,9.8,0.2\n0.01,0.1,n/a,0.2\n")
    files.insert(3, str(bad))
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        result = runner.invoke(app, ["classify", *files, "--out", str(out), "--json", "--jobs", jobs])
        assert result.exit_code == 1, result.stderr  # the bad file
        runs[jobs] = (out, json.loads(result.stdout), result.stderr)
    (out1, json1, err1), (out2, json2, err2) = runs["1"], runs["2"]
    assert _steps_files(out2) == _steps_files(out1)
    assert len(_steps_files(out1)) == len(files) - 1
    assert _summaries(out2) == _summaries(out1)
    assert _without_out_dir(json2, out2) == _without_out_dir(json1, out1)
    # Files in the order given (not the order they finished), the bad one reported as in one process.
    assert [f["path"] for f in json2["files"]] == [f for f in files if f != str(bad)]
    assert [e["path"] for e in json2["errors"]] == [str(bad)]
    assert "line 3" in json2["errors"][0]["error"] and "acc_y" in json2["errors"][0]["error"]
    assert sorted(err2.splitlines()) == sorted(err1.splitlines())
    assert not _temporary(out2)


def test_history_gets_the_same_sessions_from_workers(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """classify --history stores what each file's worker saw (sensor, placement, duration, front)."""
    from gaitdir.recordings import sample_recording_path

    files = [str(sample_recording_path()), str(ipol_dir / "3-1_lb.txt")]
    sessions = {}
    for jobs in ("1", "2"):
        monkeypatch.setenv("GAITDIR_DATA_DIR", str(tmp_path / f"data{jobs}"))
        out = str(tmp_path / f"out{jobs}")
        result = runner.invoke(app, ["classify", *files, "--out", out, "--history", "--jobs", jobs])
        assert result.exit_code == 0, result.output
        listed = runner.invoke(app, ["history", "--json"])
        assert listed.exit_code == 0, listed.output
        sessions[jobs] = [
            {k: v for k, v in s.items() if k not in ("id", "events")}
            for s in sorted(json.loads(listed.stdout)["sessions"], key=lambda s: s["recording"])
        ]
    assert sessions["2"] == sessions["1"]
    assert {s["placement"] for s in sessions["2"]} == {"chest", "lower_back"}
    assert all(s["sensor"] and s["duration_s"] > 30 for s in sessions["2"])


def test_jobs_default_to_the_cores_a_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from gaitdir.batch import default_jobs

    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
        assert default_jobs() == 1
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 5})
        assert default_jobs() == 3
    monkeypatch.setattr(os, "process_cpu_count", lambda: 6, raising=False)
    assert default_jobs() == 6
    monkeypatch.setattr(os, "process_cpu_count", lambda: None, raising=False)
    assert default_jobs() == 1


def test_a_single_file_runs_in_this_process(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single file does not pay for a pool of workers, whatever --jobs says."""
    import gaitdir.batch
    from gaitdir.recordings import sample_recording_path

    class NoPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a worker pool was started for one file")

    monkeypatch.setattr(gaitdir.batch, "ProcessPoolRunner", NoPool)
    for jobs in ([], ["--jobs", "4"]):
        result = runner.invoke(
            app, ["classify", str(sample_recording_path()), "--out", str(tmp_path), "--json", *jobs]
        )
        assert result.exit_code == 0, result.stderr or result.output
        assert json.loads(result.stdout)["total"]["steps"] > 100


def _die_on_crash(job: FileJob, settings: ClassifySettings) -> FileOutcome:
    """A worker's work that ends its process outright on a file named crash (as the OOM killer would)."""
    if "crash" in Path(job.path).name:
        os.kill(os.getpid(), signal.SIGKILL)
    return classify_file(job, settings)


def test_a_worker_that_dies_fails_its_own_file_only(tmp_path: Path, ipol_dir: Path) -> None:
    from gaitdir.model import default_model_path, file_sha256, load_model

    names = ["a", "crash", "b", "c", "d"]
    for name in names:
        shutil.copyfile(ipol_dir / "3-1_lb.txt", tmp_path / f"{name}_lb.txt")
        shutil.copyfile(ipol_dir / "3-1.json", tmp_path / f"{name}.json")
    out = tmp_path / "out"
    jobs = [
        FileJob(i, str(tmp_path / f"{name}_lb.txt"), str(out / f"{name}_lb.steps.csv"))
        for i, name in enumerate(names)
    ]
    settings = ClassifySettings(load_model(), file_sha256(default_model_path()))
    with ProcessPoolRunner(settings, 2, work=_die_on_crash) as pool:
        outcomes = sorted(pool.run(jobs), key=lambda o: o.index)
    assert [o.index for o in outcomes] == list(range(len(names)))
    assert [o.ok for o in outcomes] == [True, False, True, True, True]
    assert "crash_lb.txt: the worker process classifying it ended unexpectedly" in (outcomes[1].error or "")
    assert len({o.steps for o in outcomes if o.ok}) == 1 and outcomes[0].steps > 20
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}_lb{suffix}"
        for name in names
        if name != "crash"
        for suffix in (".steps.csv", ".summary.json")
    )


# --------------------------------------------------------------------------------------------------
# Stopping and resuming


def _gaitdir() -> list[str]:
    exe = Path(sys.executable).parent / "gaitdir"
    return [str(exe)] if exe.exists() else [shutil.which("gaitdir") or "gaitdir"]


def _processes_marked(mark: str) -> list[int]:
    """Processes whose environment holds ``GAITDIR_TEST_MARK=mark`` (a command and its workers)."""
    found = []
    needle = f"GAITDIR_TEST_MARK={mark}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _gone(mark: str, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _processes_marked(mark):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def batch_process(tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    """Started ``gaitdir classify`` processes, killed at the end of the test whatever happened."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start_batch(files: list[Path], out: Path, mark: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*_gaitdir(), "classify", *map(str, files), "--out", str(out), "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "GAITDIR_TEST_MARK": mark},
        start_new_session=True,  # its own process group, as a command typed at a terminal
    )


def _wait_for_first_summary(proc: subprocess.Popen, out: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (out.is_dir() and any(out.glob("*.summary.json"))):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no file was classified in time"
        time.sleep(0.005)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
def test_a_killed_batch_resumes_with_skip_existing(
    tmp_path: Path, hour_files: list[Path], batch_process: list[subprocess.Popen]
) -> None:
    clean = tmp_path / "clean"
    done = subprocess.run(
        [*_gaitdir(), "classify", *map(str, hour_files), "--out", str(clean), "--json"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()

    out = tmp_path / "out"
    mark = uuid.uuid4().hex
    proc = _start_batch(hour_files, out, mark, "--jobs", "2")
    batch_process.append(proc)
    _wait_for_first_summary(proc, out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _gone(mark), "worker processes outlived the killed command"
    complete = {p.name.removesuffix(".summary.json") for p in out.glob("*.summary.json")}
    assert 0 < len(complete) < len(hour_files), "the batch was not killed halfway"
    # Whatever exists under a final name is complete: a steps file as a clean run writes it.
    for name, data in _steps_files(out).items():
        assert data == (clean / name).read_bytes()

    resumed = subprocess.run(
        [*_gaitdir(), "classify", *map(str, hour_files), "--out", str(out), "--json", "--skip-existing"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    payload = json.loads(resumed.stdout)
    skipped = {Path(s["path"]).stem for s in payload["skipped"]}
    assert skipped == complete
    assert {Path(f["path"]).stem for f in payload["files"]} == {p.stem for p in hour_files} - complete
    assert _steps_files(out) == _steps_files(clean)
    assert _summaries(out) == {k: v for k, v in _summaries(clean).items()} != {}
    assert not _temporary(out)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
@pytest.mark.parametrize(
    ("jobs", "how"),
    [("2", "ctrl-c"), ("1", "ctrl-c"), ("2", "sigterm")],
)
def test_an_interrupted_batch_stops_cleanly(
    tmp_path: Path, hour_files: list[Path], batch_process: list[subprocess.Popen], jobs: str, how: str
) -> None:
    out = tmp_path / "out"
    mark = uuid.uuid4().hex
    proc = _start_batch(hour_files, out, mark, "--jobs", jobs)
    batch_process.append(proc)
    _wait_for_first_summary(proc, out)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # the terminal sends it to the whole process group
    else:
        proc.send_signal(signal.SIGTERM)  # a batch system's time limit
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert stdout == b""
    assert "interrupted:" in stderr.decode() and "--skip-existing" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert _gone(mark), "worker processes outlived the command"
    assert not _temporary(out)
    steps = {p.name.removesuffix(".steps.csv") for p in out.glob("*.steps.csv")}
    summaries = {p.name.removesuffix(".summary.json") for p in out.glob("*.summary.json")}
    assert steps == summaries and 0 < len(steps) < len(hour_files)


# --------------------------------------------------------------------------------------------------
# Summaries and --skip-existing


def test_summary_says_what_was_done(runner: CliRunner, tmp_path: Path, ipol_dir: Path) -> None:
    from gaitdir import __version__
    from gaitdir.model import default_model_path

    source = ipol_dir / "3-1_lb.txt"
    out = tmp_path / "out"
    result = runner.invoke(app, ["classify", str(source), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    entry = json.loads(result.stdout)["files"][0]
    assert entry["summary"] == str(out / "3-1_lb.summary.json")
    steps_file, summary_file = Path(entry["output"]), Path(entry["summary"])
    summary = json.loads(summary_file.read_text())
    # written after the steps (its presence means both are complete)
    assert summary_file.stat().st_mtime_ns >= steps_file.stat().st_mtime_ns

    rows = np.genfromtxt(steps_file, delimiter=",", names=True, dtype=None, encoding="utf-8")
    assert summary["counts"] == {
        "steps": len(rows),
        "forward": int(np.sum(rows["direction"] == "forward")),
        "backward": int(np.sum(rows["direction"] == "backward")),
    }
    assert summary["counts"] == {k: entry[k] for k in ("steps", "forward", "backward")}
    assert summary["walking_time_s"] == pytest.approx(rows["duration_s"].sum(), abs=0.01)
    assert summary["walking_time_s"] > 10
    from gaitdir.recordings import read_recording

    recording = read_recording(source)
    assert summary["input"]["duration_s"] == pytest.approx(recording.duration_s)
    assert summary["steps_per_hour"] == pytest.approx(len(rows) * 3600 / recording.duration_s, abs=1e-3)
    assert summary["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert summary["input"]["size_bytes"] == source.stat().st_size
    assert summary["input"]["format"] == "ipol" and summary["input"]["path"] == str(source)
    assert summary["forward_reference"]["source"] == entry["forward_reference"]["source"] == "file"
    assert summary["forward_reference"]["axis"] == entry["forward_reference"]["axis"]
    assert summary["gaitdir_version"] == __version__
    assert summary["model"] == {
        "path": None,
        "sha256": hashlib.sha256(default_model_path().read_bytes()).hexdigest(),
    }
    assert summary["detector"]["placement"] == "lower_back"
    assert summary["detector"]["grid_rate_hz"] == 100.0 and len(summary["detector"]["band_hz"]) == 2
    assert summary["options"] == {"format": None, "placement": None, "forward_axis": None}
    assert summary["steps_file"] == steps_file.name


def test_skip_existing_skips_only_complete_up_to_date_outputs(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path
) -> None:
    sources = []
    for trial in ("3-1", "4-2", "5-3"):
        for suffix in ("_lb.txt", ".json"):
            shutil.copyfile(ipol_dir / f"{trial}{suffix}", tmp_path / f"{trial}{suffix}")
        sources.append(tmp_path / f"{trial}_lb.txt")
    out = tmp_path / "out"
    args = ["classify", *map(str, sources), "--out", str(out), "--jobs", "1", "--skip-existing"]

    def run(*extra: str) -> tuple[list[str], list[str]]:
        result = runner.invoke(app, [*args, "--json", *extra])
        assert result.exit_code == 0, result.stderr
        payload = json.loads(result.stdout)
        names = [Path(f["path"]).name for f in payload["files"]]
        return names, [Path(s["path"]).name for s in payload["skipped"]]

    assert run() == (["3-1_lb.txt", "4-2_lb.txt", "5-3_lb.txt"], [])
    first = _outputs(out)
    assert run() == ([], ["3-1_lb.txt", "4-2_lb.txt", "5-3_lb.txt"])
    assert _outputs(out) == first  # untouched
    steps, summaries = _steps_files(out), _summaries(out)

    # an input newer than its steps, a summary missing, a temporary file a killed run left behind
    earlier = sources[0].stat().st_mtime - 60
    os.utime(out / "3-1_lb.steps.csv", (earlier, earlier))
    (out / "4-2_lb.summary.json").unlink()
    (out / ".5-3_lb.steps.csv.abc123.tmp").write_text("half")
    assert run() == (["3-1_lb.txt", "4-2_lb.txt"], ["5-3_lb.txt"])
    assert _steps_files(out) == steps and _summaries(out) == summaries  # the same results
    assert not _temporary(out)  # and no leftover

    # other options, another result: nothing is skipped
    assert run("--placement", "chest") == (["3-1_lb.txt", "4-2_lb.txt", "5-3_lb.txt"], [])
    assert all(s["options"]["placement"] == "chest" for s in _summaries(out).values())

    table = runner.invoke(app, [*args, "--placement", "chest"])
    assert table.exit_code == 0, table.stderr
    assert "skipped 3 of 3 files" in table.stderr and "--skip-existing" in table.stderr


# --------------------------------------------------------------------------------------------------
# Dask


def test_classify_on_a_dask_cluster_writes_what_one_process_writes(
    runner: CliRunner, tmp_path: Path, ipol_dir: Path, oxford_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed = pytest.importorskip("distributed")
    # Relative paths, as typed in a study's folder: the workers find them against this folder.
    monkeypatch.chdir(tmp_path)
    data = Path("data")
    data.mkdir()
    files = []
    for source in _real_files(ipol_dir, oxford_dir):
        shutil.copyfile(source, data / source.name)
        if source.suffix == ".txt":
            trial = source.name.removesuffix("_lb.txt")
            shutil.copyfile(source.with_name(f"{trial}.json"), data / f"{trial}.json")
        files.append(str(data / source.name))
    (data / "bad.csv").write_text("time_s,acc_x,acc_y,acc_z\n0.00,0.1,9.8,0.2\n0.01,0.1,n/a,0.2\n")
    files.insert(2, str(data / "bad.csv"))

    local = runner.invoke(app, ["classify", *files, "--out", "local", "--json", "--jobs", "1"])
    assert local.exit_code == 1, local.stderr
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = runner.invoke(
            app, ["classify", *files, "--out", "cluster", "--json", "--scheduler", cluster.scheduler_address]
        )
        assert remote.exit_code == 1, remote.stderr
        # the model reached the two workers, where every file was classified
        pids = {json.loads(p.read_text())["run"]["pid"] for p in Path("cluster").glob("*.summary.json")}
        with distributed.Client(cluster) as client:
            worker_pids = set(client.run(os.getpid).values())
        # the cluster found through a scheduler file, as a batch job finds it (`dask scheduler
        # --scheduler-file` writes the scheduler's identity, whose "address" clients read)
        identity = {"type": "Scheduler", "address": cluster.scheduler_address}
        Path("scheduler.json").write_text(json.dumps(identity))
        assert len(worker_pids) == 2
        by_file = runner.invoke(
            app, ["classify", *files[:2], "--out", "by-file", "--json", "--scheduler", "scheduler.json"]
        )
        assert by_file.exit_code == 0, by_file.stderr
    assert pids and pids <= worker_pids and os.getpid() not in pids
    assert _steps_files(Path("cluster")) == _steps_files(Path("local"))
    assert len(_steps_files(Path("local"))) == len(files) - 1
    by_file_steps, local_steps = _steps_files(Path("by-file")), _steps_files(Path("local"))
    assert len(by_file_steps) == 2
    assert by_file_steps == {name: local_steps[name] for name in by_file_steps}
    assert _summaries(Path("cluster")) == {
        name: json.loads(json.dumps(s)) for name, s in _summaries(Path("local")).items()
    }
    local_json, remote_json = json.loads(local.stdout), json.loads(remote.stdout)
    assert remote_json["errors"] == local_json["errors"] and len(local_json["errors"]) == 1
    assert remote_json["errors"][0]["path"] == "data/bad.csv"
    assert _without_out_dir(remote_json, Path("cluster")) == _without_out_dir(local_json, Path("local"))
    error_lines = [line for line in remote.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [line for line in local.stderr.splitlines() if line.startswith("error:")]


def test_a_worker_with_another_gaitdir_refuses_its_file(tmp_path: Path, ipol_dir: Path) -> None:
    """On a cluster, a worker whose gaitdir differs from the command's would write other results."""
    from gaitdir.batch._dask import _run_task
    from gaitdir.model import load_model

    job = FileJob(0, str(ipol_dir / "3-1_lb.txt"), str(tmp_path / "3-1_lb.steps.csv"))
    outcome = _run_task(job, ClassifySettings(load_model(), "0" * 64), "0.0.1")
    assert not outcome.ok and "runs gaitdir" in (outcome.error or "") and "0.0.1" in (outcome.error or "")
    assert not list(tmp_path.iterdir())


def test_scheduler_without_dask_says_how_to_get_it(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gaitdir.recordings import sample_recording_path

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    result = runner.invoke(
        app, ["classify", str(sample_recording_path()), "--out", str(tmp_path), "--scheduler", "tcp://x:8786"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --scheduler needs Dask")
    assert "pip install 'gaitdir[dask]'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_unreachable_scheduler_is_one_error_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    import socket

    import gaitdir.batch._dask
    from gaitdir.recordings import sample_recording_path

    monkeypatch.setattr(gaitdir.batch._dask, "_CONNECT_TIMEOUT_S", 1)
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    result = runner.invoke(
        app, ["classify", str(sample_recording_path()), "--out", str(tmp_path), "--scheduler", address]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert "Traceback" not in result.stderr


def test_jobs_and_scheduler_exclude_each_other(runner: CliRunner, tmp_path: Path) -> None:
    from gaitdir.recordings import sample_recording_path

    result = runner.invoke(
        app, ["classify", str(sample_recording_path()), "--jobs", "2", "--scheduler", "tcp://x:8786"]
    )
    assert result.exit_code == 2


_IMPORTS = """
import sys
import gaitdir.batch
import gaitdir.cli
print(sorted(m for m in ("dask", "distributed") if m in sys.modules))
"""


def test_the_command_line_does_not_import_dask() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTS], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_stop_signal_inside_a_weak_reference_callback_is_delivered_again() -> None:
    # Python runs the handler between any two bytecodes; inside a weak reference's callback an exception
    # would be printed with a traceback and lost, and the batch would go on. It comes again instead.
    inside_callback = _frame_of("/lib/_weakrefset.py", "_remove")
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    returned = False
    with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt():
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, inside_callback)  # returns: not raised where it would be lost
        returned = True
        while time.monotonic() - started < 5.0:
            time.sleep(0.01)
    assert returned
    assert time.monotonic() - started < 1.0
    assert signal.getsignal(signal.SIGTERM) is before


def _frame_of(filename: str, function: str) -> FrameType:
    """A frame of a function ``function`` that seems to come from ``filename``."""
    namespace: dict = {}
    source = f"import sys\ndef {function}():\n    return sys._getframe()\n"
    exec(compile(source, filename, "exec"), namespace)
    return namespace[function]()


def test_a_worker_signal_where_its_exception_would_be_lost_comes_again() -> None:
    # a worker's SIGTERM handler raises SystemExit; inside a weak reference's callback or a __del__ that
    # would print a traceback on the batch's stderr and be dropped
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        assert not redelivered_if_lost(signal.SIGUSR1, _frame_of("/src/batch.py", "run"))
        assert not redelivered_if_lost(signal.SIGUSR1, None)
        for frame in (_frame_of("/lib/_weakrefset.py", "_remove"), _frame_of("/src/writer.py", "__del__")):
            received.clear()
            assert redelivered_if_lost(signal.SIGUSR1, frame)
            deadline = time.monotonic() + 2.0
            while not received and time.monotonic() < deadline:
                time.sleep(0.01)
            assert received == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, previous)
