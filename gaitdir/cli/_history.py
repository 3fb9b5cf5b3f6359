"""The history and report commands, and the hooks that store ``live`` and ``classify --history`` sessions.

``history`` lists the sessions of :mod:`gaitdir.history` and the totals per day; ``report`` draws a
recording (or a history session's recording) and the steps per day (:mod:`gaitdir.report`).

The hooks keep the history out of the live and offline command modules: :class:`LiveHistoryHook` feeds a
:class:`~gaitdir.history.LiveRecorder` from the live session's state snapshots, refreshes its heartbeat,
and prints where the recording and the history are; :func:`add_classified` stores classified files.
Every :class:`~gaitdir.errors.GaitdirError` becomes one ``error: ...`` line on stderr and exit code 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gaitdir.cli import app
from gaitdir.cli._offline import (
    DEFAULT_OUT_DIR,
    FormatOption,
    ForwardAxisOption,
    ModelOption,
    PlacementOption,
    TrustModelOption,
    _line,
    _load_model,
    _one_line,
    _plain_table,
    _stdout,
    _user_errors,
    _warnings_as_lines,
)
from gaitdir.errors import GaitdirError, HistoryError

if TYPE_CHECKING:
    from rich.console import Console

    from gaitdir.history import History, LiveRecorder, SessionRecord


# --------------------------------------------------------------------------------------------------
# What the commands share


def _parse_since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or a date and time") from exc
    return value.strip()


def _since_s(value: str | None) -> float | None:
    """Unix time of a local date (its midnight) or date and time; None stays None."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time
    return moment.timestamp()


#: Help option text shared by the commands that read the history.
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only sessions that started on or after this local date (YYYY-MM-DD) or date and time.",
        callback=_parse_since,
        show_default=False,
    ),
]


def _reading_history() -> History:
    from gaitdir.history import History

    return History(create=False).open()


def _where(path: Path) -> str:
    return (
        f"history: {path} (set GAITDIR_DATA_DIR to keep it elsewhere; delete this file, with its -wal and "
        "-shm files, to forget every session)"
    )


# --------------------------------------------------------------------------------------------------
# history


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _front(session: SessionRecord) -> str:
    ref = session.forward_reference
    return "—" if ref is None else str(ref["source"])


@app.command()
def history(
    since: SinceOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: the sessions and the totals per day.")
    ] = False,
) -> None:
    """List the recorded sessions (live, and files classified with --history) and the steps per day."""
    from gaitdir.history import daily_totals

    with _user_errors():
        store = _reading_history()
        try:
            sessions = store.sessions(since_s=_since_s(since))
        finally:
            store.close()
    days = daily_totals(sessions)
    if json_output:
        typer.echo(
            json.dumps({"sessions": [s.to_dict() for s in sessions], "days": [d.to_dict() for d in days]})
        )
        return
    console = _stdout()
    if not sessions:
        what = "no sessions in the history yet" if since is None else f"no sessions since {since}"
        console.print(
            f"{what}: `gaitdir live` adds each session, `gaitdir classify --history FILE` adds a recording",
            markup=False,
        )
        console.print(_where(store.path_), markup=False)
        return
    table = _plain_table()
    for column, right in (
        ("id", True),
        ("started", False),
        ("duration", True),
        ("sensor", False),
        ("placement", False),
        ("front from", False),
        ("steps", True),
        ("forward", True),
        ("backward", True),
        ("status", False),
    ):
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for s in sessions:
        table.add_row(
            str(s.id),
            s.started.strftime("%Y-%m-%d %H:%M"),
            _duration(s.duration_s),
            s.sensor or "—",
            s.placement or "—",
            _front(s),
            str(s.steps),
            str(s.forward),
            str(s.backward),
            s.status,
        )
    console.print(table)
    console.print()
    totals = _plain_table()
    for column, right in (
        ("day", False),
        ("sessions", True),
        ("steps", True),
        ("forward", True),
        ("backward", True),
    ):
        totals.add_column(column, justify="right" if right else "left")
    for d in days:
        totals.add_row(d.date.isoformat(), str(d.sessions), str(d.steps), str(d.forward), str(d.backward))
    console.print(totals)
    console.print()
    console.print(_where(store.path_), markup=False)


# --------------------------------------------------------------------------------------------------
# report


def _report_name(path: Path, taken: set[str]) -> str:
    """The output stem of a recording (``walk.csv.partial`` is ``walk``), unique within one run."""
    from gaitdir.recordings import PARTIAL_SUFFIX

    name = path.name.removesuffix(PARTIAL_SUFFIX)
    stem, n = Path(name).stem, 1
    candidate = stem
    while candidate in taken or candidate == "history":
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate)
    return candidate


