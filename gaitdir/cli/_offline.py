"""Offline classification (``classify``), and what the commands that read recordings share.

``train``, ``evaluate`` and ``datasets download`` are in :mod:`gaitdir.cli._training`.

Every :class:`~gaitdir.errors.GaitdirError` becomes one ``error: ...`` line on stderr and exit code 1
(typer's own usage errors keep exit code 2); library warnings become ``warning: ...`` lines. Heavy modules
(the pipeline, scikit-learn) are imported inside the commands so that ``gaitdir --help`` and the live
commands start quickly.
"""

from __future__ import annotations

import enum
import gc
import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Union

import typer

from gaitdir.cli import app
from gaitdir.errors import GaitdirError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from gaitdir.batch import (
        ClassifySettings,
        DaskRunner,
        FileJob,
        FileOutcome,
        InProcessRunner,
        ProcessPoolRunner,
    )
    from gaitdir.model import DirectionModel

#: The ways ``classify`` can run a batch (see :mod:`gaitdir.batch`).
_Runner = Union["InProcessRunner", "ProcessPoolRunner", "DaskRunner"]

#: The signals that stop a batch cleanly (Ctrl-C, ``kill``).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Where ``classify`` writes ``<stem>.steps.csv`` when ``--out`` is not given (relative to the working
#: directory): a folder of its own, so that a batch never scatters files among the user's recordings.
DEFAULT_OUT_DIR = Path("gaitdir-out")


class RecordingFormat(str, enum.Enum):
    """File formats ``--format`` accepts (auto-detected when omitted)."""

    gaitdir = "gaitdir"
    ipol = "ipol"
    oxford = "oxford"
    kuhar = "kuhar"
    polar_logger = "polar-logger"


#: The ``--format`` option of the commands that read recordings.
FormatOption = Annotated[
    RecordingFormat | None,
    typer.Option("--format", "-f", help="Read every file as this format instead of detecting it."),
]


#: Options shared by the commands that classify recordings (classify, report) or load a model (evaluate).
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Direction model file (default: the shipped model).", show_default=False),
]
TrustModelOption = Annotated[
    bool,
    typer.Option(
        "--trust-model", help="Load a model file whose hash gaitdir has not recorded (it can run code)."
    ),
]
ForwardAxisOption = Annotated[
    str | None,
    typer.Option(
        "--forward-axis",
        help="Sensor axis pointing to the wearer's front ('+x', '-z', '0,0.7,0.7'); default: the file's "
        "forward_axis, else its sensor's mounting profile at its placement, else assumed from the first "
        "steps (reported as such).",
        show_default=False,
    ),
]


# --------------------------------------------------------------------------------------------------
# Messages on stderr


# rich is imported where something is printed with it: classify --json prints nothing through it, and
# importing it takes about 0.05 s of every command's start-up.


def _stderr() -> Console:
    # Built at call time so that whatever sys.stderr is then (a terminal, a pipe, a test runner) is used.
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _one_line(message: object) -> str:
    """A message on one line: a list such as the expected formats becomes ``a: x; y; z``."""
    lines = [part.strip() for part in str(message).splitlines() if part.strip()]
    text = lines[0] if lines else ""
    for part in lines[1:]:
        part = part.removeprefix("- ")
        text += (" " if text.endswith(":") else "; ") + part
    return text


def _line(prefix: str, message: object, console: Console | None = None) -> None:
    # No markup: messages quote file contents and may contain square brackets.
    (console or _stderr()).print(
        f"{prefix}: {_one_line(message)}", markup=False, highlight=False, soft_wrap=True
    )


def _fail(message: object, code: int = 1) -> NoReturn:
    _line("error", message)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn gaitdir's own errors into one line on stderr and exit code 1 instead of a traceback."""
    try:
        yield
    except GaitdirError as exc:
        _fail(exc)


