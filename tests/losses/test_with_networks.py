"""The deformation losses on a real package network: fast-path and autograd Jacobians agree and train."""

from __future__ import annotations

import torch

from monai_lipinr.losses import HyperelasticLoss, INRBendingEnergyLoss, JacobianFoldingLoss
from monai_lipinr.networks.nets import SIREN
from monai_lipinr.ops import jacobian_autograd


def test_losses_on_siren_fast_and_autograd_jacobians():
    net = SIREN(3, 3, hidden_features=32, num_layers=2, omega_0=10.0, omega=10.0, budget=4.0)
    net = net.double()
    pts = 2 * torch.rand(64, 3, dtype=torch.float64) - 1
    folding = JacobianFoldingLoss(margin=0.9)  # a high margin so a random SIREN is penalised
    hyper = HyperelasticLoss()
    _, jac_auto = jacobian_autograd(net, pts, create_graph=True)
    _, jac_fast = net.forward_with_jacobian(pts)
    torch.testing.assert_close(jac_fast, jac_auto, rtol=1e-9, atol=1e-9)
    for loss in (folding, hyper):
        torch.testing.assert_close(loss(jac_fast), loss(jac_auto), rtol=1e-9, atol=1e-12)
    total = folding(jac_fast) + hyper(jac_auto) + 1e-3 * INRBendingEnergyLoss()(net, pts)
    assert float(total) > 0
    total.backward()
    # every weight shapes the Jacobian; the output bias does not (a Jacobian loss gives it no gradient)
    grads = [p.grad for name, p in net.named_parameters() if "weight" in name]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    out_bias = net.body[-1].bias
    assert out_bias.grad is None or float(out_bias.grad.abs().max()) == 0.0
    assert any(torch.count_nonzero(g) > 0 for g in grads)
