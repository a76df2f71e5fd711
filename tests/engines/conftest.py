"""A tiny fixed/moving pair (smooth blobs, known translation) and registration settings small enough to
run an engine many times in the default test suite."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk


def _blobs(size=(20, 18, 16), spacing=(3.0, 3.0, 3.5), seed=0) -> sitk.Image:
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(size, spacing)], indexing="ij")
    world = np.stack(grids, -1)
    vals = np.full(size, -800.0)
    ext = np.asarray(size) * np.asarray(spacing)
    for _ in range(10):
        c = ext * (0.2 + 0.6 * rng.random(3))
        r = rng.uniform(5.0, 9.0)
        vals += rng.uniform(300, 700) * np.exp(-np.sum((world - c) ** 2, -1) / (2 * r * r))
    img = sitk.GetImageFromArray(vals.transpose(2, 1, 0).astype(np.float32))
    img.SetSpacing(spacing)
    img.SetOrigin((-30.0, -25.0, 5.0))
    return img


@pytest.fixture(scope="session")
def tiny_pair():
    """``(fixed, moving, mask)``: ``moving(y) = fixed(y - t)`` with ``t = (4, -3, 2)`` mm."""
    fixed = _blobs()
    moving = sitk.Resample(fixed, fixed, sitk.TranslationTransform(3, (-4.0, 3.0, -2.0)), sitk.sitkLinear, -800.0)
    mask = sitk.GetImageFromArray(np.ones(sitk.GetArrayFromImage(fixed).shape, np.uint8))
    mask.CopyInformation(fixed)
    return fixed, moving, mask


@pytest.fixture
def tiny_config() -> dict:
    """INRRegistration settings for sub-second engine runs."""
    return {"iterations": 20, "batch_size": 512, "hidden_features": 16, "num_layers": 2, "progress": False,
            "empirical_starts": 2, "empirical_steps": 2, "learning_rate": 1e-3, "log_every": 1,
            "chunk_size": 8192}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small fits: one intra-op thread (see ``one_thread`` in tests/conftest.py)."""
