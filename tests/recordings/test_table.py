"""The block-wise careful pass: exact line numbers and identical values across block boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import RecordingError
from gaitdir.recordings import _table, read_recording


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # ~5 lines per block, so that every case below crosses block boundaries.
    monkeypatch.setattr(_table, "_BLOCK_BYTES", 100)


def rows(n: int) -> list[str]:
    return [f"{i / 100:.2f},0.{i % 10},9.8,0.{(i * 3) % 10}" for i in range(n)]


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.usefixtures("small_blocks")
def test_blockwise_pass_equals_fast_path(tmp_path: Path) -> None:
    lines = ["# sensor: x", "time_s,acc_x,acc_y,acc_z", *rows(200)]
    expected = read_recording(write(tmp_path, lines))
    # A comment with commas refuses the fast path for the whole file; one block goes line by line.
    lines.insert(100, "# a, b, c, d")
    lines.insert(150, "# gap: start_s=1.47 end_s=1.48")
    got = read_recording(write(tmp_path, lines))
    np.testing.assert_array_equal(got.time_s, expected.time_s)
    np.testing.assert_array_equal(got.acc_mps2, expected.acc_mps2)
    np.testing.assert_allclose(got.gaps_s, [[1.47, 1.48]])


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("bad_line", [7, 8, 9, 10, 11, 57, 133, 202])
def test_error_line_is_exact_in_any_block(tmp_path: Path, bad_line: int) -> None:
    lines = ["# sensor: x", "time_s,acc_x,acc_y,acc_z", *rows(200)]
    lines.insert(20, "# a, b, c, d")  # forces the careful pass
    lines[bad_line - 1] = lines[bad_line - 1].replace("9.8", "9.8x")
    with pytest.raises(RecordingError) as info:
        read_recording(write(tmp_path, lines))
    assert (info.value.line, info.value.column) == (bad_line, "acc_y")


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("bad_line", [6, 7, 8, 9, 10, 100, 202])
def test_time_backwards_across_block_boundaries(tmp_path: Path, bad_line: int) -> None:
    lines = ["time_s,acc_x,acc_y,acc_z", *rows(202)]
    lines.insert(3, "")  # a blank line shifts rows against lines
    previous = lines[bad_line - 2]
    lines[bad_line - 1] = previous  # repeats the previous row's time
    with pytest.raises(RecordingError) as info:
        read_recording(write(tmp_path, lines))
    assert (info.value.line, info.value.column) == (bad_line, "time_s")
    assert f"line {bad_line - 1}" in str(info.value)


def test_fast_path_refusal_on_a_large_file_costs_one_block(tmp_path: Path) -> None:
    # 100k rows with one bad cell near the end: the error names the exact line.
    n = 100_000
    t = np.arange(n) / 100.0
    body = "\n".join(f"{x:.2f},0.1,9.8,0.2" for x in t)
    path = tmp_path / "big.csv"
    path.write_text(
        "time_s,acc_x,acc_y,acc_z\n" + body.replace(f"\n{t[-10]:.2f},0.1", f"\n{t[-10]:.2f},nan") + "\n"
    )
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert (info.value.line, info.value.column) == (n - 9 + 1, "acc_x")


@pytest.mark.parametrize("fault", ["repeat", "backwards", "nan", "inf"])
def test_fast_path_checks_reach_across_its_batches(tmp_path: Path, fault: str) -> None:
    # The fast path checks each parsed batch as it copies it, and the time also against the previous
    # batch's last row: a fault on the first row of a later batch must still refuse it.
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = 150_000  # ~3 MB: several of pyarrow's 1 MB blocks
    body = [f"{i / 100:.2f},0.1,9.8,0.2" for i in range(n)]
    path = write(tmp_path, ["time_s,acc_x,acc_y,acc_z", *body])
    clean = read_recording(path)
    np.testing.assert_array_equal(clean.time_s, np.arange(n) / 100)
    with pa.OSFile(str(path)) as source:  # batched as the fast path reads it: from after the header
        source.seek(len("time_s,acc_x,acc_y,acc_z\n"))
        names = pacsv.ReadOptions(column_names=["f0", "f1", "f2", "f3"])
        sizes = [b.num_rows for b in pacsv.read_csv(source, read_options=names).to_batches()]
    assert len(sizes) > 2
    row = sizes[0] + sizes[1]  # 0-based data row that starts the third batch
    line = row + 2  # its 1-based line in the file, after the header
    if fault == "repeat":
        body[row] = body[row - 1]
    elif fault == "backwards":
        body[row] = body[row - 2]
    else:
        body[row] = body[row].replace(",0.1,", f",{fault},")
    path = write(tmp_path, ["time_s,acc_x,acc_y,acc_z", *body])
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert (info.value.line, info.value.column) == (line, "acc_x" if fault in ("nan", "inf") else "time_s")
