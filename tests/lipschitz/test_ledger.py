from __future__ import annotations

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.activations import MaxMin, Sine
from monai_lipinr.lipschitz.base import LipschitzComponent
from monai_lipinr.lipschitz.embeddings import PositionalEncoding
from monai_lipinr.lipschitz.empirical import box_domain, estimate_lipschitz
from monai_lipinr.lipschitz.ledger import LedgerRow, LipschitzLedger


class ExactScale(nn.Module, LipschitzComponent):
    """Test stand-in for a weight constraint: rescales W to σ_max = factor · target by an exact SVD.

    ``factor=1`` delivers the target; ``factor > 1`` simulates an overshooting constraint.
    """

    lipschitz_kind = "linear/exact_scale"
    budgetable = True

    def __init__(self, target: float, factor: float = 1.0) -> None:
        super().__init__()
        self._lipschitz_target = target
        self.factor = factor
        self._effective: torch.Tensor | None = None

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        sigma = torch.linalg.matrix_norm(weight.detach().double(), 2)
        out = weight * float(self.factor * self._lipschitz_target / sigma)
        self._effective = out.detach()
        return out

    def lipschitz_bound(self) -> float:
        return float(torch.linalg.matrix_norm(self._effective.double(), 2))


class Block(nn.Module, LipschitzComponent):
    """A component with components inside (like an SLL block): billed once, as a whole."""

    lipschitz_kind = "block/test"

    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.act = Sine(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.inner(x))

    def lipschitz_bound(self) -> float:
        return float(torch.linalg.matrix_norm(self.inner.weight.detach().double(), 2)) * 2.0


def sigma(weight: torch.Tensor) -> float:
    return float(np.linalg.norm(weight.detach().double().numpy(), 2))


def constrained(linear: nn.Linear, component: nn.Module) -> nn.Linear:
    parametrize.register_parametrization(linear, "weight", component)
    _ = linear.weight  # materialise the effective weight
    return linear


def build_net() -> nn.Sequential:
    act0 = Sine(30.0, budgetable=True)
    act0.set_lipschitz_target(1.2)
    net = nn.Sequential(
        OrderedDict(
            embed=PositionalEncoding(2, 3, target=2.0),
            fc0=constrained(nn.Linear(12, 16, dtype=torch.float64), ExactScale(1.5)),
            act0=act0,
            fc1=constrained(nn.Linear(16, 16, dtype=torch.float64), ExactScale(0.8)),
            act1=MaxMin(dim=-1),
            head=nn.Linear(16, 3),
        )
    )
    return net.double()


def test_rows_in_forward_order_with_honest_bills():
    net = build_net()
    ledger = LipschitzLedger.from_module(net)
    assert [r.name for r in ledger.rows] == ["embed", "fc0 (weight)", "act0", "fc1 (weight)", "act1", "head"]
    assert [r.kind for r in ledger.rows] == [
        "embedding/positional_encoding",
        "linear/exact_scale",
        "activation/sine",
        "linear/exact_scale",
        "activation/maxmin",
        "linear/unconstrained",
    ]
    assert [r.target for r in ledger.rows] == [2.0, 1.5, 1.2, 0.8, None, None]
    expected = [2.0, sigma(net.fc0.weight), 1.2, sigma(net.fc1.weight), 1.0, sigma(net.head.weight)]
    np.testing.assert_allclose([r.lipschitz for r in ledger.rows], expected, rtol=1e-12)
    # the unconstrained head is billed by its exact σ_max, whatever it is
    assert ledger.rows[-1].lipschitz == pytest.approx(sigma(net.head.weight), rel=1e-12)
    assert all(r.within_target for r in ledger.rows) and ledger.within_targets and ledger.complete
    assert ledger.certified_bound == pytest.approx(math.prod(expected), rel=1e-12)
    assert ledger.target_product == pytest.approx(2.0 * 1.5 * 1.2 * 0.8 * 1.0 * expected[-1], rel=1e-12)


