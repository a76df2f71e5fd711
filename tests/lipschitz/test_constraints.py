"""K-scaled weight constraints: no overshoot after adversarial training, certification, API, errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.base import CERTIFY_RTOL, LipschitzComponent
from monai_lipinr.lipschitz.constraints import (
    BjorckConstraint,
    SpectralNormConstraint,
    bjorck_orthogonalize,
    constrain_linear,
    constraint_of,
    lipschitz_linear,
    register_retraction,
    retract_constraints,
)
from monai_lipinr.lipschitz.spectral import spectral_norm_exact

METHODS = ("spectral", "bjorck")


def _adversarial_training(layer: nn.Linear, steps: int, lr: float, retraction: bool = False) -> None:
    """An optimiser that tries to make the layer as large as possible (output growth + weight norm)."""
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    if retraction:
        register_retraction(opt, layer)
    x = torch.randn(64, layer.in_features, dtype=layer.weight.dtype)
    for step in range(steps):
        opt.zero_grad()
        w = layer.weight
        # alternate between blowing up the output and blowing up the weight (Frobenius and top direction)
        if step % 2:
            loss = -layer(x).square().sum()
        else:
            loss = -w.square().sum() - 10.0 * torch.linalg.matrix_norm(w, ord=2)
        loss.backward()
        opt.step()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,target", [((24, 24), 0.7), ((40, 12), 3.5), ((9, 33), 1.0)])
def test_adversarial_training_never_overshoots(method, dtype, shape, target):
    torch.manual_seed(1)
    out_f, in_f = shape
    layer = lipschitz_linear(in_f, out_f, method=method, target=target).to(dtype)
    _adversarial_training(layer, steps=300, lr=0.05)
    layer.eval()
    constraint = constraint_of(layer)
    sigma = spectral_norm_exact(layer.weight)
    bound = constraint.lipschitz_bound()
    assert sigma <= target * (1 + CERTIFY_RTOL)
    assert bound >= sigma * (1 - 1e-12)  # certified: never below the truth
    assert bound <= target * (1 + CERTIFY_RTOL)
    assert constraint.certify()
    # and the constraint is tight: the budget is spent, not wasted
    assert sigma >= target * (1 - 1e-3)


def test_bjorck_with_retraction_stays_certified_and_cheap():
    torch.manual_seed(2)
    layer = lipschitz_linear(32, 32, method="bjorck", target=2.0)
    _adversarial_training(layer, steps=300, lr=0.02, retraction=True)
    c = constraint_of(layer)
    assert c.last_iterations <= 3
    layer.eval()
    assert spectral_norm_exact(layer.weight) <= 2.0 * (1 + CERTIFY_RTOL)
    assert c.certify()
    s = torch.linalg.svdvals(layer.weight.detach().double())
    assert float(s.min()) >= 2.0 * (1 - 1e-3)  # still orthogonal: every direction carries the budget


def test_training_weight_matches_inference_weight_after_training():
    """On an ordinary fit whose optimum lies outside the ball (the constraint is active), the weight the
    layer trains with and the certified inference weight agree: exactly (up to rounding) for spectral
    normalisation, to the orthogonality tolerance for Björck (its non-converged singular values depend
    on the start scale, which moves with the power vectors).

    (Under the adversarial loss above, the power-iteration estimate of the training weight can lag by
    several percent; that is exactly why inference uses the certified bound.)"""
    torch.manual_seed(3)
    x = torch.randn(256, 20)
    y = torch.tanh(x @ (3.0 * torch.randn(30, 20)).T)
    for method in METHODS:
        layer = lipschitz_linear(20, 30, method=method, target=1.5)
        opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
        for _ in range(200):
            opt.zero_grad()
            (layer(x) - y).square().mean().backward()
            opt.step()
        with torch.no_grad():
            w_train = layer.weight.clone()
            layer.eval()
            w_eval = layer.weight.clone()
        assert spectral_norm_exact(w_train) > 1.5 * (1 - 1e-4)  # the constraint is active
        assert spectral_norm_exact(w_eval) <= 1.5 * (1 + 1e-12)
        rel = 1e-5 if method == "spectral" else 1e-3
        assert torch.allclose(w_train, w_eval, rtol=0, atol=rel * float(w_eval.abs().max())), method


@pytest.mark.parametrize("method", METHODS)
def test_gradients_flow(method):
    layer = lipschitz_linear(6, 5, method=method, target=2.0)
    x = torch.randn(10, 6, requires_grad=True)
    layer(x).sin().sum().backward()
    g = layer.parametrizations.weight.original.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("method", METHODS)
def test_bound_target_tensor_scales_the_weight_and_receives_the_gradient(method):
    torch.manual_seed(2)
    layer = lipschitz_linear(6, 5, method=method, target=1.5)
    c = constraint_of(layer)
    x = torch.randn(10, 6)
    reference = layer(x).detach()
    share = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    c.bind_target_tensor(share)
    out = layer(x)
    assert out.dtype == x.dtype  # a float64 share does not promote the float32 weight
    torch.testing.assert_close(out.detach(), reference)
    out.sum().backward()
    # the map is linear in the target: d/dK sum(y - b) = sum(y - b) / K
    bias = layer.bias.detach()
    assert float(share.grad) == pytest.approx(float((reference - bias).sum()) / 1.5, rel=1e-4)
    c.bind_target_tensor(None)
    assert c._target() == 1.5
    for bad in (torch.ones(2), 1.5, "1.5"):
        with pytest.raises(ValueError, match="0-dim"):
            c.bind_target_tensor(bad)

@pytest.mark.parametrize("method", METHODS)
def test_gradient_matches_finite_differences(method):
    torch.manual_seed(4)
    layer = (
        lipschitz_linear(5, 4, method=method, target=1.3, tol=1e-10)
        if method == "bjorck"
        else (lipschitz_linear(5, 4, method=method, target=1.3, num_iterations=50))
    )
    layer = layer.double()
    raw = layer.parametrizations.weight.original
    with torch.no_grad():
        raw.add_(0.1 * torch.randn_like(raw))
    x = torch.randn(7, 5, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return (layer(x) ** 3).sum()

    loss().backward()
    grad = raw.grad.clone()
    direction = torch.randn_like(raw)
    h = 1e-6
    with torch.no_grad():
        raw.add_(h * direction)
        lp = float(loss())
        raw.sub_(2 * h * direction)
        lm = float(loss())
        raw.add_(h * direction)
    fd = (lp - lm) / (2 * h)
    assert float((grad * direction).sum()) == pytest.approx(fd, rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_set_lipschitz_target_changes_the_bound(method):
    layer = lipschitz_linear(16, 16, method=method, target=1.0).eval()
    c = constraint_of(layer)
    assert c.lipschitz_bound() == pytest.approx(1.0, rel=1e-3)
    c.set_lipschitz_target(0.25)
    assert c.lipschitz_target == 0.25
    assert c.lipschitz_bound() == pytest.approx(0.25, rel=1e-3)
    assert spectral_norm_exact(layer.weight) == pytest.approx(0.25, rel=1e-3)
    with pytest.raises(ValueError, match="target"):
        c.set_lipschitz_target(-1.0)
    with pytest.raises(ValueError, match="target"):
        c.set_lipschitz_target(float("inf"))


@pytest.mark.parametrize("method", METHODS)
def test_component_contract(method):
    layer = lipschitz_linear(8, 3, method=method, target=2.5)
    c = constraint_of(layer)
    assert isinstance(c, LipschitzComponent) and isinstance(c, nn.Module)
    assert c.budgetable and c.lipschitz_kind == f"linear/{method}"
    assert isinstance(c, SpectralNormConstraint if method == "spectral" else BjorckConstraint)
    assert constraint_of(nn.Linear(3, 3)) is None
    assert constraint_of("not a module") is None


def test_bjorck_orthogonal_init_spends_the_whole_budget():
    """Every singular value equals the target: Björck keeps the layer gradient-norm preserving."""
    for shape in [(32, 32), (48, 16), (16, 48)]:
        layer = lipschitz_linear(shape[1], shape[0], method="bjorck", target=3.0).eval()
        s = torch.linalg.svdvals(layer.weight.detach().double())
        assert torch.allclose(s, torch.full_like(s, 3.0), rtol=1e-5), shape


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 30),
    cols=st.integers(1, 30),
    log_scale=st.floats(-4, 4),
    estimate_factor=st.sampled_from([None, 1e-9, 0.5, 1.0, 50.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_one_bjorck_iteration_already_bounds_sigma_by_one(rows, cols, log_scale, estimate_factor, seed):
    """The certified √3 start scale makes σ_max ≤ 1 after one iteration, whatever the σ estimate."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g, dtype=torch.float64) * 10.0**log_scale
    sigma = spectral_norm_exact(w)
    est = None if estimate_factor is None else sigma * estimate_factor
    wb, iters, _ = bjorck_orthogonalize(w, tol=1e-30, max_iterations=1, sigma_estimate=est)
    assert iters == 1
    assert spectral_norm_exact(wb) <= 1.0 + 1e-12


