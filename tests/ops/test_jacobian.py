"""Autograd Jacobian/Hessian against analytic derivatives; closed-form determinants."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.ops import (
    deformation_determinant,
    deformation_jacobian,
    hessian_autograd,
    jacobian_autograd,
    jacobian_determinant,
)

DTYPES = (torch.float32, torch.float64)


def field(p: torch.Tensor) -> torch.Tensor:
    """f(x, y, z) = (x² y, x sin z, exp(y) + z)."""
    x, y, z = p.unbind(-1)
    return torch.stack([x * x * y, x * torch.sin(z), torch.exp(y) + z], dim=-1)


def field_jacobian(p: torch.Tensor) -> torch.Tensor:
    x, y, z = p.unbind(-1)
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows = [
        torch.stack([2 * x * y, x * x, zero], -1),
        torch.stack([torch.sin(z), zero, x * torch.cos(z)], -1),
        torch.stack([zero, torch.exp(y), one], -1),
    ]
    return torch.stack(rows, dim=-2)


def field_hessian(p: torch.Tensor) -> torch.Tensor:
    x, y, z = p.unbind(-1)
    h = torch.zeros(*p.shape[:-1], 3, 3, 3, dtype=p.dtype)
    h[..., 0, 0, 0] = 2 * y
    h[..., 0, 0, 1] = h[..., 0, 1, 0] = 2 * x
    h[..., 1, 0, 2] = h[..., 1, 2, 0] = torch.cos(z)
    h[..., 1, 2, 2] = -x * torch.sin(z)
    h[..., 2, 1, 1] = torch.exp(y)
    return h


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [(17,), (2, 5)])
def test_jacobian_autograd_matches_analytic(dtype, batch):
    p = torch.randn(*batch, 3, dtype=dtype)
    values, jac = jacobian_autograd(field, p)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert values.shape == (*batch, 3) and jac.shape == (*batch, 3, 3)
    assert jac.dtype == dtype and jac.device == p.device
    torch.testing.assert_close(values, field(p), rtol=tol, atol=tol)
    torch.testing.assert_close(jac, field_jacobian(p), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hessian_autograd_matches_analytic(dtype):
    p = torch.randn(11, 3, dtype=dtype)
    values, jac, hess = hessian_autograd(field, p)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert hess.shape == (11, 3, 3, 3)
    torch.testing.assert_close(jac, field_jacobian(p), rtol=tol, atol=tol)
    torch.testing.assert_close(hess, field_hessian(p), rtol=tol, atol=tol)
    assert not jac.requires_grad and not hess.requires_grad


def test_affine_and_constant_callables_give_zero_derivatives():
    a = torch.randn(3, 2, dtype=torch.float64)
    p = torch.randn(6, 3, dtype=torch.float64)
    _, jac, hess = hessian_autograd(lambda x: x @ a + 1.0, p)
    torch.testing.assert_close(jac, a.T.expand(6, 2, 3))
    assert torch.count_nonzero(hess) == 0
    _, jac = jacobian_autograd(lambda x: torch.ones(x.shape[0], 2, dtype=x.dtype), p)
    assert jac.shape == (6, 2, 3) and torch.count_nonzero(jac) == 0


def test_create_graph_controls_differentiability_and_no_grad_context():
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    p = torch.randn(5, 2)
    values, jac = jacobian_autograd(net, p, create_graph=True)
    assert jac.requires_grad
    jac.square().sum().backward()
    assert net[0].weight.grad is not None and torch.count_nonzero(net[0].weight.grad) > 0
    values, jac = jacobian_autograd(net, p, create_graph=False)
    assert not jac.requires_grad and values.requires_grad  # values keep their graph
    with torch.no_grad():
        _, jac_ng = jacobian_autograd(net, p)
    torch.testing.assert_close(jac_ng, jac)
    assert not p.requires_grad  # the caller's tensor is untouched


def test_differentiable_points_keep_their_graph():
    theta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    p = theta * torch.ones(4, 3, dtype=torch.float64)
    _, jac = jacobian_autograd(field, p, create_graph=True)
    # d/dtheta of J[0, 0] = 2 x y with x = y = theta -> 4 theta
    (g,) = torch.autograd.grad(jac[..., 0, 0].sum(), theta)
    torch.testing.assert_close(g, torch.tensor(4 * 4 * 0.7, dtype=torch.float64))


@settings(max_examples=50, deadline=None)
@given(d=st.sampled_from([2, 3]), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_determinant_matches_linalg(d, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(4, 5, d, d, generator=g, dtype=dtype)
    det = jacobian_determinant(m)
    assert det.shape == (4, 5) and det.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(det, torch.linalg.det(m), rtol=tol, atol=tol)


def test_determinant_hand_values_and_deformation():
    assert float(jacobian_determinant(torch.tensor([[2.0, 1.0], [3.0, 4.0]]))) == 5.0
    m = torch.tensor([[2.0, 0.0, 1.0], [1.0, 3.0, 0.0], [0.0, 1.0, 1.0]])
    assert float(jacobian_determinant(m)) == 2 * 3 - 0 + 1 * 1
    grad_u = torch.full((3, 3), 0.0)
    torch.testing.assert_close(deformation_jacobian(grad_u), torch.eye(3))
    # u = -2.5 x in 3D folds: det(I - 2.5 I) = (-1.5)^3
    assert float(deformation_determinant(-2.5 * torch.eye(3))) == pytest.approx(-3.375)
    # in 2D the same uniform field does not fold (det = 2.25); folding along one axis does
    assert float(deformation_determinant(-2.5 * torch.eye(2))) == pytest.approx(2.25)
    assert float(deformation_determinant(torch.diag(torch.tensor([-2.5, 0.0])))) == pytest.approx(-1.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="points must be finite"):
        jacobian_autograd(field, torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(TypeError, match="points must be a floating-point"):
        jacobian_autograd(field, torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="points must be a torch.Tensor"):
        jacobian_autograd(field, [[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match=r"fn must map points .* \(N, 1\)"):
        jacobian_autograd(lambda x: x.sum(-1), torch.zeros(4, 3))
    with pytest.raises(TypeError, match="fn must return a torch.Tensor"):
        jacobian_autograd(lambda x: 1.0, torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"jac must describe a 2D or 3D field.*4 spatial dims"):
        jacobian_determinant(torch.eye(4))
    with pytest.raises(ValueError, match=r"jac must have shape \(\*batch, D, D\)"):
        jacobian_determinant(torch.zeros(5, 3, 2))
    with pytest.raises(ValueError, match="displacement_jacobian must be finite"):
        deformation_jacobian(torch.full((2, 2), float("inf")))
