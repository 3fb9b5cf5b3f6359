"""Data passed from the signal stage to the feature stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BodySignal:
    """Acceleration (and angular rate) on an even time grid, expressed in the walker's frame.

    The frame is: ``vertical`` (up, gravity removed), ``ap`` (anterior-posterior: the horizontal axis along
    which the trunk oscillates at step frequency; its *sign* is the orientation stage's running estimate and
    is continuous over time but not guaranteed to point to the wearer's front — the pipeline's forward
    reference decides that), ``ml`` (horizontal, perpendicular to ``ap``; right-handed with the others).

    Attributes
    ----------
    t0_s : float
        Time of sample 0 (s, stream/recording time base).
    sample_rate_hz : float
        Grid rate (Hz).
    vertical_mps2, ap_mps2, ml_mps2 : ndarray, shape (m,)
        Linear acceleration along each axis (m/s²).
    gyr_radps : ndarray, shape (m, 3), optional
        Angular rate in the same (vertical, ap, ml) frame (rad/s).
    """

    t0_s: float
    sample_rate_hz: float
    vertical_mps2: np.ndarray
    ap_mps2: np.ndarray
    ml_mps2: np.ndarray
    gyr_radps: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.vertical_mps2.shape[0])


@dataclass(frozen=True)
class StepBatch:
    """Steps finalised by one detector update, with the body-frame signal that spans them.

    Attributes
    ----------
    start_s : ndarray, shape (k,)
        Initial contact of each step (s).
    end_s : ndarray, shape (k,)
        End of each step = the next initial contact (s); at the end of a bout, start + the bout's
        median step duration.
    start_idx, end_idx : ndarray of int, shape (k,)
        The same instants as indices into ``body`` (``end_idx`` exclusive, ``end_idx > start_idx``).
    emitted_s : float
        Stream time of the newest sample fed when these steps were finalised (s).
    body : BodySignal
        Covers at least ``[min(start_idx), max(end_idx))``.
    ap_axis_sensor : ndarray, shape (3,), optional
        The orientation stage's current AP unit vector expressed in the sensor frame (same sign as
        ``body.ap_mps2``), so that a user-given forward axis can be compared with it.
    inferred_ic : ndarray of bool, shape (k,), optional
        True where a step's initial contact was not seen directly but inferred: the other foot's contact
        at mid-stride for a foot-worn sensor, a contact filled into a missed step, or the closing
        contact that ends a walking bout.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    start_idx: np.ndarray
    end_idx: np.ndarray
    emitted_s: float
    body: BodySignal
    ap_axis_sensor: np.ndarray | None = None
    inferred_ic: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.start_s.shape[0])