def test_bjorck_converges_from_random_start_within_tolerance():
    w = torch.randn(64, 64, dtype=torch.float64)
    wb, iters, residual = bjorck_orthogonalize(w, tol=1e-8, max_iterations=60)
    s = torch.linalg.svdvals(wb)
    assert residual <= 1e-8
    actual = float(torch.linalg.matrix_norm(wb.T @ wb - torch.eye(64, dtype=torch.float64)))
    assert actual <= 1e-8 + 1e-12  # the residual bound is certified
    assert float(s.max()) <= 1.0 + 1e-12 and float(s.min()) >= 1.0 - 1e-8
    assert iters < 60


def test_spectral_buffers_persist_and_roundtrip():
    layer = lipschitz_linear(12, 7, method="spectral", target=2.0)
    sd = layer.state_dict()
    assert any(k.endswith("._u") for k in sd) and any(k.endswith("._v") for k in sd)
    other = lipschitz_linear(12, 7, method="spectral", target=2.0)
    other.load_state_dict(sd)
    layer.eval(), other.eval()
    assert torch.allclose(layer.weight, other.weight)
    u_before = constraint_of(layer)._u.clone()
    layer.train()
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(1.1).add_(0.01)
        _ = layer.weight
    assert not torch.equal(u_before, constraint_of(layer)._u)  # updated in place across steps


