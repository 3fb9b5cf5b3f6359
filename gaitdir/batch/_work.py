"""One file's work in a batch: read, classify, write the steps and the summary; the same in any process.

:func:`classify_file` is what every way of running a batch calls for each file: in the command's own
process, in a local worker process, or as a task on a Dask worker. It never prints: what it has to say (the
counts, a failure's message, the warnings about the data) comes back in a :class:`FileOutcome`, which the
command line turns into lines, tables and JSON. A failure of the file (unreadable data, an output that
cannot be written) is an outcome, not an exception, so that it comes back alike from every executor.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from gaitdir.errors import GaitdirError

if TYPE_CHECKING:
    from gaitdir.model import DirectionModel
    from gaitdir.pipeline import StepTable

#: Name endings of a file's two outputs, ``<stem>.steps.csv`` then ``<stem>.summary.json``.
STEPS_SUFFIX = ".steps.csv"
SUMMARY_SUFFIX = ".summary.json"
#: Version of the summary's layout; bumped when a key changes meaning or goes away.
SUMMARY_FORMAT_VERSION = 1

# Only one file is classified at a time in a process: the garbage collector's pause, the capture of
# warnings and the interpreter's switch interval are process-wide, so two files classified in two
# threads of one process (a Dask worker with several threads) would disturb each other.
_ONE_FILE_AT_A_TIME = threading.Lock()
# Read size when hashing the input: long enough for hashlib's C loop to run without the GIL, short enough
# that handing the rest over to the caller waits for little.
_HASH_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class ClassifySettings:
    """How every file of a batch is classified (the same for all of them).

    Parameters
    ----------
    model : DirectionModel
        The direction model, loaded (and checked) once by the caller.
    model_sha256 : str
        SHA-256 of the model file, recorded in each summary.
    model_path : str, optional
        The model file as given; None for the shipped model.
    fmt : str, optional
        Read every file as this format; None detects it.
    placement : str, optional
        The sensor placement for every file; None: the file's own, else automatic.
    forward_axis : str, optional
        The wearer's front for every file; None: from the file, else from the first steps.
    threaded : bool, default=True
        Condition each chunk of a file one chunk ahead in a worker thread
        (:func:`gaitdir.signal.conditioned_ahead`); the result does not depend on it.
    """

    model: DirectionModel
    model_sha256: str
    model_path: str | None = None
    fmt: str | None = None
    placement: str | None = None
    forward_axis: str | None = None
    threaded: bool = True

    def options(self) -> dict[str, str | None]:
        """The user's options that change a file's result, as a summary records them."""
        return {"format": self.fmt, "placement": self.placement, "forward_axis": self.forward_axis}


@dataclass(frozen=True)
class FileJob:
    """One input file and where its two outputs go.

    Parameters
    ----------
    index : int
        Position in the batch (results are reported in this order).
    path : str
        The recording, as the user named it (workers must reach it at this path).
    steps_path : str
        ``<out>/<stem>.steps.csv``.
    """

    index: int
    path: str
    steps_path: str
    cwd: str | None = None

    @property
    def summary_path(self) -> str:
        """``<out>/<stem>.summary.json``, beside the steps file."""
        return summary_path_for(self.steps_path)

    def located(self, cwd: str) -> FileJob:
        """The same job with its relative paths taken against ``cwd`` (for a process started elsewhere)."""
        return replace(self, cwd=cwd)

    def _where(self, path: str) -> Path:
        return Path(path) if self.cwd is None else Path(self.cwd, path)

    @property
    def input_file(self) -> Path:
        """Where the input is opened."""
        return self._where(self.path)

    @property
    def steps_file(self) -> Path:
        """Where the steps are written."""
        return self._where(self.steps_path)

    @property
    def summary_file(self) -> Path:
        """Where the summary is written."""
        return self._where(self.summary_path)

    def as_given(self, text: str) -> str:
        """``text`` (a message) with the input's located path put back as the user named it."""
        if self.cwd is None:
            return text
        return text.replace(str(self.input_file), self.path)


