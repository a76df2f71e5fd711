from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import monai_lipinr.budget.shares  # noqa: F401  (registers first_heavy_output)
from monai_lipinr.lipschitz.allocation import (
    ALLOCATION_STRATEGIES,
    allocate_budget,
    check_allocation,
    register_allocation,
)

RAMPS = ("linear", "exponential", "cosine")


@settings(max_examples=200, deadline=None)
@given(
    total=st.floats(min_value=1e-3, max_value=1e6),
    m=st.integers(min_value=1, max_value=40),
    strategy=st.sampled_from(["uniform", "first_heavy", *RAMPS]),
    k_min_frac=st.floats(min_value=0.0, max_value=1.0),
)
def test_product_is_budget_and_ramps_monotone(total, m, strategy, k_min_frac):
    params = {}
    if strategy in RAMPS:
        # any feasible k_min: 0 < k_min <= total^(1/M)
        k_min = max(1e-3, k_min_frac) * total ** (1.0 / m)
        params["k_min"] = k_min
    k = allocate_budget(total, m, strategy, **params)
    assert k.dtype == torch.float64 and k.shape == (m,)
    assert torch.all(k > 0)
    assert abs(float(torch.log(k).sum()) - math.log(total)) <= 1e-9 * max(1.0, abs(math.log(total)))
    assert abs(float(k.prod()) / total - 1.0) <= 1e-9 * m
    if strategy in RAMPS and m > 1:
        d = torch.diff(k)
        assert torch.all(d <= 1e-12 * k[:-1]), f"{strategy} not non-increasing: {k}"
        assert abs(float(k[-1]) / params["k_min"] - 1.0) < 1e-6


def test_closed_forms():
    k = allocate_budget(8.0, 3, "uniform")
    np.testing.assert_allclose(k.numpy(), [2.0, 2.0, 2.0], rtol=1e-12)
    k = allocate_budget(5.0, 4, "first_heavy")
    np.testing.assert_allclose(k.numpy(), [5.0, 1.0, 1.0, 1.0], rtol=1e-12)
    # exponential with k_min = 1: log K_i proportional to (1 - t_i)
    k = allocate_budget(math.e**3, 3, "exponential", k_min=1.0)
    np.testing.assert_allclose(np.log(k.numpy()), [2.0, 1.0, 0.0], atol=1e-12)
    # linear: evenly spaced
    k = allocate_budget(2.0, 5, "linear", k_min=1.0).numpy()
    np.testing.assert_allclose(np.diff(k), np.full(4, np.diff(k)[0]), rtol=1e-9)
    # cosine: K_i / k_min - 1 proportional to g(t_i)
    k = allocate_budget(3.0, 5, "cosine", k_min=1.0).numpy()
    g = 0.5 * (1 + np.cos(np.pi * np.linspace(0, 1, 5)))
    np.testing.assert_allclose((k - 1.0)[:-1] / g[:-1], np.full(4, (k[0] - 1.0) / g[0]), rtol=1e-9)


@pytest.mark.parametrize("bad_total", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_total(bad_total):
    with pytest.raises(ValueError, match="total"):
        allocate_budget(bad_total, 3)


@pytest.mark.parametrize("bad_m", [0, -2])
def test_bad_num_components(bad_m):
    with pytest.raises(ValueError, match="num_components"):
        allocate_budget(2.0, bad_m)
    with pytest.raises(TypeError, match="num_components"):
        allocate_budget(2.0, 2.5)


@pytest.mark.parametrize("strategy", RAMPS)
def test_infeasible_ramp_names_numbers(strategy):
    with pytest.raises(ValueError, match=r"k_min\^M = 1\.5\^5"):
        allocate_budget(2.0, 5, strategy, k_min=1.5)


def test_unknown_strategy_and_params():
    with pytest.raises(ValueError, match="strategy must be one of"):
        allocate_budget(2.0, 3, "nope")
    with pytest.raises(TypeError, match="invalid parameters"):
        allocate_budget(2.0, 3, "uniform", k_min=1.0)


def test_custom_registry():
    @register_allocation("_test_last_heavy", overwrite=True)
    def _last_heavy(total, m):
        out = np.ones(m)
        out[-1] = total
        return out

    try:
        k = allocate_budget(3.0, 4, "_test_last_heavy")
        np.testing.assert_allclose(k.numpy(), [1, 1, 1, 3], rtol=1e-12)
        with pytest.raises(ValueError, match="already registered"):
            register_allocation("_test_last_heavy", _last_heavy)
        # a broken custom strategy is caught
        with pytest.raises(ValueError, match="product"):
            allocate_budget(3.0, 2, lambda total, m: np.ones(m))
    finally:
        ALLOCATION_STRATEGIES.pop("_test_last_heavy", None)


@pytest.mark.parametrize("strategy", RAMPS)
def test_default_k_min(strategy):
    k = allocate_budget(4.0, 4, strategy)  # k_min defaults to 1 when the budget allows it
    assert abs(float(k[-1]) - 1.0) < 1e-9 and float(k[0]) > 1.0
    k = allocate_budget(0.5, 4, strategy)  # below 1: the only feasible ramp is uniform
    np.testing.assert_allclose(k.numpy(), np.full(4, 0.5**0.25), rtol=1e-9)


def test_check_allocation_names_the_argument_and_what_was_expected():
    assert check_allocation("first_heavy_output", {"k_first": 60.0, "k_out": 0.1}) == "first_heavy_output"
    assert check_allocation("uniform", {}) == "uniform"
    with pytest.raises(ValueError, match="allocation must be one of .*'uniform'.*got 'unifrm'"):
        check_allocation("unifrm", {})
    # a string that failed to parse as JSON on the command line, say
    with pytest.raises(ValueError, match="allocation_kwargs must be a mapping .*got '\\{k_first:60\\}'"):
        check_allocation("first_heavy_output", "{k_first:60}")
    with pytest.raises(ValueError, match=r"allocation_kwargs has \['k_frist'\].*it takes \['k_out', 'k_first'\]"):
        check_allocation("first_heavy_output", {"k_frist": 60.0})
    with pytest.raises(ValueError, match="it takes no parameters"):
        check_allocation("uniform", {"k_min": 0.5})


def test_configs_reject_bad_allocation_kwargs_before_fitting():
    from monai_lipinr.apps.reconstruction.config import ReconstructionConfig
    from monai_lipinr.apps.registration.config import RegistrationConfig

    for cfg in (ReconstructionConfig(allocation_kwargs="{k_first:60}"),
                RegistrationConfig(allocation_kwargs={"kmin": 0.2})):
        with pytest.raises(ValueError, match="allocation_kwargs"):
            cfg.validate()


@pytest.mark.parametrize("total", [0.25, 1e-3, 4.0])
@pytest.mark.parametrize("strategy", RAMPS)
def test_ramp_accepts_k_min_at_its_bound_for_budgets_below_and_above_one(total, strategy):
    """``k_min = K_B^(1/M)`` is feasible (the uniform split); the slack must not flip sign when log K_B < 0."""
    for m in (1, 3):
        k = allocate_budget(total, m, strategy, k_min=total ** (1.0 / m))
        np.testing.assert_allclose(k.numpy(), total ** (1.0 / m), rtol=1e-9)