def _session_recording(session_id: int) -> Path:
    """The recording behind a history session; its ``.partial`` when the session was interrupted."""
    from gaitdir.recordings import PARTIAL_SUFFIX

    store = _reading_history()
    try:
        session = store.session(session_id)
    finally:
        store.close()
    if not session.recording_path:
        raise GaitdirError(
            f"session {session_id} has no recording (it ran without --record); nothing to draw"
        )
    path = Path(session.recording_path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if not path.exists() and partial.exists():
        return partial
    if not path.exists():
        raise GaitdirError(f"session {session_id}: its recording {path} is no longer there")
    return path


def _resolve_source(source: str) -> Path:
    """A file path as it is; a number that names no file is a history session id."""
    path = Path(source)
    if source.isdigit() and not path.exists():
        return _session_recording(int(source))
    return path


@app.command()
def report(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Recordings (any supported format) or history session ids (`gaitdir history` lists them).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for <stem>.png and <stem>.html.")
    ] = DEFAULT_OUT_DIR,
    history_days: Annotated[
        bool, typer.Option("--history", help="Also draw the history's forward and backward steps per day.")
    ] = False,
    since: SinceOption = None,
    fmt: FormatOption = None,
    placement: PlacementOption = None,
    forward_axis: ForwardAxisOption = None,
    model_path: ModelOption = None,
    trust_model: TrustModelOption = False,
) -> None:
    """Draw where each step fell and which way it went: OUT/<stem>.png and a self-contained OUT/<stem>.html.

    The figure shows the acceleration along the body axes with every step shaded by direction, the running
    forward and backward counts and the cadence. With --history, OUT/history.png and OUT/history.html show
    the steps per day.
    """
    if not sources and not history_days:
        raise typer.BadParameter("give recordings or session ids to draw, or --history", param_hint="SOURCES")
    with _user_errors():
        if forward_axis is not None:
            from gaitdir.model import parse_forward_axis

            parse_forward_axis(forward_axis)
        model = _load_model(model_path, trust_model) if sources else None
    console = _stdout()
    failures = 0
    taken: set[str] = set()
    for source in sources or []:
        try:
            with _warnings_as_lines():
                written, counts = _report_one(
                    source, out, taken, fmt=fmt, model=model, placement=placement, forward_axis=forward_axis
                )
        except GaitdirError as exc:
            failures += 1
            _line("error", exc)
            continue
        except OSError as exc:
            failures += 1
            _line("error", f"{source}: cannot write its report to {out}: {exc.strerror or exc}")
            continue
        console.print(
            f"{written}: {counts['steps']} steps, {counts['forward']} forward, {counts['backward']} backward "
            f"(figure {written.with_suffix('.png').name})",
            markup=False,
        )
    if history_days:
        try:
            written, n = _report_history(out, since)
            console.print(f"{written}: steps per day of {n} sessions (figure history.png)", markup=False)
        except GaitdirError as exc:
            failures += 1
            _line("error", exc)
        except OSError as exc:
            failures += 1
            _line("error", f"cannot write the history report to {out}: {exc.strerror or exc}")
    if failures:
        total = len(sources or []) + int(history_days)
        if total > 1:
            _line("error", f"{failures} of {total} reports failed")
        raise typer.Exit(1)


def _report_one(
    source: str,
    out: Path,
    taken: set[str],
    *,
    fmt: Any,
    model: Any,
    placement: str | None,
    forward_axis: str | None,
) -> tuple[Path, dict[str, int]]:
    from gaitdir.recordings import read_recording
    from gaitdir.report import figure_png, recording_figure, recording_html, trace_recording, write_report

    path = _resolve_source(source)
    recording = read_recording(path, format=None if fmt is None else fmt.value)
    trace = trace_recording(
        recording, model=model, placement=placement, forward_axis=forward_axis, name=path.name
    )
    png = figure_png(recording_figure(trace))
    _, page = write_report(out, _report_name(path, taken), png, recording_html(trace, png))
    return page, trace.counts()


def _report_history(out: Path, since: str | None) -> tuple[Path, int]:
    from gaitdir.history import daily_totals
    from gaitdir.report import figure_png, history_figure, history_html, write_report

    store = _reading_history()
    try:
        sessions = store.sessions(since_s=_since_s(since))
    finally:
        store.close()
    days = daily_totals(sessions)
    png = figure_png(history_figure(days))
    _, page = write_report(
        out, "history", png, history_html(days, sessions, png, history_file=str(store.path_))
    )
    return page, len(sessions)


# --------------------------------------------------------------------------------------------------
# classify --history