@dataclass(frozen=True)
class FileOutcome:
    """What classifying one file gave: counts and outputs, or the reason it failed.

    Attributes
    ----------
    index : int
        The job's position in the batch.
    path : str
        The input.
    steps, forward, backward : int
        Counts (0 when the file failed).
    steps_path, summary_path : str or None
        The outputs written; None when the file failed (nothing was written for it).
    forward_reference : dict or None
        ``{"source": ..., "axis": ...}``: where the wearer's front came from.
    error : str or None
        Why the file failed, for people (names the file, and the line and column where known).
    warnings : tuple of str
        What the readers and the pipeline had to say about the data, once each.
    meta : dict of str to str or None
        The recording's metadata (sensor, placement...), for records kept beside the outputs.
    duration_s : float
        The recording's duration (s), first to last sample.
    """

    index: int
    path: str
    steps: int = 0
    forward: int = 0
    backward: int = 0
    steps_path: str | None = None
    summary_path: str | None = None
    forward_reference: dict[str, Any] | None = None
    error: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    meta: dict[str, str] | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the file was classified and both outputs written."""
        return self.error is None


def summary_path_for(steps_path: str | Path) -> str:
    """The summary's path for a steps file: ``x.steps.csv`` → ``x.summary.json``."""
    text = str(steps_path)
    stem = text[: -len(STEPS_SUFFIX)] if text.endswith(STEPS_SUFFIX) else text
    return stem + SUMMARY_SUFFIX


def temporary_outputs(job: FileJob) -> list[Path]:
    """Temporary files a write of this job's outputs may have left behind (a process killed mid-write).

    The atomic writers name them ``.<final name>.<random>.tmp`` beside the final file.
    """
    found: list[Path] = []
    for final in (job.steps_file, job.summary_file):
        if final.parent.is_dir():
            found.extend(final.parent.glob(f".{_glob_escape(final.name)}.*.tmp"))
    return found


def _glob_escape(name: str) -> str:
    # A stem may hold glob characters ("walk[1].csv"); each becomes a one-character class.
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one file's read and classification.

    The pipeline makes a few small objects per step and no reference cycles; with the collector on, a
    day-long file triggers thousands of collections that find nothing (about 0.2 s of a 5 s run). The
    collector's previous state is restored afterwards, and memory freed by reference counting is freed
    as usual meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _user_warnings(into: list[str]) -> Iterator[None]:
    """Collect gaitdir's warnings about the data (``UserWarning``), each text once, into ``into``.

    Numerical or deprecation noise from the libraries below is not for users and is dropped.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            for w in caught:
                text = str(w.message)
                if issubclass(w.category, UserWarning) and text not in into:
                    into.append(text)


class _InputHash:
    """Size and SHA-256 of a file, computed beside the work in a low-priority thread.

    The hash is not needed before the steps are written. At the lowest CPU priority the thread takes the
    moments a core would otherwise be idle (reading and the pipeline keep both cores busy only part of the
    time) instead of time from the work the result waits for; whatever is left when :meth:`result` is
    called, the caller hashes itself, at its own priority.

    Parameters
    ----------
    path : str
        The file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._digest = hashlib.sha256()
        self._size = 0
        self._stop = False
        self._error: OSError | None = None
        self._handle: BinaryIO | None = None
        try:
            self._handle = open(path, "rb")  # noqa: SIM115 (closed by result or cancel)
        except OSError as exc:
            # The reader says what is wrong with the file, in its own words; this is kept for result().
            self._error = exc
        # Held while one block is read and hashed: hands the file and the digest from one thread to the other.
        self._block = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gaitdir-hash", daemon=True)
        self._thread.start()

    def _step(self) -> bool:
        """Hash the next block; False at the end of the file."""
        assert self._handle is not None
        block = self._handle.read(_HASH_BLOCK_BYTES)
        if not block:
            return False
        self._digest.update(block)  # releases the GIL
        self._size += len(block)
        return True

    def _run(self) -> None:
        if self._handle is None:
            return
        _lower_this_thread_priority()
        try:
            while True:
                with self._block:
                    if self._stop or not self._step():
                        return
        except OSError as exc:
            self._error = exc

    def result(self) -> tuple[int, str]:
        """Finish the hash in the calling thread if need be; return (size in bytes, hex SHA-256).

        Raises
        ------
        GaitdirError
            The file could not be read again.
        """
        self._stop = True
        try:
            with self._block:
                if self._error is None:
                    try:
                        while self._step():
                            pass
                    except OSError as exc:
                        self._error = exc
        finally:
            self._close()
        if self._error is not None:
            # Read a moment ago, unreadable now: reported as the file's failure, not as a crash.
            reason = self._error.strerror or self._error
            raise GaitdirError(f"{self.path}: cannot read it again to hash it: {reason}")
        return self._size, self._digest.hexdigest()

    def cancel(self) -> None:
        """Stop hashing (the file failed: its hash is not needed)."""
        self._stop = True
        self._close()

    def _close(self) -> None:
        self._thread.join()
        if self._handle is not None:
            self._handle.close()


