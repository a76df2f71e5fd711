"""Shared test fixtures: seeding and the optional ../shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

_REPO = Path(__file__).resolve().parents[1]
#: The read-only shared folder beside the repository (real CT, meshes, landmarks, benchmark).
SHARED = Path(os.environ.get("MONAI_LIPINR_SHARED", _REPO.parent / "shared"))


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_dir() -> Path:
    """Path of ``../shared``; skips the test with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared data folder not found at {SHARED} (set MONAI_LIPINR_SHARED)")
    return SHARED
