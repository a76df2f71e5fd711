"""Fixtures of the MONAI workflow tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small fits: one intra-op thread (see ``one_thread`` in tests/conftest.py)."""
