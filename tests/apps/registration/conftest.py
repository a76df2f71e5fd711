"""A small synthetic registration pair with a known smooth motion (anisotropic, rotated grid)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk


def _rotation(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


def make_pair(size=(28, 26, 18), spacing=(2.0, 2.2, 3.0), direction_deg=10.0, shift_mm=(3.0, -2.0, 2.5), seed=0):
    """fixed: smooth blobs in HU; moving(y) = fixed(y - t) so T(x) = x + t maps fixed to moving."""
    rng = np.random.default_rng(seed)
    fixed = sitk.Image(size, sitk.sitkFloat32)
    fixed.SetSpacing(spacing)
    fixed.SetOrigin((-20.0, -15.0, 10.0))
    fixed.SetDirection(_rotation(direction_deg).ravel().tolist())
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in size], indexing="ij"), -1).reshape(-1, 3)
    a = np.asarray(fixed.GetDirection()).reshape(3, 3) * np.asarray(spacing)
    world = np.asarray(fixed.GetOrigin()) + idx @ a.T
    centre = world.mean(0)
    ext = world.max(0) - world.min(0)
    vals = np.full(len(world), -800.0)
    for _ in range(14):
        c = centre + (rng.random(3) - 0.5) * ext * 0.7
        r = rng.uniform(4.0, 8.0)
        vals += rng.uniform(300, 700) * np.exp(-np.sum((world - c) ** 2, 1) / (2 * r * r))
    arr = vals.reshape(size).transpose(2, 1, 0).astype(np.float32)
    fixed = sitk.GetImageFromArray(arr)
    fixed.SetSpacing(spacing)
    fixed.SetOrigin((-20.0, -15.0, 10.0))
    fixed.SetDirection(_rotation(direction_deg).ravel().tolist())
    t = np.asarray(shift_mm)
    moving = sitk.Resample(fixed, fixed, sitk.TranslationTransform(3, tuple(-t)), sitk.sitkBSpline, -800.0)
    mask = sitk.GetImageFromArray(np.ones(arr.shape, np.uint8))
    mask.CopyInformation(fixed)
    # landmarks at interior voxel centres
    inner = idx[np.all((idx >= 5) & (idx < np.asarray(size) - 5), 1)]
    pick = inner[rng.choice(len(inner), 40, replace=False)]
    fixed_lm = np.asarray(fixed.GetOrigin()) + pick @ a.T
    return fixed, moving, mask, fixed_lm, fixed_lm + t


@pytest.fixture(scope="module")
def synthetic_pair():
    return make_pair()


_FAST = {"iterations": 150, "batch_size": 2048, "hidden_features": 32, "num_layers": 2, "progress": False,
        "empirical_starts": 4, "empirical_steps": 3, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def fast() -> dict:
    """Registration settings small enough for the default test run."""
    return dict(_FAST)
