"""Classifying many recordings: one file's work, and the ways to run a batch of them.

Every runner does the same work for each file (:func:`classify_file`: read, classify, write
``<stem>.steps.csv`` and then ``<stem>.summary.json``) and yields a :class:`FileOutcome` per file:

* :class:`InProcessRunner` — one file after another in the calling process;
* :class:`ProcessPoolRunner` — worker processes on this machine, one file per worker at a time;
* :class:`DaskRunner` — tasks on a Dask distributed cluster (optional: ``pip install 'gaitdir[dask]'``).

Nothing here prints; the command line (``gaitdir classify``) reports what the outcomes say.
"""

from __future__ import annotations

from gaitdir.batch._dask import BatchError, DaskRunner
from gaitdir.batch._local import InProcessRunner, ProcessPoolRunner, default_jobs, start_worker_server
from gaitdir.batch._signals import redelivered_if_lost
from gaitdir.batch._work import (
    STEPS_SUFFIX,
    SUMMARY_FORMAT_VERSION,
    SUMMARY_SUFFIX,
    ClassifySettings,
    FileJob,
    FileOutcome,
    classify_file,
    collector_paused,
    is_up_to_date,
    read_summary,
    summary_path_for,
    temporary_outputs,
)

__all__ = [
    "STEPS_SUFFIX",
    "SUMMARY_FORMAT_VERSION",
    "SUMMARY_SUFFIX",
    "BatchError",
    "ClassifySettings",
    "DaskRunner",
    "FileJob",
    "FileOutcome",
    "InProcessRunner",
    "ProcessPoolRunner",
    "classify_file",
    "collector_paused",
    "default_jobs",
    "is_up_to_date",
    "read_summary",
    "redelivered_if_lost",
    "start_worker_server",
    "summary_path_for",
    "temporary_outputs",
]