def _lower_this_thread_priority() -> None:
    """Run the calling thread at the lowest CPU priority, where the system allows it (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    with suppress(OSError, AttributeError):
        # On Linux a thread's id names it alone for setpriority.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def classify_file(job: FileJob, settings: ClassifySettings) -> FileOutcome:
    """Classify one recording; write ``<stem>.steps.csv``, then ``<stem>.summary.json``.

    Both are written to a temporary name and renamed when complete, the summary after the steps, so an
    existing summary means a complete output. A file that cannot be read, or whose outputs cannot be
    written, comes back as an outcome with ``error`` set, and nothing is left under either final name.

    Parameters
    ----------
    job : FileJob
        The input and the steps file's path.
    settings : ClassifySettings
        The model and the options, the same for every file of the batch.

    Returns
    -------
    FileOutcome
    """
    said: list[str] = []
    document: dict[str, Any] | None = None
    meta: dict[str, str] = {}
    error = ""
    with _ONE_FILE_AT_A_TIME, _user_warnings(said):
        try:
            document, meta = _classify(job, settings)
        except GaitdirError as exc:
            error = job.as_given(str(exc))
        except OSError as exc:
            # The output folder or file cannot be written: the user's environment, not a bug.
            out = Path(job.steps_path).parent
            error = f"{job.path}: cannot write its steps to {out}: {exc.strerror or exc}"
    # The warnings are collected when their capture ends, above.
    shown = tuple(job.as_given(text) for text in said)
    if document is None:
        return FileOutcome(job.index, job.path, error=error, warnings=shown)
    counts = document["counts"]
    return FileOutcome(
        job.index,
        job.path,
        steps=counts["steps"],
        forward=counts["forward"],
        backward=counts["backward"],
        steps_path=job.steps_path,
        summary_path=job.summary_path,
        forward_reference={k: document["forward_reference"][k] for k in ("source", "axis")},
        warnings=shown,
        meta=meta,
        duration_s=float(document["input"]["duration_s"]),
    )


def _classify(job: FileJob, settings: ClassifySettings) -> tuple[dict[str, Any], dict[str, str]]:
    """The work of :func:`classify_file`; returns the summary it wrote and the recording's metadata."""
    # Looked up at call time (not at import), so that the pipeline a test puts in place is used.
    from gaitdir.model.front import recording_forward_reference
    from gaitdir.pipeline import iter_classify_recording
    from gaitdir.recordings import read_recording, write_steps_csv

    started = time.perf_counter()
    totals = {"steps": 0, "forward": 0, "backward": 0}
    walking = [0.0]

    def counted(pieces: Iterator[StepTable]) -> Iterator[StepTable]:
        for piece in pieces:
            for key, value in piece.counts().items():
                totals[key] += int(value)
            walking[0] += float(piece.duration_s.sum())
            yield piece

    steps_path = job.steps_file
    # The input's hash is computed beside the work, not before it.
    hashing = _InputHash(str(job.input_file))
    try:
        with collector_paused():
            recording = read_recording(job.input_file, format=settings.fmt)
            steps_path.parent.mkdir(parents=True, exist_ok=True)
            placement = _placement_for(recording.meta, settings.placement)
            front = recording_forward_reference(recording.meta, option=settings.forward_axis)
            pieces = iter_classify_recording(
                recording,
                model=settings.model,
                placement=placement,
                forward_axis=front,
                threaded=settings.threaded,
            )
            # Each chunk's steps are written while the worker thread conditions the next chunk; the
            # file appears under its name only once every step is written.
            write_steps_csv(steps_path, counted(pieces))
    except BaseException:
        hashing.cancel()
        raise
    try:
        size, sha256 = hashing.result()
        duration_s = recording.duration_s
        document = {
            "summary_format_version": SUMMARY_FORMAT_VERSION,
            "gaitdir_version": _gaitdir_version(),
            "input": {
                "path": job.path,
                "name": Path(job.path).name,
                "size_bytes": size,
                "sha256": sha256,
                "format": recording.meta.get("format"),
                "samples": recording.n_samples,
                "duration_s": round(duration_s, 6),
            },
            "steps_file": steps_path.name,
            "counts": dict(totals),
            "steps_per_hour": (round(totals["steps"] * 3600.0 / duration_s, 3) if duration_s > 0 else None),
            "walking_time_s": round(walking[0], 3),
            "forward_reference": {**front.to_dict(), "detail": front.detail},
            "model": {"path": settings.model_path, "sha256": settings.model_sha256},
            "detector": _detector_params(settings.model, placement or _recording_placement(recording)),
            "options": settings.options(),
            "run": {
                "time_taken_s": round(time.perf_counter() - started, 3),
                "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "peak_rss_mb": _peak_rss_mb(),
            },
        }
        _write_summary(job.summary_file, document)
    except BaseException:
        # A steps file without its summary is not a complete output: none is left for a failed file.
        with suppress(OSError):
            steps_path.unlink()
        raise
    return document, {str(k): str(v) for k, v in recording.meta.items()}


