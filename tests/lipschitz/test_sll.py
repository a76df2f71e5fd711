"""SLL residual blocks and rectangular projections: target-Lipschitz for any parameters."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from monai_lipinr.lipschitz.base import CERTIFY_RTOL, LipschitzComponent
from monai_lipinr.lipschitz.constraints import BjorckConstraint, constraint_of
from monai_lipinr.lipschitz.sll import SLLBlock, SLLProjection, sll_diagonal
from monai_lipinr.lipschitz.spectral import spectral_norm_exact


def _max_jacobian_norm(fn, x: torch.Tensor) -> float:
    jac = torch.func.vmap(torch.func.jacrev(fn))(x)
    return float(torch.linalg.matrix_norm(jac.double(), ord=2).max())


def _max_pair_quotient(fn, x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest ‖f(x) − f(y)‖ / ‖x − y‖, each quotient reduced by its own float rounding allowance
    (``8·eps·(‖f(x)‖ + ‖f(y)‖)``: the outputs are only known to that accuracy)."""
    with torch.no_grad():
        fx, fy = fn(x), fn(y)
        eps = torch.finfo(fx.dtype).eps
        slack = (
            8
            * eps
            * (torch.linalg.vector_norm(fx.double(), dim=-1) + torch.linalg.vector_norm(fy.double(), dim=-1))
        )
        num = torch.linalg.vector_norm((fx.double() - fy.double()), dim=-1) - slack
        den = torch.linalg.vector_norm((x.double() - y.double()), dim=-1)
    return float((num / den).max())


