"""Fixtures for the transform tests: a rotated anisotropic grid and a smooth analytic displacement network."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy.spatial.transform import Rotation

from monai_lipinr.budget import ImageGeometry


class SineDisplacement(torch.nn.Module):
    """u~(x~) = amp * sin(omega * x~ @ dirs.T + phase): a fixed, smooth displacement in network units.

    Each output component d is a plane wave along the unit vector ``dirs[d]``; its second derivative along
    any direction is bounded by ``amp[d] * omega**2`` (network units).
    """

    def __init__(self, spatial_dims: int = 3, omega: float = 2.0, amp: float = 0.06, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        dirs = torch.randn(spatial_dims, spatial_dims, generator=g, dtype=torch.float64)
        self.register_buffer("dirs", dirs / dirs.norm(dim=1, keepdim=True))
        self.register_buffer("phase", torch.rand(spatial_dims, generator=g, dtype=torch.float64) * 6.28)
        self.omega, self.amp = omega, amp
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(int(x.shape[0]))
        self.grad_enabled = torch.is_grad_enabled()
        return self.amp * torch.sin(self.omega * x @ self.dirs.T + self.phase)


@pytest.fixture
def rotated_geometry() -> ImageGeometry:
    rot = Rotation.from_euler("xyz", [25.0, -15.0, 35.0], degrees=True).as_matrix()
    return ImageGeometry((28, 24, 14), (0.8, 1.1, 2.5), (-12.0, 30.5, -60.0), rot)


@pytest.fixture
def sine_net() -> SineDisplacement:
    return SineDisplacement().double()


def sitk_image_from_world_function(geom: ImageGeometry, fn) -> sitk.Image:
    """SimpleITK float64 image whose voxel values are ``fn(world points (N, D))`` on ``geom``."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in geom.size], indexing="ij"), -1).reshape(
        -1, geom.spatial_dims
    )
    vals = np.asarray(fn(geom.index_to_world(idx.astype(np.float64)))).reshape(geom.size)
    img = sitk.GetImageFromArray(
        np.ascontiguousarray(vals.transpose(tuple(range(geom.spatial_dims - 1, -1, -1))))
    )
    return geom.apply_to_sitk(img)


@pytest.fixture
def make_sine_net():
    """The :class:`SineDisplacement` class (tests build variants with other dims / amplitudes)."""
    return SineDisplacement


@pytest.fixture
def world_image():
    """:func:`sitk_image_from_world_function`."""
    return sitk_image_from_world_function
