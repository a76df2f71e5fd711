"""Fixtures of the benchmark-script tests: the scripts are not a package, so they load by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_lipinr.budget import ImageGeometry

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


@pytest.fixture()
def ellipse_slice():
    """A 64² slice of 1 mm pixels (HU): a soft-tissue ellipse in air holding a bone disk; ``(hu, geometry)``."""
    n = 64
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    hu = np.where(xx**2 / 22**2 + yy**2 / 16**2 < 1, 40.0, -1000.0)
    hu[(xx - 6) ** 2 + yy**2 < 25] = 600.0
    return hu, ImageGeometry((n, n), (1.0, 1.0), (0.0, 0.0))
