"""Day-long benchmark: ``gaitdir classify`` on 24 h at 100 Hz against parsing the same CSV with pyarrow.

Builds a day-long recording in gaitdir's CSV by tiling real walking: the IPOL lower-back trials
(Voisard et al., IPOL 2023; read by path from ``../shared/datasets``, never copied into the project), each
cut to its annotated trial boundaries (on the PacketCounter clock, as gaitdir's IPOL reader reads them)
and laid end to end on one regular 100 Hz time base (``row / 100`` s). The file goes to a temporary
folder outside the repository.

Then, in the same run and on the same (page-cached) file, it times

a. ``pyarrow.csv.read_csv`` alone — the floor any CSV-reading tool has to pay — repeated in this
   process (best of N: the allocator's memory is warm from the earlier repeats);
b. ``gaitdir classify FILE --json`` as a whole process (start-up, parsing, resampling, step detection,
   direction labels, writing the per-step file),

and reports both wall times (best of N runs each), the ratio b / a, the same for CPU time (all threads;
less sensitive to other load on the machine), and the peak resident memory of the classify process
(``ru_maxrss`` of that process, from ``os.wait4`` in a small launcher). Targets: wall ratio <= 4,
peak < 1.5 GB. For context only, it also times the same parse as the first work of a fresh process
(what any command-line tool pays: memory the allocator has not touched yet), and the ratio to that.

Run from the repository root::

    nice python benchmarks/day_long.py            # table
    nice python benchmarks/day_long.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO / ".." / "shared" / "datasets"
SAMPLE_RATE_HZ = 100.0
RATIO_TARGET = 4.0
PEAK_TARGET_BYTES = 1.5e9
METADATA = {
    "sensor": "xsens-mtw-awinda",
    "placement": "lower_back",
    "subject": "ipol-tiled",
}


def _walking_segments(ipol_dir: Path, with_gyro: bool) -> tuple[list[np.ndarray], int]:
    """Lower-back samples inside each trial's annotated boundaries, plus the heel strikes they hold.

    Returns
    -------
    segments : list of ndarray, shape (m, 3) or (m, 6)
        Acceleration (m/s², with gravity) and optionally angular rate (rad/s) per trial.
    n_heel_strikes : int
        Annotated heel strikes inside the kept spans (both feet), for a sanity check on the count.
    """
    segments: list[np.ndarray] = []
    n_heel_strikes = 0
    columns = (0, 1, 2, 3, 4, 5, 6) if with_gyro else (0, 1, 2, 3)
    for meta_path in sorted(ipol_dir.glob("*.json")):
        signal_path = meta_path.with_name(meta_path.stem + "_lb.txt")
        if not signal_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        start, end = (int(v) for v in meta["TrialBoundaries"])
        data = np.loadtxt(signal_path, skiprows=2, usecols=columns, ndmin=2)
        # The annotations are instants on the PacketCounter clock (as gaitdir's IPOL reader reads them);
        # the samples of dropped packets are simply missing, and the tiles are laid on a new regular clock.
        clock = data[:, 0] - data[0, 0]
        inside = (clock >= start) & (clock < end)
        if inside.sum() < 2 * int(SAMPLE_RATE_HZ):
            continue
        segments.append(data[inside, 1:])
        for _, heel_strike in meta["LeftFootEvents"] + meta["RightFootEvents"]:
            n_heel_strikes += int(start <= heel_strike < end)
    if not segments:
        raise SystemExit(f"no IPOL lower-back trials found in {ipol_dir}")
    return segments, n_heel_strikes


def build_day(path: Path, ipol_dir: Path, *, hours: float, with_gyro: bool) -> dict[str, float]:
    """Write ``hours`` of tiled real walking at 100 Hz to ``path`` in gaitdir's CSV format."""
    segments, strikes_per_pass = _walking_segments(ipol_dir, with_gyro)
    one_pass = np.concatenate(segments)
    n_samples = round(hours * 3600.0 * SAMPLE_RATE_HZ)
    n_passes = -(-n_samples // one_pass.shape[0])
    values = np.tile(one_pass, (n_passes, 1))[:n_samples]
    # Division, not accumulation: every time stamp is the shortest decimal for its row (0.07, not 0.0700001).
    time_s = np.arange(n_samples, dtype=np.float64) / SAMPLE_RATE_HZ
    names = ["acc_x", "acc_y", "acc_z"] + (["gyr_x", "gyr_y", "gyr_z"] if with_gyro else [])
    table = pa.table({"time_s": time_s, **{name: values[:, i] for i, name in enumerate(names)}})
    with path.open("wb") as fh:
        for key, value in METADATA.items():
            fh.write(f"# {key}: {value}\n".encode())
        fh.write((",".join(["time_s", *names]) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, batch_size=1 << 16))
    return {
        "samples": float(n_samples),
        "passes": n_samples / one_pass.shape[0],
        "heel_strikes_approx": strikes_per_pass * n_samples / one_pass.shape[0],
    }


def time_parse(path: Path, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` wall time (s) and CPU time (s, all threads) of ``pyarrow.csv.read_csv``.

    The metadata lines are skipped by count: the fast parser gets the easiest possible job.
    """
    skip = len(METADATA)
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(skip_rows=skip))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        del table
    return min(walls), min(cpus)


# The parse again, as the first thing a fresh process does (after importing pyarrow), for context: a
# command-line tool pays that first parse, which here costs more than a repeat in a warm process
# (memory the allocator has not used yet). Prints the parse's wall and CPU time (s) as JSON.
_FIRST_PARSE = """
import json, sys, time
import pyarrow.csv as pacsv
t0, c0 = time.perf_counter(), time.process_time()
pacsv.read_csv(sys.argv[1], read_options=pacsv.ReadOptions(skip_rows=int(sys.argv[2])))
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}))
"""


def time_first_parse(path: Path, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` wall and CPU time (s) of the same parse as the first work of a new process."""
    walls, cpus = [], []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-c", _FIRST_PARSE, str(path), str(len(METADATA))],
            capture_output=True,
            text=True,
            check=True,
        )
        timing = json.loads(proc.stdout)
        walls.append(timing["wall_s"])
        cpus.append(timing["cpu_s"])
    return min(walls), min(cpus)


def _gaitdir_command() -> list[str]:
    exe = shutil.which("gaitdir")
    return [exe] if exe else [sys.executable, "-c", "from gaitdir.cli import main; main()"]


# Runs ``gaitdir classify`` (argv[2:]) and writes its wall time and rusage as JSON to argv[1]. Why a
# launcher: on Linux a process's ru_maxrss starts at the resident high-water mark of the process that
# spawned it (exec records the peak of the address space it replaces), so a child of this script, which
# has just built and parsed the whole CSV, would report this script's peak instead of its own. Spawned
# from this small fresh process, classify reports its own.
_LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
elapsed = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"wall_s": elapsed, "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
               "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


def time_classify(path: Path, out_dir: Path, repeats: int) -> tuple[float, float, int, dict]:
    """Best-of-``repeats`` wall and CPU time (s), the largest peak RSS (bytes) and the JSON result of
    ``gaitdir classify`` run as a separate process."""
    times, cpus, peaks = [], [], []
    result: dict = {}
    report_path = out_dir.parent / "classify_usage.json"
    for _ in range(repeats):
        report_path.unlink(missing_ok=True)
        command = [*_gaitdir_command(), "classify", str(path), "--out", str(out_dir), "--json"]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # wait4 (in the launcher) gives the classify process's own rusage (ru_maxrss in KiB on
            # Linux), not a maximum over all children ever waited for.
            subprocess.run(
                [sys.executable, "-c", _LAUNCHER, str(report_path), *command],
                stdout=out,
                stderr=err,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if not report_path.exists():
            raise SystemExit(f"the classify launcher failed:\n{stderr.decode(errors='replace')}")
        usage = json.loads(report_path.read_text())
        if usage["returncode"] != 0:
            raise SystemExit(
                f"gaitdir classify failed ({usage['returncode']}):\n{stderr.decode(errors='replace')}"
            )
        times.append(usage["wall_s"])
        cpus.append(usage["cpu_s"])
        peaks.append(usage["maxrss_kib"] * 1024)
        result = json.loads(stdout)
    return min(times), min(cpus), max(peaks), result


_STAGES = """
import json, sys, time
t0 = time.perf_counter()
from gaitdir.model import load_model
from gaitdir.pipeline import classify_recording
from gaitdir.recordings import read_recording, write_steps_csv
from gaitdir.signal import preload
model = load_model()
t1 = time.perf_counter()
preload()  # classify runs this in a background thread during the read
t2 = time.perf_counter()
recording = read_recording(sys.argv[1])
t3 = time.perf_counter()
steps = classify_recording(recording, model=model)
t4 = time.perf_counter()
write_steps_csv(sys.argv[2], steps)
t5 = time.perf_counter()
classify_recording(recording, model=model, threaded=False)
t6 = time.perf_counter()
print(json.dumps({"import_and_load_model_s": t1 - t0, "import_scipy_s": t2 - t1, "read_s": t3 - t2,
                  "pipeline_s": t4 - t3, "write_steps_s": t5 - t4, "pipeline_one_thread_s": t6 - t5}))
"""


def time_stages(path: Path, out_dir: Path) -> dict[str, float]:
    """Where the time of ``classify`` goes: the same library calls timed stage by stage in a new process."""
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", _STAGES, str(path), str(out_dir / "stages.steps.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"stage timing failed:\n{proc.stderr}")
    return {key: round(value, 3) for key, value in json.loads(proc.stdout).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="length of the tiled recording (h)")
    parser.add_argument("--gyro", action="store_true", help="also write the gyroscope columns")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--parse-repeats", type=int, default=5, help="best of N for the parse")
    parser.add_argument("--classify-repeats", type=int, default=2, help="best of N for classify")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    ipol_dir = (args.datasets / "ipol-healthy-gait" / "GaitData").resolve()
    work = Path(tempfile.mkdtemp(prefix="gaitdir-day-long-"))
    try:
        csv_path = work / "day_long.csv"
        t0 = time.perf_counter()
        built = build_day(csv_path, ipol_dir, hours=args.hours, with_gyro=args.gyro)
        build_s = time.perf_counter() - t0
        # Warm the page cache so neither contender pays for the first read from disk.
        with csv_path.open("rb") as fh:
            while fh.read(1 << 24):
                pass
        parse_s, parse_cpu_s = time_parse(csv_path, args.parse_repeats)
        first_parse_s, first_parse_cpu_s = time_first_parse(csv_path, 3)
        classify_s, classify_cpu_s, peak_bytes, result = time_classify(
            csv_path, work / "out", args.classify_repeats
        )
        stages = time_stages(csv_path, work / "stages")
        figures = {
            "hours": args.hours,
            "samples": int(built["samples"]),
            "columns": 7 if args.gyro else 4,
            "file_mb": round(csv_path.stat().st_size / 1e6, 1),
            "build_s": round(build_s, 2),
            "parse_s": round(parse_s, 3),
            "classify_s": round(classify_s, 3),
            "ratio": round(classify_s / parse_s, 2),
            "parse_cpu_s": round(parse_cpu_s, 3),
            "classify_cpu_s": round(classify_cpu_s, 3),
            "cpu_ratio": round(classify_cpu_s / parse_cpu_s, 2),
            "ratio_target": RATIO_TARGET,
            # context only (the target is the ratio above): the parse as a fresh process's first work
            "first_parse_s": round(first_parse_s, 3),
            "first_parse_cpu_s": round(first_parse_cpu_s, 3),
            "ratio_to_first_parse": round(classify_s / first_parse_s, 2),
            "peak_rss_mb": round(peak_bytes / 1e6, 1),
            "peak_target_mb": PEAK_TARGET_BYTES / 1e6,
            "steps": result["total"]["steps"],
            "forward": result["total"]["forward"],
            "backward": result["total"]["backward"],
            "annotated_heel_strikes_approx": round(built["heel_strikes_approx"]),
            "cpus": os.cpu_count(),
            **{f"stage_{key}": value for key, value in stages.items()},
        }
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(figures))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    ok = figures["ratio"] <= RATIO_TARGET and peak_bytes < PEAK_TARGET_BYTES
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