def test_deepcopy_certifies_its_own_weight():
    layer = lipschitz_linear(10, 10, method="bjorck", target=1.0)
    clone = copy.deepcopy(layer)
    with torch.no_grad():
        clone.parametrizations.weight.original.mul_(0.0)
    assert constraint_of(layer).lipschitz_bound() == pytest.approx(1.0, rel=1e-4)
    assert constraint_of(clone).lipschitz_bound() == 0.0


def test_retraction_keeps_the_function():
    torch.manual_seed(5)
    layer = lipschitz_linear(24, 24, method="bjorck", target=1.7, tol=1e-6)
    with torch.no_grad():
        layer.parametrizations.weight.original.add_(0.3 * torch.randn(24, 24))
    x = torch.randn(16, 24)
    y_before = layer(x).detach()
    raw_before = layer.parametrizations.weight.original.detach().clone()
    assert retract_constraints(layer) == 1
    raw_after = layer.parametrizations.weight.original.detach()
    assert not torch.allclose(raw_before, raw_after)
    eye = torch.eye(24)
    assert float(torch.linalg.matrix_norm(raw_after.T @ raw_after - eye)) < 1e-3
    assert torch.allclose(layer(x), y_before, atol=1e-4)
    # spectral constraints have nothing to retract
    assert retract_constraints(lipschitz_linear(4, 4, method="spectral")) == 0


