"""Mounting profiles: which sensor axis points where on the case, and where the wearer's front is when worn.

A sensor reports acceleration in its own axes. Where the case sits on the body fixes how those axes lie
relative to the wearer for some placements: a chest strap holds its sensor face-out on the sternum, so
one sensor axis points to the wearer's front whoever wears it. Such a placement gives the pipeline the
wearer's front as knowledge (``forward_reference.source == "sensor-profile"``) instead of an assumption.

Each sensor family has one :class:`MountingProfile` here, keyed by its driver kind; each driver declares
it (``SensorDriver.mounting``), ``gaitdir live`` and ``gaitdir classify`` look the front up through
:func:`profile_front`, and the virtual twins use the same profile to present a replayed recording in
their own axes as worn. The axis maps and their sources are in ``firmware_notes/``.

This module holds data only and imports nothing heavy, so that ``classify`` can resolve a file's
``sensor``/``placement`` metadata without importing the Bluetooth stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "MOUNTING_PROFILES",
    "MountingProfile",
    "WornPlacement",
    "mounting_profile",
    "profile_front",
]


@dataclass(frozen=True)
class WornPlacement:
    """How a sensor sits at one placement that fixes the wearer's front.

    Attributes
    ----------
    front : str
        The sensor axis pointing to the wearer's front (``"+x"``, ``"-z"``...).
    up : str
        The sensor axis pointing up when the wearer stands upright.
    how : str
        How the sensor is worn for this to hold (for users and the docs).
    """

    front: str
    up: str
    how: str


@dataclass(frozen=True)
class MountingProfile:
    """One sensor family's axes on the case, and its placements that fix the wearer's front.

    Attributes
    ----------
    kind : str
        Driver kind (``"polar-h10"``...).
    axes : dict of str to str
        Where each positive sensor axis points on the case (``{"+x": "...", "+y": ..., "+z": ...}``).
    placements : dict of str to WornPlacement
        Placements (keys of :data:`gaitdir.signal.PLACEMENTS`) at which the front is fixed.
    sources : tuple of str
        The vendor documents or SDK issues the axis map comes from.
    checked_on_hardware : bool
        Whether the axis map was checked on a real sensor (False: taken from the sources only).
    aliases : tuple of str
        Other names a recording's ``sensor`` metadata may use for this family (case-insensitive).
    """

    kind: str
    axes: dict[str, str]
    placements: dict[str, WornPlacement] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    checked_on_hardware: bool = False
    aliases: tuple[str, ...] = ()


#: Mounting profiles by driver kind.
MOUNTING_PROFILES: dict[str, MountingProfile] = {}


def mounting_profile(sensor: str | None) -> MountingProfile | None:
    """The profile of a sensor named by driver kind or by an alias (``"Polar H10"``), or None."""
    if not sensor:
        return None
    key = str(sensor).strip().lower()
    for profile in MOUNTING_PROFILES.values():
        if key == profile.kind or key in (a.lower() for a in profile.aliases):
            return profile
    return None


def profile_front(sensor: str | None, placement: str | None) -> WornPlacement | None:
    """How ``sensor`` sits at ``placement`` when that placement fixes the wearer's front, else None."""
    profile = mounting_profile(sensor)
    if profile is None or not placement:
        return None
    return profile.placements.get(str(placement).strip().lower().replace("-", "_"))
