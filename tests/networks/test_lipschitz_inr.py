from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from monai_lipinr.lipschitz.empirical import estimate_lipschitz
from monai_lipinr.networks.nets import (
    SIREN,
    FourierFeatureINR,
    GaussianINR,
    GroupSortMLP,
    HouseholderMLP,
    LipschitzINR,
    MaxMinMLP,
    PositionalEncodingMLP,
)

SMALL = {"hidden_features": 32, "num_layers": 2}


def _presets(constrained: bool):
    c = {} if constrained else {"constraint": None}
    b = {"budget": 2.0} if constrained else {}
    yield "siren", SIREN(3, 3, **SMALL, **c, **b)
    yield "ffn", FourierFeatureINR(3, 3, num_features=16, **SMALL, **c, **b)
    yield "gauss", GaussianINR(3, 3, a=0.5, **SMALL, **c, **b)
    yield "pe", PositionalEncodingMLP(3, 3, num_octaves=3, **SMALL, **c, **b)
    yield "groupsort", GroupSortMLP(3, 3, **SMALL, **c, **b)
    yield "maxmin", MaxMinMLP(3, 3, **SMALL, **c, **b)
    yield "householder", HouseholderMLP(3, 3, **SMALL, **c, **b)
    if constrained:
        yield "sll", LipschitzINR(3, 3, constraint="sll", budget=2.0, **SMALL)
        yield "spectral-relu-gain", LipschitzINR(3, 3, constraint="spectral", budget=2.0, output_gain=0.5, **SMALL)


def _autograd_jacobian(net, x):
    x = x.clone().requires_grad_(True)
    y = net(x)
    rows = [torch.autograd.grad(y[:, i].sum(), x, retain_graph=True)[0] for i in range(y.shape[1])]
    return y, torch.stack(rows, 1)


@pytest.mark.parametrize("constrained", [True, False])
def test_fast_jacobian_equals_autograd_on_every_preset(constrained):
    x = torch.rand(64, 3) * 2 - 1
    for name, net in _presets(constrained):
        y_fast, j_fast = net.forward_with_jacobian(x)
        y_ref, j_ref = _autograd_jacobian(net, x)
        torch.testing.assert_close(y_fast, y_ref, atol=1e-5, rtol=1e-5, msg=f"value {name}")
        torch.testing.assert_close(j_fast, j_ref, atol=1e-5, rtol=1e-4, msg=f"jacobian {name}")


def test_fast_jacobian_is_differentiable():
    net = SIREN(3, 3, budget=2.0, **SMALL)
    x = torch.rand(32, 3) * 2 - 1
    _, j = net.forward_with_jacobian(x)
    _, j_ref = _autograd_jacobian(net, x)
    g_fast = torch.autograd.grad(j.square().sum(), [p for p in net.parameters() if p.requires_grad], allow_unused=True)
    xr = x.clone().requires_grad_(True)
    y = net(xr)
    rows = [torch.autograd.grad(y[:, i].sum(), xr, create_graph=True)[0] for i in range(3)]
    g_ref = torch.autograd.grad(torch.stack(rows, 1).square().sum(), [p for p in net.parameters() if p.requires_grad],
                                allow_unused=True)
    for a, b in zip(g_fast, g_ref):
        if a is None or b is None:
            assert a is None and b is None or float((a if a is not None else b).abs().max()) == 0.0
            continue
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("allocation", ["uniform", "first_heavy", "exponential", "cosine", "linear"])
def test_ledger_certifies_budget(allocation):
    for name, net in _presets(True):
        net.set_budget(3.0, allocation)
        ledger = net.ledger()
        assert ledger.certified_bound <= 3.0 * (1 + 1e-3), f"{name}: {ledger.to_markdown()}"
        assert all(r.within_target for r in ledger.rows), name
        # the empirical constant is a lower bound of the certified one
        est = estimate_lipschitz(net, lambda n: torch.rand(n, 3) * 2 - 1, num_starts=8, num_steps=10)
        assert est.value <= ledger.certified_bound * (1 + 1e-4), name


