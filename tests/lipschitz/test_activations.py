from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.lipschitz.activations import Gaussian, GroupSort, Householder, MaxMin, Sine
from monai_lipinr.lipschitz.base import LipschitzComponent

DTYPES = [torch.float32, torch.float64]


def jacobian(module, x: torch.Tensor) -> torch.Tensor:
    """Full Jacobian of ``module`` at ``x`` as a (numel_out, numel_in) matrix."""
    jac = torch.autograd.functional.jacobian(module, x)
    return jac.reshape(module(x).numel(), x.numel())


# ---------------------------------------------------------------- Sine / Gaussian


@pytest.mark.parametrize("dtype", DTYPES)
def test_sine_forward_and_bound_reached(dtype):
    omega = 7.5
    act = Sine(omega)
    x = torch.linspace(-1, 1, 2001, dtype=dtype)
    torch.testing.assert_close(act(x), torch.sin(omega * x))
    assert act(x).dtype == dtype
    assert act.lipschitz_bound() == omega and act.lipschitz_kind == "activation/sine"
    xg = x.clone().requires_grad_(True)
    (d,) = torch.autograd.grad(act(xg).sum(), xg)
    assert float(d.abs().max()) == pytest.approx(omega, rel=1e-6)  # reached at x = 0
    assert float(d.abs().max()) <= omega * (1 + 1e-6)


def test_sine_budgetable_target_sets_omega_and_persists():
    act = Sine(30.0, budgetable=True)
    assert act.lipschitz_target is None and act.budgetable
    act.set_lipschitz_target(4.25)
    assert act.omega == 4.25 and act.lipschitz_bound() == 4.25 and act.lipschitz_target == 4.25
    assert act.certify()
    fresh = Sine(30.0, budgetable=True)
    fresh.load_state_dict(act.state_dict())
    assert fresh.omega == 4.25 and fresh.lipschitz_target == 4.25


def test_fixed_activations_reject_targets():
    with pytest.raises(TypeError, match="fixed Lipschitz"):
        Sine(3.0).set_lipschitz_target(2.0)
    with pytest.raises(TypeError, match="fixed Lipschitz"):
        Gaussian(1.0).set_lipschitz_target(2.0)
    with pytest.raises(TypeError, match="fixed Lipschitz"):
        MaxMin().set_lipschitz_target(2.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_hyperparameters_raise(bad):
    with pytest.raises(ValueError, match="omega"):
        Sine(bad)
    with pytest.raises(ValueError, match="a must"):
        Gaussian(bad)
    with pytest.raises(ValueError, match="target"):
        Sine(1.0, budgetable=True).set_lipschitz_target(bad)
    with pytest.raises(ValueError, match="target"):
        Gaussian(1.0, budgetable=True).set_lipschitz_target(bad)


def test_type_errors_name_the_argument():
    with pytest.raises(TypeError, match="omega"):
        Sine("30")
    with pytest.raises(TypeError, match="budgetable"):
        Sine(1.0, budgetable=1)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0.05, 20.0))
