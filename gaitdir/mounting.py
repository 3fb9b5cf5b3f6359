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
    "AXES",
    "MOUNTING_PROFILES",
    "MountingProfile",
    "WornPlacement",
    "axis_unit",
    "mounting_profile",
    "profile_front",
]

#: The six signed sensor axes a profile may name.
AXES: tuple[str, ...] = ("+x", "-x", "+y", "-y", "+z", "-z")


def axis_unit(axis: str) -> tuple[int, int, int]:
    """The unit vector of a signed sensor axis (``"-z"`` → ``(0, 0, -1)``).

    Raises
    ------
    ValueError
        When ``axis`` is not one of :data:`AXES`.
    """
    key = axis.strip().lower()
    if key not in AXES:
        raise ValueError(f"not a signed sensor axis: {axis!r}; expected one of {', '.join(AXES)}")
    vector = [0, 0, 0]
    vector["xyz".index(key[1])] = -1 if key[0] == "-" else 1
    return (vector[0], vector[1], vector[2])


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
        Placements (keys of :data:`gaitdir.signal.PLACEMENTS`) at which the front is fixed. The first
        is the family's natural placement (where its virtual twin is worn unless told otherwise).
    sources : tuple of str
        The vendor documents or SDK issues the axis map comes from.
    checked_on_hardware : bool
        Whether the axis map was checked on a real sensor (False: taken from the sources only).
        Acceleration is specific force in every family (an axis pointing up reads +1 g at rest), as the
        drivers deliver it; the axes are those of the delivered data.
    aliases : tuple of str
        Other names a recording's ``sensor`` metadata may use for this family (case-insensitive).
    """

    kind: str
    axes: dict[str, str]
    placements: dict[str, WornPlacement] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    checked_on_hardware: bool = False
    aliases: tuple[str, ...] = ()


_SDK = "polarofficial/polar-ble-sdk"

#: Mounting profiles by driver kind. Sources and what each rests on: ``firmware_notes/`` ("Axes and
#: mounting" in each family's note, the summary table in its README).
MOUNTING_PROFILES: dict[str, MountingProfile] = {
    profile.kind: profile
    for profile in (
        MountingProfile(
            kind="polar-h10",
            axes={
                "+x": "in the plane of the front face, toward the lower edge of the H10 as worn "
                "(toward the wearer's feet: about -1 g standing)",
                "+y": "in the plane of the front face, toward the wearer's left as worn (right-handed)",
                "+z": "out of the front face (the face with the logo, away from the skin)",
            },
            placements={
                "chest": WornPlacement(
                    front="+z",
                    up="-x",
                    how="on its strap around the chest, sensor on the sternum, logo face out and upright",
                ),
            },
            sources=(
                f"{_SDK}#223: Polar's H10 accelerometer axis map (an image); Polar's reply: a wearer "
                "reclined in a chair reads about +650 mG on z (+z out of the front face)",
                f"{_SDK}#167: the same H10 axis map, posted by Polar",
                f"{_SDK}#204: bending forward or backward moves the H10's z reading",
            ),
            checked_on_hardware=False,
            aliases=("Polar H10", "H10"),
        ),
        MountingProfile(
            kind="polar-verity",
            axes={
                "+x": "in the plane of the optical face; direction shown only in Polar's image (#167)",
                "+y": "in the plane of the optical face; a user reads negative y with the button up (#317)",
                "+z": "perpendicular to the optical face; sign shown only in Polar's image (#167)",
            },
            placements={},
            sources=(
                f"{_SDK}#167: Polar's Verity Sense accelerometer and gyroscope axis map (an image)",
                f"{_SDK}#317: a user's reading (negative y with the button up), not answered on axes",
            ),
            checked_on_hardware=False,
            aliases=("Polar Verity Sense", "Polar Verity", "Polar Sense", "Verity Sense"),
        ),
        MountingProfile(
            kind="movesense",
            axes={
                "+x": "not stated in any vendor document or SDK issue found",
                "+y": "not stated in any vendor document or SDK issue found",
                "+z": "not stated in any vendor document or SDK issue found",
            },
            placements={},
            sources=(),
            checked_on_hardware=False,
            aliases=("Movesense sensor",),
        ),
        MountingProfile(
            kind="metamotion",
            axes={
                "+x": "in the plane of the board, as on Bosch's BMI160 shuttle board (a figure)",
                "+y": "in the plane of the board, as on Bosch's BMI160 shuttle board (a figure)",
                "+z": "perpendicular to the board, as on Bosch's BMI160 shuttle board (a figure)",
            },
            placements={},
            sources=(
                "mbientlab.com/community, 'BOSCH BMI160 & BMM150 Orientation on the MetaMotionR and RL "
                "Sensors': MbientLab: the sensors sit in the same orientation as on Bosch's shuttle board; "
                "magnetometer y and z are inverted in firmware to match",
            ),
            checked_on_hardware=False,
            aliases=("MetaMotionR", "MetaMotionRL", "MetaMotionS", "MetaMotionC", "MetaWear"),
        ),
        MountingProfile(
            kind="witmotion",
            axes={
                "+x": "along the X arrow printed on the module ('forward' with the module label up)",
                "+y": "along the Y arrow printed on the module ('left' with the module label up)",
                "+z": "out of the labelled face ('up' with the module label up)",
            },
            placements={},
            sources=(
                "WitMotion WT901BLECL datasheet v20-0707, ch. 3.3 'Axial direction' and the note to ch. 6: "
                "placed in the positive direction, forward is X, left is Y, upward is Z",
            ),
            checked_on_hardware=False,
            aliases=("WT901BLECL", "WT901BLE", "BWT901BLE"),
        ),
        MountingProfile(
            kind="thingy52",
            axes={
                "+x": "in the plane of the base; direction on the case not stated in a source found",
                "+y": "in the plane of the base; direction on the case not stated in a source found",
                "+z": "out of the base (down with the Thingy lying on a table), after gaitdir's sign "
                "correction of the firmware's inverted acceleration",
            },
            placements={},
            sources=(
                "NordicSemiconductor/Nordic-Thingy52-FW source/drivers/drv_motion.c: accelerometer "
                "orientation matrix -I ('positive readings when axis is aligned with g'), gyroscope +I",
                "devzone.nordicsemi.com question 47415: a Thingy on a table reads FAFF F4FF F603 (z +0.99 g "
                "on the wire)",
            ),
            checked_on_hardware=False,
            aliases=("Thingy", "Thingy:52", "Nordic Thingy:52"),
        ),
        MountingProfile(
            kind="gaitdir",
            axes={
                "+x": "in the plane of the front face, to the right looking at the front face with the top "
                "edge up",
                "+y": "in the plane of the front face, toward the marked top edge",
                "+z": "out of the front face",
            },
            placements={
                "chest": WornPlacement(
                    front="+z", up="+y", how="flat on the sternum, front face out, top edge toward the head"
                ),
                "lower_back": WornPlacement(
                    front="-z",
                    up="+y",
                    how="clipped flat on the lower back, front face out (backward), top edge toward the head",
                ),
            },
            sources=(
                "firmware_notes/gaitdir-open-profile.md, section 4.5 'Axes and mounting' (its own rules)",
            ),
            checked_on_hardware=False,
            aliases=("gaitdir open profile",),
        ),
    )
}


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
