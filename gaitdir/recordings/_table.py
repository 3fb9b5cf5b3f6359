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
    size = path.stat().st_size
    data_end = size
    dropped_tail = False
    if allow_truncated_tail and size > data_offset:
        data_end, dropped_tail = _trim_truncated_tail(
            path, size, data_offset, delimiter, n_fields, columns, allow_comments
        )
    try:
        table = _fast_read(
            path,
            data_offset=data_offset,
            data_end=data_end,
            delimiter=delimiter,
            n_fields=n_fields,
            columns=columns,
            time_column=time_column,
            time_policy=time_policy,
            allow_comments=allow_comments,
            groups=groups,
        )
    except _FastPathRefused:
        table = _careful_read(
            path,
            data_offset=data_offset,
            data_end=data_end,
            first_line=first_line,
            delimiter=delimiter,
            n_fields=n_fields,
            columns=columns,
            time_column=time_column,
            time_policy=time_policy,
            allow_comments=allow_comments,
        )
        for key, members in (groups or {}).items():
            table.columns[key] = np.column_stack([table.columns.pop(name) for name in members])
    table.dropped_tail = dropped_tail
    return table


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
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    time_column: str | None,
    time_policy: TimePolicy,
    allow_comments: bool,
    groups: Mapping[str, Sequence[str]] | None,
) -> Table:
    if data_end <= data_offset:
        empty = {c.name: _empty(c.kind) for c in columns}
        for key, members in (groups or {}).items():
            empty[key] = np.empty((0, len(members)))
            for name in members:
                del empty[name]
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
            return _arrow_parse(
                source,
                delimiter=delimiter,
                n_fields=n_fields,
                columns=columns,
                time_column=time_column,
                time_policy=time_policy,
                allow_comments=allow_comments,
                groups=groups,
                use_threads=True,
            )
    except OSError as exc:
        raise _FastPathRefused from exc


def _arrow_parse(
    source: pa.NativeFile,
    *,
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    time_column: str | None,
    time_policy: TimePolicy,
    allow_comments: bool,
    groups: Mapping[str, Sequence[str]] | None,
    use_threads: bool,
) -> Table:
    """Parse with pyarrow and check the columns; raise :class:`_FastPathRefused` on any doubt."""
    names = [f"f{i}" for i in range(n_fields)]
    comments: list[str] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        # Called from pyarrow's worker threads; list.append is atomic, so no lock is needed.
        if allow_comments and row.text.lstrip().startswith("#"):
            comments.append(row.text)
            return "skip"
        return "error"

    try:
        arrow_table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, use_threads=use_threads),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"', invalid_row_handler=on_invalid_row
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
    arrow_columns = {spec.name: arrow_table.column(f"f{spec.index}") for spec in columns}
    kinds = {spec.name: spec.kind for spec in columns}
    # From here on each Arrow column is released as soon as it is copied out, so that a day-long
    # file never holds two full copies of its numbers.
    del arrow_table
    out: dict[str, np.ndarray] = {}
    for key, members in (groups or {}).items():
        block = np.empty((n_rows, len(members)), dtype=np.float64)
        for j, name in enumerate(members):
            _fill(block[:, j], arrow_columns.pop(name))
        if not np.isfinite(block).all():
            raise _FastPathRefused
        out[key] = block
    for name, column in list(arrow_columns.items()):
        del arrow_columns[name]
        if kinds[name] == "label":
            out[name] = _labels_from_dictionary(column)
        else:
            values = np.empty(n_rows, dtype=np.int64 if kinds[name] == "int" else np.float64)
            _fill(values, column)
            del column
            if kinds[name] == "float" and not np.isfinite(values).all():
                raise _FastPathRefused
            out[name] = values
    if time_column is not None and time_policy != "none":
        t = out[time_column]
        if (t[1:] <= t[:-1]).any() if time_policy == "strict" else (t[1:] < t[:-1]).any():
            raise _FastPathRefused
    comments.sort(key=_gap_sort_key)
    return Table(columns=out, comments=comments)


def _fill(target: np.ndarray, column: pa.ChunkedArray) -> None:
    """Copy an Arrow column chunk by chunk into ``target`` (no intermediate full-size array)."""
    at = 0
    for chunk in column.chunks:
        size = len(chunk)
        target[at : at + size] = chunk.to_numpy(zero_copy_only=False)
        at += size


