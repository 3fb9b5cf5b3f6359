"""Strict, fast reading of delimited numeric tables, shared by every text format.

The fast path hands the data section to pyarrow's multi-threaded CSV reader (zero-copy from a memory
map). Whenever pyarrow refuses the data, or the parsed columns fail a check (NaN, time not
increasing, unknown label), the same bytes are read again line by line in Python. That careful pass
is the authority: it either returns exactly what the fast path would have returned, or raises a
:class:`~gaitdir.errors.RecordingError` naming the file, the 1-based line and the column.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from gaitdir.errors import RecordingError
from gaitdir.recordings._checks import all_finite
from gaitdir.recordings._recording import LABELS

ColumnKind = Literal["float", "int", "label"]
TimePolicy = Literal["strict", "repeats", "none"]


@dataclass(frozen=True)
class ColumnSpec:
    """One field of a row that the caller wants back.

    Parameters
    ----------
    index : int
        0-based field position in a row.
    name : str
        Name used for the returned array and in error messages (the header name where there is one).
    kind : {"float", "int", "label"}
        ``float`` → float64, ``int`` → int64 (e.g. nanosecond timestamps that float64 would round),
        ``label`` → one of :data:`~gaitdir.recordings.LABELS` (case-insensitive).
    """

    index: int
    name: str
    kind: ColumnKind = "float"


@dataclass
class Table:
    """Parsed columns plus the comment lines met after the data started."""

    columns: dict[str, np.ndarray]
    comments: list[str] = field(default_factory=list)
    dropped_tail: bool = False

    @property
    def n_rows(self) -> int:
        return int(next(iter(self.columns.values())).shape[0]) if self.columns else 0


@dataclass(frozen=True)
class _Layout:
    """How the data rows of a file are split, which fields are returned and how time is checked.

    The arguments of :func:`read_table` that every stage of the reading needs (see there).
    """

    delimiter: str
    n_fields: int
    columns: list[ColumnSpec]
    time_column: str | None
    time_policy: TimePolicy
    allow_comments: bool

    @property
    def checked_time_column(self) -> str | None:
        """The time column whose order is enforced; None when the policy checks none."""
        return None if self.time_policy == "none" else self.time_column


def _stack_groups(columns: dict[str, np.ndarray], groups: Mapping[str, Sequence[str]] | None) -> None:
    """Replace, in place, each group's member columns by one ``(n, k)`` array under the group's key."""
    for key, members in (groups or {}).items():
        columns[key] = np.column_stack([columns.pop(name) for name in members])


# Block size of the careful pass: large enough for pyarrow to be efficient, small enough that the
# line-by-line pass of one bad block takes well under a second.
_BLOCK_BYTES = 1 << 20


class _FastPathRefused(Exception):
    """The fast reader met something only the careful pass can judge."""


def read_table(
    path: Path,
    *,
    data_offset: int,
    first_line: int,
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    time_column: str | None = None,
    time_policy: TimePolicy = "strict",
    allow_comments: bool = False,
    allow_truncated_tail: bool = False,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> Table:
    """Read the data section of a delimited text file.

    Parameters
    ----------
    path : Path
        The file.
    data_offset : int
        Byte offset where the data rows start (after any preamble and header).
    first_line : int
        1-based line number of the line at ``data_offset`` (for error messages).
    delimiter : str
        One-character field separator.
    n_fields : int
        Number of fields every data row must have.
    columns : list of ColumnSpec
        Fields to return.
    time_column : str, optional
        Name (in ``columns``) of the time column whose order ``time_policy`` enforces.
    time_policy : {"strict", "repeats", "none"}
        ``strict``: each time must be larger than the previous one; ``repeats``: equal times are
        allowed (the caller decides what to do with them), going backwards is an error.
    allow_comments : bool
        Lines starting with ``#`` are collected in :attr:`Table.comments` instead of being errors.
    allow_truncated_tail : bool
        A last line without a newline that does not parse is the trace of an interrupted write: it is
        dropped with a warning instead of being an error.
    groups : mapping of str to list of str, optional
        Float columns returned together as one ``(n, k)`` array under the group's key (e.g.
        ``{"acc": ["acc_x", "acc_y", "acc_z"]}``) instead of one by one.

    Returns
    -------
    Table

    Raises
    ------
    RecordingError
        On the first bad line, naming file, line and (where one cell is at fault) column.
    """
    layout = _Layout(delimiter, n_fields, columns, time_column, time_policy, allow_comments)
    size = path.stat().st_size
    data_end = size
    dropped_tail = False
    if allow_truncated_tail and size > data_offset:
        data_end, dropped_tail = _trim_truncated_tail(path, size, data_offset, layout)
    try:
        table = _fast_read(path, data_offset=data_offset, data_end=data_end, layout=layout, groups=groups)
    except _FastPathRefused:
        table = _careful_read(
            path, data_offset=data_offset, data_end=data_end, first_line=first_line, layout=layout
        )
        _stack_groups(table.columns, groups)
    table.dropped_tail = dropped_tail
    return table


def read_headerless_csv(path: Path, *, n_fields: int, columns: list[ColumnSpec]) -> Table:
    """Read a comma-separated file that is all data rows, its time in the first returned column.

    Equal consecutive times are allowed (the caller decides which row to keep); time going backwards
    is an error.

    Parameters
    ----------
    path : Path
        The file.
    n_fields : int
        Number of fields every row must have.
    columns : list of ColumnSpec
        Fields to return; the first one is the time.

    Returns
    -------
    Table

    Raises
    ------
    RecordingError
        On the first bad line, naming file, line and (where one cell is at fault) column.
    """
    return read_table(
        path,
        data_offset=0,
        first_line=1,
        delimiter=",",
        n_fields=n_fields,
        columns=columns,
        time_column=columns[0].name,
        time_policy="repeats",
    )


def count_numeric_fields(head_text: str) -> int:
    """Number of comma-separated fields on the first non-blank line, or 0 if one is not a number.

    Parameters
    ----------
    head_text : str
        The start of a file.

    Returns
    -------
    int
        0 as well when there is no non-blank line.
    """
    lines = [line for line in head_text.splitlines() if line.strip()]
    if not lines:
        return 0
    parts = lines[0].split(",")
    try:
        [float(p) for p in parts]
    except ValueError:
        return 0
    return len(parts)


# --------------------------------------------------------------------------------------------------
# Fast path


def _arrow_type(kind: ColumnKind) -> pa.DataType:
    if kind == "int":
        return pa.int64()
    if kind == "label":
        return pa.dictionary(pa.int32(), pa.string())
    return pa.float64()


def _fast_read(
    path: Path,
    *,
    data_offset: int,
    data_end: int,
    layout: _Layout,
    groups: Mapping[str, Sequence[str]] | None,
) -> Table:
    if data_end <= data_offset:
        empty = {c.name: _empty(c.kind) for c in layout.columns}
        _stack_groups(empty, groups)
        return Table(columns=empty, comments=[])
    size = path.stat().st_size
    try:
        # A plain file stream when the data runs to the end of the file (the common case), so that
        # the file's pages do not count as this process's memory; a memory-map slice otherwise.
        with pa.OSFile(str(path)) if data_end == size else pa.memory_map(str(path)) as handle:
            if data_end == size:
                handle.seek(data_offset)
                source = handle
            else:
                source = pa.BufferReader(handle.read_at(data_end - data_offset, data_offset))
            return _arrow_parse(source, layout=layout, groups=groups, use_threads=True)
    except OSError as exc:
        raise _FastPathRefused from exc


def _arrow_parse(
    source: pa.NativeFile,
    *,
    layout: _Layout,
    groups: Mapping[str, Sequence[str]] | None,
    use_threads: bool,
) -> Table:
    """Parse with pyarrow and check the columns; raise :class:`_FastPathRefused` on any doubt."""
    columns = layout.columns
    names = [f"f{i}" for i in range(layout.n_fields)]
    comments: list[str] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        # Called from pyarrow's worker threads; list.append is atomic, so no lock is needed.
        if layout.allow_comments and row.text.lstrip().startswith("#"):
            comments.append(row.text)
            return "skip"
        return "error"

    try:
        arrow_table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, use_threads=use_threads),
            parse_options=pacsv.ParseOptions(
                delimiter=layout.delimiter, quote_char='"', invalid_row_handler=on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{c.index}": _arrow_type(c.kind) for c in columns},
                include_columns=[f"f{c.index}" for c in columns],
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise _FastPathRefused from exc

    n_rows = arrow_table.num_rows
    # Copied out record batch by record batch, each batch released (and its memory handed back to the
    # system: Arrow's allocator would keep it for reuse) before the next, so that a day-long file never
    # holds the whole table and all its numpy copies at once. Column by column would not do: a batch's
    # columns share the allocator's pages, which only free once every column of the batch is gone.
    grouped = {name: (key, j) for key, members in (groups or {}).items() for j, name in enumerate(members)}
    out: dict[str, np.ndarray] = {
        key: np.empty((n_rows, len(members)), dtype=np.float64) for key, members in (groups or {}).items()
    }
    labels: dict[str, list[np.ndarray]] = {}
    for spec in columns:
        if spec.kind == "label":
            labels[spec.name] = []
        elif spec.name not in grouped:
            out[spec.name] = np.empty(n_rows, dtype=np.int64 if spec.kind == "int" else np.float64)
    batches = arrow_table.to_batches()
    del arrow_table
    batches.reverse()
    pool = pa.default_memory_pool()
    # Grouped columns are all floats; the rest are checked by kind.
    floats = [*(groups or {}), *(c.name for c in columns if c.kind == "float" and c.name not in grouped)]
    time_name = layout.checked_time_column
    at = 0
    while batches:
        batch = batches.pop()
        size = batch.num_rows
        for spec in columns:
            column = batch.column(f"f{spec.index}")
            if spec.kind == "label":
                labels[spec.name].append(_labels_from_chunk(column))
            elif spec.name in grouped:
                key, j = grouped[spec.name]
                out[key][at : at + size, j] = column.to_numpy(zero_copy_only=False)
            else:
                out[spec.name][at : at + size] = column.to_numpy(zero_copy_only=False)
        # Checked where the batch was just written (still in the cache; a whole group at once), and the
        # first bad batch stops the copying: the careful pass reads the file again anyway.
        if not all(all_finite(out[name][at : at + size]) for name in floats):
            raise _FastPathRefused
        if time_name is not None:
            t = out[time_name][max(at - 1, 0) : at + size]  # from the last row of the previous batch
            if (t[1:] <= t[:-1]).any() if layout.time_policy == "strict" else (t[1:] < t[:-1]).any():
                raise _FastPathRefused
        at += size
        batch = column = None  # the last references to this batch's memory
        pool.release_unused()
    for name, pieces in labels.items():
        out[name] = np.concatenate(pieces) if pieces else np.empty(0, dtype="<U8")
    comments.sort(key=_gap_sort_key)
    return Table(columns=out, comments=comments)


def _gap_sort_key(text: str) -> float:
    # Worker threads may report comment lines out of order; gap lines carry their own time.
    for token in text.replace("=", " ").split():
        try:
            return float(token)
        except ValueError:
            continue
    return math.inf


def _labels_from_chunk(chunk: pa.DictionaryArray) -> np.ndarray:
    """Per-row labels of one chunk as a ``<U8`` array; any value outside LABELS refuses the fast path."""
    words = [str(w).strip().lower() for w in chunk.dictionary.to_pylist()]
    if any(w not in LABELS for w in words):
        raise _FastPathRefused
    lookup = np.array(words, dtype="<U8")
    return lookup[chunk.indices.to_numpy(zero_copy_only=False)]


def _empty(kind: ColumnKind) -> np.ndarray:
    if kind == "label":
        return np.empty(0, dtype="<U8")
    return np.empty(0, dtype=np.int64 if kind == "int" else np.float64)


# --------------------------------------------------------------------------------------------------
# Careful pass


class _BadCell(Exception):
    def __init__(self, message: str, column: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def _unquote(cell: str) -> str:
    # Spreadsheet and pyarrow exports quote text cells ("forward"); the fast reader accepts them too.
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].strip()
    return cell


def _parse_row(text: str, layout: _Layout) -> list[float | int | str]:
    parts = text.split(layout.delimiter)
    if len(parts) != layout.n_fields:
        raise _BadCell(
            f"expected {layout.n_fields} fields separated by {layout.delimiter!r}, found {len(parts)}",
            column=None,
        )
    values: list[float | int | str] = []
    for spec in layout.columns:
        cell = _unquote(parts[spec.index].strip())
        if cell == "":
            raise _BadCell("blank cell (every cell needs a value)", spec.name)
        if spec.kind == "label":
            word = cell.lower()
            if word not in LABELS:
                raise _BadCell(f"unknown label {cell!r}; expected one of {', '.join(LABELS)}", spec.name)
            values.append(word)
        elif spec.kind == "int":
            try:
                values.append(int(cell))
            except ValueError:
                raise _BadCell(f"not an integer: {cell!r}", spec.name) from None
        else:
            try:
                number = float(cell)
            except ValueError:
                raise _BadCell(f"not a number: {cell!r}", spec.name) from None
            if not math.isfinite(number):
                raise _BadCell(f"{cell!r} is not a finite number (NaN/inf are not allowed)", spec.name)
            values.append(number)
    return values


def _careful_read(
    path: Path,
    *,
    data_offset: int,
    data_end: int,
    first_line: int,
    layout: _Layout,
) -> Table:
    """Read block by block, each block by pyarrow when it can and line by line when it cannot.

    Blocks end on line boundaries and their newlines are counted, so the line-by-line pass of a bad
    block knows its true line numbers; a day-long file with one bad line costs one slow block.
    """
    time_pos = layout.checked_time_column
    pieces: list[dict[str, np.ndarray]] = []
    comments: list[str] = []
    previous: tuple[float, int] | None = None  # (time, line) of the last data row so far
    line_no = first_line
    with path.open("rb") as handle:
        handle.seek(data_offset)
        remaining = data_end - data_offset
        pending = b""
        while remaining > 0 or pending:
            block = handle.read(min(_BLOCK_BYTES, remaining)) if remaining > 0 else b""
            remaining -= len(block)
            data = pending + block
            if remaining > 0:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than a block: read on
                    pending = data
                    continue
                chunk, pending = data[:cut], data[cut:]
            else:
                chunk, pending = data, b""
            piece = _block_by_arrow(chunk, layout, previous)
            if piece is None:
                piece = _block_by_lines(path, chunk, line_no, layout, previous)
            if piece.n_rows:
                pieces.append(piece.columns)
                last_time = float(piece.columns[time_pos][-1]) if time_pos else 0.0
                previous = (last_time, line_no + _last_data_line_offset(chunk, layout.allow_comments))
            comments.extend(piece.comments)
            line_no += chunk.count(b"\n")
    out = {
        spec.name: np.concatenate([p[spec.name] for p in pieces]) if pieces else _empty(spec.kind)
        for spec in layout.columns
    }
    return Table(columns=out, comments=comments)


def _block_by_arrow(chunk: bytes, layout: _Layout, previous: tuple[float, int] | None) -> Table | None:
    """The block parsed by pyarrow, or None when the line-by-line pass must judge it."""
    try:
        piece = _arrow_parse(pa.BufferReader(chunk), layout=layout, groups=None, use_threads=False)
    except _FastPathRefused:
        return None
    time_column = layout.checked_time_column
    if time_column and previous is not None and piece.n_rows:
        first = float(piece.columns[time_column][0])
        if first < previous[0] or (layout.time_policy == "strict" and first == previous[0]):
            return None
    return piece


def _block_by_lines(
    path: Path,
    chunk: bytes,
    first_line: int,
    layout: _Layout,
    previous: tuple[float, int] | None,
) -> Table:
    columns, time_column, time_policy = layout.columns, layout.checked_time_column, layout.time_policy
    rows: list[list[float | int | str]] = []
    comments: list[str] = []
    time_pos = next((i for i, c in enumerate(columns) if c.name == time_column), None)
    previous_time, previous_line = previous if previous is not None else (None, 0)
    for offset, raw in enumerate(chunk.split(b"\n")):
        line_no = first_line + offset
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordingError("not UTF-8 text (is this a binary file?)", path=path, line=line_no) from None
        text = text.rstrip("\r")
        if not text.strip():
            continue
        if layout.allow_comments and text.lstrip().startswith("#"):
            comments.append(text)
            continue
        try:
            values = _parse_row(text, layout)
        except _BadCell as exc:
            raise RecordingError(exc.message, path=path, line=line_no, column=exc.column) from None
        if time_pos is not None:
            now = float(values[time_pos])
            if previous_time is not None and (
                now < previous_time or (time_policy == "strict" and now == previous_time)
            ):
                what = "repeats" if now == previous_time else "goes backwards from"
                raise RecordingError(
                    f"time {what} {previous_time!r} on line {previous_line} (to {now!r}); "
                    "sample times must strictly increase",
                    path=path,
                    line=line_no,
                    column=time_column,
                )
            previous_time, previous_line = now, line_no
        rows.append(values)
    out: dict[str, np.ndarray] = {}
    for i, spec in enumerate(columns):
        if spec.kind == "label":
            out[spec.name] = np.array([r[i] for r in rows], dtype="<U8")
        elif spec.kind == "int":
            out[spec.name] = np.array([r[i] for r in rows], dtype=np.int64)
        else:
            out[spec.name] = np.array([r[i] for r in rows], dtype=np.float64)
    return Table(columns=out, comments=comments)


def _last_data_line_offset(chunk: bytes, allow_comments: bool) -> int:
    """0-based line offset, within ``chunk``, of its last data row (skipping blank and comment lines)."""
    end = len(chunk)
    while end > 0:
        start = chunk.rfind(b"\n", 0, end) + 1
        text = chunk[start:end].strip()
        if text and not (allow_comments and text.startswith(b"#")):
            return chunk.count(b"\n", 0, start)
        end = start - 1
    return 0


def _trim_truncated_tail(path: Path, size: int, data_offset: int, layout: _Layout) -> tuple[int, bool]:
    """End of the data to parse, and whether an interrupted last line was dropped."""
    with path.open("rb") as handle:
        start = max(data_offset, size - 65536)
        handle.seek(start)
        tail = handle.read()
    if tail.endswith(b"\n"):
        return size, False
    cut = tail.rfind(b"\n")
    last_start = start + cut + 1 if cut >= 0 else start
    if cut < 0 and start > data_offset:
        # A last line longer than 64 KiB is not an interrupted sample row; let the parser judge it.
        return size, False
    text = tail[last_start - start :].decode("utf-8", errors="replace").strip()
    if not text or (layout.allow_comments and text.startswith("#")):
        return size, False
    try:
        _parse_row(text, layout)
    except _BadCell:
        warnings.warn(
            f"{path}: dropped an incomplete last line (the file was cut while being written): {text[:60]!r}",
            stacklevel=4,
        )
        return last_start, True
    return size, False