def test_parametrize_cached_computes_once():
    layer = lipschitz_linear(8, 8, method="bjorck", target=1.0)
    calls = []
    c = constraint_of(layer)
    c.register_forward_hook(lambda *a: calls.append(1))
    with parametrize.cached():
        _ = layer(torch.randn(3, 8))
        _ = layer(torch.randn(3, 8))
    assert len(calls) == 1


def test_constrain_existing_float64_layer():
    lin = nn.Linear(5, 6).double()
    constrain_linear(lin, "spectral", 0.5)
    lin.eval()
    assert lin.weight.dtype == torch.float64
    assert 0.5 * (1 - 1e-6) <= spectral_norm_exact(lin.weight) <= 0.5  # tight to bound_rtol, never above


def test_bad_input():
    with pytest.raises(TypeError, match="linear must be a torch.nn.Linear"):
        constrain_linear(nn.Conv1d(2, 2, 1), "spectral", 1.0)
    with pytest.raises(ValueError, match="cayley"):
        constrain_linear(nn.Linear(2, 2), "cayley", 1.0)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="target must be a finite number > 0"):
            constrain_linear(nn.Linear(2, 2), "bjorck", bad)
    with pytest.raises(TypeError, match="target must be a real number"):
        constrain_linear(nn.Linear(2, 2), "bjorck", "1")
    layer = lipschitz_linear(3, 3, method="spectral")
    with pytest.raises(ValueError, match="already carries"):
        constrain_linear(layer, "bjorck", 1.0)
    with pytest.raises(ValueError, match="in_features must be >= 1, got 0"):
        lipschitz_linear(0, 3)
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        BjorckConstraint(1.0, tol=-1.0)
    with pytest.raises(ValueError, match="num_iterations must be >= 1"):
        SpectralNormConstraint(1.0, num_iterations=0)
    with pytest.raises(RuntimeError, match="has no weight yet"):
        BjorckConstraint(1.0).lipschitz_bound()
    with pytest.raises(ValueError, match="2-D weight"):
        SpectralNormConstraint(1.0)(torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match="non-finite"):
        layer.weight = torch.full((3, 3), math.nan)
    with pytest.raises(TypeError, match="optimizer"):
        register_retraction("sgd", layer)


def test_spectral_ceiling_keeps_small_weights_and_caps_large_ones():
    from monai_lipinr.lipschitz.constraints import constrain_linear, constraint_of
    from monai_lipinr.lipschitz.spectral import spectral_norm_exact

    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 3)
    with torch.no_grad():
        lin.weight.mul_(1e-3)
    raw = lin.weight.detach().clone()
    constrain_linear(lin, "spectral", target=0.5, ceiling=True)
    assert constraint_of(lin).lipschitz_kind == "linear/spectral-ceiling"
    torch.testing.assert_close(lin.weight, raw)  # below the ceiling: untouched
    # adversarial growth: the effective weight never exceeds the ceiling
    opt = torch.optim.Adam(lin.parameters(), lr=0.05)
    x = torch.randn(64, 16)
    for _ in range(200):
        loss = -lin(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    lin.eval()
    sigma = spectral_norm_exact(lin.weight.detach())
    assert sigma <= 0.5 * (1 + 1e-4)
    assert sigma > 0.45  # the growth was real, the ceiling capped it
    assert constraint_of(lin).lipschitz_bound() >= sigma


def test_spectral_ceiling_zero_weight():
    from monai_lipinr.lipschitz.constraints import constrain_linear

    lin = torch.nn.Linear(8, 2)
    torch.nn.init.zeros_(lin.weight)
    constrain_linear(lin, "spectral", target=1.0, ceiling=True)
    assert float(lin.weight.abs().max()) == 0.0
    out = lin(torch.randn(4, 8)).sum()
    out.backward()  # gradients reach the raw weight
    assert lin.parametrizations.weight.original.grad is not None
    with pytest.raises(TypeError, match="ceiling"):
        constrain_linear(torch.nn.Linear(2, 2), "spectral", target=1.0, ceiling="yes")
