"""Batch benchmark: files per minute for ``classify --jobs 1``, ``--jobs 2`` and a two-worker Dask cluster.

Builds a batch of equal files in gaitdir's CSV by tiling real walking: the IPOL lower-back trials (Voisard
et al., IPOL 2023; read by path from ``../shared/datasets``, never copied into the project), each cut to its
annotated trial boundaries and laid end to end on one regular 100 Hz time base, as ``day_long.py`` does.
Every file has the same length and starts at another trial, so the files are equal in work but not
copies. They go to a temporary folder outside the repository.

Then, in rounds (each round runs every contender once, in turn, on the same page-cached files):

a. ``gaitdir classify FILES --jobs 1`` — the baseline: one file after another in one process;
b. ``gaitdir classify FILES --jobs 2`` — two worker processes;
c. ``gaitdir classify FILES --scheduler ADDRESS`` — a ``distributed.LocalCluster`` of two worker processes
   with one thread each, started once before the rounds (its start-up is reported apart: a study starts
   its cluster once);

each as a whole process (start-up, imports, every file read, classified and written). Reported: wall time
per contender (median and range over the rounds), files per minute, the speed-up against ``--jobs 1``
(ratio of the medians, and the range of the per-round ratios), the CPU time of the command process, and
the peak resident memory of each process that classified files (each summary's ``run.peak_rss_mb``).
Every run's steps files must be byte for byte those of the first ``--jobs 1`` run, and its summaries the
same apart from their ``run`` part; the script stops otherwise.

``--worker-threads`` also compares, through the library (:class:`gaitdir.batch.ProcessPoolRunner`, two
workers), worker processes that condition each file one chunk ahead in a thread (as a single file in
one process does) against workers that do everything in one thread.

Run from the repository root::

    nice python benchmarks/batch.py                  # 8 files of 6 h, 5 rounds
    nice python benchmarks/batch.py --hours 1 --files 24 --repeats 7
    nice python benchmarks/batch.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from day_long import (
    DEFAULT_DATASETS,
    METADATA,
    SAMPLE_RATE_HZ,
    _gaitdir_command,
    _walking_segments,
)

SPEEDUP_TARGET = 1.7


def build_batch(folder: Path, ipol_dir: Path, *, n_files: int, hours: float) -> list[Path]:
    """Write ``n_files`` files of ``hours`` of tiled real walking each; file ``i`` starts at trial ``i``."""
    segments, _ = _walking_segments(ipol_dir, with_gyro=False)
    n_samples = round(hours * 3600.0 * SAMPLE_RATE_HZ)
    # Division, not accumulation: every time stamp is the shortest decimal for its row.
    time_s = np.arange(n_samples, dtype=np.float64) / SAMPLE_RATE_HZ
    files = []
    for i in range(n_files):
        k = i % len(segments)
        one_pass = np.concatenate(segments[k:] + segments[:k])
        values = np.tile(one_pass, (-(-n_samples // one_pass.shape[0]), 1))[:n_samples]
        table = pa.table({"time_s": time_s, **{f"acc_{a}": values[:, j] for j, a in enumerate("xyz")}})
        path = folder / f"walk{i:03d}.csv"
        with path.open("wb") as fh:
            for key, value in METADATA.items():
                fh.write(f"# {key}: {value}\n".encode())
            fh.write(b"time_s,acc_x,acc_y,acc_z\n")
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, batch_size=1 << 16))
        files.append(path)
    return files


# Runs the command in argv[2:] and writes its wall time and rusage (that process only) to argv[1]; see
# day_long.py for why a small launcher and not a child of this (large) process.
_LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"wall_s": time.perf_counter() - t0, "cpu_s": usage.ru_utime + usage.ru_stime,
               "maxrss_kib": usage.ru_maxrss, "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


# Set in the environment of every command this benchmark starts, and so of their workers (a fork server
# outlives its command for a moment, with another parent): how its processes are told from others'.
_MARK = f"GAITDIR_BENCHMARK_RUN={os.getpid()}"


def _processes() -> dict[int, tuple[int, float]]:
    """Every process now: pid -> (parent pid, CPU seconds of it and of its waited-for children).

    Processes started by this benchmark's commands get the parent pid of this process, whatever their
    real parent is now.
    """
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ours = _MARK.encode() in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        # after the command name: state, ppid, ... utime (14th field of the line), stime, cutime, cstime
        parent = os.getpid() if ours else int(fields[1])
        found[int(entry.name)] = (parent, sum(int(v) for v in fields[11:15]) / tick)
    return found


def _others_cpu_s(before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]]) -> float:
    """CPU seconds that processes outside this benchmark's own process tree used between two snapshots.

    The machine is shared: this says how much of a run's time other work took (0 for a quiet run). It
    misses the work of processes that started and ended in between and were not waited for.
    """
    mine = {os.getpid()}
    grown = True
    while grown:
        grown = False
        for pid, (parent, _) in after.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grown = True
    used = 0.0
    for pid, (_, cpu) in after.items():
        if pid not in mine:
            used += cpu - before.get(pid, (0, 0.0))[1] if pid in before else cpu
    return max(used, 0.0)


def wait_for_quiet(max_wait_s: float) -> None:
    """Wait until the machine has been at least 90 % idle over two 5 s spans in a row (at most max_wait_s)."""

    def idle_and_total() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return values[3] + values[4], sum(values)

    deadline = time.monotonic() + max_wait_s
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        idle0, total0 = idle_and_total()
        time.sleep(5)
        idle1, total1 = idle_and_total()
        quiet = quiet + 1 if (idle1 - idle0) >= 0.9 * (total1 - total0) else 0


def run_classify(files: list[Path], out: Path, mode: list[str], report: Path) -> dict[str, Any]:
    """One ``gaitdir classify`` over the batch as a separate process: timings and the summaries' figures."""
    shutil.rmtree(out, ignore_errors=True)
    command = [*_gaitdir_command(), "classify", *map(str, files), "--out", str(out), "--json", *mode]
    before = _processes()
    with tempfile.TemporaryFile() as err:
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), *command],
            stderr=err,
            env={**os.environ, _MARK.split("=")[0]: _MARK.split("=")[1]},
            check=False,
        )
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    others = _others_cpu_s(before, _processes())
    usage = json.loads(report.read_text())
    if usage["returncode"] != 0:
        raise SystemExit(f"gaitdir classify {' '.join(mode)} failed ({usage['returncode']}):\n{stderr}")
    peaks: dict[int, float] = {}
    for summary in out.glob("*.summary.json"):
        run = json.loads(summary.read_text())["run"]
        peaks[run["pid"]] = max(peaks.get(run["pid"], 0.0), run["peak_rss_mb"])
    return {
        "wall_s": usage["wall_s"],
        "cpu_s": usage["cpu_s"],
        "command_peak_mb": usage["maxrss_kib"] * 1024 / 1e6,
        "worker_peaks_mb": sorted(peaks.values()),
        "others_cpu_s": others,
    }