@contextmanager
def _warnings_as_lines(console: Console | None = None) -> Iterator[None]:
    """Show gaitdir's warnings about the data (e.g. dropped duplicate rows) as ``warning: ...`` lines.

    Only ``UserWarning`` is for users; numerical or deprecation noise from the libraries below is dropped.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                text = str(w.message)
                if issubclass(w.category, UserWarning) and text not in seen:
                    seen.add(text)
                    _line("warning", text, console)


# --------------------------------------------------------------------------------------------------
# Shared helpers


def _load_model(model_path: Path | None, trust_model: bool) -> DirectionModel:
    from gaitdir.model import load_model

    return load_model(model_path, trust=trust_model)


def _preload_signal_stage() -> threading.Thread:
    """Import the signal stage's scientific modules in a background thread, started now.

    They take over a second to import; the first file's parse (pyarrow, which releases the GIL) runs
    meanwhile. Once imported, their objects are moved out of the garbage collector's sight
    (``gc.freeze``): they live until the process ends anyway, and otherwise the interpreter's exit alone
    spends a quarter of a second collecting scipy's modules.
    """
    from gaitdir.signal import preload

    def run() -> None:
        preload()
        gc.freeze()

    thread = threading.Thread(target=run, name="gaitdir-preload", daemon=True)
    thread.start()
    return thread


def _expand(path: Path) -> list[Path]:
    """The recordings one command-line argument stands for (a directory expands to its files)."""
    from gaitdir.recordings import iter_recordings

    found = list(iter_recordings([path]))
    if not found and path.is_dir():
        raise GaitdirError(f"{path}: no recordings (.csv/.txt files) in this directory")
    return found


def _output_name(source: Path, taken: set[str]) -> str:
    """``<stem>.steps.csv``, made unique within one batch (``<stem>-2.steps.csv``...)."""
    name, n = f"{source.stem}.steps.csv", 1
    while name in taken:
        n += 1
        name = f"{source.stem}-{n}.steps.csv"
    taken.add(name)
    return name


def _check_placement(value: str | None) -> str | None:
    if value is None:
        return None
    from gaitdir.signal import PLACEMENTS

    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in PLACEMENTS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(sorted(PLACEMENTS))}")
    return key


PlacementOption = Annotated[
    str | None,
    typer.Option(
        "--placement",
        help="Where the sensor was worn (chest, lower_back, foot, arm, pocket...); default: from the file, "
        "else automatic.",
        callback=_check_placement,
        show_default=False,
    ),
]


# --------------------------------------------------------------------------------------------------
# classify


@dataclass
class _FileResult:
    path: str
    steps: int
    forward: int
    backward: int
    output: str
    forward_reference: dict[str, Any]
    summary: str
    # for `classify --history`: what the session row stores besides the counts
    meta: dict[str, str] | None = None
    duration_s: float = 0.0

    @classmethod
    def of(cls, outcome: FileOutcome) -> _FileResult:
        assert outcome.steps_path is not None and outcome.summary_path is not None
        return cls(
            outcome.path,
            outcome.steps,
            outcome.forward,
            outcome.backward,
            outcome.steps_path,
            outcome.forward_reference or {},
            outcome.summary_path,
            meta=outcome.meta,
            duration_s=outcome.duration_s,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "steps": self.steps,
            "forward": self.forward,
            "backward": self.backward,
            "forward_reference": self.forward_reference,
            "output": self.output,
            "summary": self.summary,
        }


def _plan(
    paths: Sequence[Path], out: Path, settings: ClassifySettings, skip_existing: bool
) -> tuple[list[FileJob], list[FileJob]]:
    """The batch's jobs in input order: those to classify, and those skipped as up to date."""
    from gaitdir.batch import FileJob, is_up_to_date

    todo: list[FileJob] = []
    skipped: list[FileJob] = []
    taken: set[str] = set()
    for index, path in enumerate(paths):
        job = FileJob(index, str(path), str(out / _output_name(path, taken)))
        (skipped if skip_existing and is_up_to_date(job, settings) else todo).append(job)
    return todo, skipped


def _remove_leftovers(jobs: Sequence[FileJob]) -> None:
    """Remove the temporary files a killed run left beside these jobs' outputs (never complete files)."""
    from gaitdir.batch import temporary_outputs

    for job in jobs:
        for path in temporary_outputs(job):
            with suppress(OSError):
                path.unlink()


def _runner(settings: ClassifySettings, n_files: int, jobs: int | None, scheduler: str | None) -> _Runner:
    """Where the files are classified: a Dask cluster, worker processes, or this process."""
    from gaitdir.batch import DaskRunner, InProcessRunner, ProcessPoolRunner, default_jobs

    # A worker classifies each file in one thread: the other cores are busy with the other workers, and
    # the pipeline's second thread then only costs (two workers on two cores, 0.5 h files: 18 % slower
    # with it; benchmarks/README.md). In this process, a file keeps its two threads.
    one_thread = replace(settings, threaded=False)
    if scheduler is not None:
        return DaskRunner(scheduler, one_thread)
    processes = min(jobs if jobs is not None else default_jobs(), n_files)
    if processes <= 1:
        # One file, or one job: no pool to start and feed (a single file keeps its own speed).
        return InProcessRunner(settings)
    return ProcessPoolRunner(one_thread, processes)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a batch system's time limit) stops a batch as Ctrl-C does: cleanly.

    Both signals raise :class:`KeyboardInterrupt` once (delivered again a moment later when they arrive
    where the exception would be lost, see :func:`gaitdir.batch.redelivered_if_lost`). A second signal
    while the batch stops is ignored, so the clean-up runs undisturbed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # imported now, not in the handler: a signal can come while another import holds the import lock
    from gaitdir.batch import redelivered_if_lost

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if redelivered_if_lost(signum, frame):
            return
        for handled in _STOP_SIGNALS:
            signal.signal(handled, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _plain_table() -> Table:
    """A table without outer border or padding, as every command's summary prints it."""
    from rich.table import Table

    return Table(show_edge=False, pad_edge=False)


def _counts_table(results: Sequence[_FileResult], total: dict[str, int]) -> Table:
    table = _plain_table()
    table.add_column("file", overflow="fold")
    table.add_column("steps", justify="right")
    table.add_column("forward", justify="right")
    table.add_column("backward", justify="right")
    table.add_column("front from")
    for r in results:
        table.add_row(r.path, str(r.steps), str(r.forward), str(r.backward), _front_cell(r.forward_reference))
    table.add_section()
    table.add_row("total", str(total["steps"]), str(total["forward"]), str(total["backward"]), "")
    return table


def _front_cell(reference: dict[str, Any]) -> str:
    """The table's "front from" cell: the source, and the axis when one is known."""
    from gaitdir.model.front import format_axis

    axis = reference.get("axis")
    return reference["source"] + ("" if axis is None else f" {format_axis(axis)}")


def _stdout() -> Console:
    # A pipe gets the full table (rich would otherwise fold it to 80 columns); a terminal its own width.
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def _progress(n_files: int) -> Progress | None:
    """A progress bar on stderr for a batch, when stderr is a terminal."""
    if n_files < 2 or not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=_stderr(),
        transient=True,
    )


