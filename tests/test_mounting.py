"""Mounting profiles: one per sensor family, with axes on the case and the placements that fix the front."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gaitdir.devices import DRIVERS
from gaitdir.mounting import (
    AXES,
    MOUNTING_PROFILES,
    WornPlacement,
    axis_unit,
    mounting_profile,
    profile_front,
)
from gaitdir.recordings._polar_logger import MODELS
from gaitdir.signal import PLACEMENTS


def test_every_registered_driver_declares_its_family_profile() -> None:
    assert set(DRIVERS) == set(MOUNTING_PROFILES)
    for kind, driver in DRIVERS.items():
        assert driver.mounting is MOUNTING_PROFILES[kind], kind
        assert driver.mounting is not None and driver.mounting.kind == kind


@pytest.mark.parametrize("kind", sorted(MOUNTING_PROFILES))
def test_profile_is_well_formed(kind: str) -> None:
    profile = MOUNTING_PROFILES[kind]
    assert set(profile.axes) == {"+x", "+y", "+z"} and all(profile.axes.values())
    assert not profile.checked_on_hardware  # nobody checked any of them on a sensor
    for placement, worn in profile.placements.items():
        assert placement in PLACEMENTS, placement
        assert worn.front in AXES and worn.up in AXES and worn.how
        front, up = np.array(axis_unit(worn.front)), np.array(axis_unit(worn.up))
        assert np.linalg.norm(front) == 1 and np.linalg.norm(up) == 1
        assert front @ up == 0, f"{kind} at {placement}: front and up are not perpendicular"
    if profile.placements:
        assert profile.sources, f"{kind} fixes a front without saying where the axes come from"


def test_h10_on_the_chest() -> None:
    worn = profile_front("polar-h10", "chest")
    assert worn == WornPlacement(front="+z", up="-x", how=worn.how)  # type: ignore[union-attr]
    # The wearer's left (up × front) is +y, as the axis map says.
    assert tuple(np.cross(axis_unit("-x"), axis_unit("+z"))) == axis_unit("+y")
    assert profile_front("polar-h10", "lower_back") is None  # a strap is not worn there


def test_open_profile_faces_out_on_chest_and_lower_back() -> None:
    chest, back = profile_front("gaitdir", "chest"), profile_front("gaitdir", "Lower-Back")
    assert chest is not None and back is not None
    assert (chest.front, chest.up, back.front, back.up) == ("+z", "+y", "-z", "+y")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Polar H10", "polar-h10"),
        ("polar h10", "polar-h10"),
        (" POLAR-H10 ", "polar-h10"),
        ("Polar Verity Sense", "polar-verity"),
        ("Polar Sense", "polar-verity"),
        ("MetaWear", "metamotion"),
        ("WT901BLECL", "witmotion"),
        ("Thingy:52", "thingy52"),
        ("Movesense", "movesense"),
        ("gaitdir", "gaitdir"),
    ],
)
def test_aliases_resolve(name: str, kind: str) -> None:
    profile = mounting_profile(name)
    assert profile is not None and profile.kind == kind


def test_polar_logger_sensor_names() -> None:
    """What Polar Sensor Logger files carry in their ``sensor`` metadata resolves, and only to the
    sensor it names: an H9 or OH1 is not an H10 or a Verity."""
    resolved = {name: mounting_profile(name) for name, _ in MODELS.values()}
    assert resolved["Polar H10"] is MOUNTING_PROFILES["polar-h10"]
    assert resolved["Polar Verity Sense"] is MOUNTING_PROFILES["polar-verity"]
    assert resolved["Polar H9"] is None and resolved["Polar OH1"] is None
    assert profile_front("Polar H10", MODELS["h10"][1]) is not None  # the file's own placement


def test_aliases_are_unambiguous() -> None:
    names = [p.kind for p in MOUNTING_PROFILES.values()]
    names += [a.lower() for p in MOUNTING_PROFILES.values() for a in p.aliases]
    assert len(names) == len(set(names))


def test_unknown_sensor_or_placement_gives_none() -> None:
    assert mounting_profile(None) is None and mounting_profile("") is None
    assert mounting_profile("Garmin HRM-Pro") is None
    assert profile_front("polar-h10", None) is None
    assert profile_front("polar-verity", "arm") is None  # the arm band does not fix the front


def test_axis_unit() -> None:
    assert axis_unit("+x") == (1, 0, 0) and axis_unit(" -Z") == (0, 0, -1)
    for bad in ("x", "+w", "0,0,1", ""):
        with pytest.raises(ValueError, match="not a signed sensor axis"):
            axis_unit(bad)


def test_mounting_imports_nothing_heavy() -> None:
    code = (
        "import sys, gaitdir.mounting; "
        "sys.exit(1 if any(m.split('.')[0] in ('bleak', 'bumble', 'numpy') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
