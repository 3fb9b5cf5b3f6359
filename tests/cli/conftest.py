"""Fixtures for the command-line tests: real recordings by path and an isolated per-user state."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
IPOL_DIR = DATASETS / "ipol-healthy-gait" / "GaitData"
OXFORD_DIR = DATASETS / "oxford-step-counter"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every per-user directory (config, data, cache) at a fresh folder.

    Trusted-model hashes, remembered sensors and the session history then never leak between tests or
    into the user's home.
    """
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("GAITDIR_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("GAITDIR_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    return home


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def ipol_dir() -> Path:
    assert IPOL_DIR.is_dir(), f"the shared IPOL data is expected at {IPOL_DIR}"
    return IPOL_DIR


@pytest.fixture(scope="session")
def oxford_dir() -> Path:
    assert OXFORD_DIR.is_dir(), f"the shared Oxford data is expected at {OXFORD_DIR}"
    return OXFORD_DIR