def test_certified_bound_dominates_the_measured_constant():
    net = build_net()
    sampler, project = box_domain(
        -1.0, 1.0, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    est = estimate_lipschitz(net, sampler, num_starts=16, num_steps=15, pairs=256, project=project)
    ledger = LipschitzLedger.from_module(net, empirical=est, budget=10.0)
    assert ledger.empirical == est.value > 0
    assert ledger.empirical <= ledger.certified_bound
    assert ledger.utilization == pytest.approx(est.value / 10.0)
    assert ledger.within_budget == (ledger.certified_bound <= 10.0)
    no_budget = LipschitzLedger.from_module(net, empirical=est.value)
    assert no_budget.utilization == pytest.approx(est.value / no_budget.certified_bound)
    assert 0 < no_budget.utilization <= 1


def test_overshooting_component_is_flagged():
    net = nn.Sequential(constrained(nn.Linear(4, 4), ExactScale(2.0, factor=1.01)), nn.Tanh())
    ledger = LipschitzLedger.from_module(net)
    assert ledger.rows[0].lipschitz == pytest.approx(2.02)
    assert not ledger.rows[0].within_target and not ledger.within_targets
    assert "**NO**" in ledger.to_markdown()


def test_nested_components_are_billed_once():
    net = nn.Sequential(nn.Linear(3, 5), Block(5), nn.ReLU())
    ledger = LipschitzLedger.from_module(net)
    assert [r.name for r in ledger.rows] == ["0", "1", "2"]
    assert ledger.rows[1].kind == "block/test"
    assert ledger.rows[1].lipschitz == pytest.approx(2.0 * sigma(net[1].inner.weight))


def test_non_component_parametrization_billed_by_effective_weight():
    # torch's own spectral_norm (one power iteration) is not a certificate: bill the effective weight
    lin = nn.utils.parametrizations.spectral_norm(nn.Linear(6, 6))
    for _ in range(3):
        lin(torch.randn(2, 6))
    u = lin.parametrizations.weight[0]._u.clone()
    net = nn.Sequential(lin, nn.ReLU())
    ledger = LipschitzLedger.from_module(net)
    assert [r.kind for r in ledger.rows] == ["linear/parametrized", "activation/relu"]
    assert net.training and lin.training  # modes restored
    torch.testing.assert_close(lin.parametrizations.weight[0]._u, u, rtol=0, atol=0)  # no power step taken
    lin.eval()
    assert ledger.rows[0].lipschitz == pytest.approx(sigma(lin.weight), rel=1e-12)
    assert ledger.complete


def test_unknown_modules_void_the_certificate():
    net = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3), nn.ReLU())
    ledger = LipschitzLedger.from_module(net)
    assert ledger.unaccounted == ["1 (LayerNorm)"] and not ledger.complete
    assert ledger.certified_bound == math.inf
    assert "NOT CERTIFIED" in ledger.to_markdown()
    assert json.loads(json.dumps(ledger.to_dict(), allow_nan=False))["certified_bound"] == "inf"


def test_shared_module_is_billed_at_every_registration():
    shared = Sine(2.0)
    ledger = LipschitzLedger.from_module(nn.Sequential(shared, shared))
    assert len(ledger.rows) == 2 and ledger.certified_bound == pytest.approx(4.0)


def test_root_component_and_root_parametrized_linear():
    assert [r.name for r in LipschitzLedger.from_module(Sine(3.0)).rows] == ["Sine"]
    lin = constrained(nn.Linear(4, 2), ExactScale(0.5))
    ledger = LipschitzLedger.from_module(lin)
    assert [r.name for r in ledger.rows] == ["Linear (weight)"]
    assert ledger.certified_bound == pytest.approx(0.5, rel=1e-6)  # float32 weight


def test_budget_from_module_attribute():
    net = build_net()
    net.lipschitz_budget = 6.0
    assert LipschitzLedger.from_module(net).budget == 6.0
    assert LipschitzLedger.from_module(net, budget=3.0).budget == 3.0


def test_dict_json_round_trip():
    net = build_net()
    net.add_module("jump", nn.Hardshrink(0.5))  # not Lipschitz: an infinite row
    ledger = LipschitzLedger.from_module(net, empirical=0.7, budget=4.0)
    text = json.dumps(ledger.to_dict(), allow_nan=False)  # strict JSON
    back = LipschitzLedger.from_dict(json.loads(text))
    assert back == ledger
    assert back.rows[-1].lipschitz == math.inf and back.certified_bound == math.inf
    d = json.loads(text)
    assert d["rows"][1]["name"] == "fc0 (weight)" and d["budget"] == 4.0 and d["empirical"] == 0.7
    assert d["utilization"] == pytest.approx(0.7 / 4.0)


def test_markdown_lists_every_row_and_the_product():
    ledger = LipschitzLedger.from_module(build_net(), empirical=0.5, budget=8.0)
    md = ledger.to_markdown()
    assert str(ledger) == md
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(table) == len(ledger.rows)
    for line, row in zip(table, ledger.rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == row.name and cells[2] == row.kind
        assert float(cells[4]) == pytest.approx(row.lipschitz, rel=1e-5)
        assert cells[3] == ("—" if row.target is None else f"{row.target:.6g}")
    assert f"{ledger.certified_bound:.6g}" in md and "utilization K_m / K_B: 0.0625" in md


def test_rows_are_plain_data():
    row = LedgerRow("a", "activation/relu", None, 1.0, True)
    assert LipschitzLedger(rows=[row]).certified_bound == 1.0
    assert LipschitzLedger().certified_bound == 1.0  # the empty composition is the identity


def test_errors():
    with pytest.raises(TypeError, match="nn.Module"):
        LipschitzLedger.from_module(lambda x: x)
    with pytest.raises(ValueError, match="budget"):
        LipschitzLedger.from_module(nn.ReLU(), budget=-1.0)
    with pytest.raises(ValueError, match="empirical"):
        LipschitzLedger.from_module(nn.ReLU(), empirical=float("nan"))
    with pytest.raises(ValueError, match="not a LipschitzLedger dict"):
        LipschitzLedger.from_dict({"budget": 2.0})
