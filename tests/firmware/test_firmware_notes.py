"""The worked examples printed in firmware_notes/ decode to what the notes say they mean.

Each note quotes frames in hex; this test reads the hex out of the note itself (so an edit of the note
that breaks an example fails here) and decodes it with gaitdir's codecs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gaitdir.devices import _metamotion as mm
from gaitdir.devices import _movesense as ms
from gaitdir.devices import _openprofile as op
from gaitdir.devices import _pmd
from gaitdir.devices import _thingy52 as th
from gaitdir.devices import _witmotion as wm

NOTES = Path(__file__).resolve().parents[2] / "firmware_notes"


def hex_in(note: str, start: str, n_bytes: int) -> bytes:
    """The first hex run in ``note`` that begins with ``start``, ``n_bytes`` long ('|' separators allowed)."""
    text = (NOTES / note).read_text()
    pattern = re.escape(start).replace(r"\ ", r"[\s|]+") + r"(?:[\s|]+[0-9a-fA-F]{2})*"
    match = re.search(pattern, text)
    assert match is not None, f"{start!r} not found in {note}"
    data = bytes.fromhex(re.sub(r"[\s|]+", "", match.group(0)))
    assert len(data) >= n_bytes, (note, start, data.hex(" "))
    return data[:n_bytes]


def test_open_profile_example_frame_and_info() -> None:
    frame = op.DataFrame.from_bytes(hex_in("gaitdir-open-profile.md", "66 b2 07 00", 32))
    assert (frame.seq, frame.timestamp_us, frame.count, frame.rate_hz) == (7, 123_456_789, 2, 100.0)
    np.testing.assert_allclose(frame.acc_mps2()[1] / 9.80665, [0.0625, -2 * 8 / 32768, 1.0])
    info = op.Response.from_bytes(hex_in("gaitdir-open-profile.md", "80 01 00 01 00", 14))
    parsed = op.DeviceInfo.from_bytes(info.params)
    assert parsed.rates_hz == [12.5, 25.0, 50.0, 100.0, 200.0] and parsed.max_samples_per_frame == 15
    assert (parsed.rate_code, parsed.acc_range_code, parsed.gyro_range_code, parsed.streaming) == (
        6,
        2,
        3,
        False,
    )


def test_movesense_examples() -> None:
    cmd = ms.MovesenseCommand.from_bytes(hex_in("movesense.md", "01 63 2f", 16))
    assert cmd.path == "/Meas/IMU6/104"
    note = ms.MovesenseNotification.from_bytes(hex_in("movesense.md", "02 63 | e8 03", 30))
    packet = ms.MovesensePacket.from_bytes(note.payload, resource="IMU6")
    assert packet.timestamp_ms == 1000
    np.testing.assert_allclose(packet.acc_mps2[0], [0.1, -0.2, 9.81], rtol=1e-6)
    np.testing.assert_allclose(packet.gyr_dps[0], [1.5, 0.0, -2.0])
    dec = ms.MovesenseDecoder(ref=0x63, resource="IMU6", rate_hz=13)
    assert dec.feed(hex_in("movesense.md", "02 63 e8 03 00 00 cd", 20)) == []
    (batch,) = dec.feed(hex_in("movesense.md", "03 63 c0 3f", 12))
    np.testing.assert_allclose(batch.acc_mps2[0], packet.acc_mps2[0])


def test_metamotion_example() -> None:
    samples = mm.AccSamples.from_bytes(hex_in("metamotion.md", "03 1c | 62 b7", 20))
    assert samples.to_g(8)[0, 0] == pytest.approx(-4.539, abs=5e-4)


def test_witmotion_example() -> None:
    packet = wm.WitPacket.from_bytes(hex_in("witmotion.md", "55 61 | 35 ff", 16) + bytes(4))
    assert packet.acc_g[2] == pytest.approx(1.005, abs=5e-4)


def test_thingy_examples() -> None:
    raw = th.ThingyRaw.from_bytes(hex_in("thingy52.md", "00 00 00 fe 00 04", 18))
    np.testing.assert_allclose(raw.gyro_dps, [90.0, -1.0, 0.0])
    config = th.ThingyConfig.from_bytes(hex_in("thingy52.md", "e8 03 f4 01", 9))
    assert config.motion_freq_hz == 100


def test_polar_example() -> None:
    frame = _pmd.DataFrame.from_bytes(hex_in("polar-pmd.md", "02 | 00 e4 0b 54", 16))
    assert frame.timestamp_ns == 10_000_000_000
    np.testing.assert_allclose(_pmd.decode_acc(frame), [[1000.0, 0.0, -1000.0]])
