"""Running a batch on a Dask distributed cluster: each file is one task, done by :func:`classify_file`.

The workers read the inputs and write the outputs themselves, at the paths the command names (made
absolute against the command's working directory): on a cluster these must be on a filesystem that the
workers share with the machine where the command runs. Dask is an optional dependency
(``pip install 'gaitdir[dask]'``); it is imported when a runner connects, never by ``import gaitdir``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gaitdir.batch._work import ClassifySettings, FileJob, FileOutcome, classify_file
from gaitdir.errors import GaitdirError

if TYPE_CHECKING:
    from distributed import Client, Future

#: How to get Dask, for the messages that need it.
INSTALL_HINT = "pip install 'gaitdir[dask]'"
# Seconds to wait for the scheduler to answer when connecting.
_CONNECT_TIMEOUT_S = 30


class BatchError(GaitdirError):
    """A batch cannot run as asked (no Dask, no scheduler at the address, workers that differ)."""


def _run_task(job: FileJob, settings: ClassifySettings, version: str) -> FileOutcome:
    """One file on a Dask worker; refuses to work with another gaitdir than the command's."""
    from gaitdir import __version__

    if __version__ != version:
        return FileOutcome(
            job.index,
            job.path,
            error=(
                f"{job.path}: the Dask worker that took it runs gaitdir {__version__}, this command "
                f"{version}; install the same gaitdir on every worker"
            ),
        )
    return classify_file(job, settings)


class DaskRunner:
    """Classifies files as tasks on a Dask distributed cluster.

    The settings (with the model) are sent to the cluster once and reach every worker once; each task
    carries only its paths. Tasks are queued by the scheduler, which gives each worker thread one file
    at a time (gaitdir classifies one file at a time per worker process: start workers with
    ``--nthreads 1`` and one process per core).

    Parameters
    ----------
    address : str
        The scheduler's address (``tcp://host:8786``), or the path of a scheduler file (the JSON that
        ``dask scheduler --scheduler-file`` writes).
    settings : ClassifySettings
    cwd : str, optional
        Relative paths are taken against this folder on the workers; default: the current one.

    Raises
    ------
    BatchError
        On entering: Dask is not installed, or the scheduler cannot be reached.
    """

    def __init__(self, address: str, settings: ClassifySettings, cwd: str | None = None) -> None:
        self.address = address
        self.settings = settings
        self.cwd = cwd
        self._client: Client | None = None
        self._futures: dict[Future, FileJob] = {}

    def __enter__(self) -> DaskRunner:
        try:
            from distributed import Client
        except ImportError as exc:
            raise BatchError(
                f"--scheduler needs Dask distributed, which is not installed: {INSTALL_HINT}"
            ) from exc
        where: dict[str, Any] = (
            {"scheduler_file": self.address} if Path(self.address).is_file() else {"address": self.address}
        )
        try:
            self._client = Client(**where, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if exc_type is not None and self._futures:
                # Files not started are dropped; those running finish on their workers (each output is
                # written whole or not at all).
                client.cancel(list(self._futures))
        finally:
            self._futures.clear()
            client.close()

    @property
    def client(self) -> Client:
        """The connected client (inside the ``with`` block)."""
        if self._client is None:
            raise RuntimeError("DaskRunner is used outside its with block")
        return self._client

    def workers(self) -> int:
        """Workers connected to the scheduler now."""
        return len(self.client.nthreads())

    def dashboard(self) -> str | None:
        """The address of the scheduler's dashboard, when it serves one."""
        if "dashboard" not in self.client.scheduler_info().get("services", {}):
            return None
        return str(self.client.dashboard_link)

    def run(
        self, jobs: Sequence[FileJob], *, on_start: Callable[[FileJob], None] | None = None
    ) -> Iterator[FileOutcome]:
        """Submit every job and yield the outcomes as they complete (not in order).

        Parameters
        ----------
        jobs : sequence of FileJob
        on_start : callable, optional
            Not called: the scheduler, not this process, decides when a task starts.

        Raises
        ------
        BatchError
            The workers cannot run gaitdir (it is not installed there).
        """
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from gaitdir import __version__

        if not jobs:
            return
        client = self.client
        cwd = self.cwd or os.getcwd()
        client.wait_for_workers(1)
        # Sent once; a worker that needs it gets it once and keeps it for the following files.
        settings = client.scatter(self.settings, broadcast=True, hash=False)
        token = uuid.uuid4().hex
        for job in jobs:
            remote = job.located(cwd)
            future = client.submit(
                _run_task,
                remote,
                settings,
                __version__,
                key=f"gaitdir-classify-{token}-{job.index}",
                pure=False,
            )
            self._futures[future] = job
        for future in as_completed(list(self._futures), loop=client.loop):
            job = self._futures.pop(future)
            try:
                outcome: FileOutcome = future.result()
            except KilledWorker:
                yield FileOutcome(
                    job.index,
                    job.path,
                    error=(
                        f"{job.path}: the Dask workers classifying it ended unexpectedly (killed, or out of "
                        "memory?); nothing was written for it"
                    ),
                )
                continue
            except ImportError as exc:
                raise BatchError(
                    f"the Dask workers at {self.address} cannot run gaitdir ({exc}); install the same "
                    f"gaitdir on every worker ({INSTALL_HINT})"
                ) from exc
            yield outcome