@app.command()
def classify(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Recordings to classify; a directory stands for the recordings below it.", show_default=False
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder for the per-file outputs <stem>.steps.csv and <stem>.summary.json."
        ),
    ] = DEFAULT_OUT_DIR,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the counts on stdout, nothing else.")
    ] = False,
    fmt: FormatOption = None,
    model_path: ModelOption = None,
    trust_model: TrustModelOption = False,
    placement: PlacementOption = None,
    forward_axis: ForwardAxisOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Files classified at once, each in a worker process; default: one per CPU core. A single "
            "file, or --jobs 1, runs in this process.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Classify on a Dask cluster: its scheduler's address (tcp://host:8786) or scheduler file. "
            "The workers must reach the inputs and --out at the same paths (a shared filesystem). Needs "
            "pip install 'gaitdir[dask]'.",
            show_default=False,
        ),
    ] = None,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Skip files whose outputs are complete and newer than the file (made with the same model "
            "and options): resumes an interrupted batch.",
        ),
    ] = False,
    history: Annotated[
        bool,
        typer.Option(
            "--history", help="Also add each classified file to your session history (`gaitdir history`)."
        ),
    ] = False,
) -> None:
    """Find every step in recorded files and label it forward or backward.

    Writes one row per step (time_s, duration_s, direction, confidence) to OUT/<stem>.steps.csv, then a
    summary (counts, steps per hour, walking time, provenance) to OUT/<stem>.summary.json, and prints the
    counts per file and in total. Files that cannot be read are reported and skipped; the exit code is
    then 1 and nothing is written for them.
    """
    if scheduler is not None and jobs is not None:
        raise typer.BadParameter(
            "give --jobs or --scheduler, not both (the cluster's workers decide how many files run at once)",
            param_hint="'--jobs'",
        )
    if scheduler is None and jobs != 1 and (len(files) > 1 or any(f.is_dir() for f in files)):
        # Several files are likely to need workers: their server starts while the model loads and the
        # files are listed (a single file never starts it: it runs in this process).
        from gaitdir.batch import start_worker_server

        start_worker_server()
    with _user_errors():
        if forward_axis is not None:
            from gaitdir.model import parse_forward_axis

            parse_forward_axis(forward_axis)
        settings = _settings(model_path, trust_model, fmt, placement, forward_axis)

    errors: list[dict[str, str]] = []

    def failed(path: Path | str, message: str) -> None:
        errors.append({"path": str(path), "error": _one_line(message)})
        _line("error", message)

    paths: list[Path] = []
    seen: set[Path] = set()
    for arg in files:
        try:
            expanded = _expand(arg)
        except GaitdirError as exc:
            failed(arg, str(exc))
            continue
        for p in expanded:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                paths.append(p)

    todo, skipped = _plan(paths, out, settings, skip_existing)
    _remove_leftovers([*todo, *skipped])
    runner = _runner(settings, len(todo), jobs, scheduler)
    outcomes: list[FileOutcome] = []
    try:
        _run_batch(runner, todo, outcomes)
    except KeyboardInterrupt:
        done = sum(outcome.ok for outcome in outcomes)
        _line(
            "error",
            f"interrupted: {done} of {len(todo)} files classified, each with its complete outputs; nothing "
            "half-written was left. Run the same command with --skip-existing to go on.",
        )
        raise typer.Exit(130) from None

    # Files in the order they were given, whichever finished first.
    outcomes.sort(key=lambda outcome: outcome.index)
    ordered = [_FileResult.of(outcome) for outcome in outcomes if outcome.ok]
    errors += [{"path": o.path, "error": _one_line(o.error)} for o in outcomes if not o.ok]
    total = {
        "steps": sum(r.steps for r in ordered),
        "forward": sum(r.forward for r in ordered),
        "backward": sum(r.backward for r in ordered),
    }
    history_error: dict[str, str] | None = None
    if history and ordered:
        # Only on request: batch research must not fill a personal history.
        from gaitdir.cli._history import add_classified

        try:
            add_classified(ordered)
        except GaitdirError as exc:
            history_error = {"path": str(getattr(exc, "path", None) or "history"), "error": _one_line(exc)}
            _line("error", f"{exc} (the steps files are written)")
    if json_output:
        payload = {
            "files": [r.to_dict() for r in ordered],
            "total": total,
            "errors": errors + ([history_error] if history_error is not None else []),
            "skipped": [
                {"path": job.path, "output": job.steps_path, "summary": job.summary_path} for job in skipped
            ],
        }
        typer.echo(json.dumps(payload))
    else:
        if ordered:
            console = _stdout()
            console.print(_counts_table(ordered, total))
            console.print(
                f"steps written to {out}{os.sep} (<stem>.steps.csv and <stem>.summary.json per file)"
            )
            assumed = sum(r.forward_reference["source"] == "first-steps" for r in ordered)
            if assumed:
                from gaitdir.model.front import CALIBRATE_HINT

                which = "" if len(ordered) == 1 else f"{assumed} of {len(ordered)} files: "
                _line("note", which + CALIBRATE_HINT)
        if skipped:
            _line(
                "note",
                f"skipped {len(skipped)} of {len(paths)} files: their outputs in {out}{os.sep} are complete "
                "and up to date (--skip-existing)",
            )
    if errors or history_error is not None:
        if errors and not json_output and len(errors) + len(ordered) > 1:
            _line("error", f"{len(errors)} of {len(errors) + len(ordered)} inputs failed")
        raise typer.Exit(1)


