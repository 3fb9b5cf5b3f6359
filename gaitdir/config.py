"""Remembered sensors: what ``gaitdir pair`` stores and ``gaitdir live`` connects to by default.

The store is one JSON file, ``sensors.json``, in the per-user config directory (``platformdirs``), or in
``$GAITDIR_CONFIG_DIR`` when that is set (tests, portable setups)::

    {"version": 1,
     "default": "A0:9E:1A:12:34:56",
     "sensors": [{"name": "Polar H10 1234ABCD", "address": "A0:9E:1A:12:34:56", "kind": "polar-h10",
                  "placement": "chest", "forward_axis": null}]}

Every write goes to a temporary file in the same directory and is then renamed over the old one, so a
crash never leaves a half-written store.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs

from gaitdir.errors import GaitdirError

__all__ = [
    "CONFIG_DIR_ENV",
    "Calibration",
    "RememberedSensor",
    "SensorStore",
    "config_dir",
]

#: Environment variable that overrides the config directory.
CONFIG_DIR_ENV = "GAITDIR_CONFIG_DIR"

_STORE_VERSION = 1
_STORE_NAME = "sensors.json"


def config_dir() -> Path:
    """The directory holding gaitdir's per-user configuration.

    Returns
    -------
    Path
        ``$GAITDIR_CONFIG_DIR`` when set and non-empty, else the platform's user config dir for gaitdir.
    """
    override = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("gaitdir", appauthor=False))


@dataclass(frozen=True)
class Calibration:
    """A forward axis found by walking forward with the sensor worn (``gaitdir calibrate``).

    Attributes
    ----------
    forward_axis : tuple of 3 floats
        Unit vector of the wearer's front in sensor coordinates.
    date : str
        When it was made (ISO 8601, UTC).
    steps : int
        Forward steps it rests on.
    placement : str
        Where the sensor was worn during the calibration walk.
    """

    forward_axis: tuple[float, float, float]
    date: str
    steps: int
    placement: str = "auto"

    def describe(self) -> str:
        """``"calibrated 2026-12-05 on 12 steps"``."""
        return f"calibrated {self.date[:10]} on {self.steps} steps"


@dataclass(frozen=True)
class RememberedSensor:
    """One paired sensor.

    Attributes
    ----------
    name : str
        Advertised name (e.g. ``"Polar H10 1234ABCD"``); may be empty for sensors that advertise none.
    address : str
        BLE address (or the OS's identifier for it, e.g. a UUID on macOS).
    kind : str
        Driver kind (a key of ``gaitdir.devices.DRIVERS``), e.g. ``"polar-h10"``.
    placement : str
        Where it is worn (``"chest"``, ``"lower_back"``, ``"arm"``...; ``"auto"`` = let the pipeline decide).
    forward_axis : str, optional
        The sensor axis pointing to the wearer's front as the user gave it at pairing (e.g. ``"+x"``).
    calibration : Calibration, optional
        The forward axis found by ``gaitdir calibrate`` (used when the user gave none).
    """

    name: str
    address: str
    kind: str
    placement: str = "auto"
    forward_axis: str | None = None
    calibration: Calibration | None = None

    def matches(self, name_or_address: str) -> bool:
        """True when ``name_or_address`` is this sensor's address (case-insensitive) or exact name."""
        key = name_or_address.strip()
        return key.lower() == self.address.lower() or (bool(self.name) and key == self.name)

    @property
    def label(self) -> str:
        """How the sensor is shown to a user: its name, or its address when it has none."""
        return self.name or self.address


@dataclass
class SensorStore:
    """The remembered-sensor store (``sensors.json``) in a config directory.

    Parameters
    ----------
    directory : Path, optional
        Config directory; None = :func:`config_dir` (evaluated when the store is used).

    Notes
    -----
    Every method reads the file afresh, so two gaitdir processes never work from a stale copy; writes are
    atomic (temporary file + ``os.replace``).
    """

    directory: Path | None = None

    # --- reading ---------------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The JSON file behind the store."""
        return (self.directory if self.directory is not None else config_dir()) / _STORE_NAME

    def sensors(self) -> list[RememberedSensor]:
        """All remembered sensors, in pairing order."""
        return self._load()[1]

    def default(self) -> RememberedSensor | None:
        """The default sensor: the one marked default, else the only one, else None."""
        default_address, sensors = self._load()
        for sensor in sensors:
            if default_address is not None and sensor.address.lower() == default_address.lower():
                return sensor
        return sensors[0] if len(sensors) == 1 else None

    def find(self, name_or_address: str) -> RememberedSensor | None:
        """The remembered sensor with this address or name, or None."""
        for sensor in self.sensors():
            if sensor.matches(name_or_address):
                return sensor
        return None

    # --- writing ---------------------------------------------------------------------------------------

    def pair(self, sensor: RememberedSensor, *, make_default: bool = True) -> SensorStore:
        """Remember ``sensor`` (replacing an entry with the same address).

        Parameters
        ----------
        sensor : RememberedSensor
            The sensor to store.
        make_default : bool
            Also make it the default sensor for ``gaitdir live``.

        Returns
        -------
        SensorStore
            self.
        """
        default_address, sensors = self._load()
        kept = [s for s in sensors if s.address.lower() != sensor.address.lower()]
        kept.append(sensor)
        if make_default or default_address is None:
            default_address = sensor.address
        self._save(default_address, kept)
        return self

    def forget(self, name_or_address: str) -> RememberedSensor:
        """Forget the sensor with this address or name.

        Returns
        -------
        RememberedSensor
            The entry that was removed.

        Raises
        ------
        GaitdirError
            When no remembered sensor matches.
        """
        default_address, sensors = self._load()
        matching = [s for s in sensors if s.matches(name_or_address)]
        if not matching:
            raise GaitdirError(
                f"no remembered sensor called {name_or_address!r} (see `gaitdir devices` for the list)"
            )
        removed = matching[0]
        kept = [s for s in sensors if s is not removed]
        if default_address is not None and default_address.lower() == removed.address.lower():
            default_address = kept[0].address if kept else None
        self._save(default_address, kept)
        return removed

    def set_default(self, name_or_address: str) -> RememberedSensor:
        """Make the remembered sensor with this address or name the default one and return it."""
        _, sensors = self._load()
        for sensor in sensors:
            if sensor.matches(name_or_address):
                self._save(sensor.address, sensors)
                return sensor
        raise GaitdirError(
            f"no remembered sensor called {name_or_address!r} (see `gaitdir devices` for the list)"
        )

    def set_calibration(self, name_or_address: str, calibration: Calibration | None) -> RememberedSensor:
        """Store (or, with None, remove) the calibration of a remembered sensor; its place and the default
        are kept.

        Returns
        -------
        RememberedSensor
            The updated entry.

        Raises
        ------
        GaitdirError
            When no remembered sensor matches.
        """
        default_address, sensors = self._load()
        for i, sensor in enumerate(sensors):
            if sensor.matches(name_or_address):
                sensors[i] = replace(sensor, calibration=calibration)
                self._save(default_address, sensors)
                return sensors[i]
        raise GaitdirError(
            f"no remembered sensor called {name_or_address!r} (see `gaitdir devices` for the list)"
        )

    # --- file format -----------------------------------------------------------------------------------

    def _load(self) -> tuple[str | None, list[RememberedSensor]]:
        path = self.path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, []
        except OSError as exc:
            raise GaitdirError(f"{path}: cannot read the sensor store: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GaitdirError(
                f"{path}: line {exc.lineno}: the sensor store is not valid JSON ({exc.msg}); "
                "fix or delete the file and pair again"
            ) from exc
        return _parse_store(data, path)

    def _save(self, default_address: str | None, sensors: list[RememberedSensor]) -> None:
        path = self.path
        payload: dict[str, Any] = {
            "version": _STORE_VERSION,
            "default": default_address,
            "sensors": [asdict(s) for s in sensors],
        }
        text = json.dumps(payload, indent=2) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise GaitdirError(f"{path}: cannot write the sensor store: {exc.strerror or exc}") from exc


def _parse_store(data: object, path: Path) -> tuple[str | None, list[RememberedSensor]]:
    """Validate the decoded JSON of a store; errors name the file and the bad entry."""
    if not isinstance(data, dict) or not isinstance(data.get("sensors", []), list):
        raise GaitdirError(f"{path}: not a gaitdir sensor store (expected an object with a 'sensors' list)")
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise GaitdirError(f"{path}: 'default' must be an address string or null")
    sensors: list[RememberedSensor] = []
    for i, entry in enumerate(data.get("sensors", [])):
        if not isinstance(entry, dict):
            raise GaitdirError(f"{path}: sensors[{i}] must be an object")
        missing = [k for k in ("address", "kind") if not isinstance(entry.get(k), str) or not entry.get(k)]
        if missing:
            raise GaitdirError(f"{path}: sensors[{i}] lacks {', '.join(missing)}")
        forward_axis = entry.get("forward_axis")
        calibration = _parse_calibration(entry.get("calibration"), path, i)
        sensors.append(
            RememberedSensor(
                name=str(entry.get("name") or ""),
                address=entry["address"],
                kind=entry["kind"],
                placement=str(entry.get("placement") or "auto"),
                forward_axis=None if forward_axis in (None, "") else str(forward_axis),
                calibration=calibration,
            )
        )
    return default, sensors


def _parse_calibration(value: object, path: Path, i: int) -> Calibration | None:
    if value is None:
        return None
    where = f"{path}: sensors[{i}].calibration"
    if not isinstance(value, dict):
        raise GaitdirError(f"{where} must be an object")
    axis = value.get("forward_axis")
    if (
        not isinstance(axis, list)
        or len(axis) != 3
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in axis)
    ):
        raise GaitdirError(f"{where}.forward_axis must be three numbers; calibrate again")
    steps = value.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise GaitdirError(f"{where}.steps must be a positive whole number; calibrate again")
    return Calibration(
        forward_axis=(float(axis[0]), float(axis[1]), float(axis[2])),
        date=str(value.get("date") or ""),
        steps=steps,
        placement=str(value.get("placement") or "auto"),
    )
