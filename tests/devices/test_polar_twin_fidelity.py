"""The Polar twins behave as the real sensors do where a client can tell: modes, settings, FACTOR, range.

Each test talks to a twin over the real bumble GATT stack, either with bleak's public client and raw
PMD bytes (what a third-party client sends) or with gaitdir's driver. Sources:

* polar-ble-sdk #443: a Verity outside SDK mode answers the ACC start ``02 02 00 01 34 00 01 01 10 00
  02 01 08 00 04 01 03`` with ``F0 02 02 00 00`` — no FACTOR — and sends plain mG (the SDK's
  ``getFactor`` falls back to 1.0 when no FACTOR came);
* ``documentation/products/PolarVeritySense.md`` and ``SdkModeExplained.md``: 52 Hz ±8 g outside SDK
  mode, the SDK-mode capabilities readable "in any operation mode", no SDK-mode change while a stream runs;
* polar-ble-sdk #634: an H10 at ±2 g reads -2000 mG at full scale.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
from _device_recordings import DATASETS, ipol_recording, oxford_recording
from _pmd_vectors import ISSUE_443_START_COMMAND
from bleak import BleakClient

from gaitdir.devices import ImuBatch, PolarH10Driver, PolarVerityDriver, _pmd
from gaitdir.devices.virtual import VirtualSensor, VirtualWorld
from gaitdir.devices.virtual._polar import PolarH10Twin, PolarVerityTwin
from gaitdir.recordings import Recording

G = 9.80665
MG = G * 1e-3
IPOL_LEFT_FOOT = DATASETS / "ipol-healthy-gait" / "GaitData" / "1-1_lf.txt"
T = _pmd.MeasurementType


# ----------------------------------------------------------------------------- a minimal client
def naive_acc_mg(frame: bytes) -> np.ndarray:
    """Decode a delta-compressed (0x81) ACC frame the way a client that ignores FACTOR does.

    Written from the frame layout alone (reference sample of 3 × int16, then blocks of
    ``[bits][count][LSB-first two's-complement deltas]``), independently of gaitdir's codec.
    """
    assert frame[0] == T.ACC and frame[9] == 0x81, frame[:10].hex(" ")
    payload = frame[10:]
    sample = list(struct.unpack_from("<3h", payload))
    out, i = [list(sample)], 6
    while i < len(payload):
        bits, count = payload[i], payload[i + 1]
        nbytes = (bits * count * 3 + 7) // 8
        stream = int.from_bytes(payload[i + 2 : i + 2 + nbytes], "little")
        i += 2 + nbytes
        for k in range(count * 3):
            delta = (stream >> (k * bits)) & ((1 << bits) - 1)
            if delta >= 1 << (bits - 1):
                delta -= 1 << bits
            sample[k % 3] += delta
            if k % 3 == 2:
                out.append(list(sample))
    return np.array(out, dtype=np.float64)


class RawPmd:
    """bleak's public client speaking PMD bytes: one command, its control-point answer."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()
        self.frames: list[bytes] = []

    async def subscribe(self) -> None:
        await self.client.start_notify(
            _pmd.PMD_CONTROL_POINT_UUID, lambda _c, d: self.answers.put_nowait(bytes(d))
        )
        await self.client.start_notify(_pmd.PMD_DATA_UUID, lambda _c, d: self.frames.append(bytes(d)))

    async def command(self, hex_or_bytes: str | bytes) -> bytes:
        payload = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
        await self.client.write_gatt_char(_pmd.PMD_CONTROL_POINT_UUID, payload, response=True)
        return await asyncio.wait_for(self.answers.get(), 5.0)

    async def frames_of(self, mtype: int, n: int) -> list[bytes]:
        for _ in range(400):
            got = [f for f in self.frames if f[0] == mtype]
            if len(got) >= n:
                return got[:n]
            await asyncio.sleep(0.01)
        raise AssertionError(f"fewer than {n} frames of type {mtype}")


@asynccontextmanager
async def raw_client(world: VirtualWorld, sensor: VirtualSensor) -> AsyncIterator[RawPmd]:
    async with BleakClient(sensor.address or "", backend=world.client_backend) as client:
        raw = RawPmd(client)
        await raw.subscribe()
        yield raw


def frame_times_s(frames: list[bytes], rate_hz: float, per_frame: list[int]) -> np.ndarray:
    """Sample times of consecutive frames: the timestamp is the last sample's, samples 1/rate apart."""
    times = []
    for frame, n in zip(frames, per_frame, strict=True):
        last = int.from_bytes(frame[1:9], "little") * 1e-9
        times.append(last - np.arange(n - 1, -1, -1) / rate_hz)
    return np.concatenate(times)


def on_grid(
    recording: Recording, values: np.ndarray, t: np.ndarray, origin_s: float, rate_hz: float
) -> np.ndarray:
    """The recording's ``values`` at the twin's sample instants (its resampling grid)."""
    k = np.rint((t - origin_s) * rate_hz)
    np.testing.assert_allclose((t - origin_s) * rate_hz, k, atol=1e-3)
    rt = recording.time_s - recording.time_s[0]
    return np.column_stack([np.interp(k / rate_hz, rt, values[:, i]) for i in range(3)])


async def driver_samples(driver: PolarH10Driver | PolarVerityDriver, n: int) -> list[ImuBatch]:
    batches: list[ImuBatch] = []

    async def collect() -> None:
        async for item in driver.stream():
            if isinstance(item, ImuBatch):
                batches.append(item)
                if sum(len(b) for b in batches) >= n:
                    return

    await asyncio.wait_for(collect(), 20.0)
    return batches


def joined(batches: list[ImuBatch]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    t = np.concatenate([b.sensor_time_s for b in batches])
    acc = np.concatenate([b.acc_mps2 for b in batches])
    gyr = None if batches[0].gyr_radps is None else np.concatenate([b.gyr_radps for b in batches])
    return t, acc, gyr


# ----------------------------------------------------------------------------- Verity: modes and FACTOR
async def test_verity_outside_sdk_mode_answers_without_factor_and_sends_plain_mg(world: VirtualWorld) -> None:
    recording = ipol_recording(6.0)
    async with (
        VirtualSensor(world, recording, kind="polar-verity", speed=20) as sensor,
        raw_client(world, sensor) as pmd,
    ):
        # The start command and answer published in polar-ble-sdk #443, byte for byte.
        assert await pmd.command(ISSUE_443_START_COMMAND) == bytes.fromhex("F0 02 02 00 00")
        frames = await pmd.frames_of(T.ACC, 3)
    naive = [naive_acc_mg(f) for f in frames]
    t = frame_times_s(frames, 52.0, [len(v) for v in naive])
    expected = on_grid(recording, recording.acc_mps2, t, PolarVerityTwin.clock_origin_s, 52.0) / MG
    # A client that never heard of FACTOR reads the right mG: there is none to apply.
    np.testing.assert_allclose(np.concatenate(naive), expected, atol=0.5 + 1e-9)


async def test_a_client_ignoring_factor_is_wrong_in_sdk_mode(world: VirtualWorld) -> None:
    """In SDK mode the Verity sends counts scaled by a FACTOR ≠ 1: ignoring it gives wrong values, while
    applying it (as the SDK and gaitdir's driver do) gives the recording back."""
    recording = ipol_recording(6.0)
    async with (
        VirtualSensor(world, recording, kind="polar-verity", speed=20) as sensor,
        raw_client(world, sensor) as pmd,
    ):
        assert await pmd.command("02 09") == bytes.fromhex("F0 02 09 00 00")  # SDK mode on
        start = bytes(
            _pmd.ControlPointCommand.start(
                T.ACC,
                {
                    _pmd.Setting.SAMPLE_RATE: 104,
                    _pmd.Setting.RESOLUTION: 16,
                    _pmd.Setting.RANGE: 4,
                    _pmd.Setting.CHANNELS: 3,
                },
            )
        )
        answer = _pmd.ControlPointResponse.from_bytes(await pmd.command(start))
        assert answer.ok and answer.factor == 4000 / 32768  # mG per count over the ±4 g range
        frames = await pmd.frames_of(T.ACC, 3)
    counts = [naive_acc_mg(f) for f in frames]
    t = frame_times_s(frames, 104.0, [len(c) for c in counts])
    expected = on_grid(recording, recording.acc_mps2, t, PolarVerityTwin.clock_origin_s, 104.0) / MG
    naive = np.concatenate(counts)
    # Ignoring FACTOR: about 8 g of "gravity" from a sensor at rest on a walking person's back.
    assert np.median(np.linalg.norm(naive, axis=1)) > 7000
    assert np.abs(naive - expected).max() > 1000
    np.testing.assert_allclose(naive * answer.factor, expected, atol=0.5 * answer.factor + 1e-9)

    # gaitdir's driver applies the FACTOR of its own START answer.
    async with VirtualSensor(world, recording, kind="polar-verity", speed=20) as sensor:
        driver = PolarVerityDriver(sensor.address or "", sample_rate_hz=104, range_g=4, backend=world)
        async with driver:
            await driver.start()
            assert driver._factors[T.ACC] == pytest.approx(4000 / 32768)
            t, acc, _ = joined(await driver_samples(driver, 300))
    expected = on_grid(recording, recording.acc_mps2, t, PolarVerityTwin.clock_origin_s, 104.0)
    np.testing.assert_allclose(acc, expected, atol=0.5 * 4000 / 32768 * MG + 1e-9)


class NormalModeVerity(PolarVerityDriver):
    """gaitdir's Verity driver without SDK mode: 52 Hz, ±8 g, 2000 °/s."""

    use_sdk_mode = False


async def test_gaitdir_driver_outside_sdk_mode(world: VirtualWorld) -> None:
    recording = ipol_recording(6.0)
    async with VirtualSensor(world, recording, kind="polar-verity", speed=20) as sensor:
        driver = NormalModeVerity(sensor.address or "", backend=world)
        async with driver:
            await driver.start()
            twin = sensor.twin
            assert isinstance(twin, PolarVerityTwin) and not twin.sdk_mode
            assert T.ACC not in driver._factors  # no FACTOR came: the SDK's fallback of 1
            t, acc, gyr = joined(await driver_samples(driver, 200))
    expected = on_grid(recording, recording.acc_mps2, t, PolarVerityTwin.clock_origin_s, 52.0)
    np.testing.assert_allclose(acc, expected, atol=0.5 * MG + 1e-9)
    assert gyr is not None and recording.gyr_radps is not None
    gyr_expected = on_grid(recording, recording.gyr_radps, t, PolarVerityTwin.clock_origin_s, 52.0)
    np.testing.assert_allclose(gyr, gyr_expected, atol=np.radians(0.5 * 2000 / 32768) + 1e-9)


async def test_verity_settings_per_mode(world: VirtualWorld) -> None:
    async with (
        VirtualSensor(world, oxford_recording(3.0), kind="polar-verity", speed=20) as sensor,
        raw_client(world, sensor) as pmd,
    ):

        async def settings(command: str) -> dict[_pmd.Setting, list[int | float]]:
            answer = _pmd.ControlPointResponse.from_bytes(await pmd.command(command))
            assert answer.ok, answer.status_name
            return answer.settings()

        normal = {
            _pmd.Setting.SAMPLE_RATE: [52],
            _pmd.Setting.RESOLUTION: [16],
            _pmd.Setting.RANGE: [8],
            _pmd.Setting.CHANNELS: [3],
        }
        sdk_acc = {
            _pmd.Setting.SAMPLE_RATE: [26, 52, 104, 208, 416],
            _pmd.Setting.RESOLUTION: [16],
            _pmd.Setting.RANGE: [2, 4, 8, 16],
            _pmd.Setting.CHANNELS: [3],
        }
        assert await settings("01 02") == normal  # outside SDK mode: what it can stream now
        assert await settings("04 02") == sdk_acc  # the SDK-mode settings, readable in any mode
        assert (await settings("01 05"))[_pmd.Setting.RANGE] == [2000]
        # Outside SDK mode only 52 Hz and ±8 g start.
        refused = await pmd.command(
            bytes(_pmd.ControlPointCommand.start(T.ACC, {_pmd.Setting.SAMPLE_RATE: 104}))
        )
        assert refused == bytes([0xF0, 0x02, 0x02, _pmd.Status.INVALID_SAMPLE_RATE, 0x00])
        refused = await pmd.command(
            bytes(
                _pmd.ControlPointCommand.start(T.ACC, {_pmd.Setting.SAMPLE_RATE: 52, _pmd.Setting.RANGE: 16})
            )
        )
        assert refused[3] == _pmd.Status.INVALID_RANGE
        assert (await pmd.command("02 09"))[3] == _pmd.Status.SUCCESS
        assert await settings("01 02") == sdk_acc
        assert await settings("04 02") == sdk_acc


async def test_sdk_mode_does_not_change_while_a_stream_runs(world: VirtualWorld) -> None:
    async with (
        VirtualSensor(world, oxford_recording(3.0), kind="polar-verity", speed=20) as sensor,
        raw_client(world, sensor) as pmd,
    ):
        assert (await pmd.command("02 09"))[3] == _pmd.Status.SUCCESS
        assert (await pmd.command("02 09"))[3] == _pmd.Status.ALREADY_IN_STATE
        assert (await pmd.command(ISSUE_443_START_COMMAND))[3] == _pmd.Status.SUCCESS
        assert (await pmd.command("03 09"))[3] == _pmd.Status.INVALID_STATE
        assert sensor.twin.sdk_mode  # type: ignore[union-attr]
        assert (await pmd.command("03 02"))[3] == _pmd.Status.SUCCESS
        assert (await pmd.command("03 09"))[3] == _pmd.Status.SUCCESS
        assert not sensor.twin.sdk_mode  # type: ignore[union-attr]


async def test_h10_has_no_sdk_mode_settings(world: VirtualWorld) -> None:
    async with (
        VirtualSensor(world, oxford_recording(3.0), kind="polar-h10", speed=20) as sensor,
        raw_client(world, sensor) as pmd,
    ):
        assert (await pmd.command("04 02"))[3] == _pmd.Status.INVALID_OP_CODE
        assert (await pmd.command("02 09"))[3] == _pmd.Status.NOT_SUPPORTED


# ----------------------------------------------------------------------------- the requested range
@pytest.mark.parametrize("range_g", [2, 4, 8])
async def test_h10_saturates_at_the_requested_range(world: VirtualWorld, range_g: int) -> None:
    foot = ipol_recording(8.0, start_s=3.0, path=IPOL_LEFT_FOOT)  # a foot: several g at each step
    async with VirtualSensor(world, foot, kind="polar-h10", speed=20) as sensor:
        driver = PolarH10Driver(sensor.address or "", range_g=range_g, backend=world)
        async with driver:
            await driver.start()
            t, acc, _ = joined(await driver_samples(driver, 1200))
    truth = on_grid(foot, foot.acc_mps2, t, PolarH10Twin.clock_origin_s, 200.0) / MG
    limit = 1000 * range_g
    assert (np.abs(truth) > limit).any(), "the stretch must exceed the range for the test to mean anything"
    np.testing.assert_allclose(acc / MG, np.clip(truth, -limit, limit), atol=0.5 + 1e-6)
    assert np.abs(acc / MG).max() == pytest.approx(limit)  # full scale reads exactly ±range


async def test_verity_saturates_acc_and_gyro_at_the_requested_ranges(world: VirtualWorld) -> None:
    foot = ipol_recording(8.0, start_s=3.0, path=IPOL_LEFT_FOOT)
    assert foot.gyr_radps is not None
    async with (
        VirtualSensor(world, foot, kind="polar-verity", speed=20) as sensor,
        raw_client(world, sensor) as pmd,
    ):
        assert (await pmd.command("02 09"))[3] == _pmd.Status.SUCCESS
        settings = {_pmd.Setting.SAMPLE_RATE: 104, _pmd.Setting.RESOLUTION: 16, _pmd.Setting.CHANNELS: 3}
        acc_answer = _pmd.ControlPointResponse.from_bytes(
            await pmd.command(
                bytes(_pmd.ControlPointCommand.start(T.ACC, {**settings, _pmd.Setting.RANGE: 2}))
            )
        )
        gyr_answer = _pmd.ControlPointResponse.from_bytes(
            await pmd.command(
                bytes(_pmd.ControlPointCommand.start(T.GYRO, {**settings, _pmd.Setting.RANGE: 250}))
            )
        )
        assert acc_answer.factor == 2000 / 32768 and gyr_answer.factor == 250 / 32768
        frames = await pmd.frames_of(T.ACC, 8) + await pmd.frames_of(T.GYRO, 8)
    acc_frames = [_pmd.DataFrame.from_bytes(f) for f in frames[:8]]
    gyr_frames = [_pmd.DataFrame.from_bytes(f) for f in frames[8:]]
    acc = np.concatenate([_pmd.decode_acc(f, acc_answer.factor) for f in acc_frames])  # type: ignore[arg-type]
    gyr = np.concatenate([_pmd.decode_gyro(f, gyr_answer.factor) for f in gyr_frames])  # type: ignore[arg-type]
    t = frame_times_s(frames[:8], 104.0, [len(_pmd.decode_acc(f, 1.0)) for f in acc_frames])
    truth_acc = on_grid(foot, foot.acc_mps2, t, PolarVerityTwin.clock_origin_s, 104.0) / MG
    truth_gyr = np.degrees(on_grid(foot, foot.gyr_radps, t, PolarVerityTwin.clock_origin_s, 104.0))
    assert (np.abs(truth_acc) > 2000).any() and (np.abs(truth_gyr) > 250).any()
    np.testing.assert_allclose(acc, np.clip(truth_acc, -2000, 2000), atol=2000 / 32768)
    np.testing.assert_allclose(gyr, np.clip(truth_gyr, -250, 250), atol=250 / 32768)