def test_gaussian_bound_reached_at_a(a):
    act = Gaussian(a).double()
    x = torch.tensor([a, -a, 0.3 * a, 3.0 * a], dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(act(x).sum(), x)
    bound = act.lipschitz_bound()
    assert bound == pytest.approx(1.0 / (a * math.sqrt(math.e)), rel=1e-14)
    np.testing.assert_allclose(d[:2].abs().numpy(), bound, rtol=1e-12)
    assert torch.all(d[2:].abs() < bound)


def test_gaussian_budgetable_target_sets_width():
    act = Gaussian(budgetable=True)
    act.set_lipschitz_target(3.0)
    assert act.a == pytest.approx(1.0 / (3.0 * math.sqrt(math.e)))
    assert act.lipschitz_bound() == pytest.approx(3.0, rel=1e-14)
    x = torch.tensor([act.a], dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(act(x).sum(), x)
    assert abs(float(d)) == pytest.approx(3.0, rel=1e-12)


# ---------------------------------------------------------------- MaxMin / GroupSort


def _reference_maxmin(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i in range(0, x.shape[1], 2):
        a, b = x[:, i], x[:, i + 1]
        out[:, i], out[:, i + 1] = torch.maximum(a, b), torch.minimum(a, b)
    return out


@pytest.mark.parametrize("shape", [(5, 8), (3, 6, 4, 4), (2, 4, 3, 2, 2)])
def test_maxmin_is_true_pairwise_max_min(shape):
    x = torch.randn(shape)
    y = MaxMin()(x)
    assert y.shape == x.shape  # channel count unchanged (not CReLU)
    torch.testing.assert_close(y, _reference_maxmin(x), rtol=0, atol=0)


def test_maxmin_channel_last_and_errors():
    x = torch.randn(4, 10, 6)
    torch.testing.assert_close(MaxMin(dim=-1)(x), MaxMin(dim=1)(x.movedim(-1, 1)).movedim(1, -1))
    with pytest.raises(ValueError, match="5 channels"):
        MaxMin()(torch.randn(3, 5))
    with pytest.raises(ValueError, match="dim=3"):
        MaxMin(dim=3)(torch.randn(3, 4))
    with pytest.raises(TypeError, match="dim"):
        MaxMin(dim=1.0)


@settings(max_examples=40, deadline=None)
@given(
    group_size=st.integers(1, 5),
    groups=st.integers(1, 4),
    batch=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 2**16),
)
def test_groupsort_sorts_each_group(group_size, groups, batch, spatial, seed):
    g = torch.Generator().manual_seed(seed)
    c = group_size * groups
    x = torch.randn(batch, c, *spatial, generator=g)
    y = GroupSort(group_size)(x)
    assert y.shape == x.shape
    xg, yg = x.unflatten(1, (groups, group_size)), y.unflatten(1, (groups, group_size))
    assert torch.all(yg[:, :, :-1] >= yg[:, :, 1:])  # descending within every group
    torch.testing.assert_close(yg, torch.sort(xg, dim=2, descending=True).values, rtol=0, atol=0)


def test_groupsort_two_is_maxmin_and_errors():
    x = torch.randn(6, 12, 3)
    torch.testing.assert_close(GroupSort(2)(x), MaxMin()(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="group_size=5 must divide the channel count, got 12"):
        GroupSort(5)(x)
    with pytest.raises(ValueError, match="group_size"):
        GroupSort(0)


# ---------------------------------------------------------------- Householder


def _reference_householder_full(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = []
    for row in z:
        p = torch.dot(v, row)
        out.append(row if p > 0 else row - 2 * p * v / torch.dot(v, v))
    return torch.stack(out)


def test_householder_matches_definition_full_vector():
    c = 6
    act = Householder(c, group_size=c).double()
    with torch.no_grad():
        act.v.copy_(torch.randn(1, c))
    z = torch.randn(50, c, dtype=torch.float64)
    torch.testing.assert_close(act(z), _reference_householder_full(z, act.v[0].detach()))


def test_householder_default_is_maxmin_and_learnable():
    x = torch.randn(7, 8)
    act = Householder(8)
    torch.testing.assert_close(act(x), MaxMin()(x), rtol=0, atol=1e-6)
    act(x).square().sum().backward()
    assert act.v.grad is not None and torch.isfinite(act.v.grad).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 6), (2, 6, 3, 3), (2, 6, 2, 2, 2)])
def test_householder_nd_inputs(shape, dtype):
    act = Householder(6).to(dtype)
    with torch.no_grad():
        act.v.normal_()
    x = torch.randn(shape, dtype=dtype)
    with torch.no_grad():
        y = act(x)
    assert y.shape == x.shape and y.dtype == dtype
    # channel-first equals applying the same map to the channel-last view
    act_last = Householder(6, dim=-1).to(dtype)
    act_last.load_state_dict(act.state_dict())
    torch.testing.assert_close(y, act_last(x.movedim(1, -1)).movedim(-1, 1))
    # non-expansive on pairs of inputs, norm-preserving per sample (each piece is orthogonal)
    x2 = torch.randn(shape, dtype=dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    with torch.no_grad():
        assert float((act(x2) - y).norm()) <= float((x2 - x).norm()) * (1 + tol)
    torch.testing.assert_close(y.norm(dim=1), x.norm(dim=1))


def test_householder_zero_vector_is_identity_and_errors():
    act = Householder(4)
    with torch.no_grad():
        act.v.zero_()
    x = torch.randn(3, 4)
    torch.testing.assert_close(act(x), x)
    with pytest.raises(ValueError, match="expected 4 channels"):
        act(torch.randn(3, 6))
    with pytest.raises(ValueError, match="group_size=3 must divide features=4"):
        Householder(4, group_size=3)
    with pytest.raises(ValueError, match="dim=2"):
        Householder(4, dim=2)(torch.randn(3, 4))


# ---------------------------------------------------------------- gradient-norm preservation


def _gnp_modules():
    hh_pairs = Householder(6).double()
    hh_full = Householder(6, group_size=6).double()
    hh_three = Householder(6, group_size=3).double()
    for m in (hh_pairs, hh_full, hh_three):
        with torch.no_grad():
            m.v.normal_()
    return [MaxMin(), GroupSort(3), GroupSort(6), hh_pairs, hh_full, hh_three]


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("shape", [(1, 6), (1, 6, 2, 2)])
def test_gnp_jacobian_is_orthogonal(index, shape):
    module = _gnp_modules()[index]
    assert isinstance(module, LipschitzComponent) and module.lipschitz_bound() == 1.0
    for _ in range(5):
        x = torch.randn(shape, dtype=torch.float64)
        jac = jacobian(module, x)
        # JᵀJ = I: ‖J v‖ = ‖v‖ for every v (gradient-norm preserving, Lipschitz exactly 1)
        torch.testing.assert_close(jac.T @ jac, torch.eye(x.numel(), dtype=torch.float64))
        v = torch.randn_like(x)
        _, jv = torch.autograd.functional.jvp(module, x, v)
        assert float(jv.norm()) == pytest.approx(float(v.norm()), rel=1e-12)


# ---------------------------------------------------------------- Sine with learned channel amplitudes


def test_amplitude_sine_starts_as_the_plain_sine_and_keeps_its_bound():
    act = Sine(4.0, features=6, learnable_amplitude=True)
    x = torch.randn(32, 6, dtype=torch.float64)
    torch.testing.assert_close(act(x), torch.sin(4.0 * x).float(), check_dtype=False)
    with torch.no_grad():
        act.log_amplitude.copy_(torch.linspace(-2.0, 2.0, 6))
    a = torch.exp(act.log_amplitude.detach()).double()
    torch.testing.assert_close(act(x), a * torch.sin(4.0 * x / a), check_dtype=False)
    # the slope ω cos(ω x / a) stays within ω for every amplitude: the bound is still exact
    xg = torch.linspace(-3, 3, 4001).unsqueeze(1).repeat(1, 6).requires_grad_(True)
    (d,) = torch.autograd.grad(act(xg).sum(), xg)
    assert float(d.abs().max()) <= 4.0 * (1 + 1e-6)
    assert float(d.abs().max()) == pytest.approx(4.0, rel=1e-4)  # reached at x = 0
    assert act.lipschitz_bound() == 4.0
    # the amplitudes train and travel with the state dict
    fresh = Sine(4.0, features=6, learnable_amplitude=True)
    fresh.load_state_dict(act.state_dict())
    torch.testing.assert_close(fresh(x), act(x))
    (g,) = torch.autograd.grad(act(x.float()).sum(), act.log_amplitude)
    assert torch.count_nonzero(g) == 6


def test_amplitude_sine_broadcasts_over_the_channel_axis():
    act = Sine(2.0, features=3, learnable_amplitude=True)
    with torch.no_grad():
        act.log_amplitude.copy_(torch.tensor([0.0, 1.0, -1.0]))
    x = torch.randn(2, 3, 5, 4)
    a = torch.exp(act.log_amplitude.detach()).reshape(1, 3, 1, 1)
    torch.testing.assert_close(act(x), a * torch.sin(2.0 * x / a))


def test_amplitude_sine_argument_errors():
    with pytest.raises(ValueError, match="features"):
        Sine(1.0, learnable_amplitude=True)
    with pytest.raises(ValueError, match="features must be >= 1"):
        Sine(1.0, features=0, learnable_amplitude=True)
    with pytest.raises(TypeError, match="learnable_amplitude"):
        Sine(1.0, features=3, learnable_amplitude=1)
    assert Sine(1.0, features=3).log_amplitude is None  # features alone adds no parameter
