"""Virtual twins present a recording that says where its front is as their own sensor, worn at a placement.

The mocap recordings (``../shared/datasets/mocap-backward``) are a virtual lower-back accelerometer with
gravity, front ``+x`` (from the hip joints' anatomy) and z up. Replayed through the H10 twin they must
arrive, decoded by the real driver over real GATT, in the H10's axes as worn on the chest: gravity along
the profile's up axis (−x), the wearer's front along its front axis (+z).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from _device_recordings import DATASETS, ipol_recording, oxford_recording
from _sensor_helpers import best_lag

from gaitdir.devices import (
    ImuBatch,
    OpenProfileDriver,
    PolarH10Driver,
    PolarVerityDriver,
    SensorDriver,
)
from gaitdir.devices.virtual import VirtualSensor, VirtualWorld
from gaitdir.devices.virtual._polar import PolarH10Twin
from gaitdir.devices.virtual._worn import body_to_sensor, recording_body_frame, wearing_for
from gaitdir.errors import DeviceError
from gaitdir.mounting import MOUNTING_PROFILES, axis_unit
from gaitdir.recordings import Recording, read_recording

G = 9.80665
MOCAP = DATASETS / "mocap-backward"


@pytest.fixture(scope="module")
def mocap_walk() -> Recording:
    return read_recording(MOCAP / "bandai1_walk_normal_001.csv")


def grid_values(
    recording: Recording, values: np.ndarray, sensor_time_s: np.ndarray, origin_s: float, rate_hz: float
) -> np.ndarray:
    """``values`` of the recording at the twin's sample instants (its resampling grid)."""
    k = np.rint((sensor_time_s - origin_s) * rate_hz)
    np.testing.assert_allclose((sensor_time_s - origin_s) * rate_hz, k, atol=1e-3)
    t = recording.time_s - recording.time_s[0]
    return np.column_stack([np.interp(k / rate_hz, t, values[:, i]) for i in range(3)])


