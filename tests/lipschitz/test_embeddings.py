from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.lipschitz.base import CERTIFY_RTOL
from monai_lipinr.lipschitz.bounds import positional_encoding_lipschitz
from monai_lipinr.lipschitz.embeddings import PositionalEncoding, RandomFourierFeatures


def jacobian_singular_values(module, x: torch.Tensor) -> torch.Tensor:
    """Singular values of the Jacobian of ``module`` at a single point ``x`` of shape (d,)."""
    return torch.linalg.svdvals(torch.autograd.functional.jacobian(module, x))


# ---------------------------------------------------------------- positional encoding


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(1, 3),
    num_octaves=st.integers(1, 8),
    target=st.floats(0.01, 500.0),
    include_input=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_positional_encoding_hits_target_exactly_everywhere(d, num_octaves, target, include_input, seed):
    pe = PositionalEncoding(d, num_octaves, target=target, include_input=include_input).double()
    assert pe.lipschitz_bound() == pytest.approx(target, rel=1e-12)
    assert pe.lipschitz_target == target and pe.certify() and pe.budgetable
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):
        x = torch.rand(d, generator=g, dtype=torch.float64) * 2 - 1
        # every singular value of the Jacobian equals the target: the constant is attained, not a bound
        np.testing.assert_allclose(jacobian_singular_values(pe, x).numpy(), target, rtol=1e-9)


def test_positional_encoding_values_and_layout():
    pe = PositionalEncoding(2, 3, target=5.0, include_input=True).double()
    s = 5.0 / positional_encoding_lipschitz(3, include_input=True)
    assert pe.scale == pytest.approx(s, rel=1e-14)
    assert pe.out_features == 2 * (2 * 3 + 1)
    x = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    y = pe(x)[0]
    expected = [s * 0.3, s * -0.7]
    expected += [math.sin(2**k * math.pi * s * c) for k in range(3) for c in (0.3, -0.7)]
    expected += [math.cos(2**k * math.pi * s * c) for k in range(3) for c in (0.3, -0.7)]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-13, atol=1e-14)


def test_positional_encoding_without_target_is_the_quantised_constant():
    pe = PositionalEncoding(3, 4)
    assert pe.scale == 1.0 and pe.lipschitz_target is None
    assert pe.lipschitz_bound() == positional_encoding_lipschitz(4)
    # octaves alone cannot reach e.g. 20: L = 2 gives ~7.02, L = 3 gives ~14.4, L = 4 gives ~29.1
    assert all(abs(positional_encoding_lipschitz(L) - 20.0) > 5 for L in range(1, 8))
    pe.set_lipschitz_target(20.0)
    assert pe.lipschitz_bound() == pytest.approx(20.0, rel=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_positional_encoding_shapes_dtypes_and_state(dtype):
    pe = PositionalEncoding(3, 5, target=2.0).to(dtype)
    x = torch.rand(4, 7, 3, dtype=dtype)
    y = pe(x)
    assert y.shape == (4, 7, pe.out_features) and y.dtype == dtype
    pe.set_lipschitz_target(9.0)
    fresh = PositionalEncoding(3, 5, target=2.0).to(dtype)
    fresh.load_state_dict(pe.state_dict())
    assert fresh.scale == pe.scale and fresh.lipschitz_target == 9.0
    torch.testing.assert_close(fresh(x), pe(x))


def test_positional_encoding_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\).*got \(5, 2\)"):
        PositionalEncoding(3, 4)(torch.rand(5, 2))
    with pytest.raises(ValueError, match="target"):
        PositionalEncoding(3, 4, target=0.0)
    with pytest.raises(ValueError, match="target"):
        PositionalEncoding(3, 4, target=-2.0)
    with pytest.raises(ValueError, match="num_octaves"):
        PositionalEncoding(3, 0)
    with pytest.raises(TypeError, match="in_features"):
        PositionalEncoding(3.0, 4)
    with pytest.raises(TypeError, match="include_input"):
        PositionalEncoding(3, 4, include_input="yes")


