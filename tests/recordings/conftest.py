"""Paths to the real data sets (read in place from the repository's sibling ``shared``) and fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO / ".." / "shared" / "datasets"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"
OXFORD = DATASETS / "oxford-step-counter"
KUHAR_FIXTURE = REPO / "tests" / "fixtures" / "recordings" / "kuhar"


@pytest.fixture
def ipol_dir() -> Path:
    return IPOL


@pytest.fixture
def oxford_dir() -> Path:
    return OXFORD


@pytest.fixture
def kuhar_fixture() -> Path:
    return KUHAR_FIXTURE