def _results(out: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The steps files (bytes) and the summaries without their ``run`` part, by name."""
    steps = {p.name: p.read_bytes() for p in sorted(out.glob("*.steps.csv"))}
    summaries = {}
    for path in sorted(out.glob("*.summary.json")):
        document = json.loads(path.read_text())
        document.pop("run")
        summaries[path.name] = document
    return steps, summaries


def compare_worker_threads(files: list[Path], work: Path, repeats: int) -> dict[str, list[float]]:
    """Wall time (s) of two library worker processes with and without the per-file conditioning thread."""
    import dataclasses

    from gaitdir.batch import ClassifySettings, FileJob, ProcessPoolRunner
    from gaitdir.model import default_model_path, file_sha256, load_model

    settings = ClassifySettings(load_model(), file_sha256(default_model_path()))
    walls: dict[str, list[float]] = {"threaded": [], "one_thread": []}
    # The first pool of a process also starts its fork server: not timed.
    with ProcessPoolRunner(settings, 2) as pool:
        list(pool.run([]))
    for _ in range(repeats):
        for name, threaded in (("threaded", True), ("one_thread", False)):
            out = work / f"lib-{name}"
            shutil.rmtree(out, ignore_errors=True)
            jobs = [FileJob(i, str(f), str(out / f"{f.stem}.steps.csv")) for i, f in enumerate(files)]
            t0 = time.perf_counter()
            with ProcessPoolRunner(dataclasses.replace(settings, threaded=threaded), 2) as pool:
                outcomes = list(pool.run(jobs))
            walls[name].append(time.perf_counter() - t0)
            if not all(o.ok for o in outcomes):
                raise SystemExit(f"library run failed: {[o.error for o in outcomes if not o.ok]}")
    return walls


def _spread(values: list[float], digits: int = 2) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8, help="files in the batch")
    parser.add_argument("--hours", type=float, default=6.0, help="length of each file (h)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (each runs every contender once)")
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask cluster")
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="S", help="before each round, wait <= S s for quiet"
    )
    parser.add_argument("--worker-threads", action="store_true", help="also compare worker threading")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    ipol_dir = (args.datasets / "ipol-healthy-gait" / "GaitData").resolve()
    work = Path(tempfile.mkdtemp(prefix="gaitdir-batch-"))
    cluster = None
    try:
        (work / "in").mkdir()
        files = build_batch(work / "in", ipol_dir, n_files=args.files, hours=args.hours)
        for path in files:  # into the page cache, for every contender alike
            with path.open("rb") as fh:
                while fh.read(1 << 24):
                    pass
        modes: dict[str, list[str]] = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"]}
        cluster_start_s = None
        if not args.no_dask:
            from distributed import LocalCluster

            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            cluster_start_s = time.perf_counter() - t0
            modes["dask2"] = ["--scheduler", cluster.scheduler_address]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in modes}
        reference = None
        for _ in range(args.repeats):
            if args.wait_quiet:
                wait_for_quiet(args.wait_quiet)
            for name, mode in modes.items():
                out = work / f"out-{name}"
                runs[name].append(run_classify(files, out, mode, work / "usage.json"))
                results = _results(out)
                if reference is None:
                    reference = results
                elif results != reference:
                    raise SystemExit(f"{name}: outputs differ from those of --jobs 1")
        threads = compare_worker_threads(files, work, args.repeats) if args.worker_threads else None
        base = [r["wall_s"] for r in runs["jobs1"]]
        figures: dict[str, Any] = {
            "files": args.files,
            "hours_per_file": args.hours,
            "file_mb": round(files[0].stat().st_size / 1e6, 1),
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg()[0],
            "outputs_identical": True,
        }
        for name, results in runs.items():
            walls = [r["wall_s"] for r in results]
            figures[name] = {
                "wall_s": _spread(walls),
                "wall_s_per_round": [round(w, 2) for w in walls],
                "files_per_min": round(args.files * 60 / statistics.median(walls), 1),
                "speedup": round(statistics.median(base) / statistics.median(walls), 2),
                "speedup_per_round": _spread([b / w for b, w in zip(base, walls, strict=True)]),
                "command_cpu_s": _spread([r["cpu_s"] for r in results]),
                "command_peak_mb": round(max(r["command_peak_mb"] for r in results)),
                "worker_peak_mb": round(max(max(r["worker_peaks_mb"]) for r in results)),
                "processes_classifying": max(len(r["worker_peaks_mb"]) for r in results),
                "others_cpu_s": [round(r["others_cpu_s"], 2) for r in results],
            }
        if cluster_start_s is not None:
            figures["dask_cluster_start_s"] = round(cluster_start_s, 2)
        if threads is not None:
            figures["library_two_workers_s"] = {name: _spread(v) for name, v in threads.items()}
    finally:
        if cluster is not None:
            cluster.close()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<24}  {value}")
    return 0 if figures["jobs2"]["speedup"] >= SPEEDUP_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