def _peak_rss_mb() -> float | None:
    """The peak resident memory of this process so far (MB), for sizing workers; None where unknown."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # bytes on macOS, KiB on Linux and the BSDs
    return round(peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6, 1)


def _gaitdir_version() -> str:
    from gaitdir import __version__

    return __version__


def _placement_for(meta: dict[str, str], placement: str | None) -> str | None:
    """The user's placement, else the placement the file names (if the detector knows it)."""
    if placement is not None:
        return placement
    from gaitdir.signal import PLACEMENTS

    named = str(meta.get("placement", "")).lower()
    return named if named in PLACEMENTS else None


def _recording_placement(recording: Any) -> str:
    from gaitdir.signal import recording_placement

    return recording_placement(recording)


def _detector_params(model: DirectionModel, placement: str) -> dict[str, Any]:
    """The step detector's parameters in force for a file, as the pipeline builds its detector."""
    from gaitdir.pipeline import StepPipeline

    with warnings.catch_warnings():
        # Building the pipeline again repeats what it said when the file was classified.
        warnings.simplefilter("ignore")
        pipeline = StepPipeline(model, placement=placement).start()
    return pipeline.detector_.effective_params()


def _write_summary(path: Path, document: dict[str, Any]) -> None:
    from gaitdir.recordings._writers import atomic_writer

    with atomic_writer(path) as handle:
        handle.write(json.dumps(document, indent=2) + "\n")


def read_summary(path: str | Path) -> dict[str, Any] | None:
    """A summary written by :func:`classify_file`, or None when it is missing or not one."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("counts"), dict):
        return None
    return document


def is_up_to_date(job: FileJob, settings: ClassifySettings) -> bool:
    """True when a file's outputs exist, are newer than it, and were made the way this run would.

    The steps file must exist and be newer than the input, and the summary (written last, so its
    presence means a complete output) must be readable and record the same input size, gaitdir version,
    model and options. Anything else means the file is classified again.

    Parameters
    ----------
    job : FileJob
    settings : ClassifySettings

    Returns
    -------
    bool
    """
    try:
        source = os.stat(job.input_file)
        steps = os.stat(job.steps_file)
    except OSError:
        return False
    if steps.st_mtime_ns <= source.st_mtime_ns:
        return False
    summary = read_summary(job.summary_file)
    if summary is None:
        return False
    recorded_input = summary.get("input") or {}
    return (
        recorded_input.get("size_bytes") == source.st_size
        and recorded_input.get("name") == Path(job.path).name
        and summary.get("gaitdir_version") == _gaitdir_version()
        and (summary.get("model") or {}).get("sha256") == settings.model_sha256
        and summary.get("options") == settings.options()
    )