def _run_batch(runner: _Runner, jobs: Sequence[FileJob], outcomes: list[FileOutcome]) -> None:
    """Classify ``jobs`` with ``runner``, appending each outcome as it comes and saying what it says.

    Warnings and errors are printed as each file finishes (with a progress bar on a terminal); the
    caller reports the outcomes, in input order, once all are in.
    """
    from gaitdir.batch import DaskRunner, InProcessRunner

    # In this process, scipy's import overlaps the first file's parse; workers import it themselves.
    preloading = _preload_signal_stage() if jobs and isinstance(runner, InProcessRunner) else None
    progress = _progress(len(jobs))
    task = None

    def started(job: FileJob) -> None:
        if progress is not None and task is not None:
            progress.update(task, description=Path(job.path).name)

    try:
        with _terminate_as_interrupt(), _user_errors(), runner:
            if isinstance(runner, DaskRunner):
                _describe_cluster(runner)
            if progress is not None:
                progress.start()
                task = progress.add_task("", total=len(jobs))
            for outcome in runner.run(jobs, on_start=started):
                outcomes.append(outcome)
                for text in outcome.warnings:
                    _line("warning", text)
                if not outcome.ok:
                    _line("error", outcome.error)
                if progress is not None and task is not None:
                    if isinstance(runner, DaskRunner):
                        # the scheduler starts the tasks: the bar names the last one done
                        progress.update(task, description=Path(outcome.path).name)
                    progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
        # not left running into interpreter shutdown (when every file failed before computing)
        if preloading is not None:
            preloading.join()


def _settings(
    model_path: Path | None,
    trust_model: bool,
    fmt: RecordingFormat | None,
    placement: str | None,
    forward_axis: str | None,
) -> ClassifySettings:
    """The model (loaded and checked once, here) and the options every file of the batch is classified by."""
    from gaitdir.batch import ClassifySettings
    from gaitdir.model import default_model_path, file_sha256

    model = _load_model(model_path, trust_model)
    return ClassifySettings(
        model=model,
        model_sha256=file_sha256(model_path if model_path is not None else default_model_path()),
        model_path=None if model_path is None else str(model_path),
        fmt=None if fmt is None else fmt.value,
        placement=placement,
        forward_axis=forward_axis,
    )


def _describe_cluster(runner: DaskRunner) -> None:
    """Where a Dask batch runs, on stderr; a cluster without workers yet is said to be waited for."""
    workers = runner.workers()
    dashboard = runner.dashboard()
    text = f"Dask cluster at {runner.address}: {workers} worker{'s' if workers != 1 else ''}"
    _line("note", text + (f", dashboard {dashboard}" if dashboard else ""))
    if workers == 0:
        _line("note", "waiting for the first worker to join")
