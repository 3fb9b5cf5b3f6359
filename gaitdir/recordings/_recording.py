"""The in-memory recording every reader returns and every pipeline stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Per-sample label values a recording may carry.
LABELS: tuple[str, ...] = ("forward", "backward", "other")


@dataclass
class Recording:
    """One IMU recording in SI units.

    Parameters
    ----------
    time_s : ndarray, shape (n,)
        Sample times in seconds, strictly increasing (not necessarily evenly spaced; readers never
        resample). Seconds from the recording's start: ``time_s[0]`` is usually 0.
    acc_mps2 : ndarray, shape (n, 3)
        Acceleration in m/s² in the sensor frame, including gravity unless ``gravity_removed``.
    gyr_radps : ndarray, shape (n, 3), optional
        Angular rate in rad/s in the sensor frame.
    labels : ndarray of str, shape (n,), optional
        Per-sample direction label, one of :data:`LABELS`.
    meta : dict of str to str
        ``format`` (reader name), ``source`` (path), and where known ``sensor``, ``placement``
        (``trunk``/``chest``/``lower_back``/``foot``/``arm``/``pocket``/``hand``/``bag``...), ``subject``
        (a dataset-qualified id such as ``ipol-3``, used for subject-wise splits), ``forward_axis``.
    gravity_removed : bool
        True when the source removed gravity from ``acc_mps2`` (KU-HAR's trimmed data).
    reference_steps_s : ndarray, shape (k,), optional
        Annotated initial contacts (s, same time base as ``time_s``) for evaluation, when the source
        annotates steps (IPOL heel strikes; Oxford ground-truth counter increments).
    reference_window_s : tuple of float, optional
        The span (start_s, end_s) within which ``reference_steps_s`` is complete; steps detected outside
        it are not scored.
    gaps_s : ndarray, shape (g, 2), optional
        Spans (start_s, end_s) where a live recording lost its stream (a dropped connection); the
        samples on either side are real, nothing was invented in between.
    """

    time_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray | None = None
    labels: np.ndarray | None = None
    meta: dict[str, str] = field(default_factory=dict)
    gravity_removed: bool = False
    reference_steps_s: np.ndarray | None = None
    reference_window_s: tuple[float, float] | None = None
    gaps_s: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0]) if self.n_samples else 0.0

    @property
    def nominal_rate_hz(self) -> float:
        """Median sampling rate (Hz), robust to gaps."""
        if self.n_samples < 2:
            return 0.0
        return float(1.0 / np.median(np.diff(self.time_s)))

    @property
    def subject(self) -> str | None:
        return self.meta.get("subject")
