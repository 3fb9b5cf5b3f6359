"""gaitdir's own CSV: reading, metadata, gaps, units, crash-truncated files, and every bad-input error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitdir.errors import RecordingError, UnknownFormatError
from gaitdir.recordings import read_recording

GOOD_ROWS = "".join(f"{i / 100:.2f},{0.1 * (i % 7):.3f},9.81,{-0.2 * (i % 3):.3f}\n" for i in range(50))


def write(tmp_path: Path, text: str, name: str = "rec.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_metadata_columns_labels_and_gyro(tmp_path: Path) -> None:
    rows = "".join(
        f"{i / 50:.2f},0.5,9.7,0.3,0.01,0.02,{i * 0.001:.3f},{'forward' if i < 5 else 'Backward'}\n"
        for i in range(10)
    )
    path = write(
        tmp_path,
        "# sensor: polar-h10\n# placement: chest\n#  subject :  ana \n"
        "time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z,label\n" + rows,
    )
    rec = read_recording(path)
    assert rec.meta["sensor"] == "polar-h10"
    assert rec.meta["placement"] == "chest"
    assert rec.meta["subject"] == "ana"
    assert rec.meta["format"] == "gaitdir"
    assert rec.meta["source"] == str(path)
    assert rec.n_samples == 10
    np.testing.assert_allclose(rec.time_s, np.arange(10) / 50)
    np.testing.assert_allclose(rec.acc_mps2[3], [0.5, 9.7, 0.3])
    np.testing.assert_allclose(rec.gyr_radps[:, 2], np.arange(10) * 0.001)
    assert rec.labels.tolist() == ["forward"] * 5 + ["backward"] * 5
    assert not rec.gravity_removed


def test_columns_in_any_order_and_without_optional_parts(tmp_path: Path) -> None:
    path = write(tmp_path, "acc_z,time_s,acc_y,acc_x\n1.0,0.0,9.8,0.5\n1.1,0.01,9.7,0.4\n")
    rec = read_recording(path)
    assert rec.gyr_radps is None and rec.labels is None
    np.testing.assert_allclose(rec.acc_mps2, [[0.5, 9.8, 1.0], [0.4, 9.7, 1.1]])
    np.testing.assert_allclose(rec.time_s, [0.0, 0.01])


def test_gap_lines_and_other_comments_after_header(tmp_path: Path) -> None:
    head, tail = GOOD_ROWS.splitlines(keepends=True)[:20], GOOD_ROWS.splitlines(keepends=True)[20:]
    text = (
        "time_s,acc_x,acc_y,acc_z\n"
        + "".join(head)
        + "# gap: start_s=0.190000 end_s=0.200000\n# reconnected, a note\n"
        + "".join(tail)
        + "# gap: start_s=0.49 end_s=0.6\n"
    )
    rec = read_recording(write(tmp_path, text))
    assert rec.n_samples == 50
    np.testing.assert_allclose(rec.gaps_s, [[0.19, 0.2], [0.49, 0.6]])


def test_fast_and_careful_paths_give_identical_results(tmp_path: Path) -> None:
    fast = read_recording(write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + GOOD_ROWS, "fast.csv"))
    # Spaces after the commas are refused by the fast reader and accepted by the careful pass.
    spaced = GOOD_ROWS.replace(",", ", ")
    careful = read_recording(write(tmp_path, "time_s, acc_x, acc_y, acc_z\n" + spaced, "careful.csv"))
    np.testing.assert_array_equal(fast.time_s, careful.time_s)
    np.testing.assert_array_equal(fast.acc_mps2, careful.acc_mps2)


def test_acc_unit_g_metadata_is_converted(tmp_path: Path) -> None:
    rows = "".join(f"{i / 100:.2f},0.0,1.0,{0.01 * (i % 5):.2f}\n" for i in range(20))
    rec = read_recording(
        write(tmp_path, "# acc_unit: g\n# gyr_unit: deg/s\ntime_s,acc_x,acc_y,acc_z\n" + rows)
    )
    np.testing.assert_allclose(rec.acc_mps2[:, 1], 9.80665)


def test_gravity_removed_metadata(tmp_path: Path) -> None:
    rows = "".join(f"{i / 100:.2f},0.1,-0.2,0.05\n" for i in range(20))
    rec = read_recording(write(tmp_path, "# gravity_removed: true\ntime_s,acc_x,acc_y,acc_z\n" + rows))
    assert rec.gravity_removed


def test_truncated_last_line_is_dropped_with_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + GOOD_ROWS + "0.50,0.1,9.")
    with pytest.warns(UserWarning, match="incomplete last line"):
        rec = read_recording(path)
    assert rec.n_samples == 50


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + GOOD_ROWS + "0.50,0.1,9.8,0.2")
    assert read_recording(path).n_samples == 51


def test_unknown_extra_column_is_ignored_with_warning(tmp_path: Path) -> None:
    rows = "".join(f"{i / 100:.2f},0.1,9.8,0.2,7\n" for i in range(5))
    with pytest.warns(UserWarning, match="mag"):
        rec = read_recording(write(tmp_path, "time_s,acc_x,acc_y,acc_z,mag\n" + rows))
    assert rec.n_samples == 5


# --------------------------------------------------------------------------------------------------
# Bad input: each error names what is wrong and where.


def error_of(path: Path) -> RecordingError:
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope.csv")
    assert "nope.csv" in str(err) and "no such file" in str(err)


def test_empty_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, ""))
    assert "rec.csv" in str(err) and "empty" in str(err)


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    assert "empty" in str(error_of(write(tmp_path, "\n  \n")))


def test_header_only(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "# sensor: x\ntime_s,acc_x,acc_y,acc_z\n"))
    assert "rec.csv" in str(err) and "no data rows" in str(err)


def test_single_sample(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "time_s,acc_x,acc_y,acc_z\n0,0.1,9.8,0.1\n"))
    assert "at least 2" in str(err)


def test_metadata_without_header(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "# sensor: x\n# placement: chest\n"))
    assert "no header line" in str(err) and "time_s,acc_x,acc_y,acc_z" in str(err)


def test_non_numeric_cell_names_file_line_and_column(tmp_path: Path) -> None:
    lines = ["# sensor: x", "time_s,acc_x,acc_y,acc_z", *GOOD_ROWS.splitlines()]
    lines[9] = "0.07,0.1,abc,0.2"
    err = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert (err.path, err.line, err.column) == (str(tmp_path / "rec.csv"), 10, "acc_y")
    assert str(err).startswith(f"{tmp_path / 'rec.csv'}, line 10, column 'acc_y': not a number: 'abc'")


@pytest.mark.parametrize(
    ("cell", "what"), [("nan", "not a finite number"), ("", "blank cell"), ("inf", "finite")]
)
def test_nan_and_blank_cells(tmp_path: Path, cell: str, what: str) -> None:
    lines = ["time_s,acc_x,acc_y,acc_z", *GOOD_ROWS.splitlines()]
    lines[30] = f"0.29,0.1,9.8,{cell}"
    err = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert (err.line, err.column) == (31, "acc_z")
    assert what in str(err) and "rec.csv" in str(err)


def test_wrong_number_of_fields_names_the_line(tmp_path: Path) -> None:
    lines = ["time_s,acc_x,acc_y,acc_z", *GOOD_ROWS.splitlines()]
    lines[5] = "0.04,0.1,9.8"
    err = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert err.line == 6 and "expected 4 fields" in str(err)


@pytest.mark.parametrize(("new_time", "what"), [("0.10", "goes backwards"), ("0.11", "repeats")])
def test_time_backwards_or_repeated_names_the_line(tmp_path: Path, new_time: str, what: str) -> None:
    lines = ["time_s,acc_x,acc_y,acc_z", *GOOD_ROWS.splitlines()]
    # line 13 holds t=0.11; line 14 (t=0.12) is replaced
    lines[13] = f"{new_time},0.1,9.8,0.2"
    err = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert (err.line, err.column) == (14, "time_s")
    assert what in str(err) and "line 13" in str(err)


def test_bad_line_in_the_middle_is_an_error_not_a_truncation(tmp_path: Path) -> None:
    lines = ["time_s,acc_x,acc_y,acc_z", *GOOD_ROWS.splitlines()]
    lines[20] = "0.19,0.1,9."
    assert error_of(write(tmp_path, "\n".join(lines) + "\n")).line == 21


def test_missing_columns_say_which_are_expected(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "# a: b\ntime_s,acc_x,acc_z\n0,1,2\n0.1,1,2\n"))
    assert err.line == 2
    assert "missing column(s) acc_y" in str(err) and "time_s,acc_x,acc_y,acc_z" in str(err)


def test_partial_gyro_columns(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "time_s,acc_x,acc_y,acc_z,gyr_x\n0,1,9,2,0\n0.1,1,9,2,0\n"))
    assert "gyr_y" in str(err) and "gyr_z" in str(err)


def test_unknown_label(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "time_s,acc_x,acc_y,acc_z,label\n0,1,9,2,forward\n0.1,1,9,2,sideways\n"))
    assert (err.line, err.column) == (3, "label") and "sideways" in str(err)


def test_acceleration_in_g_is_detected(tmp_path: Path) -> None:
    rows = "".join(f"{i / 100:.2f},0.02,0.98,{0.05 * (i % 4):.2f}\n" for i in range(100))
    err = error_of(write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + rows))
    assert "looks like it is in g" in str(err) and "# acc_unit: g" in str(err) and "rec.csv" in str(err)


def test_unknown_acc_unit(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "# acc_unit: furlongs\ntime_s,acc_x,acc_y,acc_z\n" + GOOD_ROWS))
    assert err.line == 1 and "furlongs" in str(err)


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError) as info:
        read_recording(write(tmp_path, "when,x,y\n1,2,3\n", "other.csv"))
    message = str(info.value)
    assert "other.csv" in message and "when,x,y" in message
    for expected in ("gaitdir CSV", "IPOL", "Oxford", "KU-HAR", "Polar Sensor Logger"):
        assert expected in message


def test_binary_file_is_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnknownFormatError, match="not text"):
        read_recording(path)


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError, match="unknown format 'xls'"):
        read_recording(write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + GOOD_ROWS), format="xls")


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    assert "is a directory" in str(error_of(tmp_path))


def test_quoted_header_and_labels_as_spreadsheets_write_them(tmp_path: Path) -> None:
    rows = "".join(f'{i / 100:.2f},0.1,9.8,0.2,"forward"\n' for i in range(10))
    rec = read_recording(write(tmp_path, '"time_s","acc_x","acc_y","acc_z","label"\n' + rows))
    assert rec.n_samples == 10 and set(rec.labels) == {"forward"}


def test_windows_line_endings(tmp_path: Path) -> None:
    text = ("# sensor: x\ntime_s,acc_x,acc_y,acc_z\n" + GOOD_ROWS).replace("\n", "\r\n")
    rec = read_recording(write(tmp_path, text))
    assert rec.n_samples == 50 and rec.meta["sensor"] == "x"


def test_comment_with_commas_after_header_falls_back_and_keeps_gaps(tmp_path: Path) -> None:
    rows = GOOD_ROWS.splitlines(keepends=True)
    text = (
        "time_s,acc_x,acc_y,acc_z\n"
        + "".join(rows[:10])
        + "# note, with, three, commas\n# gap: start_s=0.09 end_s=0.1\n"
        + "".join(rows[10:])
    )
    rec = read_recording(write(tmp_path, text))
    assert rec.n_samples == 50
    np.testing.assert_allclose(rec.gaps_s, [[0.09, 0.1]])


@pytest.mark.parametrize(
    ("scale", "unit"), [(1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds")]
)
def test_time_plainly_not_in_seconds_is_refused(tmp_path: Path, scale: float, unit: str) -> None:
    rows = "".join(f"{i / 100 * scale:.0f},0.2,9.7,{0.5 * (i % 4):.2f}\n" for i in range(300))
    err = error_of(write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + rows))
    assert err.column == "time_s" and f"in {unit}, not seconds" in str(err) and "rec.csv" in str(err)
    assert f"divide by {scale:g}" in str(err) and "100 Hz" in str(err)


def test_slow_but_plausible_sampling_in_seconds_is_read(tmp_path: Path) -> None:
    # 2 Hz is a poor IMU stream, but its times are seconds: read, not refused
    rows = "".join(f"{i / 2:.1f},0.2,9.7,{0.5 * (i % 4):.2f}\n" for i in range(50))
    rec = read_recording(write(tmp_path, "time_s,acc_x,acc_y,acc_z\n" + rows))
    assert rec.nominal_rate_hz == pytest.approx(2.0)