async def stream(
    world: VirtualWorld, sensor: VirtualSensor, driver_cls: type[SensorDriver], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``n`` samples from ``sensor`` through a real driver: (times, acc, gyr or None)."""
    driver = driver_cls(sensor.address or "", backend=world)
    batches: list[ImuBatch] = []
    async with driver:
        await driver.start()

        async def collect() -> None:
            async for item in driver.stream():
                if isinstance(item, ImuBatch):
                    batches.append(item)
                    if sum(len(b) for b in batches) >= n:
                        return

        await asyncio.wait_for(collect(), 20.0)
    t = np.concatenate([b.sensor_time_s for b in batches])
    acc = np.concatenate([b.acc_mps2 for b in batches])
    gyr = None if batches[0].gyr_radps is None else np.concatenate([b.gyr_radps for b in batches])
    return t, acc, gyr


# ----------------------------------------------------------------------------- the rotation
def test_rotation_is_proper_and_maps_the_body_frame(mocap_walk: Recording) -> None:
    wearing = wearing_for(
        "polar-h10",
        mocap_walk.acc_mps2,
        forward_axis=mocap_walk.meta["forward_axis"],
        gravity_removed=False,
        recording_placement=mocap_walk.meta["placement"],
    )
    assert wearing is not None and wearing.placement == "chest"  # the H10 has no lower_back
    r = wearing.rotation
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    # Gravity (the mean) lands on the H10's up axis (−x), the recording's front (+x, made horizontal)
    # on its front axis (+z), the recording's left (+y) on the H10's left (+y).
    mean = mocap_walk.acc_mps2.mean(axis=0)
    np.testing.assert_allclose(r @ mean, np.linalg.norm(mean) * np.array(axis_unit("-x")), atol=1e-9)
    frame = recording_body_frame(mocap_walk.acc_mps2, np.array([1.0, 0.0, 0.0]))
    assert frame is not None
    np.testing.assert_allclose(r @ frame[0], axis_unit("+z"), atol=1e-12)
    np.testing.assert_allclose(r @ frame[1], axis_unit("+y"), atol=1e-12)
    # z was 97-100 % of the mocap's mean: the front needed only a small tilt to become horizontal.
    assert frame[0] @ np.array([1.0, 0.0, 0.0]) > 0.99


@pytest.mark.parametrize("kind", [k for k, p in MOUNTING_PROFILES.items() if p.placements])
def test_body_to_sensor_is_a_rotation_for_every_placement(kind: str) -> None:
    for worn in MOUNTING_PROFILES[kind].placements.values():
        m = body_to_sensor(worn)
        np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-15)
        assert np.linalg.det(m) == pytest.approx(1.0)


def test_when_the_recording_is_replayed_raw(mocap_walk: Recording) -> None:
    acc = mocap_walk.acc_mps2
    common = {"gravity_removed": False, "recording_placement": "lower_back"}
    assert wearing_for("polar-h10", acc, forward_axis=None, **common) is None  # no front in the file
    assert wearing_for("polar-h10", acc, forward_axis="+x", gravity_removed=True) is None  # no up
    assert wearing_for("polar-verity", acc, forward_axis="+x", **common) is None  # no placement fixes it
    assert wearing_for("polar-h10", acc, forward_axis="+x", placement="lower_back", **common) is None
    assert wearing_for("polar-h10", acc, forward_axis="+z", **common) is None  # the front is vertical
    assert wearing_for("polar-h10", acc - acc.mean(axis=0), forward_axis="+x", **common) is None  # no g
    with pytest.raises(DeviceError, match="forward_axis cannot be used"):
        wearing_for("polar-h10", acc, forward_axis="sideways", **common)


def test_placement_choice(mocap_walk: Recording) -> None:
    acc, fa = mocap_walk.acc_mps2, "+x"
    back = wearing_for(
        "gaitdir", acc, forward_axis=fa, gravity_removed=False, recording_placement="lower_back"
    )
    chest = wearing_for("gaitdir", acc, forward_axis=fa, gravity_removed=False, recording_placement="pocket")
    asked = wearing_for(
        "gaitdir",
        acc,
        forward_axis=fa,
        gravity_removed=False,
        placement="Chest",
        recording_placement="lower_back",
    )
    assert back is not None and back.placement == "lower_back"  # the recording's own, the profile has it
    assert chest is not None and chest.placement == "chest"  # else the profile's natural one
    assert asked is not None and asked.placement == "chest"  # an explicit placement wins
    # Chest and lower back face opposite ways: the wearer's front is +z on one, -z on the other.
    np.testing.assert_allclose(
        back.rotation @ asked.rotation.T @ axis_unit("+z"), axis_unit("-z"), atol=1e-12
    )


# ----------------------------------------------------------------------------- over GATT
async def test_h10_twin_sends_what_a_chest_strap_would(world: VirtualWorld, mocap_walk: Recording) -> None:
    async with VirtualSensor(world, mocap_walk, kind="polar-h10", speed=20) as sensor:
        assert sensor.worn == MOUNTING_PROFILES["polar-h10"].placements["chest"]
        assert sensor.worn_placement == "chest" and sensor.rotation is not None
        t, acc, gyr = await stream(world, sensor, PolarH10Driver, 800)
    assert gyr is None
    # Exactly the recording, rotated: to half an mG per axis after quantisation in the H10's frames.
    rec_acc = grid_values(mocap_walk, mocap_walk.acc_mps2, t, PolarH10Twin.clock_origin_s, 200.0)
    np.testing.assert_allclose(acc, rec_acc @ sensor.rotation.T, atol=0.5e-3 * G + 1e-9)
    # A rotation: every sample keeps its norm.
    np.testing.assert_allclose(
        np.linalg.norm(acc, axis=1), np.linalg.norm(rec_acc, axis=1), atol=np.sqrt(3) * 0.5e-3 * G
    )
    # Gravity along the profile's up axis (−x).
    mean = acc.mean(axis=0)
    assert mean @ axis_unit("-x") / np.linalg.norm(mean) > 0.999
    # The wearer's front along the profile's front axis (+z): the H10's z follows the mocap's
    # front-back acceleration, its y the side-to-side one.
    ap, ml = rec_acc[:, 0] - rec_acc[:, 0].mean(), rec_acc[:, 1] - rec_acc[:, 1].mean()
    z, y = acc[:, 2] - acc[:, 2].mean(), acc[:, 1] - acc[:, 1].mean()
    assert np.corrcoef(z, ap)[0, 1] > 0.99
    assert np.corrcoef(y, ml)[0, 1] > 0.99


def aligned(reference: np.ndarray, received: np.ndarray) -> slice:
    """The stretch of a 100 Hz ``reference`` that a 100 Hz stream ``received`` replays (it starts a
    little after the recording does)."""
    lag = best_lag(reference, received, n_samples=100, max_lag=200)
    n = min(len(received), len(reference) - lag)
    assert n >= 100
    return slice(lag, lag + n)


async def test_open_profile_twin_worn_at_the_recordings_placement(
    world: VirtualWorld, mocap_walk: Recording
) -> None:
    """The mocap says lower_back and the open profile has that placement: front −z, up +y."""
    async with VirtualSensor(world, mocap_walk, kind="gaitdir", speed=20) as sensor:
        assert sensor.worn_placement == "lower_back" and sensor.rotation is not None
        _, acc, _ = await stream(world, sensor, OpenProfileDriver, 400)
    rotated = mocap_walk.acc_mps2 @ sensor.rotation.T
    span = aligned(rotated, acc)
    n = span.stop - span.start
    np.testing.assert_allclose(acc[:n], rotated[span], atol=8 * G / 32768)
    mean = acc.mean(axis=0)
    assert mean @ axis_unit("+y") / np.linalg.norm(mean) > 0.999
    ap = mocap_walk.acc_mps2[span, 0]  # the recording's front-back signal
    assert np.corrcoef(-acc[:n, 2], ap)[0, 1] > 0.99


async def test_gyro_is_rotated_with_the_acceleration(world: VirtualWorld) -> None:
    """A recording with angular rate (IPOL lower back), given a front: the open-profile twin sends
    acceleration and angular rate rotated by the same rotation, norms kept."""
    rec = ipol_recording(8.0)
    rec.meta["forward_axis"] = "-z"
    async with VirtualSensor(world, rec, kind="gaitdir", speed=20, placement="lower_back") as sensor:
        assert sensor.worn_placement == "lower_back" and sensor.rotation is not None
        r = sensor.rotation
        _, acc, gyr = await stream(world, sensor, OpenProfileDriver, 300)
    assert gyr is not None and rec.gyr_radps is not None
    ref = np.hstack([rec.acc_mps2 @ r.T, rec.gyr_radps @ r.T, rec.gyr_radps])
    span = aligned(ref[:, :3], acc)
    ref, n = ref[span], span.stop - span.start
    acc_lsb, gyr_lsb = 8 * G / 32768, np.radians(2000 / 32768)
    np.testing.assert_allclose(acc[:n], ref[:, 0:3], atol=acc_lsb)
    np.testing.assert_allclose(gyr[:n], ref[:, 3:6], atol=gyr_lsb)
    np.testing.assert_allclose(
        np.linalg.norm(gyr[:n], axis=1), np.linalg.norm(ref[:, 6:9], axis=1), atol=2 * gyr_lsb
    )
    assert np.abs(ref[:, 3:6] - ref[:, 6:9]).max() > 100 * gyr_lsb  # the rotation really moved them


async def test_raw_axes_when_the_twin_cannot_wear_it(world: VirtualWorld, mocap_walk: Recording) -> None:
    # No forward_axis in the Oxford phone recording; the Verity's profile fixes no placement.
    async with (
        VirtualSensor(world, oxford_recording(3.0), kind="polar-h10", speed=20) as no_front,
        VirtualSensor(world, mocap_walk, kind="polar-verity", speed=20) as verity,
        VirtualSensor(world, mocap_walk, kind="polar-h10", speed=20, placement="foot") as elsewhere,
    ):
        for sensor in (no_front, verity, elsewhere):
            assert sensor.worn is None and sensor.worn_placement is None and sensor.rotation is None
        t, acc, _ = await stream(world, verity, PolarVerityDriver, 200)
    from gaitdir.devices.virtual._polar import PolarVerityTwin

    raw = grid_values(mocap_walk, mocap_walk.acc_mps2, t, PolarVerityTwin.clock_origin_s, 52.0)
    np.testing.assert_allclose(acc, raw, atol=0.5 * 8000 / 32768 * 1e-3 * G + 1e-9)