def test_budget_is_used_not_just_bounded():
    # GNP network (Björck + GroupSort, no embedding): certified bound equals the budget exactly
    net = GroupSortMLP(3, 3, budget=2.0, **SMALL)
    assert abs(net.ledger().certified_bound - 2.0) < 2e-3


def test_set_budget_midtraining_and_state_dict_roundtrip():
    net = SIREN(3, 3, budget=2.0, allocation="uniform", **SMALL)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(128, 3) * 2 - 1
    for step in range(5):
        loss = (net(x) - x.flip(1)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 2:
            net.set_budget(1.5, "exponential", k_min=1.0)
    assert net.budget == 1.5 and net.allocation == "exponential"
    assert net.ledger().certified_bound <= 1.5 * (1 + 1e-3)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    other = SIREN(3, 3, budget=4.0, allocation="uniform", **SMALL)
    other.load_state_dict(torch.load(buf))
    assert other.budget == 1.5 and other.allocation == "exponential"
    net.eval()
    other.eval()
    torch.testing.assert_close(other(x), net(x))


def test_float64_and_shapes():
    net = MaxMinMLP(2, 1, budget=1.0, **SMALL).double()
    x = torch.rand(5, 7, 2, dtype=torch.float64)
    assert net(x).shape == (5, 7, 1) and net(x).dtype == torch.float64


def test_torch_compile():
    net = LipschitzINR(3, 3, constraint=None, **SMALL)
    compiled = torch.compile(net, backend="eager")
    x = torch.rand(16, 3)
    torch.testing.assert_close(compiled(x), net(x))


def test_unconstrained_ledger_bills_sigma_max():
    net = SIREN(3, 3, constraint=None, **SMALL)
    ledger = net.ledger()
    linears = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    sigmas = [float(torch.linalg.matrix_norm(m.weight.detach().double(), 2)) for m in linears]
    billed = [r.lipschitz for r in ledger.rows if r.target is None and "linear" in r.kind]
    assert len(billed) == len(sigmas)
    for b, s in zip(billed, sigmas):
        assert b >= s and b <= s * (1 + 1e-6)
    expected = 1.0
    for r in ledger.rows:
        expected *= r.lipschitz
    assert abs(ledger.certified_bound / expected - 1) < 1e-12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spatial_dims": 0}, "spatial_dims"),
        ({"constraint": "bjorck", "budget": None}, "budget"),
        ({"constraint": None, "budget": 2.0}, "constraint"),
        ({"budget": -1.0}, "total"),
        ({"activation": "swish"}, "swish"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"spatial_dims": 3, "out_channels": 3, "budget": 2.0, **SMALL, **kwargs}
    with pytest.raises(ValueError, match=match):
        LipschitzINR(**args)


def test_bad_points():
    net = LipschitzINR(3, 3, budget=2.0, **SMALL)
    with pytest.raises(ValueError, match="spatial_dims=3"):
        net(torch.rand(4, 2))
    with pytest.raises(TypeError, match="torch.Tensor"):
        net([[0.0, 0.0, 0.0]])


def test_output_ceiling_starts_at_zero_and_certifies():
    net = SIREN(3, 3, budget=2.0, allocation="exponential", output_ceiling=True, **SMALL)
    x = torch.rand(32, 3) * 2 - 1
    assert float(net(x).abs().max()) == 0.0  # identity transform at initialisation
    ledger = net.ledger()
    assert ledger.rows[-1].kind == "linear/spectral-ceiling"
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    target = 10.0 * x  # far steeper than the budget allows: the ceiling must hold
    for _ in range(30):
        loss = (net(x) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert net.ledger().certified_bound <= 2.0 * (1 + 1e-3)
    assert float(net(x).abs().max()) > 0.0


def test_forward_with_jacobian_on_a_subset_of_points():
    torch.manual_seed(0)
    net = SIREN(3, 3, hidden_features=16, num_layers=2, constraint="bjorck", budget=2.0).double().eval()
    x = torch.rand(20, 3, dtype=torch.float64)
    u_all, j_all = net.forward_with_jacobian(x)
    u, j = net.forward_with_jacobian(x, jacobian_points=7)
    assert u.shape == (20, 3) and j.shape == (7, 3, 3)
    torch.testing.assert_close(u, u_all)
    torch.testing.assert_close(j, j_all[:7])
    assert net.forward_with_jacobian(x, jacobian_points=50)[1].shape == (20, 3, 3)
    for bad in (0, -3, 2.5, True, "5"):
        with pytest.raises(ValueError, match="jacobian_points"):
            net.forward_with_jacobian(x, jacobian_points=bad)


def _fit_steps(net, steps=40, lr=3e-2):
    torch.manual_seed(1)
    x = torch.rand(256, 2) * 2 - 1
    y = torch.sin(8 * x[:, :1]) * torch.cos(5 * x[:, 1:])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = (net(x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return x


@pytest.mark.parametrize("constraint", ["bjorck", "spectral"])
def test_learnable_allocation_moves_budget_but_keeps_the_product(constraint):
    net = LipschitzINR(2, 1, constraint=constraint, budget=50.0, allocation="first_heavy", activation="sine",
                       learnable_allocation=True, output_ceiling=True, **SMALL)
    initial = torch.exp(net.stage_log_shares()).detach()
    assert net.allocation_offsets.dtype == torch.get_default_dtype()
    x = _fit_steps(net)
    assert net.allocation_offsets.grad is not None and float(net.allocation_offsets.grad.abs().sum()) > 0
    shares = torch.exp(net.stage_log_shares()).detach()
    assert not torch.allclose(shares, initial, rtol=1e-3)  # the split moved
    assert float(shares.prod()) == pytest.approx(50.0, rel=1e-12)  # ... but not the total
    ledger = net.ledger()
    assert ledger.within_budget and ledger.certified_bound <= 50.0 * (1 + 1e-3)
    torch.testing.assert_close(torch.tensor(net._stage_targets(), dtype=torch.float64), shares)
    # the bound target tensors belong to one graph and are released after the pass
    assert all(m.__dict__.get("_target_tensor") is None for m in net.modules() if hasattr(m, "bind_target_tensor"))
    net.eval()
    with torch.no_grad():
        reference = net(x)
    assert net.forward_with_jacobian(x[:4])[1].shape == (4, 1, 2)
    copied = copy.deepcopy(net)
    torch.testing.assert_close(copied(x), reference)
    other = LipschitzINR(2, 1, constraint=constraint, budget=50.0, allocation="first_heavy", activation="sine",
                         learnable_allocation=True, output_ceiling=True, **SMALL)
    other.load_state_dict(net.state_dict())
    other.eval()
    torch.testing.assert_close(torch.exp(other.stage_log_shares()).detach(), shares)
    with torch.no_grad():
        torch.testing.assert_close(other(x), reference)


def test_learnable_allocation_offsets_carry_over_a_new_budget():
    net = SIREN(2, 1, budget=8.0, learnable_allocation=True, **SMALL)
    _fit_steps(net, steps=10)
    log_before = net.stage_log_shares().detach()
    shares = net.set_budget(4.0)
    assert float(shares.prod()) == pytest.approx(4.0, rel=1e-12)
    # uniform split: halving K lowers every log share by log(2)/n, the learned offsets stay
    torch.testing.assert_close(net.stage_log_shares().detach(), log_before - math.log(2.0) / len(shares))


def test_learnable_allocation_needs_a_weight_constraint():
    with pytest.raises(ValueError, match="learnable_allocation"):
        LipschitzINR(2, 1, constraint="sll", budget=2.0, learnable_allocation=True, **SMALL)
    with pytest.raises(ValueError, match="learnable_allocation"):
        LipschitzINR(2, 1, constraint=None, learnable_allocation=True, **SMALL)
    with pytest.raises(TypeError, match="learnable_allocation"):
        LipschitzINR(2, 1, budget=2.0, learnable_allocation="yes", **SMALL)
