"""A replayed recording as a virtual twin would have sensed it, worn at a placement that fixes the front.

A recording whose ``forward_axis`` metadata says where the wearer's front is, and whose acceleration
includes gravity, fixes the wearer's body frame in its own sensor axes: *up* is the mean acceleration
(gravity dominates it whatever the movement), *front* is ``forward_axis`` made perpendicular to up, and
*left* = up × front completes a right-handed frame. A sensor family's mounting profile fixes the same
body frame in the family's axes at a placement (:class:`gaitdir.mounting.WornPlacement`). The rotation
between the two is what a sensor of that family, worn there by the same person, would have measured
instead of the recording's axes. Pure functions: numpy in, numpy out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from gaitdir.devices._base import STANDARD_GRAVITY_MPS2
from gaitdir.errors import DeviceError, ModelError
from gaitdir.mounting import WornPlacement, axis_unit, mounting_profile

logger = logging.getLogger(__name__)

#: Mean acceleration (in g) accepted as gravity: outside, the recording is not at rest on average
#: (or has gravity removed without saying so) and its up is unknown.
GRAVITY_RANGE_G: tuple[float, float] = (0.7, 1.3)
#: Smallest horizontal share of the recording's forward axis: a front within ~25° of vertical does not
#: say which horizontal direction is forward.
MIN_HORIZONTAL_FRONT: float = 0.4


@dataclass(frozen=True)
class Wearing:
    """How a virtual twin presents a recording.

    Attributes
    ----------
    placement : str
        The placement (a key of :data:`gaitdir.signal.PLACEMENTS`) the twin is worn at.
    worn : WornPlacement
        The family's front and up axes there.
    rotation : ndarray, shape (3, 3)
        Proper rotation taking a vector in the recording's sensor axes to the twin's sensor axes
        (``v_twin = rotation @ v_recording``); applies to acceleration (m/s²) and angular rate (rad/s).
    """

    placement: str
    worn: WornPlacement
    rotation: np.ndarray


def body_to_sensor(worn: WornPlacement) -> np.ndarray:
    """Matrix whose columns are the body's front, left and up in the family's sensor axes.

    ``v_sensor = body_to_sensor(worn) @ (v_front, v_left, v_up)``; left = up × front.
    """
    front = np.asarray(axis_unit(worn.front), dtype=np.float64)
    up = np.asarray(axis_unit(worn.up), dtype=np.float64)
    return np.column_stack([front, np.cross(up, front), up])


def recording_body_frame(acc_mps2: np.ndarray, forward_axis: np.ndarray) -> np.ndarray | None:
    """Rows: the wearer's front, left and up in a recording's sensor axes; None when undecidable.

    Parameters
    ----------
    acc_mps2 : ndarray, shape (n, 3)
        The recording's acceleration including gravity (m/s²).
    forward_axis : ndarray, shape (3,)
        The sensor direction of the wearer's front (unit vector, sensor axes).

    Returns
    -------
    ndarray, shape (3, 3), or None
        ``v_body = frame @ v_sensor``; None when the mean acceleration is not about 1 g or the front is
        too close to vertical.
    """
    mean = np.asarray(acc_mps2, dtype=np.float64).mean(axis=0)
    g = float(np.linalg.norm(mean))
    if not GRAVITY_RANGE_G[0] * STANDARD_GRAVITY_MPS2 <= g <= GRAVITY_RANGE_G[1] * STANDARD_GRAVITY_MPS2:
        return None
    up = mean / g
    horizontal = forward_axis - (forward_axis @ up) * up
    share = float(np.linalg.norm(horizontal))
    if share < MIN_HORIZONTAL_FRONT:
        return None
    front = horizontal / share
    return np.vstack([front, np.cross(up, front), up])


def resolve_placement(kind: str, placement: str | None, recording_placement: str | None) -> str | None:
    """Where a twin of ``kind`` is worn: ``placement`` if given, else the recording's own placement
    when the family's profile has it, else the profile's natural (first) placement; None if none fits."""
    profile = mounting_profile(kind)
    if profile is None or not profile.placements:
        return None

    def key(name: str | None) -> str:
        return (name or "").strip().lower().replace("-", "_")

    if placement:
        return key(placement) if key(placement) in profile.placements else None
    if key(recording_placement) in profile.placements:
        return key(recording_placement)
    return next(iter(profile.placements))


def wearing_for(
    kind: str,
    acc_mps2: np.ndarray,
    *,
    forward_axis: str | None,
    gravity_removed: bool,
    placement: str | None = None,
    recording_placement: str | None = None,
) -> Wearing | None:
    """How a twin of ``kind`` presents a recording as worn, or None (it then replays the raw axes).

    Parameters
    ----------
    kind : str
        Driver kind of the twin.
    acc_mps2 : ndarray, shape (n, 3)
        The recording's acceleration (m/s²).
    forward_axis : str or None
        The recording's ``forward_axis`` metadata (``"+x"``, ``"0,0.7,0.7"``...).
    gravity_removed : bool
        Whether the recording's acceleration lacks gravity (then up is unknown).
    placement : str, optional
        Where to wear the twin; None = the recording's placement if the profile has it, else the
        profile's natural one.
    recording_placement : str, optional
        The recording's ``placement`` metadata.

    Raises
    ------
    DeviceError
        When ``forward_axis`` is present but not an axis.
    """
    from gaitdir.model import parse_forward_axis

    where = resolve_placement(kind, placement, recording_placement)
    profile = mounting_profile(kind)
    if where is None or profile is None or not forward_axis or gravity_removed:
        return None
    try:
        front = parse_forward_axis(forward_axis)
    except ModelError as exc:
        raise DeviceError(f"the recording's forward_axis cannot be used: {exc}") from exc
    if front is None:
        return None
    frame = recording_body_frame(acc_mps2, front)
    if frame is None:
        logger.warning(
            "virtual %s: the recording's mean acceleration or forward axis %s does not fix a body "
            "frame; replaying its raw axes",
            kind,
            forward_axis,
        )
        return None
    worn = profile.placements[where]
    return Wearing(where, worn, body_to_sensor(worn) @ frame)
