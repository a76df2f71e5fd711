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


@pytest.mark.parametrize("first_amplitude", [True, False])
def test_fused_stages_with_learned_amplitudes_match_modules_and_stay_certified(first_amplitude):
    torch.manual_seed(2)
    net = SIREN(2, 1, hidden_features=16, num_layers=3, constraint="bjorck", budget=20.0,
                activation_kwargs={"omega": 30.0, "learnable_amplitude": True},
                first_activation_kwargs={"omega": 30.0, "learnable_amplitude": first_amplitude}).double()
    sines = [m for m in net.body if isinstance(m, Sine)]
    assert [s.log_amplitude is not None for s in sines] == [first_amplitude, True, True]
    with torch.no_grad():
        for s in sines:
            if s.log_amplitude is not None:
                s.log_amplitude.normal_(0.0, 1.5)
    x = torch.rand(256, 2, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(net(x), _unfused(net, x), rtol=1e-10, atol=1e-12)
    xr = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(_unfused(net, xr).sum(), xr)
    _, jac = net.forward_with_jacobian(x)
    torch.testing.assert_close(jac[:, 0], ref, rtol=1e-9, atol=1e-12)
    g_fused = torch.autograd.grad(net(x).square().sum(), list(net.parameters()))
    g_ref = torch.autograd.grad(_unfused(net, x).square().sum(), list(net.parameters()))
    for a, b in zip(g_fused, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    # the amplitudes leave the certificate unchanged: no gradient ascent finds a slope above the budget
    assert net.ledger().certified_bound == pytest.approx(20.0, rel=1e-6)
    xs = (torch.rand(2048, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    opt = torch.optim.Adam([xs], lr=0.01)
    for _ in range(100):
        (grad,) = torch.autograd.grad(net(xs).sum(), xs, create_graph=True)
        opt.zero_grad()
        (-grad.norm(dim=1).sum()).backward()
        opt.step()
    (grad,) = torch.autograd.grad(net(xs).sum(), xs)
    assert float(grad.norm(dim=1).max()) <= 20.0
