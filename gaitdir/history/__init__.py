"""Session history: every live session, and every file classified with ``--history``, in one SQLite file.

The file is ``history.sqlite3`` in gaitdir's per-user data directory (``platformdirs.user_data_dir``), or
in ``$GAITDIR_DATA_DIR`` when that is set. Moving that variable moves the history; deleting the file (with
its ``-wal`` and ``-shm`` companions) forgets it.

Layout (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`; ``PRAGMA application_id`` marks the file)::

    sessions(id INTEGER PRIMARY KEY,
             kind TEXT             -- 'live' or 'classified'
             status TEXT           -- 'running', 'completed', 'interrupted' or 'classified'
             started_s REAL, ended_s REAL, heartbeat_s REAL   -- Unix time (s, UTC)
             sensor TEXT, placement TEXT,
             forward_source TEXT   -- where the wearer's front came from ('first-steps', 'file', ...)
             forward_axis TEXT     -- that front in sensor coordinates, JSON [x, y, z], or NULL
             steps INTEGER, forward INTEGER, backward INTEGER, duration_s REAL,
             recording_path TEXT   -- the recording (live --record; the classified file)
             events_path TEXT      -- live --events, or the steps file classify wrote
             end_reason TEXT, pid INTEGER, host TEXT, gaitdir_version TEXT)

A live session's row is written when its first samples arrive, updated as steps come (at most once a
second, see :class:`LiveRecorder`) and finished with ``completed`` when the session ends cleanly. A row
left ``running`` by a process that was killed or crashed keeps the counts of its last update and reads as
``interrupted`` (:func:`effective_status`): its process is gone (same host) or its heartbeat is older
than :data:`STALE_AFTER_S`.

Two gaitdir processes may use the file at once: it is in WAL mode (readers never wait for the writer),
every write is one short ``BEGIN IMMEDIATE`` transaction, and a writer waits up to ``timeout_s`` for
another before giving up with a :class:`~gaitdir.errors.HistoryError`. A file written by a newer gaitdir
(a higher ``user_version``) is never written to; a read-only file is read and never written.
"""

from gaitdir.history._recorder import LiveRecorder
from gaitdir.history._store import (
    APPLICATION_ID,
    DATA_DIR_ENV,
    HEARTBEAT_INTERVAL_S,
    HISTORY_FILE,
    MIGRATIONS,
    SCHEMA_VERSION,
    STALE_AFTER_S,
    STATUSES,
    DayTotal,
    History,
    SessionRecord,
    classified_started_s,
    daily_totals,
    data_dir,
    effective_status,
    history_path,
    normalize_forward_reference,
)

__all__ = [
    "APPLICATION_ID",
    "DATA_DIR_ENV",
    "HEARTBEAT_INTERVAL_S",
    "HISTORY_FILE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STALE_AFTER_S",
    "STATUSES",
    "DayTotal",
    "History",
    "LiveRecorder",
    "SessionRecord",
    "classified_started_s",
    "daily_totals",
    "data_dir",
    "effective_status",
    "history_path",
    "normalize_forward_reference",
]
