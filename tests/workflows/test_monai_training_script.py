"""Our losses and metrics inside a plain MONAI training script: a grid DDF predicted by MONAI's LocalNet,
warped with MONAI's Warp, regularised with JacobianFoldingLoss (grid-DDF mode), folding measured by
FoldingRateMetric (a MONAI CumulativeIterationMetric)."""

from __future__ import annotations

import pytest
import torch
from monai.networks.blocks import Warp
from monai.networks.nets import LocalNet

from monai_lipinr.losses import JacobianFoldingLoss
from monai_lipinr.metrics import FoldingRateMetric
from monai_lipinr.ops import ddf_jacobian_determinant

N = 12  # voxels per axis (LocalNet with 3 extract levels needs a multiple of 4)


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.stack(torch.meshgrid(*[torch.linspace(-1, 1, N)] * 3, indexing="ij"))

    def blob(c, r):
        return torch.exp(-((g - torch.tensor(c).view(3, 1, 1, 1)) ** 2).sum(0) / (2 * r * r))

    fixed = blob((0.2, 0.0, 0.0), 0.35) + 0.6 * blob((-0.4, 0.3, 0.1), 0.25)
    moving = blob((-0.1, 0.1, 0.0), 0.3) + 0.6 * blob((-0.2, 0.0, 0.2), 0.3)
    return fixed[None, None], moving[None, None]


def _train(weight: float, iterations: int = 30) -> dict[str, list[float]]:
    """A plain MONAI registration training loop; returns per-iteration similarity, folding loss and rate."""
    fixed, moving = _pair()
    torch.manual_seed(0)
    net = LocalNet(spatial_dims=3, in_channels=2, out_channels=3, num_channel_initial=4, extract_levels=(0, 1, 2),
                   out_activation=None, out_kernel_initializer="kaiming_uniform")
    warp = Warp(mode="bilinear", padding_mode="border")
    folding = JacobianFoldingLoss(kind="ddf", margin=0.1)  # DDF in voxels: the determinant is unit-free
    metric = FoldingRateMetric()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    log: dict[str, list[float]] = {"similarity": [], "folding_loss": [], "folding_rate": []}
    mask = torch.ones(1, N, N, N, dtype=torch.bool)
    for _ in range(iterations):
        ddf = 3.0 * net(torch.cat([moving, fixed], 1))  # (1, 3, N, N, N), voxels; x3: a folding random start
        similarity = torch.nn.functional.mse_loss(warp(moving, ddf), fixed)
        fold = folding(ddf)
        loss = similarity + weight * fold
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        metric(y_pred=ddf_jacobian_determinant(ddf.detach()), y=mask)
        log["similarity"].append(similarity.item())
        log["folding_loss"].append(fold.item())
    buffer = metric.get_buffer()[:, 0]
    log["folding_rate"] = buffer.tolist()
    assert metric.aggregate().item() == pytest.approx(buffer.mean().item())
    return log


def test_localnet_ddf_regularised_by_jacobian_folding_loss():
    reg = _train(weight=10.0)
    plain = _train(weight=0.0)
    # the same random start folds heavily
    assert reg["folding_rate"][0] == plain["folding_rate"][0] > 0.2
    assert reg["folding_loss"][0] > 1.0
    # with JacobianFoldingLoss the folding loss and rate collapse while the images still align
    assert reg["folding_loss"][-1] < 1e-2 * reg["folding_loss"][0]
    assert reg["folding_rate"][-1] < 0.02
    assert reg["similarity"][-1] < reg["similarity"][0]
    # without it the network keeps folding the grid
    assert plain["folding_rate"][-1] > 5 * max(reg["folding_rate"][-1], 1e-3)
    assert plain["folding_loss"][-1] > 100 * reg["folding_loss"][-1]
