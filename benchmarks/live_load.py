"""Load: several virtual Polar H10s at 200 Hz streamed, labelled and recorded at once in one process.

``N`` (default 4) virtual H10 sensors replay real recordings at speed 1 (real time) through the real PMD
frame encoding over bumble's GATT; one process runs, for each, a :class:`SensorSession` and a
:class:`LiveSession` (step pipeline + ``--record`` writer), all on one asyncio loop, for ``--duration``
seconds (default 30). Reported:

* CPU share per sensor = process CPU time (user + system, all threads) / wall time / N, over the
  streaming window. This *includes* the virtual sensors themselves — both ends of every GATT link, the
  peripheral's frame encoding and pacing run in this same process — so it overstates what gaitdir costs
  next to real sensors; hence also
* the CPU time spent in the step pipeline alone (``StepPipeline.update``) per sensor, as a share of one
  core;
* the worst event-loop stall (how late a 10 ms timer fired), and
* dropped samples: each recording is read back and must be contiguous at 200 Hz from its first to its
  last sample, hold every sample received, and the sensor may have sent at most one frame more than was
  received (the frame in flight when the session stopped the stream).

Recordings replayed (by path from ``../shared/datasets``): the Oxford step-counter phone files (user 1,
CC BY 4.0), ~200 s each, cycled if N > 6.

Run from the repository root::

    nice python benchmarks/live_load.py                 # 4 sensors, 30 s
    nice python benchmarks/live_load.py -n 6 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO / ".." / "shared" / "datasets"
RATE_HZ = 200.0
FRAME_SAMPLES = 39


class _TimedPipeline:
    """Delegates to a StepPipeline and adds up the CPU time (this thread) its calls take."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.cpu_s = 0.0

    def update(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return self.pipeline.update(*args, **kwargs)
        finally:
            self.cpu_s += time.thread_time() - t0

    def flush(self) -> Any:
        return self.pipeline.flush()


async def _stalls(out: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.01)
        out.append(time.perf_counter() - t0 - 0.01)


async def _run(paths: list[Path], duration_s: float, workdir: Path) -> dict[str, Any]:
    from gaitdir.devices import DRIVERS, SensorSession, find_device
    from gaitdir.devices.virtual import VirtualSensor, VirtualWorld
    from gaitdir.live import LiveSession
    from gaitdir.model import load_model
    from gaitdir.pipeline import StepPipeline
    from gaitdir.recordings import read_recording

    model = load_model()  # loaded once, outside the measured window
    async with VirtualWorld() as world:
        recordings = [read_recording(p) for p in paths]
        sensors = [VirtualSensor(world, r, kind="polar-h10", speed=1.0) for r in recordings]
        for sensor in sensors:
            await sensor.start()
        sessions = []
        for sensor in sensors:
            found = await find_device(sensor.address, timeout_s=10.0, backend=world)
            sessions.append(
                SensorSession(DRIVERS["polar-h10"], found.device, backend=world, end_signal=sensor.finished)
            )
        pipelines = [
            _TimedPipeline(StepPipeline(model, placement=str(r.meta.get("placement", "auto"))))
            for r in recordings
        ]
        records = [workdir / f"sensor-{i}.csv" for i in range(len(sensors))]
        lives = [
            LiveSession(pipeline=pl, record_path=rec, duration_s=duration_s)
            for pl, rec in zip(pipelines, records, strict=True)
        ]
        stalls: list[float] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(_stalls(stalls, stop))
        cpu0, wall0 = os.times(), time.perf_counter()
        summaries = await asyncio.gather(*(live.run(s) for live, s in zip(lives, sessions, strict=True)))
        wall = time.perf_counter() - wall0
        cpu1 = os.times()
        stop.set()
        await watcher
        await asyncio.sleep(0.2)
        sent = [s.samples_sent for s in sensors]
        for sensor in sensors:
            await sensor.close()

    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    per_sensor = []
    for i, summary in enumerate(summaries):
        back = read_recording(records[i])
        dt = np.diff(back.time_s)
        expected = round((back.time_s[-1] - back.time_s[0]) * RATE_HZ) + 1
        per_sensor.append(
            {
                "recording": paths[i].name,
                "samples_received": summary.samples,
                "samples_sent": sent[i],
                "samples_recorded": back.n_samples,
                "contiguous": bool(np.all(np.abs(dt - 1 / RATE_HZ) < 0.25 / RATE_HZ)),
                "expected_from_span": expected,
                "steps": summary.steps,
                "malformed_frames": summary.malformed_frames,
                "gaps": summary.gaps,
                "stream_s": round(summary.stream_duration_s, 2),
                "pipeline_cpu_s": round(pipelines[i].cpu_s, 3),
            }
        )
    dropped = [
        not (
            r["contiguous"]
            and r["samples_recorded"] == r["samples_received"] == r["expected_from_span"]
            and 0 <= r["samples_sent"] - r["samples_received"] <= FRAME_SAMPLES
            and r["gaps"] == 0
            and r["malformed_frames"] == 0
        )
        for r in per_sensor
    ]
    n = len(paths)
    return {
        "sensors": n,
        "rate_hz": RATE_HZ,
        "wall_s": round(wall, 2),
        "process_cpu_s": round(cpu, 2),
        "cpu_share_per_sensor": round(cpu / wall / n, 4),
        "pipeline_cpu_share_per_sensor": round(sum(p.cpu_s for p in pipelines) / wall / n, 4),
        "max_loop_stall_ms": round(1e3 * max(stalls), 1),
        "p99_loop_stall_ms": round(1e3 * float(np.percentile(stalls, 99)), 1),
        "samples_received": sum(r["samples_received"] for r in per_sensor),
        "sensors_with_dropped_samples": int(sum(dropped)),
        "per_sensor": per_sensor,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--sensors", type=int, default=4)
    parser.add_argument("--duration", type=float, default=30.0, help="streaming time (s)")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    files = sorted((args.datasets.resolve() / "oxford-step-counter").glob("*.csv"))
    if not files:
        parser.error(f"no Oxford recordings under {args.datasets}")
    paths = [files[i % len(files)] for i in range(args.sensors)]
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_run(paths, args.duration, Path(tmp)))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for r in result["per_sensor"]:
        print(
            f"{r['recording']:<40} received {r['samples_received']:6d} sent {r['samples_sent']:6d} "
            f"recorded {r['samples_recorded']:6d} contiguous {r['contiguous']} steps {r['steps']:4d} "
            f"pipeline CPU {r['pipeline_cpu_s']:.2f} s"
        )
    print(
        f"{result['sensors']} sensors x {result['rate_hz']:g} Hz for {result['wall_s']} s: process CPU "
        f"{result['process_cpu_s']} s -> {100 * result['cpu_share_per_sensor']:.1f}% of a core per sensor "
        f"(incl. the in-process virtual sensors), pipeline alone "
        f"{100 * result['pipeline_cpu_share_per_sensor']:.2f}% per sensor; max loop stall "
        f"{result['max_loop_stall_ms']} ms; sensors with dropped samples: "
        f"{result['sensors_with_dropped_samples']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
