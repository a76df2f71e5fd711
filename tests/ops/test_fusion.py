"""Fused Linear→Sine stages compute the same values, Jacobians and gradients as the modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monai_lipinr.lipschitz.activations import Sine
from monai_lipinr.networks.nets import SIREN
from monai_lipinr.ops.fusion import LinearSine, fuse_stages


def _unfused(net, x):
    return net.body(net.embedding(x))


@pytest.mark.parametrize("constraint", [None, "bjorck", "spectral"])
def test_fused_forward_and_gradients_match_modules(constraint):
    torch.manual_seed(0)
    kwargs = {"constraint": None} if constraint is None else {"constraint": constraint, "budget": 3.0}
    net = SIREN(3, 3, hidden_features=32, num_layers=3, **kwargs).double()
    net.eval()  # a training-mode spectral norm advances its power iteration at every call
    x = torch.rand(64, 3, dtype=torch.float64) * 2 - 1
    fused = net(x)
    ref = _unfused(net, x)
    torch.testing.assert_close(fused, ref, rtol=1e-10, atol=1e-12)
    g_fused = torch.autograd.grad(fused.square().sum(), list(net.parameters()))
    g_ref = torch.autograd.grad(_unfused(net, x).square().sum(), list(net.parameters()))
    for a, b in zip(g_fused, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    n_sines = sum(isinstance(m, Sine) for m in net.body)
    assert sum(isinstance(s, LinearSine) for s in net._forward_steps()) == n_sines


def test_fused_jacobian_matches_autograd():
    torch.manual_seed(1)
    net = SIREN(3, 3, hidden_features=32, num_layers=2, constraint="bjorck", budget=2.0).double()
    x = torch.rand(16, 3, dtype=torch.float64)
    _, jac = net.forward_with_jacobian(x)
    xr = x.clone().requires_grad_(True)
    u = _unfused(net, xr)
    ref = torch.stack([torch.autograd.grad(u[:, i].sum(), xr, retain_graph=True)[0] for i in range(3)], 1)
    torch.testing.assert_close(jac, ref, rtol=1e-9, atol=1e-12)


def test_budget_change_of_omega_is_honoured():
    lin, sine = nn.Linear(2, 4), Sine(omega=3.0)
    stage = fuse_stages([lin, sine])[0]
    x = torch.randn(5, 2)
    sine.omega = 7.0
    torch.testing.assert_close(stage(x), torch.sin(7.0 * lin(x)))


def test_modules_with_hooks_or_custom_forward_are_not_fused():
    class Custom(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    lin, sine = nn.Linear(2, 4), Sine(omega=3.0)
    lin.register_forward_hook(lambda m, i, o: o)
    assert fuse_stages([lin, sine]) == [lin, sine]
    custom = Custom(2, 4)
    assert fuse_stages([custom, sine]) == [custom, sine]
    assert isinstance(fuse_stages([nn.Linear(2, 4), sine])[0], LinearSine)