def add_classified(results: Sequence[Any]) -> list[int]:
    """Store each classified file as a ``classified`` session; return their ids.

    Parameters
    ----------
    results : sequence
        classify's per-file results: ``path``, ``steps``, ``forward``, ``backward``, ``output`` and, where
        known, ``meta`` (the recording's metadata), ``duration_s`` and ``forward_reference``.

    Raises
    ------
    HistoryError
        The history cannot be written (locked, read-only, newer).
    """
    from gaitdir.history import History, classified_started_s

    ids = []
    with History() as store:
        for r in results:
            meta = dict(getattr(r, "meta", None) or {})
            duration = float(getattr(r, "duration_s", 0.0) or 0.0)
            ids.append(
                store.add_classified(
                    recording_path=r.path,
                    started_s=classified_started_s(Path(r.path), meta, duration),
                    duration_s=duration,
                    steps=r.steps,
                    forward=r.forward,
                    backward=r.backward,
                    sensor=meta.get("sensor"),
                    placement=meta.get("placement"),
                    forward_reference=getattr(r, "forward_reference", None),
                    steps_path=r.output,
                )
            )
    return ids


# --------------------------------------------------------------------------------------------------
# live


class LiveHistoryHook:
    """The history side of one ``gaitdir live`` session.

    Parameters
    ----------
    enabled : bool
        False (``--no-history``, ``demo``): nothing is stored or said about the history.
    err : Console
        Where warnings and notes go (stderr).
    """

    def __init__(self, enabled: bool, err: Console) -> None:
        self.enabled = enabled
        self.err = err
        self._recorder: LiveRecorder | None = None
        self._store: History | None = None
        self._unsaved: str | None = None

    def announce_recording(self, record: Path | None) -> None:
        """Say where the recording grows, so that a user whose session is killed finds it."""
        if record is None:
            return
        from gaitdir.recordings import PARTIAL_SUFFIX

        self.err.print(
            f"recording to {record}{PARTIAL_SUFFIX} while streaming; renamed {record} when the session ends "
            f"(after a crash or a kill, {record}{PARTIAL_SUFFIX} keeps every sample up to the last second "
            "and `gaitdir classify` reads it)",
            markup=False,
        )

    def start(
        self,
        *,
        sensor: str,
        placement: str,
        record: Path | None,
        events: Path | None,
    ) -> None:
        """Open the history (a problem becomes a warning: the session runs and counts without it)."""
        if not self.enabled:
            return
        from gaitdir.history import History, LiveRecorder

        try:
            self._store = History().open()
            # While streaming, a write waits at most a quarter of a second for another process: it runs
            # on the event loop that receives the sensor's frames. A write that could not wait is
            # retried at the next update; the final one waits longer.
            self._store.set_timeout(0.25)
        except HistoryError as exc:
            self._warn(exc)
            return
        self._recorder = LiveRecorder(
            self._store,
            sensor=sensor,
            placement=placement,
            recording_path=None if record is None else record.resolve(),
            events_path=None if events is None else events.resolve(),
            on_error=self._warn,
        )

    def observer(self, view_update: Callable[[Any], None]) -> Callable[[Any], None]:
        """The session's observer: the view first, then the history (once :meth:`start` has opened it)."""

        def observe(state: Any) -> None:
            view_update(state)
            if self._recorder is not None:
                self._recorder.observe(state)

        return observe

    @contextlib.asynccontextmanager
    async def running(self, session: Any) -> Any:
        """While the session runs: refresh the heartbeat; on a failure, mark the row interrupted."""
        import asyncio

        from gaitdir.history import HEARTBEAT_INTERVAL_S

        recorder = self._recorder
        if recorder is None:
            yield
            return

        async def beat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_INTERVAL_S)
                recorder.heartbeat()

        task = asyncio.create_task(beat(), name="gaitdir-history-heartbeat")
        try:
            yield
        except BaseException:
            summary = getattr(session, "summary_", None)
            if summary is not None:
                recorder.finish(summary, status="interrupted")
            raise
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def finish(self, summary: Any) -> None:
        """The session ended cleanly: store its final counts as ``completed``."""
        if self._recorder is not None:
            self._recorder.finish(summary, status="completed")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def tell(self, out: Console) -> None:
        """After the summary: where the session was saved, and how to move or delete the history."""
        if not self.enabled:
            return
        if self._unsaved is not None:
            out.print(f"history: not saved ({self._unsaved})", markup=False)
            return
        recorder = self._recorder
        if recorder is None or self._store is None:
            return
        if recorder.session_id_ is None:
            out.print("history: nothing saved (no sample was received)", markup=False)
            return
        out.print(
            f"history: session {recorder.session_id_} saved in {self._store.path_} (`gaitdir history` lists "
            "it; set GAITDIR_DATA_DIR to keep the history elsewhere; delete that file to forget it)",
            markup=False,
        )

    def _warn(self, exc: HistoryError) -> None:
        self._unsaved = _one_line(exc)
        self.err.print(
            f"warning: the history is not saved: {self._unsaved}; steps are still counted", markup=False
        )
