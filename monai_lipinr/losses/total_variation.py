"""Isotropic total variation of images on a grid (an edge-preserving smoothness prior).

The Lipschitz budget bounds the *largest* gradient of a reconstruction (its L∞ norm); total variation
penalises the *mean* gradient magnitude (its L1 norm). The first keeps edges physically plausible, the
second removes the many small gradients that noise and view-undersampling streaks add everywhere.
"""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_lipinr.losses.utils import check_reduction
from monai_lipinr.ops.validation import SUPPORTED_SPATIAL_DIMS, check_float_tensor

__all__ = ["total_variation_map", "TotalVariationLoss"]


def _crop(x: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Drop the last index along each of the trailing ``spatial_dims`` axes."""
    return x[(Ellipsis,) + (slice(0, -1),) * spatial_dims]


def _check_settings(spatial_dims: int, eps: float) -> None:
    if spatial_dims not in SUPPORTED_SPATIAL_DIMS:
        raise ValueError(f"spatial_dims must be one of {SUPPORTED_SPATIAL_DIMS}, got {spatial_dims!r}.")
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"eps must be a number > 0 (image intensity units), got {eps!r}.")


def _forward_neighbours(x: torch.Tensor, spatial_dims: int) -> list[torch.Tensor]:
    """For each trailing spatial axis, ``x`` shifted by one voxel along it, aligned with ``_crop(x)``."""
    first = x.ndim - spatial_dims
    out = []
    for axis in range(first, x.ndim):
        index = [slice(None)] * first + [slice(1, None) if a == axis else slice(0, -1)
                                         for a in range(first, x.ndim)]
        out.append(x[tuple(index)])
    return out


def total_variation_map(image: torch.Tensor, spatial_dims: int, eps: float = 1e-3) -> torch.Tensor:
    """Point-wise isotropic total variation ``sqrt(Σ_d (Δ_d x)² + ε²) - ε`` from forward differences.

    Args:
        image: ``(*batch, *spatial)`` image, in its own intensity units; the last ``spatial_dims`` axes
            are the spatial axes (any order; the differences are per grid step, not per mm).
        spatial_dims: number of trailing spatial axes (2 or 3).
        eps: smoothing of the norm at zero gradient (Charbonnier), in the image's intensity units (> 0);
            differences much larger than ``eps`` count with their magnitude, a flat image costs 0.

    Returns:
        ``(*batch, *(s - 1 for s in spatial))``: the value at every voxel whose forward neighbours exist.

    Raises:
        TypeError: when ``image`` is not a floating tensor.
        ValueError: for unsupported ``spatial_dims``, fewer than 2 voxels along a spatial axis or ``eps <= 0``.
    """
    x = check_float_tensor("image", image)
    _check_settings(spatial_dims, eps)
    if x.ndim < spatial_dims or any(s < 2 for s in x.shape[x.ndim - spatial_dims:]):
        raise ValueError(f"image must have {spatial_dims} trailing spatial axes of at least 2 voxels, "
                         f"got shape {tuple(x.shape)}.")
    base = _crop(x, spatial_dims)
    squared = sum((shifted - base).square() for shifted in _forward_neighbours(x, spatial_dims))
    return torch.sqrt(squared + eps * eps) - eps


class TotalVariationLoss(_Loss):
    """Isotropic total variation of channel-first images, optionally restricted to a mask.

    Args:
        spatial_dims: 2 or 3.
        eps: Charbonnier smoothing in image intensity units (see :func:`total_variation_map`).
        reduction: ``"mean"`` (over the counted voxels of the whole batch) | ``"sum"`` | ``"none"``
            (the masked map ``(B, C, *(s - 1))``).

    A voxel counts when it and its forward neighbours along every axis lie in the mask (a difference
    across the mask boundary, e.g. the edge of a CT field of view, is not penalised).

    Example::

        loss = TotalVariationLoss(spatial_dims=2)(image, mask)  # image (B, C, H, W), mask (H, W) or (B, 1, H, W)

    Raises:
        ValueError: for an unknown ``reduction``, unsupported ``spatial_dims`` or ``eps <= 0``.
    """

    def __init__(self, spatial_dims: int = 2, eps: float = 1e-3,
                 reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=check_reduction(reduction))
        _check_settings(spatial_dims, eps)
        self.spatial_dims = spatial_dims
        self.eps = float(eps)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Total variation of ``image`` ``(B, C, *spatial)``; ``mask`` broadcastable to it (bool or 0/1)."""
        x = check_float_tensor("image", image)
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(f"image must be (B, C, *spatial) with {self.spatial_dims} spatial axes, "
                             f"got shape {tuple(x.shape)}.")
        values = total_variation_map(x, self.spatial_dims, self.eps)
        if mask is None:
            weight = torch.ones_like(values)
        else:
            m = torch.as_tensor(mask, device=x.device)
            try:
                m = torch.broadcast_to(m.to(torch.bool), x.shape)
            except RuntimeError as err:
                raise ValueError(f"mask of shape {tuple(m.shape)} does not broadcast to image "
                                 f"{tuple(x.shape)}.") from err
            valid = _crop(m, self.spatial_dims)
            for shifted in _forward_neighbours(m, self.spatial_dims):
                valid = valid & shifted
            weight = valid.to(values.dtype)
        if self.reduction == LossReduction.MEAN.value:
            count = weight.sum()
            if float(count) == 0:
                raise ValueError("mask leaves no voxel with all its forward neighbours inside.")
            return (values * weight).sum() / count
        if self.reduction == LossReduction.SUM.value:
            return (values * weight).sum()
        return values * weight
