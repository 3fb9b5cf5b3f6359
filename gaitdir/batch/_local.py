"""Running a batch on this machine: in the calling process, or in worker processes (one per core).

Both runners take :class:`~gaitdir.batch.FileJob` s and yield a :class:`~gaitdir.batch.FileOutcome` per job
as it completes; the caller reorders them. They are context managers: leaving the ``with`` block through an
exception (Ctrl-C included) stops the work, terminates the worker processes and removes the temporary
files their writes were in the middle of.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import FrameType, TracebackType
from typing import Any

from gaitdir.batch._signals import redelivered_if_lost
from gaitdir.batch._work import ClassifySettings, FileJob, FileOutcome, classify_file, temporary_outputs

#: What a runner does with one job: the job and the batch's settings in, an outcome out. A worker
#: process receives it by reference, so it must be a module-level function.
Work = Callable[[FileJob, ClassifySettings], FileOutcome]

# How long terminated workers get to unwind (finish the numpy call they are in, remove their temporary
# files) before they are killed.
_TERMINATE_GRACE_S = 10.0


def default_jobs() -> int:
    """Worker processes a batch uses by default: one per CPU this process may run on.

    The CPUs of the process's affinity mask where the system says (``os.process_cpu_count`` from Python
    3.13, ``os.sched_getaffinity`` before), else all of the machine's; a batch job given two cores of a
    large node gets two workers.

    Returns
    -------
    int
        At least 1.
    """
    process_cpu_count = getattr(os, "process_cpu_count", None)
    if process_cpu_count is not None:
        count = process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)


class InProcessRunner:
    """Classifies the files one after another in the calling process (no pool to start or feed).

    Parameters
    ----------
    settings : ClassifySettings
    work : callable, default=classify_file
        What is done with each job.
    """

    def __init__(self, settings: ClassifySettings, work: Work = classify_file) -> None:
        self.settings = settings
        self.work = work

    def __enter__(self) -> InProcessRunner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Each write removes its own temporary file when it is interrupted: nothing to clean up here.
        return None

    def run(
        self, jobs: Sequence[FileJob], *, on_start: Callable[[FileJob], None] | None = None
    ) -> Iterator[FileOutcome]:
        """Yield each job's outcome, in order.

        Parameters
        ----------
        jobs : sequence of FileJob
        on_start : callable, optional
            Called with each job as its work starts (e.g. to show its name).
        """
        for job in jobs:
            if on_start is not None:
                on_start(job)
            yield self.work(job, self.settings)


# --------------------------------------------------------------------------------------------------
# Worker processes

# Set in each worker process by _start_worker: the batch's settings (with the model, loaded once per
# worker rather than sent with every file) and the work to do with each job.
_WORKER: dict[str, Any] = {}


def _start_method() -> str:
    # Not fork: the parent has threads (a progress bar's, the standard library's pool manager), and a
    # child forked from a process with threads can inherit a lock held by one of them. forkserver forks
    # workers from a small single-threaded server, which is quicker than spawning each one afresh.
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


# Imported once in the fork server, and so already in every worker forked from it: the pipeline, what
# gaitdir.signal.preload imports, and the main module, which each worker would otherwise run again as
# __mp_main__.
_SERVER_PRELOAD = ["__main__", "gaitdir.batch._local", "gaitdir.pipeline", "scipy.signal", "scipy.ndimage"]


def _worker_context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context(_start_method())
    if _start_method() == "forkserver":
        context.set_forkserver_preload(_SERVER_PRELOAD)
    return context


def start_worker_server() -> None:
    """Start the server that worker processes are forked from, now, without waiting for it.

    Its imports (most of a second) then run beside whatever the caller does before it needs its first
    worker pool (loading the model, listing the files). Nothing happens where workers are spawned instead.
    """
    if _start_method() == "forkserver":
        import multiprocessing.forkserver

        _worker_context()
        multiprocessing.forkserver.ensure_running()


def _start_worker(settings: ClassifySettings, work: Work) -> None:
    """Initialise a worker process: signals, the scientific imports, the settings for every file."""
    # Ctrl-C reaches the whole process group; the parent decides what happens and terminates the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)
    _end_with_parent()
    from gaitdir.signal import preload

    preload()
    # The imported modules live as long as the worker: out of the collector's sight (as in the parent).
    gc.freeze()
    _WORKER.update(settings=settings, work=work, terminating=False)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    # An exception, not an exit: the file being written unwinds, and its atomic writer removes the
    # temporary file. _run_job leaves the process once the work has unwound. (The worker's stderr is the
    # parent's: an exception lost in a callback would print a traceback under the batch's own message.)
    if redelivered_if_lost(signum, frame):
        return
    _WORKER["terminating"] = True
    raise SystemExit(128 + signum)


def _end_with_parent() -> None:
    """Terminate this worker (as the parent would) when the process that started it ends.

    A parent killed outright (SIGKILL, out of memory) cannot terminate its workers, and a worker waiting
    for its next file would wait for ever. A thread waits on the parent's sentinel, which becomes ready
    when the parent ends, and then sends this process SIGTERM.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="gaitdir-parent-watch", daemon=True).start()


