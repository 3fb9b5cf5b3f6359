"""The history's SQLite file: its schema and migrations, the :class:`History` store, and the records
read back from it (see :mod:`gaitdir.history` for the layout and the rules of concurrent use)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from gaitdir import __version__
from gaitdir.errors import HistoryError

#: Environment variable that moves gaitdir's per-user data (the history) elsewhere.
DATA_DIR_ENV = "GAITDIR_DATA_DIR"
#: The history's file name inside the data directory.
HISTORY_FILE = "history.sqlite3"
#: ``PRAGMA application_id`` of a gaitdir history ("gait" in ASCII), so that a foreign file is recognised.
APPLICATION_ID = 0x67616974
#: A ``running`` row whose heartbeat is older than this (s) belongs to a process that is gone or hung.
STALE_AFTER_S = 120.0
#: How often a live session refreshes its heartbeat when nothing else updates its row (s).
HEARTBEAT_INTERVAL_S = 20.0

STATUSES = ("running", "completed", "interrupted", "classified")

# Migrations: entry i takes the schema from version i to i + 1, inside one transaction with the version
# bump, so a failure leaves the file at the version it had.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('live', 'classified')),
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'classified')),
        started_s REAL NOT NULL,
        ended_s REAL,
        heartbeat_s REAL NOT NULL,
        sensor TEXT,
        placement TEXT,
        forward_source TEXT,
        forward_axis TEXT,
        steps INTEGER NOT NULL DEFAULT 0,
        forward INTEGER NOT NULL DEFAULT 0,
        backward INTEGER NOT NULL DEFAULT 0,
        duration_s REAL NOT NULL DEFAULT 0,
        recording_path TEXT,
        events_path TEXT,
        end_reason TEXT,
        pid INTEGER,
        host TEXT,
        gaitdir_version TEXT
    );
    CREATE INDEX sessions_by_start ON sessions (started_s);
    CREATE INDEX sessions_by_recording ON sessions (kind, recording_path);
    """,
)
#: The schema version this gaitdir writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "id, kind, status, started_s, ended_s, heartbeat_s, sensor, placement, forward_source, forward_axis, "
    "steps, forward, backward, duration_s, recording_path, events_path, end_reason, pid, host"
)


def data_dir() -> Path:
    """gaitdir's per-user data directory.

    Returns
    -------
    Path
        ``$GAITDIR_DATA_DIR`` when set and non-empty, else ``platformdirs.user_data_dir("gaitdir")``.
    """
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("gaitdir", appauthor=False))


def history_path() -> Path:
    """The history file: ``data_dir() / "history.sqlite3"``."""
    return data_dir() / HISTORY_FILE


# --------------------------------------------------------------------------------------------------
# Records


def normalize_forward_reference(value: Any) -> dict[str, Any] | None:
    """Where a wearer's front came from, as ``{"source": str, "axis": [x, y, z] or None}``.

    Parameters
    ----------
    value : mapping, object, str or None
        A mapping or an object with ``source`` and ``axis``, or a bare source string.

    Returns
    -------
    dict or None
        None when ``value`` is None or names no source.
    """
    if value is None:
        return None
    if isinstance(value, str):
        source, axis = value, None
    elif isinstance(value, Mapping):
        source, axis = value.get("source"), value.get("axis")
    else:
        source, axis = getattr(value, "source", None), getattr(value, "axis", None)
    if not source:
        return None
    if axis is not None:
        try:
            axis = [round(float(a), 4) for a in axis]
        except (TypeError, ValueError):
            axis = None
        if axis is not None and len(axis) != 3:
            axis = None
    return {"source": str(source), "axis": axis}


