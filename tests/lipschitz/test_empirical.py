from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from monai_lipinr.lipschitz.activations import Gaussian, Householder, MaxMin, Sine
from monai_lipinr.lipschitz.base import CERTIFY_RTOL
from monai_lipinr.lipschitz.embeddings import PositionalEncoding, RandomFourierFeatures
from monai_lipinr.lipschitz.empirical import EmpiricalLipschitz, box_domain, estimate_lipschitz
from monai_lipinr.lipschitz.ledger import LipschitzLedger

F64 = torch.float64


def box(d: int, seed: int = 0, lo: float = -1.0, hi: float = 1.0, dtype=F64):
    return box_domain(lo, hi, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, 6), m=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_linear_map_equals_sigma_max(d, m, seed):
    torch.manual_seed(seed)
    lin = nn.Linear(d, m).double()
    sigma = float(np.linalg.norm(lin.weight.detach().numpy(), 2))
    sampler, project = box(d, seed)
    est = estimate_lipschitz(lin, sampler, num_starts=8, num_steps=3, pairs=64, project=project)
    assert est.value <= sigma * (1 + 1e-9)  # a lower bound
    assert est.gradient_value == pytest.approx(sigma, rel=1e-6)  # tight: power iteration converged


def test_power_iteration_path_for_many_inputs():
    # d = 40 > 2 * power_iterations: Jacobian-vector products and power iteration instead of the full Jacobian
    torch.manual_seed(3)
    lin = nn.Linear(40, 30).double()
    sigma = float(np.linalg.norm(lin.weight.detach().numpy(), 2))
    sampler, project = box(40)
    est = estimate_lipschitz(
        lin, sampler, num_starts=4, num_steps=30, pairs=0, project=project, power_iterations=4
    )
    assert sigma * (1 - 1e-4) <= est.gradient_value <= sigma * (1 + 1e-9)
    net = nn.Sequential(lin, nn.Tanh(), nn.Linear(30, 5).double())
    est = estimate_lipschitz(net, sampler, num_starts=8, num_steps=10, pairs=64, project=project)
    assert 0 < est.value <= LipschitzLedger.from_module(net).certified_bound * (1 + 1e-9)


@pytest.mark.parametrize("omega", [0.7, 4.0, 25.0])
def test_sine_reaches_omega(omega):
    sampler, project = box(3)
    est = estimate_lipschitz(Sine(omega), sampler, num_starts=16, num_steps=40, pairs=128, project=project)
    assert omega * (1 - 1e-6) <= est.value <= omega * (1 + 1e-9)
    assert isinstance(est, EmpiricalLipschitz) and float(est) == est.value


@pytest.mark.parametrize("a", [0.15, 0.4])
def test_gaussian_reaches_bound_at_a(a):
    act = Gaussian(a)
    sampler, project = box(2)
    est = estimate_lipschitz(act, sampler, num_starts=16, num_steps=60, pairs=128, project=project)
    bound = act.lipschitz_bound()
    assert bound * (1 - 1e-6) <= est.value <= bound * (1 + 1e-9)
    # the maximiser sits at |x_i| = a on some coordinate
    assert float((est.argmax.abs() - a).abs().min()) < 1e-3


@pytest.mark.parametrize(
    "embedding",
    [
        PositionalEncoding(3, 6, target=3.7).double(),
        PositionalEncoding(2, 4, target=0.3, include_input=True).double(),
        RandomFourierFeatures(3, 48, sigma=5.0, target=2.2, seed=3).double(),
    ],
    ids=["pe", "pe_input", "rff"],
)
def test_embeddings_measure_exactly_their_target(embedding):
    sampler, project = box(embedding.in_features)
    est = estimate_lipschitz(embedding, sampler, num_starts=8, num_steps=2, pairs=128, project=project)
    bound = embedding.lipschitz_bound()
    assert est.value == pytest.approx(embedding.lipschitz_target, rel=1e-6)
    assert est.value <= bound * (1 + 1e-9)


def test_gnp_network_uses_its_whole_budget():
    # orthogonal layers + GNP activations: the certified bound is attained (utilisation 1)
    torch.manual_seed(1)
    layers = []
    for _ in range(2):
        lin = nn.Linear(4, 4).double()
        nn.init.orthogonal_(lin.weight)
        layers += [lin, Householder(4, dim=-1).double()]
    net = nn.Sequential(*layers, nn.Linear(4, 4).double())
    nn.init.orthogonal_(net[-1].weight)
    sampler, project = box(4)
    est = estimate_lipschitz(net, sampler, num_starts=8, num_steps=0, pairs=64, project=project)
    ledger = LipschitzLedger.from_module(net, empirical=est)
    assert ledger.certified_bound == pytest.approx(1.0, rel=1e-12)
    assert ledger.utilization == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", ["tanh", "maxmin", "sine"])
