"""Total variation: hand values, the mask rule, linear ramps, gradients and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.losses import TotalVariationLoss, total_variation_map


def test_step_edge_costs_its_height_per_crossing_pixel():
    x = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    x[..., 2:, :] = 3.0  # a horizontal edge of height 3, crossed by 5 of the 4x5 counted voxels
    eps = 1e-3
    total = TotalVariationLoss(2, eps=eps, reduction="sum")(x)
    assert float(total) == pytest.approx(5 * (math.sqrt(9 + eps ** 2) - eps), rel=1e-12)
    assert float(TotalVariationLoss(2, eps=eps)(x)) == pytest.approx(float(total) / 20, rel=1e-12)


def test_flat_image_costs_nothing_and_mask_excludes_boundary_pairs():
    assert float(TotalVariationLoss(2)(torch.full((2, 1, 4, 4), 7.0))) == 0.0
    x = torch.zeros(1, 1, 6, 6)
    x[..., 3:, :] = 1.0
    mask = torch.ones(6, 6, dtype=torch.bool)
    mask[3:] = False  # the edge lies on the mask boundary: no counted pair crosses it
    assert float(TotalVariationLoss(2)(x, mask)) == 0.0
    assert float(TotalVariationLoss(2)(x)) > 0.1


@settings(max_examples=25, deadline=None)
@given(dims=st.sampled_from([2, 3]), seed=st.integers(0, 2**31 - 1))
def test_linear_ramp_has_its_gradient_norm_everywhere(dims, seed):
    g = torch.Generator().manual_seed(seed)
    slope = torch.randn(dims, generator=g, dtype=torch.float64)
    axes = torch.meshgrid(*[torch.arange(5, dtype=torch.float64)] * dims, indexing="ij")
    image = sum(s * a for s, a in zip(slope, axes))
    tv = total_variation_map(image, dims, eps=1e-9)
    assert tv.shape == (4,) * dims
    torch.testing.assert_close(tv, torch.full_like(tv, float(slope.norm())), atol=1e-8, rtol=1e-8)


def test_gradients_flow_and_none_reduction_keeps_the_map():
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    loss = TotalVariationLoss(2)(x)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert TotalVariationLoss(2, reduction="none")(x.detach()).shape == (2, 1, 7, 7)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="spatial_dims"):
        TotalVariationLoss(4)
    with pytest.raises(ValueError, match="eps"):
        TotalVariationLoss(2, eps=0.0)
    with pytest.raises(ValueError, match="reduction"):
        TotalVariationLoss(2, reduction="max")
    with pytest.raises(ValueError, match="image"):
        TotalVariationLoss(2)(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="mask"):
        TotalVariationLoss(2)(torch.zeros(1, 1, 4, 4), torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="no voxel"):
        TotalVariationLoss(2)(torch.zeros(1, 1, 4, 4), torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(TypeError):
        TotalVariationLoss(2)(torch.zeros(1, 1, 4, 4, dtype=torch.long))
