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
def one_thread():
    """One intra-op torch thread for the duration of a test (restored afterwards).

    Small fits gain nothing from a second thread, and on a shared 2-core machine two threads contend:
    a tiny registration fit took 41 s with two threads against 2 s with one at load ~11. Test folders
    with small fits opt in with an autouse fixture that requests this one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def shared_dir() -> Path:
    """Path of ``../shared``; skips the test with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared data folder not found at {SHARED} (set MONAI_LIPINR_SHARED)")
    return SHARED