@settings(max_examples=40, deadline=None)
@given(
    features=st.integers(1, 12),
    inner=st.integers(1, 16),
    target=st.floats(0.05, 20.0),
    weight_scale=st.floats(0.01, 10.0),
    q_scale=st.floats(0.0, 8.0),
    activation=st.sampled_from(["relu", "tanh"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**31 - 1),
)
def test_block_is_target_lipschitz_for_any_parameters(
    features, inner, target, weight_scale, q_scale, activation, dtype, seed
):
    torch.manual_seed(seed)
    block = SLLBlock(features, target=target, inner_features=inner, activation=activation).to(dtype)
    with torch.no_grad():
        block.weight.normal_(0.0, weight_scale)
        block.q_log.normal_(0.0, q_scale)  # q spans many orders of magnitude
        block.bias.normal_(0.0, 2.0)
    x = 2.0 * torch.randn(48, features, dtype=dtype)
    y = x + 0.3 * torch.randn(48, features, dtype=dtype)
    slack = 1e-5 if dtype == torch.float32 else 1e-10
    assert _max_jacobian_norm(block, x) <= target * (1 + slack)
    assert _max_pair_quotient(block, x, y) <= target * (1 + slack)
    assert block.sdp_margin() >= -1e-12
    assert block.lipschitz_bound() == target


def test_block_bound_is_attained():
    """With an inactive ReLU region the block is K·identity: the bound K is tight."""
    block = SLLBlock(6, target=2.5)
    with torch.no_grad():
        block.bias.fill_(-100.0)
    x = torch.randn(4, 6)
    assert _max_jacobian_norm(block, x) == pytest.approx(2.5, rel=1e-6)


def test_adversarially_trained_block_stays_target_lipschitz():
    torch.manual_seed(0)
    block = SLLBlock(16, target=1.5, inner_features=24)
    opt = torch.optim.Adam(block.parameters(), lr=0.05)
    x = torch.randn(128, 16)
    for _ in range(200):
        opt.zero_grad()
        y = x + 1e-2 * torch.randn_like(x)
        # maximise the difference quotient: the optimiser tries to make the block expansive
        loss = -((block(x) - block(y)).norm(dim=1) / (x - y).norm(dim=1)).mean()
        loss.backward()
        opt.step()
    probe = torch.randn(256, 16)
    assert _max_jacobian_norm(block, probe) <= 1.5 * (1 + 1e-5)
    assert block.sdp_margin() >= -1e-7


def test_exp_parametrisation_vs_abs_plus_eps():
    """The |q|+ε form (q_j from |q|, 1/q_i from 1/(|q_i|+ε)) under-sizes T and is not 1-Lipschitz;
    with the same W our q = exp(q̃) block is."""
    torch.manual_seed(0)
    dtype = torch.float64
    found = False
    for _ in range(200):
        w = torch.randn(4, 4, dtype=dtype)
        q = torch.rand(4, dtype=dtype) * torch.tensor([1e-3, 1.0, 1.0, 1.0], dtype=dtype)
        eps = 1e-2
        t_bad = ((w.T @ w).abs() @ q.abs()) / (q.abs() + eps)
        jac_bad = torch.eye(4, dtype=dtype) - 2.0 * w @ torch.diag(1.0 / t_bad) @ w.T  # all ReLUs active
        if float(torch.linalg.matrix_norm(jac_bad, ord=2)) > 1.0 + 1e-3:
            found = True
            block = SLLBlock(4, target=1.0).double()
            with torch.no_grad():
                block.weight.copy_(w)
                block.q_log.copy_(torch.log(q))
                block.bias.fill_(1e3)  # all ReLUs active: the block is affine
            assert _max_jacobian_norm(block, torch.randn(3, 4, dtype=dtype)) <= 1.0 + 1e-12
    assert found


def test_zero_safe_inverse():
    block = SLLBlock(5, inner_features=4).double()
    with torch.no_grad():
        block.weight[:, 1] = 0.0  # T_1 = 0
    t = sll_diagonal(block.weight, block.q_log)
    assert t[1] == 0 and (t[[0, 2, 3]] > 0).all()
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    block(x).square().sum().backward()
    for p in (block.weight, block.q_log, block.bias, x):
        assert torch.isfinite(p.grad).all()
    with torch.no_grad():
        block.weight.zero_()
    assert torch.allclose(block(x), x)  # W = 0: identity (times K = 1)


def test_extreme_q_is_finite():
    block = SLLBlock(6)
    with torch.no_grad():
        block.q_log.copy_(torch.tensor([-80.0, 80.0, 0.0, 30.0, -30.0, 5.0]))
    x = torch.randn(10, 6, requires_grad=True)
    out = block(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(block.q_log.grad).all()
    assert _max_jacobian_norm(block, x.detach()) <= 1.0 + 1e-5


def test_set_target_scales_the_block_and_gradients_flow():
    block = SLLBlock(8, target=1.0)
    x = torch.randn(5, 8)
    y1 = block(x).detach()
    block.set_lipschitz_target(3.0)
    assert block.lipschitz_bound() == 3.0 and block.certify()
    assert torch.allclose(block(x), 3.0 * y1, atol=1e-6)
    block(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    assert isinstance(block, LipschitzComponent) and block.budgetable


def test_block_accepts_extra_leading_dims():
    block = SLLBlock(4, inner_features=3)
    x = torch.randn(2, 5, 4)
    assert block(x).shape == (2, 5, 4)


@pytest.mark.parametrize("in_f,out_f", [(3, 64), (64, 64), (64, 1), (40, 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_projection_is_budget_exact(in_f, out_f, dtype):
    proj = SLLProjection(in_f, out_f, target=2.0).to(dtype).eval()
    c = proj.constraint
    assert isinstance(c, BjorckConstraint) and constraint_of(proj) is c
    sigma = spectral_norm_exact(proj.weight)
    assert sigma <= 2.0 * (1 + CERTIFY_RTOL) and sigma >= 2.0 * (1 - 1e-4)
    assert proj.lipschitz_bound() >= sigma * (1 - 1e-12) and c.certify()
    x = torch.randn(32, in_f, dtype=dtype)
    with torch.no_grad():
        y = proj(x) - proj(torch.zeros_like(x))
    ratio = torch.linalg.vector_norm(y, dim=1) / torch.linalg.vector_norm(x, dim=1)
    assert float(ratio.max()) <= 2.0 * (1 + 1e-5)
    if out_f >= in_f:  # widening: a K-scaled isometry
        assert torch.allclose(ratio, torch.full_like(ratio, 2.0), rtol=1e-4)
    proj.set_lipschitz_target(0.5)
    assert proj.lipschitz_bound() == pytest.approx(0.5, rel=1e-4)


def test_sll_network_end_to_end_bound():
    """projection → blocks → projection: the product of the targets bounds the whole map."""
    torch.manual_seed(1)
    net = nn.Sequential(
        SLLProjection(3, 32, target=2.0),
        SLLBlock(32, target=1.5),
        SLLBlock(32, target=0.8, inner_features=16),
        SLLProjection(32, 2, target=1.25),
    ).eval()
    comps = [m for m in net.modules() if isinstance(m, LipschitzComponent)]
    assert len(comps) == 4  # the projections count once (through their constraint)
    product = math.prod(c.lipschitz_bound() for c in comps)
    assert product <= 3.0 * (1 + 4 * CERTIFY_RTOL)
    x = torch.randn(256, 3)
    assert _max_jacobian_norm(net, x) <= product * (1 + 1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="features must be >= 1, got 0"):
        SLLBlock(0)
    with pytest.raises(TypeError, match="features must be an int"):
        SLLBlock(True)
    with pytest.raises(ValueError, match="inner_features must be >= 1"):
        SLLBlock(4, inner_features=0)
    for bad in (0.0, -2.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="target must be a finite number > 0"):
            SLLBlock(4, target=bad)
    with pytest.raises(ValueError, match="gelu"):
        SLLBlock(4, activation="gelu")
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\), got \(3, 5\)"):
        SLLBlock(4)(torch.randn(3, 5))
    with pytest.raises(ValueError, match="target must be a finite number > 0"):
        SLLBlock(4).set_lipschitz_target(-1.0)
    with pytest.raises(ValueError, match="out_features must be >= 1"):
        SLLProjection(3, 0)
    with pytest.raises(ValueError, match="target"):
        SLLProjection(3, 4, target=math.nan)
