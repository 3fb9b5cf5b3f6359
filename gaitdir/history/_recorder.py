"""A live session's row in the history, kept up to date from the session's state snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gaitdir.errors import HistoryError
from gaitdir.history._store import History

__all__ = ["LiveRecorder"]


class LiveRecorder:
    """Keeps one live session's row up to date from the session's state snapshots.

    The row is written when the first samples arrive (a session that never streamed leaves none), then
    updated at most every ``min_interval_s`` while steps come, and finished by :meth:`finish`. History
    problems never stop the session: the first one is passed to ``on_error`` and later writes are skipped
    (a read-only file) or retried at the next update (a lock).

    Parameters
    ----------
    history : History
        An open history.
    sensor, placement : str, optional
        What is stored with the session.
    recording_path, events_path : str or Path, optional
        The session's ``--record`` and ``--events`` files.
    on_error : callable, optional
        Called once with the first :class:`HistoryError`.
    min_interval_s : float, default=1.0
        Least time between two updates of the row (s, monotonic clock).
    clock : callable
        Monotonic clock (s); injectable for tests.

    Attributes
    ----------
    session_id_ : int or None
        The row's id once written.
    error_ : HistoryError or None
        The first history problem met.
    """

    def __init__(
        self,
        history: History,
        *,
        sensor: str | None = None,
        placement: str | None = None,
        recording_path: str | Path | None = None,
        events_path: str | Path | None = None,
        on_error: Callable[[HistoryError], None] | None = None,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.history = history
        self.sensor = sensor
        self.placement = placement
        self.recording_path = recording_path
        self.events_path = events_path
        self.on_error = on_error
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.started_s = time.time()
        self.session_id_: int | None = None
        self.error_: HistoryError | None = None
        self._last_write = -float("inf")
        self._written: tuple[int, int, int] | None = None
        self._given_up = False

    def observe(self, state: Any) -> None:
        """Take a :class:`~gaitdir.live.LiveState`; write or update the row when it is due."""
        if self._given_up or not getattr(state, "samples", 0):
            return
        now = self.clock()
        counts = (int(state.steps), int(state.forward), int(state.backward))
        if self.session_id_ is not None and (
            now - self._last_write < self.min_interval_s or counts == self._written
        ):
            return
        self._attempt(lambda: self._store(state, counts), now)

    def heartbeat(self) -> None:
        """Refresh the heartbeat of a running row (a session waiting for its sensor updates nothing else)."""
        if self.session_id_ is None or self._given_up:
            return
        session_id = self.session_id_
        self._attempt(lambda: self.history.heartbeat(session_id), None)

    def finish(self, summary: Any, *, status: str = "completed", timeout_s: float = 5.0) -> None:
        """Final counts and status from a :class:`~gaitdir.live.LiveSummary` (or the last state).

        The session is over, so this write may wait ``timeout_s`` for another process's write; the
        updates while streaming wait only as long as the history was opened with.
        """
        if self._given_up:
            return
        self.history.set_timeout(timeout_s)
        if self.session_id_ is None:
            if not getattr(summary, "samples", 0):
                return  # never streamed: nothing to keep
            self._attempt(self._insert, None)
            if self.session_id_ is None:
                return
        session_id = self.session_id_
        ref = self._ref(summary)

        def store() -> None:
            self.history.finish_live(
                session_id,
                status=status,
                ended_s=time.time(),
                steps=int(summary.steps),
                forward=int(summary.forward),
                backward=int(summary.backward),
                duration_s=float(getattr(summary, "stream_duration_s", 0.0) or 0.0),
                end_reason=getattr(summary, "end_reason", None),
                forward_reference=ref,
                recording_path=getattr(summary, "recording_path", None),
                events_path=getattr(summary, "events_path", None),
            )

        self._attempt(store, None)

    # --- internals ---------------------------------------------------------------------------------------

    def _insert(self) -> None:
        self.session_id_ = self.history.start_live(
            started_s=self.started_s,
            sensor=self.sensor,
            placement=self.placement,
            recording_path=self.recording_path,
            events_path=self.events_path,
        )

    def _store(self, state: Any, counts: tuple[int, int, int]) -> None:
        if self.session_id_ is None:
            self._insert()
        assert self.session_id_ is not None
        self.history.update_live(
            self.session_id_,
            steps=counts[0],
            forward=counts[1],
            backward=counts[2],
            duration_s=float(getattr(state, "stream_time_s", 0.0) or 0.0),
            forward_reference=self._ref(state),
        )
        self._written = counts

    @staticmethod
    def _ref(state: Any) -> Any:
        # a LiveState or LiveSummary says where the wearer's front came from
        return getattr(state, "forward_reference", None)

    def _attempt(self, action: Callable[[], None], now: float | None) -> None:
        try:
            action()
        except HistoryError as exc:
            if self.error_ is None:
                self.error_ = exc
                if self.on_error is not None:
                    self.on_error(exc)
            # A read-only file stays read-only; a lock may pass, so the next update tries again.
            if self.history.read_only_ or "locked" not in str(exc):
                self._given_up = True
            return
        if now is not None:
            self._last_write = now
