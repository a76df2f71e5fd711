"""INR bending energy: analytic values with correctly weighted mixed terms, zero on affine fields."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.losses import INRBendingEnergyLoss, bending_energy


def test_single_mixed_term_has_weight_two():
    # u(x, y) = x y: u_xy = u_yx = 1 -> 2 (IDIR's weighting would give 1)
    pts = torch.randn(8, 2, dtype=torch.float64)
    out = INRBendingEnergyLoss(reduction="none")(lambda p: (p[:, 0] * p[:, 1]).unsqueeze(-1), pts)
    torch.testing.assert_close(out, torch.full((8,), 2.0, dtype=torch.float64))


def test_quadratic_3d_field_hand_value():
    # u = (x² + 3 y z, 2 x z, y²/2 - x y):
    #   u0: u_xx = 2, u_yz = 3          -> 4 + 2*9 = 22
    #   u1: u_xz = 2                     -> 2*4 = 8
    #   u2: u_yy = 1, u_xy = -1          -> 1 + 2*1 = 3
    def fn(p):
        x, y, z = p.unbind(-1)
        return torch.stack([x * x + 3 * y * z, 2 * x * z, 0.5 * y * y - x * y], dim=-1)

    pts = torch.randn(5, 3)
    loss = INRBendingEnergyLoss(spatial_dims=3)
    assert float(loss(fn, pts)) == pytest.approx(33.0, rel=1e-6)
    assert float(INRBendingEnergyLoss(reduction="sum")(fn, pts)) == pytest.approx(5 * 33.0, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(d=st.sampled_from([2, 3]), o=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_random_quadratic_equals_frobenius_of_hessians(d, o, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(o, d, d, generator=g, dtype=torch.float64)
    a = a + a.transpose(1, 2)  # symmetric Hessians
    b = torch.randn(o, d, generator=g, dtype=torch.float64)

    def fn(p):  # u_o = ½ pᵀ A_o p + b_o·p
        return 0.5 * torch.einsum("nd,ode,ne->no", p, a, p) + p @ b.T

    pts = torch.randn(6, d, generator=g, dtype=torch.float64)
    out = INRBendingEnergyLoss(reduction="none")(fn, pts)
    diag = torch.diagonal(a, dim1=1, dim2=2).square().sum()
    off = torch.triu(a, diagonal=1).square().sum()
    torch.testing.assert_close(out, (diag + 2 * off).expand(6), rtol=1e-10, atol=1e-10)


def test_affine_fields_and_networks_have_zero_energy():
    pts = torch.randn(10, 3)
    assert float(INRBendingEnergyLoss()(lambda p: 2.0 * p + 1.0, pts)) == 0.0
    lin = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Linear(16, 3))
    assert float(INRBendingEnergyLoss()(lin, pts).detach()) == 0.0
    relu = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    assert float(INRBendingEnergyLoss()(relu, pts).detach()) == 0.0  # piecewise affine almost everywhere


def test_trains_network_parameters_and_gradcheck():
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    pts = torch.randn(7, 2, dtype=torch.float64)
    loss = INRBendingEnergyLoss()(net, pts)
    assert float(loss.detach()) > 0
    loss.backward()
    assert torch.count_nonzero(net[0].weight.grad) > 0

    w1 = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    crit = INRBendingEnergyLoss()
    assert torch.autograd.gradcheck(lambda a, b: crit(lambda p: torch.tanh(p @ a) @ b, pts), (w1, w2))


def test_bad_inputs():
    with pytest.raises(ValueError, match="reduction must be one of"):
        INRBendingEnergyLoss(reduction="max")
    with pytest.raises(ValueError, match="spatial_dims must be one of"):
        INRBendingEnergyLoss(spatial_dims=1)
    with pytest.raises(ValueError, match=r"points must have shape \(\*batch, 3\)"):
        INRBendingEnergyLoss(spatial_dims=3)(lambda p: p, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="points must be finite"):
        INRBendingEnergyLoss()(lambda p: p, torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="fn must be callable"):
        INRBendingEnergyLoss()(torch.zeros(3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"hessian must have shape \(\*batch, O, D, D\)"):
        bending_energy(torch.zeros(4, 3, 2))