def test_estimate_never_exceeds_certified_bound(dtype, activation):
    torch.manual_seed(2)
    act = {"tanh": nn.Tanh, "maxmin": lambda: MaxMin(dim=-1), "sine": lambda: Sine(3.0)}[activation]
    net = nn.Sequential(
        PositionalEncoding(2, 3, target=2.0),
        nn.Linear(12, 16),
        act(),
        nn.Linear(16, 16),
        act(),
        nn.Linear(16, 2),
    ).to(dtype)
    sampler, project = box(2, dtype=dtype)
    est = estimate_lipschitz(net, sampler, num_starts=16, num_steps=20, pairs=256, project=project)
    bound = LipschitzLedger.from_module(net).certified_bound
    assert 0 < est.value <= bound * (1 + (CERTIFY_RTOL if dtype == torch.float32 else 1e-9))
    # and it dominates every quotient we can draw ourselves
    with torch.no_grad():
        x, y = sampler(500), sampler(500)
        q = ((net(x) - net(y)).norm(dim=1) / (x - y).norm(dim=1)).max()
    assert est.value >= float(q) * (1 - 1e-6)


def test_scalar_output_gradient_norm_and_projection():
    # f(x) = ‖x‖² on [-1, 1]^3 has Lipschitz constant 2√3, reached at a corner: the ascent must stay in the box
    f = lambda x: (x**2).sum(dim=1)  # noqa: E731
    sampler, project = box(3)
    est = estimate_lipschitz(f, sampler, num_starts=8, num_steps=60, pairs=64, project=project)
    assert est.value == pytest.approx(2 * math.sqrt(3), rel=1e-6)
    assert est.value <= 2 * math.sqrt(3) * (1 + 1e-12)
    assert torch.all(est.argmax.abs() <= 1.0)


def test_ascent_improves_on_the_starting_points():
    act = Gaussian(0.05)  # narrow slope peaks: random starts alone miss them
    sampler, project = box(1)
    at_starts = estimate_lipschitz(act, sampler, num_starts=4, num_steps=0, pairs=0, project=project)
    ascended = estimate_lipschitz(act, sampler, num_starts=4, num_steps=80, pairs=0, project=project)
    assert ascended.gradient_value > at_starts.gradient_value
    assert ascended.gradient_value <= act.lipschitz_bound() * (1 + 1e-9)


def test_piecewise_linear_search_finds_a_small_steep_region():
    # slope 0.1 everywhere except 10.1 on [0.9, 1]: zero Hessian, so the search must explore
    f = lambda x: 0.1 * x + 10.0 * torch.relu(x - 0.9)  # noqa: E731
    sampler, project = box(1, seed=4)
    starts = sampler(4)
    assert torch.all(starts < 0.9)  # no start in the steep region
    sampler, project = box(1, seed=4)
    g = torch.Generator().manual_seed(0)
    est = estimate_lipschitz(f, sampler, num_starts=4, num_steps=60, pairs=0, project=project, generator=g)
    assert est.gradient_value == pytest.approx(10.1, rel=1e-12)
    assert 0.9 <= float(est.argmax) <= 1.0


class CountingScale(nn.Module):
    """A weight parametrization that counts how often it is evaluated."""

    calls = 0

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        CountingScale.calls += 1
        return 0.5 * weight


def test_parametrized_weights_are_computed_once_per_search():
    lin = nn.Linear(3, 3).double()
    torch.nn.utils.parametrize.register_parametrization(lin, "weight", CountingScale())
    net = nn.Sequential(lin, nn.Tanh())
    sampler, project = box(3)
    CountingScale.calls = 0
    estimate_lipschitz(net, sampler, num_starts=4, num_steps=5, pairs=16, project=project)
    assert CountingScale.calls == 1


def test_pairwise_only_and_constant_functions():
    sampler, project = box(2)
    lin = nn.Linear(2, 3).double()
    sigma = float(np.linalg.norm(lin.weight.detach().numpy(), 2))
    est = estimate_lipschitz(lin, sampler, num_starts=4, num_steps=0, pairs=512, project=project)
    assert 0 < est.pairwise_value <= sigma * (1 + 1e-9)
    const = estimate_lipschitz(
        lambda x: torch.ones(x.shape[0], 2, dtype=x.dtype), sampler, num_steps=3, pairs=16
    )
    assert const.value == 0.0


def test_works_under_no_grad_and_leaves_parameter_gradients_alone():
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    sampler, project = box(2)
    with torch.no_grad():
        est = estimate_lipschitz(net, sampler, num_starts=4, num_steps=3, pairs=16, project=project)
    assert est.value > 0
    assert all(p.grad is None for p in net.parameters())


def test_reproducible_with_generators():
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    results = []
    for _ in range(2):
        sampler, project = box(2, seed=5)
        g = torch.Generator().manual_seed(11)
        results.append(estimate_lipschitz(net, sampler, num_starts=4, num_steps=5, pairs=32, generator=g))
    assert results[0].value == results[1].value
    torch.testing.assert_close(results[0].argmax, results[1].argmax)


def test_errors():
    sampler, _ = box(2)
    lin = nn.Linear(2, 2).double()
    with pytest.raises(ValueError, match="sampler"):
        estimate_lipschitz(lin, lambda n: torch.zeros(n, dtype=F64))
    with pytest.raises(ValueError, match="fn must map"):
        estimate_lipschitz(lambda x: x[:1], sampler, num_starts=4)
    with pytest.raises(ValueError, match="num_starts"):
        estimate_lipschitz(lin, sampler, num_starts=0)
    with pytest.raises(ValueError, match="step_size"):
        estimate_lipschitz(lin, sampler, step_size=-1.0)
    with pytest.raises(TypeError, match="pairs"):
        estimate_lipschitz(lin, sampler, pairs=1.5)
    with pytest.raises(ValueError, match="upper > lower"):
        box_domain(1.0, 1.0, 2)