def _run_job(job: FileJob) -> FileOutcome:
    try:
        return _WORKER["work"](job, _WORKER["settings"])
    finally:
        if _WORKER.get("terminating"):
            # Terminated mid-file: the work has unwound (temporary files removed); the pool's loop would
            # wait for the next job, so leave now.
            os._exit(128 + signal.SIGTERM)


class ProcessPoolRunner:
    """Classifies files in worker processes, at most one file per worker at a time.

    Each worker is started once, loads the scientific modules once and receives the settings (with the
    model) once. Memory stays bounded: no more files are in flight than there are workers.

    Parameters
    ----------
    settings : ClassifySettings
    processes : int
        Worker processes (and files in flight).
    work : callable, default=classify_file
        What is done with each job; a module-level function (workers receive it by reference).

    Notes
    -----
    A worker that dies (killed, out of memory) breaks the pool. The files that were in flight are then
    tried again, one at a time in a new pool; a file that ends its worker again on its own is reported
    as failed, and the rest of the batch goes on.
    """

    def __init__(
        self,
        settings: ClassifySettings,
        processes: int,
        work: Work = classify_file,
    ) -> None:
        self.settings = settings
        self.processes = processes
        self.work = work
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight: dict[Future[FileOutcome], FileJob] = {}

    def __enter__(self) -> ProcessPoolRunner:
        if self.processes < 1:
            raise ValueError(f"processes must be at least 1; got {self.processes}")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool = None
            return
        self._terminate()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=_worker_context(),
            initializer=_start_worker,
            initargs=(self.settings, self.work),
        )

    def _terminate(self) -> None:
        """Stop everything now: workers terminated (then killed), their temporary files removed."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # The standard library has no public handle on its workers before Python 3.14.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for future in self._in_flight:
            future.cancel()
        for process in processes:
            with contextlib.suppress(OSError, ValueError):
                process.terminate()
        deadline = time.monotonic() + _TERMINATE_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        pool.shutdown(wait=True, cancel_futures=True)
        # A worker killed before it could unwind leaves its temporary file behind.
        for job in self._in_flight.values():
            _remove_temporary_outputs(job)
        self._in_flight.clear()

    def run(
        self, jobs: Sequence[FileJob], *, on_start: Callable[[FileJob], None] | None = None
    ) -> Iterator[FileOutcome]:
        """Yield each job's outcome as it completes (not in order).

        Parameters
        ----------
        jobs : sequence of FileJob
        on_start : callable, optional
            Called with each job when it is handed to a worker.
        """
        waiting = deque(jobs)
        # Jobs in flight when a worker died, tried again one at a time; `alone` is the one running now.
        suspects: deque[FileJob] = deque()
        alone: FileJob | None = None
        if self._pool is None:
            self._pool = self._new_pool()
        while waiting or suspects or self._in_flight:
            broken: list[FileJob] = []
            if suspects or alone is not None:
                if not self._in_flight:
                    alone = suspects.popleft()
                    broken += self._submit(alone, on_start)
            else:
                while waiting and len(self._in_flight) < self.processes and not broken:
                    broken += self._submit(waiting.popleft(), on_start)
            if not broken:
                done, _ = wait(list(self._in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    job = self._in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken.append(job)
                        continue
                    if job is alone:
                        alone = None
                    yield outcome
            if broken:
                # Every job of a broken pool fails at once: collect those not seen yet, start a new pool.
                if self._in_flight:
                    wait(list(self._in_flight))
                    broken += self._in_flight.values()
                    self._in_flight.clear()
                assert self._pool is not None
                self._pool.shutdown(wait=True)
                self._pool = self._new_pool()
                for job in sorted(broken, key=lambda j: j.index):
                    _remove_temporary_outputs(job)
                    if job is alone:
                        alone = None
                        yield _died(job)
                    else:
                        suspects.append(job)

    def _submit(self, job: FileJob, on_start: Callable[[FileJob], None] | None) -> list[FileJob]:
        """Hand ``job`` to a worker; returns ``[job]`` when the pool turns out to be broken already."""
        assert self._pool is not None
        try:
            future = self._pool.submit(_run_job, job)
        except BrokenProcessPool:
            return [job]
        self._in_flight[future] = job
        if on_start is not None:
            on_start(job)
        return []


def _died(job: FileJob) -> FileOutcome:
    """The outcome of a file whose worker process ended while classifying it, on its own."""
    return FileOutcome(
        job.index,
        job.path,
        error=(
            f"{job.path}: the worker process classifying it ended unexpectedly (killed, or out of "
            "memory?); nothing was written for it"
        ),
    )


def _remove_temporary_outputs(job: FileJob) -> None:
    for path in temporary_outputs(job):
        with contextlib.suppress(OSError):
            path.unlink()
