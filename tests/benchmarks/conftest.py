"""Fixtures of the benchmark-script tests: the scripts are not a package, so they load by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:  # the scripts import each other as when run from the command line
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench():
    """``benchmarks/ct_reconstruction.py``."""
    return _load("ct_reconstruction")


@pytest.fixture(scope="session")
def regions():
    """``benchmarks/ct_error_regions.py``."""
    return _load("ct_error_regions")


@pytest.fixture(scope="session")
def held_out():
    """``benchmarks/ct_held_out_views.py``."""
    return _load("ct_held_out_views")
