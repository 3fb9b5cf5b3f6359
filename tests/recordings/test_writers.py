"""Writers: atomic whole-file writes, step tables, and the crash-safe streaming writer."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gaitdir.recordings import (
    PARTIAL_SUFFIX,
    RecordingWriter,
    read_recording,
    write_recording_csv,
    write_steps_csv,
)


def test_recording_round_trip_keeps_everything(ipol_dir: Path, tmp_path: Path) -> None:
    original = read_recording(ipol_dir / "5-1_lb.txt")
    original.gaps_s = np.array([[3.005, 3.5], [10.0, 10.2]])
    out = write_recording_csv(tmp_path / "copy.csv", original)
    back = read_recording(out)
    np.testing.assert_allclose(back.time_s, original.time_s, atol=1e-6)
    np.testing.assert_allclose(back.acc_mps2, original.acc_mps2, atol=1e-6)
    np.testing.assert_allclose(back.gyr_radps, original.gyr_radps, atol=1e-6)
    assert back.labels.tolist() == original.labels.tolist()
    np.testing.assert_allclose(back.gaps_s, original.gaps_s)
    for key in ("placement", "subject", "sensor", "uturn_s"):
        assert back.meta[key] == original.meta[key]
    assert back.meta["format"] == "gaitdir" and not back.gravity_removed
    assert [p.name for p in tmp_path.iterdir()] == ["copy.csv"]
    # the usual permissions, not the private mode of a temporary file
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_gravity_removed_round_trip(kuhar_fixture: Path, tmp_path: Path) -> None:
    original = read_recording(kuhar_fixture / "11.Walk" / "1002_L_1.csv")
    back = read_recording(write_recording_csv(tmp_path / "k.csv", original))
    assert back.gravity_removed and back.meta["subject"] == "kuhar-1002"
    np.testing.assert_allclose(back.acc_mps2, original.acc_mps2, atol=1e-6)


def test_failed_write_leaves_old_file_and_no_temp(ipol_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous content\n")
    broken = read_recording(ipol_dir / "1-1_lb.txt")
    broken.labels = broken.labels[:10]  # wrong length: fails half-way through writing
    with pytest.raises(ValueError):
        write_recording_csv(target, broken)
    assert target.read_text() == "previous content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@dataclass
class Steps:
    time_s: np.ndarray
    duration_s: np.ndarray
    direction: np.ndarray
    confidence: np.ndarray


def test_write_steps_csv(tmp_path: Path) -> None:
    steps = Steps(
        np.array([0.51234, 1.1]),
        np.array([0.6, 0.55555]),
        np.array(["forward", "backward"]),
        np.array([0.98765, 0.5]),
    )
    path = write_steps_csv(tmp_path / "a.steps.csv", steps)
    assert path.read_text() == (
        "time_s,duration_s,direction,confidence\n0.512,0.600,forward,0.988\n1.100,0.556,backward,0.500\n"
    )
    empty = Steps(np.empty(0), np.empty(0), np.empty(0, dtype=str), np.empty(0))
    assert (
        write_steps_csv(tmp_path / "e.csv", empty).read_text() == "time_s,duration_s,direction,confidence\n"
    )
    with pytest.raises(ValueError, match="differ in length"):
        write_steps_csv(
            tmp_path / "bad.csv", Steps(np.zeros(2), np.zeros(1), np.array(["forward"] * 2), np.zeros(2))
        )
    assert not (tmp_path / "bad.csv").exists()


def test_write_steps_csv_is_python_formatting_byte_for_byte(tmp_path: Path) -> None:
    # Python's own per-value formatting is the reference, on values near every rounding tie, signed zeros,
    # non-finite and huge values, odd labels, and more rows than one write block.
    rng = np.random.default_rng(1)
    n = 70_000
    ties = (rng.integers(-(10**7), 10**7, n) + 0.5) / 1000.0
    columns = [
        np.concatenate([[0.0, -0.0, -1e-9, np.nan, np.inf, -np.inf, 1e300, 0.0625, 2.0**40], ties])[:n],
        np.nextafter(ties, np.inf) * rng.choice([1.0, -1.0], n),
        np.concatenate([rng.uniform(0, 1, n - 3), [0.9995, 0.0005, 1.0]]),
    ]
    labels = rng.choice(np.array(["forward", "backward", "rückwärts", "a\x00b", ""]), n)
    want = "time_s,duration_s,direction,confidence\n" + "".join(
        f"{t:.3f},{d:.3f},{label},{c:.3f}\n"
        for t, d, label, c in zip(*columns[:2], labels, columns[2], strict=True)
    )
    got = write_steps_csv(tmp_path / "s.csv", Steps(columns[0], columns[1], labels, columns[2]))
    assert got.read_bytes() == want.encode("utf-8")
    # labels that are not a numpy string array are written as str() of each value
    head = [column[:5] for column in columns]
    got = write_steps_csv(tmp_path / "o.csv", Steps(head[0], head[1], np.arange(5), head[2]))
    rows = zip(range(5), *head, strict=True)
    assert got.read_text().splitlines()[1:] == [f"{t:.3f},{d:.3f},{i},{c:.3f}" for i, t, d, c in rows]


def test_write_steps_csv_from_pieces_as_they_come(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 10_000
    whole = Steps(
        np.cumsum(rng.uniform(0.4, 0.7, n)),
        rng.uniform(0.4, 0.7, n),
        rng.choice(np.array(["forward", "backward"]), n),
        rng.uniform(0.5, 1.0, n),
    )
    cuts = [0, 0, 1, 4_000, 4_000, 9_999, n]  # empty pieces included

    def pieces() -> Iterator[Steps]:
        for a, b in itertools.pairwise(cuts):
            yield Steps(whole.time_s[a:b], whole.duration_s[a:b], whole.direction[a:b], whole.confidence[a:b])

    expected = write_steps_csv(tmp_path / "whole.csv", whole).read_bytes()
    assert write_steps_csv(tmp_path / "pieces.csv", pieces()).read_bytes() == expected

    # A source that fails part-way leaves no file (and no temporary one) behind.
    def failing() -> Iterator[Steps]:
        yield from itertools.islice(pieces(), 3)
        raise RuntimeError("the pipeline failed")

    with pytest.raises(RuntimeError, match="pipeline failed"):
        write_steps_csv(tmp_path / "failed.csv", failing())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pieces.csv", "whole.csv"]


def test_recording_writer_streams_gaps_and_renames(ipol_dir: Path, tmp_path: Path) -> None:
    source = read_recording(ipol_dir / "6-1_lb.txt")
    final = tmp_path / "live.csv"
    partial = tmp_path / ("live.csv" + PARTIAL_SUFFIX)
    with RecordingWriter(
        final, meta={"sensor": "polar-h10", "placement": "chest"}, has_gyro=True, has_label=True
    ) as w:
        for start in range(0, 1000, 50):
            rows = slice(start, start + 50)
            w.append(source.time_s[rows], source.acc_mps2[rows], source.gyr_radps[rows], label="forward")
            if start == 500:
                w.flush()
                # Everything flushed is readable while the recording is still going.
                assert read_recording(partial).n_samples == 550
                w.mark_gap(5.495, 6.0)
        # a late duplicate from a reconnect and a NaN row are dropped, not written
        w.append([9.99, 10.5], [[0, 9.8, 0], [np.nan, 9.8, 0]], [[0, 0, 0], [0, 0, 0]], label="forward")
        assert w.n_dropped_ == 2 and not final.exists()
    assert not partial.exists()
    back = read_recording(final)
    assert back.n_samples == 1000 and back.meta["sensor"] == "polar-h10"
    np.testing.assert_allclose(back.acc_mps2, source.acc_mps2[:1000], atol=1e-6)
    np.testing.assert_allclose(back.gaps_s, [[5.495, 6.0]])
    assert set(back.labels) == {"forward"}


def test_recording_writer_flushes_by_age(tmp_path: Path) -> None:
    writer = RecordingWriter(
        tmp_path / "r.csv", meta={}, has_gyro=False, has_label=False, flush_interval_s=0.0
    )
    writer.append([0.0, 0.01], [[0, 9.8, 0], [0, 9.8, 0.1]])
    assert read_recording(writer.partial_path).n_samples == 2
    writer.close()
    assert writer.close() == tmp_path / "r.csv"


def test_recording_writer_rejects_wrong_shapes(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "r.csv", meta={}, has_gyro=True, has_label=True) as writer:
        with pytest.raises(ValueError, match="gyr_radps is required"):
            writer.append([0.0], [[0, 9.8, 0]], label="forward")
        with pytest.raises(ValueError, match="unknown label"):
            writer.append([0.0], [[0, 9.8, 0]], [[0, 0, 0]], label="up")
        with pytest.raises(ValueError, match="acceleration rows"):
            writer.append([0.0, 0.1], [[0, 9.8, 0]], [[0, 0, 0]], label="forward")


def test_killed_writer_leaves_a_readable_partial_file(tmp_path: Path) -> None:
    final = tmp_path / "crash.csv"
    script = textwrap.dedent(
        f"""
        import numpy as np, time
        from gaitdir.recordings import RecordingWriter
        w = RecordingWriter({str(final)!r}, meta={{"sensor": "x"}}, has_gyro=False, has_label=False)
        t = 0.0
        while True:
            times = t + np.arange(20) / 100.0
            acc = np.column_stack([np.sin(times), 9.8 + np.cos(times), np.zeros(20)])
            w.append(times, acc)
            w.flush()
            t += 0.2
            print(int(round(t * 100)), flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        written = 0
        deadline = time.monotonic() + 30
        while written < 2000 and time.monotonic() < deadline:
            written = int(process.stdout.readline() or 0)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert written >= 2000
    recording = read_recording(tmp_path / ("crash.csv" + PARTIAL_SUFFIX))
    assert recording.n_samples >= 2000 and recording.n_samples % 20 == 0
    assert not final.exists()


def test_partial_file_with_a_cut_line_reads_back(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "r.csv", meta={}, has_gyro=False, has_label=False)
    writer.append(np.arange(100) / 100.0, np.tile([0.1, 9.8, 0.2], (100, 1))).flush()
    with writer.partial_path.open("a") as handle:
        handle.write("1.000000,0.1000")  # the process died in the middle of a write
    with pytest.warns(UserWarning, match="incomplete last line"):
        assert read_recording(writer.partial_path).n_samples == 100
