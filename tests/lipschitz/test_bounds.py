from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from torch import nn

from monai_lipinr.lipschitz.activations import Gaussian, MaxMin, Sine
from monai_lipinr.lipschitz.bounds import (
    SILU_LIPSCHITZ,
    activation_lipschitz,
    fourier_features_lipschitz,
    gaussian_lipschitz,
    linear_lipschitz,
    positional_encoding_lipschitz,
    sine_lipschitz,
)

# dense float64 grid on which the slopes of an elementwise map are measured
GRID = torch.linspace(-12.0, 12.0, 480_001, dtype=torch.float64)


def measured_max_slope(fn) -> float:
    """Largest secant slope of ``fn`` on GRID: by the mean value theorem never above ``sup |f'|``.

    Uses the forward map only (some torch backward kernels use float32 constants even in float64).
    """
    with torch.no_grad():
        y = fn(GRID)
    return float((torch.diff(y).abs() / torch.diff(GRID)).max())


def refine_max_slope(fn, lo: float, hi: float) -> float:
    """max |f'| on a very fine grid of [lo, hi] (for constants attained at an interior point)."""
    x = torch.linspace(lo, hi, 200_001, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(fn(x).sum(), x)
    return float(d.abs().max())


@settings(max_examples=50, deadline=None)
@given(omega=st.floats(-1e4, 1e4, allow_nan=False))
def test_sine_lipschitz_is_abs_omega(omega):
    assert sine_lipschitz(omega) == abs(omega)


@pytest.mark.parametrize("omega", [0.5, 3.0, 30.0])
def test_sine_bound_attained(omega):
    assert measured_max_slope(lambda x: torch.sin(omega * x)) == pytest.approx(
        sine_lipschitz(omega), rel=1e-6
    )


@pytest.mark.parametrize("a", [0.2, 1.0, 2.5])
def test_gaussian_bound_attained_at_a(a):
    f = lambda x: torch.exp(-(x**2) / (2 * a * a))  # noqa: E731
    x = torch.tensor([a, -a], dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(f(x).sum(), x)
    np.testing.assert_allclose(d.abs().numpy(), gaussian_lipschitz(a), rtol=1e-14)
    grid_max = measured_max_slope(f)
    assert grid_max <= gaussian_lipschitz(a) * (1 + 1e-9)
    assert grid_max == pytest.approx(gaussian_lipschitz(a), rel=1e-6)
    assert gaussian_lipschitz(-a) == gaussian_lipschitz(a)


def _raw_positional_encoding(x: torch.Tensor, num_octaves: int, include_input: bool) -> torch.Tensor:
    parts = [x] if include_input else []
    for k in range(num_octaves):
        parts += [torch.sin(2.0**k * math.pi * x), torch.cos(2.0**k * math.pi * x)]
    return torch.cat(parts, dim=-1)


@settings(max_examples=30, deadline=None)
@given(
    num_octaves=st.integers(0, 10),
    include_input=st.booleans(),
    d=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_positional_encoding_bound_equals_jacobian_norm_everywhere(num_octaves, include_input, d, seed):
    if num_octaves == 0 and not include_input:
        assert positional_encoding_lipschitz(0) == 0.0
        return
    x = torch.rand(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 4 - 2
    jac = torch.autograd.functional.jacobian(
        lambda z: _raw_positional_encoding(z, num_octaves, include_input), x
    )
    sv = torch.linalg.svdvals(jac)
    # every singular value equals the bound: the constant is attained at every point in every direction
    np.testing.assert_allclose(
        sv.numpy(), positional_encoding_lipschitz(num_octaves, include_input), rtol=1e-10
    )


def test_positional_encoding_closed_form_values():
    assert positional_encoding_lipschitz(1) == pytest.approx(math.pi)
    assert positional_encoding_lipschitz(2) == pytest.approx(math.pi * math.sqrt(5))
    assert positional_encoding_lipschitz(2, include_input=True) == pytest.approx(
        math.sqrt(5 * math.pi**2 + 1)
    )
    assert math.isfinite(positional_encoding_lipschitz(200))


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 20), d=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_fourier_features_bound_equals_jacobian_norm(m, d, seed):
    g = torch.Generator().manual_seed(seed)
    b = torch.randn(m, d, generator=g, dtype=torch.float64)
    bound = fourier_features_lipschitz(b)
    assert bound == pytest.approx(
        2 * math.pi * math.sqrt(np.linalg.eigvalsh((b.T @ b).numpy()).max()), rel=1e-10
    )
    x = torch.randn(d, generator=g, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(
        lambda z: torch.cat([torch.cos(2 * math.pi * b @ z), torch.sin(2 * math.pi * b @ z)]), x
    )
    np.testing.assert_allclose(
        (jac.T @ jac).numpy(), (4 * math.pi**2 * b.T @ b).numpy(), rtol=1e-9, atol=1e-9
    )
    assert float(torch.linalg.matrix_norm(jac, 2)) == pytest.approx(bound, rel=1e-10)
    # numpy input is accepted
    assert fourier_features_lipschitz(b.numpy()) == bound


def test_linear_lipschitz_is_sigma_max():
    w = torch.randn(7, 4)
    assert linear_lipschitz(w) == pytest.approx(np.linalg.norm(w.double().numpy(), 2), rel=1e-12)
    with pytest.raises(ValueError, match="2-D"):
        linear_lipschitz(torch.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        linear_lipschitz(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(TypeError, match="weight"):
        linear_lipschitz([[1.0]])


@pytest.mark.parametrize(
    "fn",
    [
        lambda: sine_lipschitz(float("nan")),
        lambda: gaussian_lipschitz(0.0),
        lambda: gaussian_lipschitz(math.inf),
    ],
)
def test_bad_scalar_arguments_raise_value_error(fn):
    with pytest.raises(ValueError):
        fn()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="omega"):
        sine_lipschitz("3")
    with pytest.raises(TypeError, match="num_octaves"):
        positional_encoding_lipschitz(2.5)
    with pytest.raises(ValueError, match="num_octaves"):
        positional_encoding_lipschitz(-1)
    with pytest.raises(TypeError, match="nn.Module"):
        activation_lipschitz(torch.relu)


# (module, whether the supremum of |f'| is attained on the grid or only approached)
ACTIVATIONS = [
    (nn.ReLU(), True),
    (nn.ReLU6(), True),
    (nn.Hardtanh(-2.0, 3.0), True),
    (nn.LeakyReLU(0.2), True),
    (nn.LeakyReLU(-1.5), True),
    (nn.LeakyReLU(3.0), True),
    (nn.ELU(), False),
    (nn.ELU(alpha=2.5), False),
    (nn.CELU(alpha=0.7), False),
    (nn.SELU(), False),
    (nn.Tanh(), True),
    (nn.Sigmoid(), True),
    (nn.SiLU(), True),
    (nn.GELU(), True),
    (nn.GELU(approximate="tanh"), True),
    (nn.Mish(), True),
    (nn.Softplus(beta=3.0), False),
    (nn.Softsign(), True),
    (nn.Tanhshrink(), False),
    (nn.Softshrink(0.5), True),
    (nn.LogSigmoid(), False),
    (nn.Hardsigmoid(), True),
    (nn.Hardswish(), False),
    (nn.Identity(), True),
    (Sine(2.5), True),
    (Gaussian(0.7), True),
]


@pytest.mark.parametrize("module,attained", ACTIVATIONS, ids=lambda m: type(m).__name__)
def test_activation_lipschitz_matches_measured_slope(module, attained):
    bound = activation_lipschitz(module)
    assert isinstance(bound, float)
    measured = measured_max_slope(module)
    assert measured <= bound * (1 + 1e-9), f"{module}: measured {measured} > stated {bound}"
    # attained maxima agree to secant resolution (h = 5e-5); suprema approached at a kink or at infinity to 2%
    assert measured >= bound * (1 - (1e-4 if attained else 2e-2)), (
        f"{module}: stated {bound} loose ({measured})"
    )


@pytest.mark.parametrize(
    "module,lo,hi",
    [
        (nn.SiLU(), 2.3, 2.5),
        (nn.GELU(), 1.3, 1.5),
        (nn.GELU(approximate="tanh"), 1.3, 1.5),
        (nn.Mish(), 1.4, 1.6),
    ],
    ids=lambda m: type(m).__name__ if isinstance(m, nn.Module) else "",
)
def test_smooth_activation_constants_to_double_precision(module, lo, hi):
    assert refine_max_slope(module, lo, hi) == pytest.approx(activation_lipschitz(module), rel=1e-12)


def test_silu_constant_from_its_defining_equation():
    x_star = brentq(lambda x: x * math.tanh(x / 2) - 2.0, 1.0, 4.0, xtol=1e-15)
    s = 1.0 / (1.0 + math.exp(-x_star))
    assert SILU_LIPSCHITZ == pytest.approx(s * (1 + x_star * (1 - s)), rel=1e-15)


def test_activation_lipschitz_special_cases():
    prelu = nn.PReLU(3)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.1, -2.5, 0.3]))
    assert activation_lipschitz(prelu) == pytest.approx(2.5)
    assert activation_lipschitz(nn.RReLU(0.1, 0.3)) == 1.0
    assert activation_lipschitz(nn.Hardshrink(0.5)) == math.inf  # discontinuous
    assert activation_lipschitz(nn.Hardshrink(0.0)) == 1.0
    assert activation_lipschitz(nn.Threshold(0.1, 20.0)) == math.inf
    assert activation_lipschitz(nn.Threshold(0.1, 0.1)) == 1.0
    drop = nn.Dropout(0.2)
    assert activation_lipschitz(drop) == pytest.approx(1.25)
    assert activation_lipschitz(drop.eval()) == 1.0
    assert activation_lipschitz(MaxMin()) == 1.0
    # unknown modules and linear layers are not activations
    assert activation_lipschitz(nn.Linear(2, 2)) is None
    assert activation_lipschitz(nn.LayerNorm(3)) is None
    assert activation_lipschitz(nn.Softmax(dim=-1)) is None


def test_threshold_discontinuity_is_real():
    # the "inf" above is not conservatism: the map jumps at the threshold
    t = nn.Threshold(0.1, 20.0)
    x = torch.tensor([0.1, 0.1 + 1e-9], dtype=torch.float64)
    y = t(x)
    assert abs(float(y[1] - y[0])) / 1e-9 > 1e9
