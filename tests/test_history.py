"""The session history: schema and migrations, statuses, day totals, bad files, two processes at once."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gaitdir.errors import HistoryError
from gaitdir.history import (
    APPLICATION_ID,
    DATA_DIR_ENV,
    MIGRATIONS,
    SCHEMA_VERSION,
    STALE_AFTER_S,
    History,
    LiveRecorder,
    SessionRecord,
    daily_totals,
    effective_status,
    history_path,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_dir_env_moves_the_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    assert history_path() == tmp_path / "elsewhere" / "history.sqlite3"
    with History() as history:
        history.start_live(started_s=time.time(), sensor="polar-h10", placement="chest")
    assert (tmp_path / "elsewhere" / "history.sqlite3").is_file()


def test_new_file_gets_the_schema_version_wal_and_application_id(db: Path) -> None:
    with History(db):
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    assert {"started_s", "steps", "forward", "backward", "recording_path", "events_path"} <= columns


def test_reading_a_missing_history_creates_nothing(db: Path) -> None:
    with History(db, create=False) as history:
        assert history.sessions() == []
    assert not db.exists() and not db.parent.exists()


def test_live_session_lifecycle(db: Path) -> None:
    started = time.time() - 60
    with History(db) as history:
        sid = history.start_live(
            started_s=started, sensor="polar-h10", placement="chest", recording_path="walk.csv"
        )
        running = history.session(sid)
        assert running.status == "running" and running.steps == 0
        history.update_live(
            sid,
            steps=10,
            forward=8,
            backward=2,
            duration_s=6.5,
            forward_reference={"source": "first-steps", "axis": [0.0, 1.0, 0.0]},
        )
        # a later update without a reference keeps the one stored
        history.update_live(sid, steps=12, forward=9, backward=3, duration_s=7.5)
        mid = history.session(sid)
        assert (mid.steps, mid.forward, mid.backward) == (12, 9, 3)
        assert mid.forward_reference == {"source": "first-steps", "axis": [0.0, 1.0, 0.0]}
        history.finish_live(
            sid,
            status="completed",
            ended_s=started + 60,
            steps=13,
            forward=10,
            backward=3,
            duration_s=8.0,
            end_reason="stopped by user",
            events_path="walk.jsonl",
        )
        done = history.session(sid)
    assert done.status == "completed" and done.stored_status == "completed"
    assert (done.steps, done.forward, done.backward, done.duration_s) == (13, 10, 3, 8.0)
    assert done.recording_path == "walk.csv" and done.events_path == "walk.jsonl"
    payload = done.to_dict()
    assert set(payload) >= {
        "id",
        "started",
        "ended",
        "sensor",
        "placement",
        "forward_reference",
        "steps",
        "forward",
        "backward",
        "status",
    }
    assert payload["started"].startswith(time.strftime("%Y-", time.localtime(started)))
    json.dumps(payload)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_running_row_of_a_gone_process_reads_interrupted(db: Path) -> None:
    with History(db) as history:
        sid = history.start_live(started_s=time.time(), sensor="polar-h10", placement="chest")
        history.update_live(sid, steps=5, forward=5, backward=0, duration_s=3.0)
        assert history.session(sid).status == "running"  # this process is alive
    conn = sqlite3.connect(db)
    conn.execute("UPDATE sessions SET pid = ? WHERE id = ?", (dead_pid(), sid))
    conn.commit()
    with History(db) as history:
        gone = history.session(sid)
    assert gone.status == "interrupted" and gone.stored_status == "running"
    assert gone.steps == 5  # what it had is kept


def test_effective_status_rules() -> None:
    now = 1_000_000.0
    alive = os.getpid()
    common = {"now_s": now, "this_host": "here"}
    assert effective_status("completed", heartbeat_s=0, pid=None, host=None, **common) == "completed"
    assert effective_status("running", heartbeat_s=now - 1, pid=alive, host="here", **common) == "running"
    stale = now - STALE_AFTER_S - 1
    assert effective_status("running", heartbeat_s=stale, pid=alive, host="here", **common) == "interrupted"
    # another host: its pids mean nothing here, only the heartbeat tells
    assert (
        effective_status("running", heartbeat_s=now - 1, pid=dead_pid(), host="there", **common) == "running"
    )
    assert effective_status("running", heartbeat_s=stale, pid=alive, host="there", **common) == "interrupted"


def test_classified_file_is_replaced_not_counted_twice(db: Path, tmp_path: Path) -> None:
    recording = tmp_path / "walk.csv"
    with History(db) as history:
        first = history.add_classified(
            recording_path=recording, started_s=1000.0, duration_s=60.0, steps=100, forward=90, backward=10
        )
        again = history.add_classified(
            recording_path=recording, started_s=1000.0, duration_s=60.0, steps=101, forward=91, backward=10
        )
        other = history.add_classified(
            recording_path=tmp_path / "other.csv",
            started_s=2000.0,
            duration_s=30.0,
            steps=50,
            forward=50,
            backward=0,
        )
        sessions = history.sessions()
    assert first == again != other
    assert [(s.id, s.steps, s.status) for s in sessions] == [
        (first, 101, "classified"),
        (other, 50, "classified"),
    ]
    assert sessions[0].recording_path == str(recording.resolve())


def record(started: str, steps: int, forward: int, backward: int) -> SessionRecord:
    ts = time.mktime(time.strptime(started, "%Y-%m-%d %H:%M"))
    return SessionRecord(
        id=0,
        kind="live",
        status="completed",
        started_s=ts,
        ended_s=ts + 60,
        sensor=None,
        placement=None,
        forward_reference=None,
        steps=steps,
        forward=forward,
        backward=backward,
        duration_s=60.0,
        recording_path=None,
        events_path=None,
        end_reason=None,
        stored_status="completed",
    )


def test_daily_totals_by_local_day_of_start() -> None:
    days = daily_totals(
        [
            record("2026-12-01 08:00", 100, 70, 30),
            record("2026-12-01 23:59", 10, 0, 10),  # runs past midnight: counts for the 1st
            record("2026-12-03 07:00", 5, 5, 0),
        ]
    )
    assert [d.to_dict() for d in days] == [
        {"date": "2026-12-01", "steps": 110, "forward": 70, "backward": 40, "sessions": 2},
        {"date": "2026-12-03", "steps": 5, "forward": 5, "backward": 0, "sessions": 1},
    ]


def test_since_filters_by_start(db: Path) -> None:
    with History(db) as history:
        for started in (100.0, 200.0, 300.0):
            history.add_classified(
                recording_path=f"/data/{started}.csv",
                started_s=started,
                duration_s=1,
                steps=1,
                forward=1,
                backward=0,
            )
        assert [s.started_s for s in history.sessions(since_s=200.0)] == [200.0, 300.0]


# --------------------------------------------------------------------------------------------------
# Files gaitdir must not use or change


def test_newer_schema_is_refused_and_left_untouched(db: Path) -> None:
    with History(db) as history:
        history.start_live(started_s=time.time(), sensor="x", placement="chest")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 7")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = digest(db)
    for create in (True, False):
        with pytest.raises(HistoryError, match="newer gaitdir") as info:
            History(db, create=create).open()
        assert "\n" not in str(info.value) and str(db) in str(info.value)
    assert digest(db) == before


def test_foreign_sqlite_file_is_refused_and_left_untouched(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = digest(db)
    with pytest.raises(HistoryError, match="not a gaitdir history"):
        History(db).open()
    assert digest(db) == before


def test_garbage_file_is_refused_and_left_untouched(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database, it is a text file with enough bytes in it" * 20)
    before = digest(db)
    with pytest.raises(HistoryError, match="not an SQLite database"):
        History(db).open()
    assert digest(db) == before


def test_locked_history_gives_a_clear_error_and_loses_nothing(db: Path) -> None:
    with History(db) as history:
        sid = history.start_live(started_s=time.time(), sensor="x", placement="chest")
        history.update_live(sid, steps=3, forward=3, backward=0, duration_s=2)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with History(db, timeout_s=0.2) as history:
            t0 = time.monotonic()
            with pytest.raises(HistoryError, match="locked by another program"):
                history.update_live(sid, steps=4, forward=4, backward=0, duration_s=3)
            assert time.monotonic() - t0 < 3
            # WAL: reading is not blocked by the writer
            assert history.session(sid).steps == 3
    finally:
        other.execute("ROLLBACK")
        other.close()
    with History(db) as history:
        history.update_live(sid, steps=4, forward=4, backward=0, duration_s=3)
        assert history.session(sid).steps == 4


def as_unprivileged(action: str, db: Path) -> dict:
    """Run ``action`` on ``db`` in a child process that file permissions apply to (root ignores them).

    The child is forked from this process (its modules are already loaded) and drops to user nobody
    when the tests run as root.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        result: dict = {}
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            with History(db) as history:
                result["read_only"] = history.read_only_
                result["sessions"] = [s.steps for s in history.sessions()]
                if action == "write":
                    try:
                        history.start_live(started_s=time.time(), sensor="x", placement="chest")
                        result["wrote"] = True
                    except HistoryError as exc:
                        result["error"] = str(exc)
        except BaseException as exc:  # reported to the parent, which fails the test
            result["crash"] = repr(exc)
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_read_only_history_is_read_and_never_written(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("ro")
    os.chmod(folder, 0o755)
    for parent in folder.parents:  # let the unprivileged child reach the folder
        if str(parent).startswith("/tmp/") and parent != Path("/tmp"):
            os.chmod(parent, os.stat(parent).st_mode | 0o755)
    db = folder / "history.sqlite3"
    with History(db) as history:
        sid = history.start_live(started_s=time.time(), sensor="x", placement="chest")
        history.update_live(sid, steps=21, forward=20, backward=1, duration_s=12)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for companion in ("-wal", "-shm"):
        Path(str(db) + companion).unlink(missing_ok=True)
    os.chmod(db, 0o444)
    before = digest(db)
    result = as_unprivileged("write", db)
    assert "crash" not in result, result
    assert result["read_only"] is True
    assert result["sessions"] == [21]
    assert "read-only" in result["error"] and "nothing was saved" in result["error"]
    assert digest(db) == before


def test_migration_runs_in_one_transaction(db: Path) -> None:
    with History(db) as history:
        history.add_classified(
            recording_path="/a.csv", started_s=1.0, duration_s=1.0, steps=7, forward=7, backward=0
        )
    good = (*MIGRATIONS, "ALTER TABLE sessions ADD COLUMN note TEXT")
    bad = (*MIGRATIONS, "ALTER TABLE sessions ADD COLUMN other TEXT; THIS IS NOT SQL")
    history = History(db)
    history.path_ = db
    history.read_only_ = False
    history._conn = history._connect(read_only=False)
    with pytest.raises(HistoryError):
        history._check_and_migrate(bad)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "other" not in {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    history._check_and_migrate(good)
    history.close()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert "note" in {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    assert conn.execute("SELECT steps FROM sessions").fetchall() == [(7,)]


_WRITER = """
import sys, time
from gaitdir.history import History
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with History(path, timeout_s=30) as history:
    for i in range(n):
        sid = history.start_live(started_s=time.time(), sensor=tag, placement="chest")
        for k in range(1, 4):
            history.update_live(sid, steps=k, forward=k, backward=0, duration_s=k)
        history.finish_live(sid, status="completed", ended_s=time.time(), steps=i, forward=i, backward=0,
                            duration_s=1.0)
        history.sessions()
"""


def test_two_processes_write_at_once(db: Path) -> None:
    with History(db):
        pass  # created first, so that both writers find the schema
    n = 60
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(db), tag, str(n)], stderr=subprocess.PIPE)
        for tag in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with History(db) as history:
        sessions = history.sessions()
    for tag in ("a", "b"):
        mine = [s for s in sessions if s.sensor == tag]
        assert sorted(s.steps for s in mine) == list(range(n))
        assert all(s.status == "completed" for s in mine)


# --------------------------------------------------------------------------------------------------
# LiveRecorder


@dataclass
class State:
    samples: int
    forward: int
    backward: int
    stream_time_s: float
    forward_reference: object = None

    @property
    def steps(self) -> int:
        return self.forward + self.backward


@dataclass
class Summary(State):
    end_reason: str = "stopped by user"
    recording_path: object = None
    events_path: object = None

    @property
    def stream_duration_s(self) -> float:
        return self.stream_time_s


class CountingHistory(History):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0

    def update_live(self, *args: object, **kwargs: object) -> None:
        self.writes += 1
        super().update_live(*args, **kwargs)  # type: ignore[arg-type]


def test_recorder_writes_on_first_samples_and_throttles(db: Path) -> None:
    now = [0.0]
    history = CountingHistory(db).open()
    recorder = LiveRecorder(
        history,
        sensor="polar-h10",
        placement="chest",
        clock=lambda: now[0],
    )
    recorder.observe(State(0, 0, 0, 0.0))
    assert recorder.session_id_ is None  # no samples yet: no row
    for i in range(1, 101):  # 100 snapshots over 5 s, a step every 5
        now[0] = i * 0.05
        recorder.observe(State(i * 10, i // 5, 0, now[0], {"source": "first-steps", "axis": None}))
    assert recorder.session_id_ is not None
    assert 4 <= history.writes <= 6  # at most once a second
    recorder.finish(Summary(1000, 20, 0, 5.0))
    row = history.session(recorder.session_id_)
    history.close()
    assert row.status == "completed" and row.steps == 20 and row.duration_s == 5.0
    assert row.forward_reference == {"source": "first-steps", "axis": None}


def test_recorder_survives_an_unwritable_history(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    errors: list[HistoryError] = []
    history = History(blocker / "data" / "history.sqlite3")
    with pytest.raises(HistoryError, match="cannot create its folder"):
        history.open()
    db = tmp_path / "h.sqlite3"
    history = History(db).open()
    history.read_only_ = True  # as if the file had become read-only
    recorder = LiveRecorder(history, on_error=errors.append, clock=lambda: 0.0)
    for i in range(1, 5):
        recorder.observe(State(i, i, 0, float(i)))
    recorder.finish(Summary(4, 4, 0, 4.0))
    assert len(errors) == 1 and "read-only" in str(errors[0])
    assert recorder.session_id_ is None


def test_recorder_retries_after_a_lock_and_warns_once(db: Path) -> None:
    history = History(db).open()
    history.set_timeout(0.05)
    errors: list[HistoryError] = []
    now = [0.0]
    recorder = LiveRecorder(history, on_error=errors.append, clock=lambda: now[0])
    recorder.observe(State(10, 1, 0, 1.0))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    for i in range(2, 6):  # the other writer holds the lock for these updates
        now[0] = float(i)
        recorder.observe(State(10 * i, i, 0, float(i)))
    other.execute("COMMIT")
    other.close()
    assert len(errors) == 1 and "locked" in str(errors[0])
    now[0] = 7.0
    recorder.observe(State(70, 7, 0, 7.0))
    assert recorder.session_id_ is not None
    assert history.session(recorder.session_id_).steps == 7
    recorder.finish(Summary(80, 8, 0, 8.0))
    assert history.session(recorder.session_id_).status == "completed"
    history.close()