# ---------------------------------------------------------------- random Fourier features


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(1, 4),
    m=st.integers(1, 64),
    sigma=st.floats(0.1, 30.0),
    target=st.floats(0.05, 200.0),
    seed=st.integers(0, 2**16),
)
def test_rff_hits_target_exactly_everywhere(d, m, sigma, target, seed):
    rff = RandomFourierFeatures(d, m, sigma=sigma, target=target, seed=seed).double()
    assert rff.lipschitz_bound() == pytest.approx(target, rel=1e-6)  # B stored in float32
    b = rff.b_matrix
    assert 2 * math.pi * float(torch.linalg.matrix_norm(b, 2)) == pytest.approx(target, rel=1e-6)
    x = torch.rand(d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(rff, x)
    # JᵀJ = 4π² BᵀB at every point: the top singular value equals the target everywhere
    torch.testing.assert_close(jac.T @ jac, 4 * math.pi**2 * b.T @ b)
    assert float(torch.linalg.matrix_norm(jac, 2)) == pytest.approx(rff.lipschitz_bound(), rel=1e-10)


def test_rff_exact_in_float64_and_set_target():
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        rff = RandomFourierFeatures(3, 32, sigma=10.0, target=7.0, seed=1)
    finally:
        torch.set_default_dtype(saved)
    assert rff.b_matrix.dtype == torch.float64
    assert rff.lipschitz_bound() == pytest.approx(7.0, rel=1e-13)
    rff.set_lipschitz_target(0.5)
    assert rff.lipschitz_bound() == pytest.approx(0.5, rel=1e-13)
    assert rff.certify()


def test_raw_gaussian_frequencies_miss_the_target():
    # the pitfall: B ~ N(0, σ²) gives a random, seed-dependent constant, nowhere near a chosen value
    raw = [RandomFourierFeatures(3, 64, sigma=1.0, seed=s).lipschitz_bound() for s in range(5)]
    assert max(raw) / min(raw) > 1.01
    assert all(abs(k / (2 * math.pi * (math.sqrt(64) + math.sqrt(3))) - 1) < 0.5 for k in raw)
    fixed = [RandomFourierFeatures(3, 64, sigma=1.0, target=10.0, seed=s).lipschitz_bound() for s in range(5)]
    np.testing.assert_allclose(fixed, 10.0, rtol=1e-6)
    assert all(k <= 10.0 * (1 + CERTIFY_RTOL) for k in fixed)


def test_rff_sampling_reproducible_and_distribution():
    a = RandomFourierFeatures(2, 4000, sigma=3.0, seed=7)
    b = RandomFourierFeatures(2, 4000, sigma=3.0, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a.b_matrix, b.b_matrix, rtol=0, atol=0)
    assert float(a.b_matrix.std()) == pytest.approx(3.0, rel=0.03)
    c = RandomFourierFeatures(2, 4000, sigma=3.0, seed=8)
    assert not torch.equal(a.b_matrix, c.b_matrix)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rff_shapes_values_and_state(dtype):
    rff = RandomFourierFeatures(2, 16, target=3.0, seed=0).to(dtype)
    assert rff.out_features == 32
    x = torch.rand(5, 9, 2, dtype=dtype)
    y = rff(x)
    assert y.shape == (5, 9, 32) and y.dtype == dtype
    phase = 2 * math.pi * x @ rff.b_matrix.T
    torch.testing.assert_close(y, torch.cat([torch.cos(phase), torch.sin(phase)], -1))
    rff.set_lipschitz_target(1.5)
    fresh = RandomFourierFeatures(2, 16, seed=99).to(dtype)
    fresh.load_state_dict(rff.state_dict())
    assert fresh.lipschitz_target == 1.5
    assert fresh.lipschitz_bound() == pytest.approx(1.5, rel=1e-6)
    json.dumps(fresh.get_extra_state())


def test_rff_errors():
    with pytest.raises(ValueError, match=r"in_features=2"):
        RandomFourierFeatures(2, 8)(torch.rand(4, 3))
    with pytest.raises(ValueError, match="target"):
        RandomFourierFeatures(2, 8, target=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        RandomFourierFeatures(2, 8, sigma=0.0)
    with pytest.raises(ValueError, match="num_features"):
        RandomFourierFeatures(2, 0)
    with pytest.raises(ValueError, match="either generator or seed"):
        RandomFourierFeatures(2, 8, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="target"):
        RandomFourierFeatures(2, 8).set_lipschitz_target(float("nan"))
