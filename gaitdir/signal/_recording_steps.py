"""Whole recordings through the causal step detector: chunks, conditioning ahead, :func:`detect_steps`."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from gaitdir.recordings import Recording
from gaitdir.signal._detector import Conditioned, StepDetector
from gaitdir.signal._profiles import PLACEMENTS
from gaitdir.signal._types import StepBatch

#: Interpreter switch interval (s) while :func:`conditioned_ahead` runs its worker thread.
_SWITCH_INTERVAL_S = 1e-4


def recording_placement(recording: Recording) -> str:
    """The detector placement a recording names in ``meta["placement"]``.

    Parameters
    ----------
    recording : Recording

    Returns
    -------
    str
        The placement in lower case, or ``"auto"`` when it is missing or not one of :data:`PLACEMENTS`.
    """
    placement = str(recording.meta.get("placement", "auto")).lower()
    return placement if placement in PLACEMENTS else "auto"


def recording_chunks(
    recording: Recording, chunk_s: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """A recording's samples in consecutive pieces, to feed a causal detector with bounded memory.

    Parameters
    ----------
    recording : Recording
    chunk_s : float
        Duration (s) of the time span each piece covers; empty spans yield nothing.

    Yields
    ------
    time_s : ndarray, shape (m,)
        Sample times (s).
    acc_mps2 : ndarray, shape (m, 3)
        Acceleration (m/s²).
    gyr_radps : ndarray, shape (m, 3) or None
        Angular rate (rad/s), None when the recording has no gyroscope.
    """
    t = np.asarray(recording.time_s, dtype=float)
    if t.size == 0:
        return
    bounds = np.searchsorted(t, np.arange(t[0], t[-1] + chunk_s, chunk_s)[1:], side="left")
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [t.size]])
    for a, b in zip(starts, ends, strict=True):
        if b <= a:
            continue
        gyr = None if recording.gyr_radps is None else recording.gyr_radps[a:b]
        yield t[a:b], recording.acc_mps2[a:b], gyr


def conditioned_ahead(
    detector: StepDetector,
    chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    gravity_removed: bool = False,
    threaded: bool = True,
) -> Iterator[Conditioned]:
    """:meth:`StepDetector.condition` over consecutive chunks, one chunk ahead in a worker thread.

    For offline use: while the caller runs :meth:`StepDetector.decide` (pure-Python bookkeeping) and
    whatever follows on one chunk, the worker conditions the next (numpy and scipy, which release the
    GIL), so a long recording uses two cores. Each half of the detector still sees the chunks in order,
    so the steps are exactly those of feeding the chunks to :meth:`StepDetector.update` one by one.

    Parameters
    ----------
    detector : StepDetector
    chunks : iterable of (time_s, acc_mps2, gyr_radps)
        Consecutive pieces of one stream (as from :func:`recording_chunks`).
    gravity_removed : bool, default=False
        Passed to :meth:`StepDetector.condition`.
    threaded : bool, default=True
        False: condition each chunk in the caller's thread, just before it is yielded.

    Yields
    ------
    Conditioned
        One per chunk, in order.

    Notes
    -----
    While the worker runs, the interpreter's switch interval (:func:`sys.setswitchinterval`, process
    wide) is lowered to 0.1 ms; the previous value is restored when the generator finishes, fails or is
    closed.
    """
    if not threaded:
        for time_s, acc_mps2, gyr_radps in chunks:
            yield detector.condition(time_s, acc_mps2, gyr_radps, gravity_removed=gravity_removed)
        return
    pending: deque[Future[Conditioned]] = deque()
    # The caller's back end is mostly Python and keeps the GIL for the whole switch interval (5 ms by
    # default) whenever the worker comes back from a numpy call; a short interval while both run keeps
    # the worker from waiting (about 15 % off a day-long file's pipeline here). Restored afterwards.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, _SWITCH_INTERVAL_S))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gaitdir-condition") as pool:
        try:
            for time_s, acc_mps2, gyr_radps in chunks:
                # a single worker runs the submitted chunks in order, which the detector's state needs
                pending.append(
                    pool.submit(
                        detector.condition, time_s, acc_mps2, gyr_radps, gravity_removed=gravity_removed
                    )
                )
                if len(pending) > 1:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            # the consumer stopped early (or a chunk failed): do not condition what nobody will read
            for future in pending:
                future.cancel()
            sys.setswitchinterval(interval)


def detect_steps(
    recording: Recording, *, chunk_s: float = 600.0, threaded: bool = True, **detector_params: object
) -> list[StepBatch]:
    """Find the steps of a whole recording with the same causal detector used live.

    Parameters
    ----------
    recording : Recording
        The recording; its ``meta["placement"]`` is used unless ``placement`` is given.
    chunk_s : float, default=600.0
        The recording is fed in chunks of this duration (s) to bound memory; the result does not
        depend on it.
    threaded : bool, default=True
        Condition the next chunk in a worker thread while the current one is decided (see
        :func:`conditioned_ahead`); the result does not depend on it.
    **detector_params
        Passed to :class:`StepDetector`.

    Returns
    -------
    list of StepBatch
        Non-empty batches in time order.
    """
    params = dict(detector_params)
    if "placement" not in params:
        params["placement"] = recording_placement(recording)
    det = StepDetector(**params).reset()  # type: ignore[arg-type]
    out: list[StepBatch] = []
    if np.asarray(recording.time_s).size == 0:
        return out
    chunks = recording_chunks(recording, chunk_s)
    for conditioned in conditioned_ahead(
        det, chunks, gravity_removed=recording.gravity_removed, threaded=threaded
    ):
        batch = det.decide(conditioned)
        if len(batch):
            out.append(batch)
    batch = det.flush()
    if len(batch):
        out.append(batch)
    return out
