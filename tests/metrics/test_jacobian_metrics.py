"""Folding rate and SD log-Jacobian: inside the mask only, empty-mask errors, agreement with the loss."""

from __future__ import annotations

import math

import pytest
import torch

from monai_lipinr.losses import JacobianFoldingLoss
from monai_lipinr.metrics import (
    FoldingRateMetric,
    SDLogJacobianMetric,
    compute_folding_rate,
    compute_sd_log_jacobian,
)
from monai_lipinr.ops import ddf_jacobian_determinant


def folded_slab_ddf(k: int = 4, n: int = 10) -> torch.Tensor:
    """det = -1.5 on slices i < k, -0.25 at i = k, 1 beyond (see tests/ops/test_finite_difference.py)."""
    ddf = torch.zeros(1, 3, n, 5, 6, dtype=torch.float64)
    ddf[0, 0] = (-2.5 * torch.clamp(torch.arange(float(n), dtype=torch.float64), max=k)).reshape(n, 1, 1)
    return ddf


def test_zero_on_identity_and_smooth_compression():
    shape = (6, 5, 4)
    axes = [torch.arange(float(n)) for n in shape]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij")).unsqueeze(0)
    for ddf in (torch.zeros(1, 3, *shape), -0.3 * x):
        det = ddf_jacobian_determinant(ddf, spacing=(0.6, 1.0, 2.0))
        assert float(compute_folding_rate(det)) == 0.0
    det = ddf_jacobian_determinant(-0.3 * x)
    torch.testing.assert_close(det, torch.full_like(det, 0.7**3))
    assert float(compute_sd_log_jacobian(det)) == pytest.approx(0.0, abs=1e-6)


def test_folding_rate_on_constructed_fold_counts_only_inside_the_mask():
    det = ddf_jacobian_determinant(folded_slab_ddf(k=4))  # (1, 10, 5, 6): slices 0..4 fold
    assert float(compute_folding_rate(det)) == pytest.approx(5 / 10)
    mask = torch.zeros_like(det, dtype=torch.bool)
    mask[:, 3:7] = True  # slices 3, 4 fold; 5, 6 do not
    assert float(compute_folding_rate(det, mask)) == pytest.approx(0.5)
    # not diluted by background: a mask on the unfolded half only
    mask = torch.zeros_like(det)
    mask[:, 6:] = 1.0
    assert float(compute_folding_rate(det, mask)) == 0.0
    # a small mask inside the fold: 100% although the fold is a small part of the volume
    mask = torch.zeros_like(det)
    mask[:, 0, :2, :2] = 1.0
    assert float(compute_folding_rate(det, mask)) == 1.0
    # the metric agrees, per case
    metric = FoldingRateMetric()
    metric(torch.cat([det, det]), torch.cat([torch.ones_like(det), mask]))
    torch.testing.assert_close(metric.get_buffer().reshape(-1), torch.tensor([0.5, 1.0], dtype=torch.float64))
    assert float(metric.aggregate()) == pytest.approx(0.75)
    # the folding loss is positive exactly where the metric counts folding
    per_voxel = JacobianFoldingLoss(margin=0.0, power=1.0, kind="ddf", reduction="none")(folded_slab_ddf(k=4))
    assert torch.equal(per_voxel > 0, det < 0)


def test_mask_broadcasts_and_non_positive_counts():
    det = torch.tensor([[[0.0, -1e-3], [1.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]]])
    mask = torch.tensor([[1, 1], [1, 0]])  # (H, W) broadcast over the batch
    torch.testing.assert_close(compute_folding_rate(det, mask), torch.tensor([2 / 3, 0.0]))
    # NaN outside the mask is ignored, inside it is an error
    det_nan = det.clone()
    det_nan[0, 1, 1] = float("nan")
    torch.testing.assert_close(compute_folding_rate(det_nan, mask), torch.tensor([2 / 3, 0.0]))
    with pytest.raises(ValueError, match=r"det_j \(inside the mask\) must be finite"):
        compute_folding_rate(det_nan)


def test_sd_log_jacobian_values_and_clamping():
    e = math.e
    det = torch.tensor([[1.0, e, 1 / e, 50.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0]])
    # logs (0, 1, -1): population std sqrt(2/3)
    assert float(compute_sd_log_jacobian(det, mask)) == pytest.approx(math.sqrt(2 / 3), rel=1e-12)
    # folded voxels count as log(clamp)
    folded = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    expected = abs(math.log(1e-9)) / 2
    assert float(compute_sd_log_jacobian(folded)) == pytest.approx(expected, rel=1e-12)
    assert float(compute_sd_log_jacobian(folded, clamp=1e-3)) == pytest.approx(
        abs(math.log(1e-3)) / 2, rel=1e-12
    )
    # Learn2Reg convention: log(det + 3)
    l2r = float(compute_sd_log_jacobian(folded, offset=3.0))
    assert l2r == pytest.approx(abs(math.log(4.0) - math.log(1.0)) / 2, rel=1e-12)
    metric = SDLogJacobianMetric(offset=3.0)
    metric(folded)
    assert float(metric.aggregate()) == pytest.approx(l2r)


@pytest.mark.parametrize("fn", [compute_folding_rate, compute_sd_log_jacobian])
def test_bad_inputs(fn):
    det = torch.ones(2, 4, 4)
    mask = torch.ones(2, 4, 4)
    mask[1] = 0
    with pytest.raises(ValueError, match=r"mask is empty for batch item\(s\) \[1\]"):
        fn(det, mask)
    with pytest.raises(ValueError, match="must match .* det_j of shape"):
        fn(det, torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match=r"det_j must have shape \(B, \*spatial\)"):
        fn(torch.ones(5))
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        fn(det, [[1, 0]])
    with pytest.raises(TypeError, match="det_j must be a floating-point"):
        fn(torch.ones(2, 4, dtype=torch.int64))


def test_bad_metric_arguments():
    with pytest.raises(ValueError, match="reduction must be one of"):
        FoldingRateMetric(reduction="median")
    with pytest.raises(ValueError, match="clamp must be a finite number > 0"):
        SDLogJacobianMetric(clamp=0.0)
    with pytest.raises(ValueError, match="offset must be a finite number"):
        SDLogJacobianMetric(offset=float("inf"))
    with pytest.raises(ValueError, match="nothing accumulated yet"):
        SDLogJacobianMetric().aggregate()