@dataclass(frozen=True)
class SessionRecord:
    """One row of the history, as read.

    Attributes
    ----------
    id : int
    kind : str
        ``"live"`` or ``"classified"``.
    status : str
        ``"completed"``, ``"interrupted"``, ``"classified"``, or ``"running"`` for a live session whose
        process is still streaming (see :func:`effective_status`).
    started_s, ended_s : float
        Unix time (s); ``ended_s`` is None while running and for a session that was interrupted.
    sensor, placement : str or None
    forward_reference : dict or None
        ``{"source": ..., "axis": [x, y, z] or None}``.
    steps, forward, backward : int
    duration_s : float
        Stream time covered (s).
    recording_path, events_path : str or None
        For a classified file: the file, and the steps file ``classify`` wrote.
    end_reason : str or None
    stored_status : str
        The status column as stored (``running`` for a row left by a killed process).
    """

    id: int
    kind: str
    status: str
    started_s: float
    ended_s: float | None
    sensor: str | None
    placement: str | None
    forward_reference: dict[str, Any] | None
    steps: int
    forward: int
    backward: int
    duration_s: float
    recording_path: str | None
    events_path: str | None
    end_reason: str | None
    stored_status: str

    @property
    def started(self) -> dt.datetime:
        """Start in local time (aware)."""
        return _local(self.started_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as local ISO 8601 with their UTC offset)."""
        return {
            "id": self.id,
            "started": _iso(self.started_s),
            "ended": None if self.ended_s is None else _iso(self.ended_s),
            "sensor": self.sensor,
            "placement": self.placement,
            "forward_reference": self.forward_reference,
            "steps": self.steps,
            "forward": self.forward,
            "backward": self.backward,
            "status": self.status,
            "kind": self.kind,
            "duration_s": round(self.duration_s, 3),
            "recording": self.recording_path,
            "events": self.events_path,
        }


@dataclass(frozen=True)
class DayTotal:
    """Steps of the sessions that started on one local calendar day."""

    date: dt.date
    steps: int
    forward: int
    backward: int
    sessions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "steps": self.steps,
            "forward": self.forward,
            "backward": self.backward,
            "sessions": self.sessions,
        }


def daily_totals(sessions: Sequence[SessionRecord]) -> list[DayTotal]:
    """Per local day (of each session's start), the sums of the sessions' counts, oldest day first.

    A session that runs past midnight counts for the day it started. Days without a session are absent.
    """
    days: dict[dt.date, list[int]] = {}
    for s in sessions:
        row = days.setdefault(s.started.date(), [0, 0, 0, 0])
        row[0] += s.steps
        row[1] += s.forward
        row[2] += s.backward
        row[3] += 1
    return [DayTotal(day, *days[day]) for day in sorted(days)]


def effective_status(
    stored: str,
    *,
    heartbeat_s: float,
    pid: int | None,
    host: str | None,
    now_s: float | None = None,
    this_host: str | None = None,
) -> str:
    """The status a row stands for.

    A row still ``running`` is ``interrupted`` when its process cannot be running any more: on this host,
    no process has its pid; on any host, its heartbeat is older than :data:`STALE_AFTER_S` (a live
    session refreshes it at least every :data:`HEARTBEAT_INTERVAL_S`). Stored statuses other than
    ``running`` are final. Nothing is written: a session that was only suspended (Ctrl-Z) and comes back
    finishes its own row.
    """
    if stored != "running":
        return stored
    now_s = time.time() if now_s is None else now_s
    if now_s - heartbeat_s > STALE_AFTER_S:
        return "interrupted"
    if host is not None and host == (this_host or _host()) and pid is not None and not _pid_alive(pid):
        return "interrupted"
    return "running"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        # os.kill would terminate the process there; the heartbeat alone decides.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has it
        return True
    except OSError:
        return True
    return True


def _host() -> str:
    return socket.gethostname()


def _local(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).astimezone()


def _iso(ts: float) -> str:
    return _local(ts).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# The store


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return "it is locked by another program"
    if "readonly" in lowered or "read-only" in lowered:
        return "it is read-only"
    if "not a database" in lowered:
        return "it is not an SQLite database"
    if "unable to open" in lowered:
        return "it cannot be opened (check the folder exists and can be written)"
    return text


class History:
    """The session history in one SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        The database file; None = :func:`history_path` (evaluated at :meth:`open`).
    timeout_s : float, default=5.0
        How long a write waits for another process's write to finish before giving up (s).
    create : bool, default=True
        Create the file (and its folder) when missing. False: a missing file reads as an empty history.

    Attributes
    ----------
    path_ : Path
        The file in use (after :meth:`open`).
    read_only_ : bool
        True when the file could only be opened for reading; writes then raise :class:`HistoryError`.

    Notes
    -----
    Use as a context manager (``with History() as history: ...``) or call :meth:`open` and :meth:`close`.
    """

    def __init__(
        self, path: str | Path | None = None, *, timeout_s: float = 5.0, create: bool = True
    ) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.create = create
        self._conn: sqlite3.Connection | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def open(self) -> History:
        """Open the file, check it is a gaitdir history this version can use, and bring its schema up to date.

        Raises
        ------
        HistoryError
            The file is locked, not a gaitdir history, written by a newer gaitdir, or cannot be created.
        """
        if self._conn is not None:
            return self
        self.path_ = Path(self.path) if self.path is not None else history_path()
        self.read_only_ = False
        if not self.path_.exists():
            if not self.create:
                self.read_only_ = True
                return self
            try:
                self.path_.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._error(f"cannot create its folder: {exc.strerror or exc}") from exc
        try:
            self._conn = self._connect(read_only=not _writable(self.path_))
            self._check_and_migrate()
        except sqlite3.Error as exc:
            self.close()
            raise self._error(_describe(exc)) from exc
        except BaseException:
            self.close()
            raise
        return self

    def set_timeout(self, timeout_s: float) -> None:
        """How long later writes wait for another process's write (s)."""
        self.timeout_s = timeout_s
        if self._conn is not None:
            self._conn.execute(f"PRAGMA busy_timeout = {max(0, round(timeout_s * 1000))}")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> History:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        self.read_only_ = read_only
        if read_only:
            uri = f"{self.path_.resolve().as_uri()}?mode=ro"
            try:
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, isolation_level=None)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # A WAL file in a folder that cannot be written: no -shm can be made, and nobody can be
                # writing it either, so it is read as it stands.
                uri = f"{self.path_.resolve().as_uri()}?immutable=1"
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, isolation_level=None)
        else:
            conn = sqlite3.connect(str(self.path_), timeout=self.timeout_s, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _check_and_migrate(self, migrations: Sequence[str] = MIGRATIONS) -> None:
        conn = self._db()
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        known = len(migrations)
        if app_id not in (0, APPLICATION_ID):
            raise self._error(
                "it is not a gaitdir history (another program's SQLite file); it is left as it is"
            )
        if version > known:
            raise self._error(
                f"it was written by a newer gaitdir (schema version {version}; this gaitdir knows up to "
                f"{known}); upgrade gaitdir to use it. The file is left as it is"
            )
        if version == 0:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            if tables:
                raise self._error(
                    f"it is not a gaitdir history (it has tables {', '.join(tables)} and no schema "
                    "version); it is left as it is"
                )
        if version == known:
            if not self.read_only_:
                self._ensure_wal()
            return
        if self.read_only_:
            raise self._error(
                f"it is read-only and has schema version {version}, older than this gaitdir's {known}; "
                "make it writable once so that gaitdir can update it"
            )
        self._ensure_wal()
        with self._write() as cur:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = int(cur.execute("PRAGMA user_version").fetchone()[0])
            for i in range(version, known):
                for statement in _statements(migrations[i]):
                    cur.execute(statement)
            cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            cur.execute(f"PRAGMA user_version = {known}")

    def _ensure_wal(self) -> None:
        conn = self._db()
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode, NORMAL survives a killed process; only a power cut may lose the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError("the history is not open")
        return self._conn

    def _error(self, reason: str) -> HistoryError:
        return HistoryError(f"history {self.path_}: {reason}", path=self.path_)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One short write transaction; the write lock is taken at once, so waiting happens up front."""
        if self.read_only_:
            raise self._error("it is read-only; nothing was saved")
        conn = self._db()
        try:
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(_describe(exc)) from exc

    # --- writing -----------------------------------------------------------------------------------------

    def start_live(
        self,
        *,
        started_s: float,
        sensor: str | None,
        placement: str | None,
        forward_reference: Any = None,
        recording_path: str | Path | None = None,
        events_path: str | Path | None = None,
    ) -> int:
        """Add a ``running`` live session owned by this process; return its id."""
        ref = normalize_forward_reference(forward_reference)
        with self._write() as cur:
            cur.execute(
                "INSERT INTO sessions (kind, status, started_s, heartbeat_s, sensor, placement, "
                "forward_source, forward_axis, recording_path, events_path, pid, host, gaitdir_version) "
                "VALUES ('live', 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    started_s,
                    time.time(),
                    sensor,
                    placement,
                    *_ref_columns(ref),
                    _path_text(recording_path),
                    _path_text(events_path),
                    os.getpid(),
                    _host(),
                    __version__,
                ),
            )
            return int(cur.lastrowid or 0)

    def update_live(
        self,
        session_id: int,
        *,
        steps: int,
        forward: int,
        backward: int,
        duration_s: float,
        forward_reference: Any = None,
    ) -> None:
        """Store a running session's counts so far (and refresh its heartbeat)."""
        ref = normalize_forward_reference(forward_reference)
        with self._write() as cur:
            cur.execute(
                "UPDATE sessions SET steps = ?, forward = ?, backward = ?, duration_s = ?, heartbeat_s = ?, "
                "forward_source = COALESCE(?, forward_source), forward_axis = COALESCE(?, forward_axis) "
                "WHERE id = ? AND status = 'running'",
                (steps, forward, backward, float(duration_s), time.time(), *_ref_columns(ref), session_id),
            )

    def heartbeat(self, session_id: int) -> None:
        """Say that the process streaming a running session is alive."""
        with self._write() as cur:
            cur.execute(
                "UPDATE sessions SET heartbeat_s = ? WHERE id = ? AND status = 'running'",
                (time.time(), session_id),
            )

    def finish_live(
        self,
        session_id: int,
        *,
        status: str,
        ended_s: float,
        steps: int,
        forward: int,
        backward: int,
        duration_s: float,
        end_reason: str | None = None,
        forward_reference: Any = None,
        recording_path: str | Path | None = None,
        events_path: str | Path | None = None,
    ) -> None:
        """Give a live session its final counts and status (``completed`` or ``interrupted``)."""
        if status not in ("completed", "interrupted"):
            raise ValueError(f"a live session ends completed or interrupted, not {status!r}")
        ref = normalize_forward_reference(forward_reference)
        with self._write() as cur:
            cur.execute(
                "UPDATE sessions SET status = ?, ended_s = ?, heartbeat_s = ?, steps = ?, forward = ?, "
                "backward = ?, duration_s = ?, end_reason = ?, "
                "forward_source = COALESCE(?, forward_source), forward_axis = COALESCE(?, forward_axis), "
                "recording_path = COALESCE(?, recording_path), events_path = COALESCE(?, events_path) "
                "WHERE id = ?",
                (
                    status,
                    ended_s,
                    time.time(),
                    steps,
                    forward,
                    backward,
                    float(duration_s),
                    end_reason,
                    *_ref_columns(ref),
                    _path_text(recording_path),
                    _path_text(events_path),
                    session_id,
                ),
            )

    def add_classified(
        self,
        *,
        recording_path: str | Path,
        started_s: float,
        duration_s: float,
        steps: int,
        forward: int,
        backward: int,
        sensor: str | None = None,
        placement: str | None = None,
        forward_reference: Any = None,
        steps_path: str | Path | None = None,
    ) -> int:
        """Add a classified file as a ``classified`` session; return its id.

        A file already in the history (same absolute path) has its row replaced in place (same id), so
        classifying it again does not count its steps twice.
        """
        ref = normalize_forward_reference(forward_reference)
        path = _path_text(Path(recording_path).resolve())
        values = (
            started_s,
            started_s + max(float(duration_s), 0.0),
            time.time(),
            sensor,
            placement,
            *_ref_columns(ref),
            steps,
            forward,
            backward,
            float(duration_s),
            _path_text(steps_path),
            os.getpid(),
            _host(),
            __version__,
        )
        with self._write() as cur:
            row = cur.execute(
                "SELECT id FROM sessions WHERE kind = 'classified' AND recording_path = ?", (path,)
            ).fetchone()
            if row is not None:
                cur.execute(
                    "UPDATE sessions SET started_s = ?, ended_s = ?, heartbeat_s = ?, sensor = ?, "
                    "placement = ?, forward_source = ?, forward_axis = ?, steps = ?, forward = ?, "
                    "backward = ?, duration_s = ?, events_path = ?, pid = ?, host = ?, gaitdir_version = ? "
                    "WHERE id = ?",
                    (*values, int(row[0])),
                )
                return int(row[0])
            cur.execute(
                "INSERT INTO sessions (kind, status, started_s, ended_s, heartbeat_s, sensor, placement, "
                "forward_source, forward_axis, steps, forward, backward, duration_s, events_path, pid, host, "
                "gaitdir_version, recording_path) "
                "VALUES ('classified', 'classified', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, path),
            )
            return int(cur.lastrowid or 0)

    # --- reading -----------------------------------------------------------------------------------------

    def sessions(self, *, since_s: float | None = None) -> list[SessionRecord]:
        """Sessions that started at or after ``since_s`` (Unix s; None = all), oldest first."""
        if self._conn is None and not self.path_exists():
            return []
        conn = self._db()
        query = f"SELECT {_COLUMNS} FROM sessions"
        args: tuple[Any, ...] = ()
        if since_s is not None:
            query += " WHERE started_s >= ?"
            args = (since_s,)
        query += " ORDER BY started_s, id"
        try:
            rows = conn.execute(query, args).fetchall()
        except sqlite3.Error as exc:
            raise self._error(_describe(exc)) from exc
        now, host = time.time(), _host()
        return [_record(row, now, host) for row in rows]

    def session(self, session_id: int) -> SessionRecord:
        """One session by id.

        Raises
        ------
        HistoryError
            No session has that id.
        """
        if self._conn is not None:
            try:
                row = (
                    self._db()
                    .execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise self._error(_describe(exc)) from exc
            if row is not None:
                return _record(row, time.time(), _host())
        raise HistoryError(
            f"no session {session_id} in the history ({self.path_}); `gaitdir history` lists them"
        )

    def path_exists(self) -> bool:
        """Whether the history file exists (a history never written to has no file)."""
        return self.path_.exists()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _writable(path: Path) -> bool:
    """Whether SQLite can write ``path``: the file and, for its journal files, its folder."""
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(path.parent, os.W_OK)


def _path_text(path: str | Path | None) -> str | None:
    return None if path is None else str(path)


def _ref_columns(ref: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if ref is None:
        return None, None
    return ref["source"], None if ref["axis"] is None else json.dumps(ref["axis"])


def _record(row: sqlite3.Row, now_s: float, this_host: str) -> SessionRecord:
    axis = row["forward_axis"]
    ref = None
    if row["forward_source"]:
        ref = {"source": row["forward_source"], "axis": None if axis is None else json.loads(axis)}
    return SessionRecord(
        id=int(row["id"]),
        kind=row["kind"],
        status=effective_status(
            row["status"],
            heartbeat_s=float(row["heartbeat_s"]),
            pid=row["pid"],
            host=row["host"],
            now_s=now_s,
            this_host=this_host,
        ),
        started_s=float(row["started_s"]),
        ended_s=None if row["ended_s"] is None else float(row["ended_s"]),
        sensor=row["sensor"],
        placement=row["placement"],
        forward_reference=ref,
        steps=int(row["steps"]),
        forward=int(row["forward"]),
        backward=int(row["backward"]),
        duration_s=float(row["duration_s"]),
        recording_path=row["recording_path"],
        events_path=row["events_path"],
        end_reason=row["end_reason"],
        stored_status=row["status"],
    )


def classified_started_s(path: Path, meta: Mapping[str, str], duration_s: float) -> float:
    """When a classified recording started (Unix s), for the day its steps count on.

    The recording's ``started`` metadata (ISO 8601, as ``gaitdir live --record`` writes it) when it has
    one; otherwise the file's modification time less its duration (a recorder writes a file until its
    end). A time without a UTC offset is local time.
    """
    text = str(meta.get("started", "")).strip()
    if text:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None:
            return (moment if moment.tzinfo is not None else moment.astimezone()).timestamp()
    try:
        modified = path.stat().st_mtime
    except OSError:
        modified = time.time()
    return modified - max(float(duration_s), 0.0)
