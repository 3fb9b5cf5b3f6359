"""Live and offline agree: step counts of ``gaitdir live --virtual REC`` against ``gaitdir classify REC``.

For each real recording, two whole processes run:

a. ``gaitdir classify REC --json`` — the offline count;
b. ``gaitdir live --virtual REC --speed 20`` — the built-in virtual Polar H10 replays REC through the real
   frame encoding over real GATT (resampled to the sensor's own rate, as a real H10 would sample the same
   movement), and ``live`` counts it through the same pipeline; its stdout is not a terminal, so it prints
   one ``step ...`` line per step and a final ``summary ...`` line, which is parsed.

Reported per file: both counts and the difference per 100 steps; overall: the total absolute difference per
100 steps. Target: within ±1 step per 100.

Data (read by path from ``../shared/datasets``, never copied): IPOL lower-back trials of subjects 8–14 (one
trial each; Voisard et al., IPOL 2023, AGPL-3.0) and the six Oxford step-counter phone recordings (user 1;
CC BY 4.0). Nothing is tuned on these runs.

Run from the repository root::

    nice python benchmarks/live_agreement.py          # table
    nice python benchmarks/live_agreement.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO / ".." / "shared" / "datasets"
TARGET_PER_100 = 1.0
_SUMMARY = re.compile(r"^summary (.*)$", re.MULTILINE)


def default_recordings(datasets: Path) -> list[Path]:
    """One IPOL lower-back trial per subject 8–14 and every Oxford file."""
    ipol = datasets / "ipol-healthy-gait" / "GaitData"
    files = [ipol / f"{subject}-1_lb.txt" for subject in range(8, 15)]
    files += sorted((datasets / "oxford-step-counter").glob("*.csv"))
    return [f for f in files if f.exists()]


# ``python -c`` entry that runs the console script's function (works without the script on PATH).
_ENTRY = "import sys; from gaitdir.cli import main; sys.argv[0] = 'gaitdir'; main()"


def _gaitdir(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``gaitdir ARGS`` as its own process (stdout is a pipe, so ``live`` prints plain lines)."""
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, *args], capture_output=True, text=True, check=False, cwd=REPO
    )


def offline_count(path: Path, out_dir: Path) -> int:
    done = _gaitdir("classify", str(path), "--json", "--out", str(out_dir))
    if done.returncode != 0:
        raise RuntimeError(f"classify {path} failed: {done.stderr.strip()}")
    return int(json.loads(done.stdout)["total"]["steps"])


def live_count(path: Path, speed: float, sensor: str) -> tuple[int, dict[str, str]]:
    done = _gaitdir("live", "--virtual", str(path), "--speed", str(speed), "--sensor", sensor, "--no-history")
    match = _SUMMARY.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"live --virtual {path} failed: {done.stderr.strip()[-500:]}")
    fields = dict(item.split("=", 1) for item in match.group(1).split())
    return int(fields["steps"]), fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", nargs="*", type=Path, help="default: IPOL 8-14 + Oxford")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--sensor", default="polar-h10")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    recordings = args.recordings or default_recordings(args.datasets.resolve())
    if not recordings:
        parser.error(f"no recordings found under {args.datasets}")

    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for path in recordings:
            offline = offline_count(path, Path(tmp))
            live, fields = live_count(path, args.speed, args.sensor)
            rows.append(
                {
                    "recording": str(path.relative_to(args.datasets.resolve()))
                    if path.resolve().is_relative_to(args.datasets.resolve())
                    else str(path),
                    "offline_steps": offline,
                    "live_steps": live,
                    "difference": live - offline,
                    "per_100": 100.0 * (live - offline) / max(offline, 1),
                    "live_samples": int(fields["samples"]),
                    "live_malformed_frames": int(fields["malformed_frames"]),
                }
            )
            r = rows[-1]
            print(
                f"{r['recording']:<60} offline {offline:5d}  live {live:5d}  diff {live - offline:+4d} "
                f"({r['per_100']:+.2f}/100)",
                file=sys.stderr if args.json else sys.stdout,
                flush=True,
            )
    total_offline = sum(r["offline_steps"] for r in rows)
    total_abs = sum(abs(r["difference"]) for r in rows)
    worst = max(abs(r["per_100"]) for r in rows)
    result = {
        "speed": args.speed,
        "sensor": args.sensor,
        "files": rows,
        "total_offline_steps": total_offline,
        "total_live_steps": sum(r["live_steps"] for r in rows),
        "total_abs_difference": total_abs,
        "abs_difference_per_100": 100.0 * total_abs / max(total_offline, 1),
        "worst_file_per_100": worst,
        "files_within_1_per_100_or_1_step": sum(
            abs(r["difference"]) <= max(1.0, r["offline_steps"] / 100.0) for r in rows
        ),
        "target_per_100": TARGET_PER_100,
        "wall_s": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"total: offline {total_offline} steps, live {result['total_live_steps']}; "
            f"|live - offline| = {total_abs} steps = {result['abs_difference_per_100']:.2f} per 100 "
            f"(target <= {TARGET_PER_100}); worst file {worst:.2f} per 100; "
            f"{result['files_within_1_per_100_or_1_step']}/{len(rows)} files within max(1 step, 1/100)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
