"""Differentiable sampling of an image at network coordinates (trilinear, ``grid_sample``)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import ImageGeometry

__all__ = ["NetworkImageSampler"]


class NetworkImageSampler:
    """Sample an image at points given in *network* coordinates of another (fixed) frame.

    The chain ``x̃ (network units) → world (LPS mm) → continuous voxel index (i, j, k) → grid_sample
    coordinates in [-1, 1]`` is one affine map, folded into a single matrix at construction, so sampling
    costs one small matmul plus ``grid_sample`` (``align_corners=True``: -1 / +1 are the centres of the
    first / last voxels). Points outside the image take the border value.

    Args:
        image: the image to sample (``SimpleITK.Image``, any spacing / direction).
        coordinates: the network coordinate map of the frame the points are expressed in.
        device: device of the stored volume.
        dtype: dtype of the stored volume and of the samples.
    """

    def __init__(self, image: sitk.Image, coordinates: NetworkCoordinates, device=None, dtype=torch.float32):
        geometry = ImageGeometry.from_sitk(image)
        d = geometry.spatial_dims
        size = np.asarray(image.GetSize(), dtype=np.float64)  # (i, j, k) = x-fastest order
        # world = c + s x̃ ; index = W2I (world - origin) ; grid = 2 index / (size - 1) - 1
        w2i = geometry.world_to_index_matrix  # (D, D) acting on world - origin
        norm = np.diag(2.0 / np.maximum(size - 1.0, 1.0))
        matrix = norm @ w2i * coordinates.scale
        offset = norm @ w2i @ (coordinates.centre - np.asarray(image.GetOrigin())) - 1.0
        self.spatial_dims = d
        self.matrix = torch.as_tensor(matrix.T, dtype=dtype, device=device)  # points @ matrix
        self.offset = torch.as_tensor(offset, dtype=dtype, device=device)
        volume = sitk.GetArrayFromImage(image).astype(np.float32)  # (k, j, i)
        self.volume = torch.as_tensor(volume, dtype=dtype, device=device)[None, None]

    def to(self, device) -> NetworkImageSampler:
        self.matrix, self.offset, self.volume = (t.to(device) for t in (self.matrix, self.offset, self.volume))
        return self

    def grid_coordinates(self, points: torch.Tensor) -> torch.Tensor:
        """``grid_sample`` coordinates (x = i, y = j, z = k order) of network points ``(N, D)``."""
        return points @ self.matrix + self.offset

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Intensities ``(N,)`` at network points ``(N, D)`` (differentiable w.r.t. the points)."""
        grid = self.grid_coordinates(points.to(self.volume.dtype))
        shape = (1,) * self.spatial_dims + (grid.shape[0], self.spatial_dims)
        out = torch.nn.functional.grid_sample(
            self.volume, grid.reshape(shape), mode="bilinear", padding_mode="border", align_corners=True
        )
        return out.reshape(-1)