def _gap_sort_key(text: str) -> float:
    # Worker threads may report comment lines out of order; gap lines carry their own time.
    for token in text.replace("=", " ").split():
        try:
            return float(token)
        except ValueError:
            continue
    return math.inf


def _labels_from_dictionary(column: pa.ChunkedArray) -> np.ndarray:
    """Per-row labels as a ``<U8`` array; any value outside LABELS refuses the fast path."""
    pieces = []
    for chunk in column.chunks:
        words = [str(w).strip().lower() for w in chunk.dictionary.to_pylist()]
        if any(w not in LABELS for w in words):
            raise _FastPathRefused
        lookup = np.array(words, dtype="<U8")
        pieces.append(lookup[chunk.indices.to_numpy(zero_copy_only=False)])
    return np.concatenate(pieces) if pieces else np.empty(0, dtype="<U8")


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


def _parse_row(
    text: str, delimiter: str, n_fields: int, columns: list[ColumnSpec]
) -> list[float | int | str]:
    parts = text.split(delimiter)
    if len(parts) != n_fields:
        raise _BadCell(
            f"expected {n_fields} fields separated by {delimiter!r}, found {len(parts)}", column=None
        )
    values: list[float | int | str] = []
    for spec in columns:
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
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    time_column: str | None,
    time_policy: TimePolicy,
    allow_comments: bool,
) -> Table:
    """Read block by block, each block by pyarrow when it can and line by line when it cannot.

    Blocks end on line boundaries and their newlines are counted, so the line-by-line pass of a bad
    block knows its true line numbers; a day-long file with one bad line costs one slow block.
    """
    time_pos = None if time_policy == "none" else time_column
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
            piece = _block_by_arrow(
                chunk, delimiter, n_fields, columns, time_pos, time_policy, allow_comments, previous
            )
            if piece is None:
                piece = _block_by_lines(
                    path,
                    chunk,
                    line_no,
                    delimiter,
                    n_fields,
                    columns,
                    time_pos,
                    time_policy,
                    allow_comments,
                    previous,
                )
            if piece.n_rows:
                pieces.append(piece.columns)
                last_time = float(piece.columns[time_pos][-1]) if time_pos else 0.0
                previous = (last_time, line_no + _last_data_line_offset(chunk, allow_comments))
            comments.extend(piece.comments)
            line_no += chunk.count(b"\n")
    out = {
        spec.name: np.concatenate([p[spec.name] for p in pieces]) if pieces else _empty(spec.kind)
        for spec in columns
    }
    return Table(columns=out, comments=comments)


def _block_by_arrow(
    chunk: bytes,
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    time_column: str | None,
    time_policy: TimePolicy,
    allow_comments: bool,
    previous: tuple[float, int] | None,
) -> Table | None:
    """The block parsed by pyarrow, or None when the line-by-line pass must judge it."""
    try:
        piece = _arrow_parse(
            pa.BufferReader(chunk),
            delimiter=delimiter,
            n_fields=n_fields,
            columns=columns,
            time_column=time_column,
            time_policy=time_policy,
            allow_comments=allow_comments,
            groups=None,
            use_threads=False,
        )
    except _FastPathRefused:
        return None
    if time_column and previous is not None and piece.n_rows:
        first = float(piece.columns[time_column][0])
        if first < previous[0] or (time_policy == "strict" and first == previous[0]):
            return None
    return piece


def _block_by_lines(
    path: Path,
    chunk: bytes,
    first_line: int,
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    time_column: str | None,
    time_policy: TimePolicy,
    allow_comments: bool,
    previous: tuple[float, int] | None,
) -> Table:
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
        if allow_comments and text.lstrip().startswith("#"):
            comments.append(text)
            continue
        try:
            values = _parse_row(text, delimiter, n_fields, columns)
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


def _trim_truncated_tail(
    path: Path,
    size: int,
    data_offset: int,
    delimiter: str,
    n_fields: int,
    columns: list[ColumnSpec],
    allow_comments: bool,
) -> tuple[int, bool]:
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
    if not text or (allow_comments and text.startswith("#")):
        return size, False
    try:
        _parse_row(text, delimiter, n_fields, columns)
    except _BadCell:
        warnings.warn(
            f"{path}: dropped an incomplete last line (the file was cut while being written): {text[:60]!r}",
            stacklevel=4,
        )
        return last_start, True
    return size, False
