"""Remembered sensors: round trip, default handling, atomic writes, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitdir.config import CONFIG_DIR_ENV, RememberedSensor, SensorStore, config_dir
from gaitdir.errors import GaitdirError

H10 = RememberedSensor(
    name="Polar H10 1234ABCD", address="A0:9E:1A:12:34:56", kind="polar-h10", placement="chest"
)
VERITY = RememberedSensor(
    name="Polar Sense 0A1B2C3D",
    address="A0:9E:1A:AB:CD:EF",
    kind="polar-verity",
    placement="arm",
    forward_axis="+x",
)


def test_config_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    assert SensorStore().path == tmp_path / "cfg" / "sensors.json"
    monkeypatch.delenv(CONFIG_DIR_ENV)
    assert config_dir().name == "gaitdir"


def test_pair_list_find_forget_round_trip(tmp_path: Path) -> None:
    store = SensorStore(tmp_path)
    assert store.sensors() == [] and store.default() is None
    store.pair(H10).pair(VERITY, make_default=False)
    # A fresh store object reads the same file: nothing lives only in memory.
    again = SensorStore(tmp_path)
    assert again.sensors() == [H10, VERITY]
    assert again.default() == H10
    assert again.find("a0:9e:1a:ab:cd:ef") == VERITY  # addresses are case-insensitive
    assert again.find("Polar H10 1234ABCD") == H10
    assert again.find("nothing") is None
    assert again.set_default("Polar Sense 0A1B2C3D") == VERITY
    assert SensorStore(tmp_path).default() == VERITY
    assert again.forget("Polar Sense 0A1B2C3D") == VERITY
    # Forgetting the default hands the role to a remaining sensor.
    assert SensorStore(tmp_path).default() == H10
    assert SensorStore(tmp_path).sensors() == [H10]
    with pytest.raises(GaitdirError, match="no remembered sensor called 'Polar Sense"):
        again.forget("Polar Sense 0A1B2C3D")


def test_pairing_again_replaces_the_entry(tmp_path: Path) -> None:
    store = SensorStore(tmp_path)
    store.pair(H10)
    moved = RememberedSensor(name=H10.name, address=H10.address, kind=H10.kind, placement="lower_back")
    store.pair(moved)
    assert store.sensors() == [moved]


def test_store_file_is_plain_json_and_no_temp_file_is_left(tmp_path: Path) -> None:
    SensorStore(tmp_path).pair(VERITY)
    data = json.loads((tmp_path / "sensors.json").read_text())
    assert data["default"] == VERITY.address
    assert data["sensors"][0]["forward_axis"] == "+x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sensors.json"]


def test_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sensors.json").write_text('{"sensors": [', encoding="utf-8")
    with pytest.raises(GaitdirError, match=r"sensors\.json: line 1: .*not valid JSON"):
        SensorStore(tmp_path).sensors()
    (tmp_path / "sensors.json").write_text('{"sensors": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(GaitdirError, match=r"sensors\[0\] lacks address, kind"):
        SensorStore(tmp_path).sensors()
