"""Spectral-norm estimators: exact SVD, power iteration (lower bound), certified Gram bound (upper)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monai_lipinr.lipschitz.spectral import (
    spectral_norm_exact,
    spectral_norm_power,
    spectral_norm_upper_bound,
)

KINDS = ("gaussian", "orthogonal", "low_rank", "clustered", "heavy_tail")


def _matrix(kind: str, rows: int, cols: int, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        w = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    elif kind == "orthogonal":
        n = max(rows, cols)
        q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
        w = q[:rows, :cols]
    elif kind == "low_rank":
        w = torch.randn(rows, 1, generator=g, dtype=torch.float64) @ torch.randn(
            1, cols, generator=g, dtype=torch.float64
        )
        w = w + 1e-3 * torch.randn(rows, cols, generator=g, dtype=torch.float64)
    elif kind == "clustered":  # singular values in [0.99, 1]: the Frobenius-only Gram bound is loose here
        n = min(rows, cols)
        u, _ = torch.linalg.qr(torch.randn(rows, n, generator=g, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn(cols, n, generator=g, dtype=torch.float64))
        s = 0.99 + 0.01 * torch.rand(n, generator=g, dtype=torch.float64)
        w = u @ torch.diag(s) @ v.T
    else:
        w = torch.randn(rows, cols, generator=g, dtype=torch.float64) ** 3
    return w * scale


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    rows=st.integers(1, 48),
    cols=st.integers(1, 48),
    log_scale=st.floats(-6, 6),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_upper_bound_is_certified_and_tight(kind, rows, cols, log_scale, seed, dtype):
    w = _matrix(kind, rows, cols, 10.0**log_scale, seed).to(dtype)
    exact = spectral_norm_exact(w)
    bound = spectral_norm_upper_bound(w)
    assert bound >= exact, (bound, exact)
    assert bound <= exact * 1.01, (bound / exact - 1, kind)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
    iters=st.integers(1, 30),
)
def test_power_iteration_never_exceeds_exact(kind, rows, cols, seed, iters):
    w = _matrix(kind, rows, cols, 1.0, seed)
    sigma, u, v = spectral_norm_power(w, num_iterations=iters)
    exact = spectral_norm_exact(w)
    assert sigma <= exact * (1 + 1e-12)
    assert u.shape == (rows,) and v.shape == (cols,)
    assert torch.allclose(torch.linalg.vector_norm(v), torch.tensor(1.0, dtype=w.dtype))


def test_power_iteration_converges_and_warm_starts():
    w = torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5])) @ torch.linalg.qr(torch.randn(4, 4))[0]
    sigma, u, _ = spectral_norm_power(w, num_iterations=100)
    assert abs(sigma - 3.0) < 1e-5
    # one warm-started iteration from the converged vector stays converged
    sigma2, _, _ = spectral_norm_power(w, num_iterations=1, u=u)
    assert abs(sigma2 - 3.0) < 1e-5
    assert u.dtype == w.dtype


def test_exact_matches_numpy_and_gram_bound_converges():
    w = torch.randn(64, 40, dtype=torch.float64)
    ref = np.linalg.svd(w.numpy(), compute_uv=False)[0]
    assert spectral_norm_exact(w) == pytest.approx(ref, rel=1e-12)
    gaps = [spectral_norm_upper_bound(w, t) / ref - 1 for t in (1, 3, 6, 12)]
    assert all(g >= 0 for g in gaps)
    assert gaps == sorted(gaps, reverse=True)  # more iterations, tighter
    assert gaps[-1] < 1e-6


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
    lower_factor=st.sampled_from([0.5, 0.999, 1.0, 1.5, 100.0]),
)
def test_early_exit_never_breaks_the_certificate(kind, rows, cols, seed, lower_factor):
    """The lower bound only decides when to stop: even a wrong one (above σ) cannot yield a bound below σ."""
    w = _matrix(kind, rows, cols, 1.0, seed)
    exact = spectral_norm_exact(w)
    bound = spectral_norm_upper_bound(w, lower_bound=exact * lower_factor, rtol=1e-6)
    assert bound >= exact
    if lower_factor == 1.0:  # a correct, tight lower bound: stop within rtol (or at the iteration cap)
        assert bound <= max(exact * (1 + 1e-6), spectral_norm_upper_bound(w))


def test_early_exit_is_tight_with_a_converged_power_estimate():
    q, _ = torch.linalg.qr(torch.randn(128, 128, dtype=torch.float64))
    w = q @ torch.diag(torch.linspace(0.5, 2.0, 128, dtype=torch.float64)) @ q.T
    sigma, _, _ = spectral_norm_power(w, 300)
    bound = spectral_norm_upper_bound(w, 50, lower_bound=sigma, rtol=1e-8)
    assert 2.0 <= bound <= 2.0 * (1 + 1e-8) + 1e-12
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        spectral_norm_upper_bound(w, rtol=-1.0)


def test_orthogonal_bound_is_tight_thanks_to_row_sum_norm():
    """For an orthogonal matrix the Frobenius-only bound is n^(2^-T-1) loose; ours is exact."""
    q, _ = torch.linalg.qr(torch.randn(256, 256, dtype=torch.float64))
    assert spectral_norm_upper_bound(q, 4) == pytest.approx(1.0, rel=1e-9)


def test_zero_matrix():
    z = torch.zeros(3, 5)
    assert spectral_norm_exact(z) == 0.0
    assert spectral_norm_upper_bound(z) == 0.0
    assert spectral_norm_power(z, 3)[0] == 0.0


def test_gradients_are_not_tracked():
    w = torch.randn(5, 5, requires_grad=True)
    assert isinstance(spectral_norm_exact(w), float)
    assert isinstance(spectral_norm_upper_bound(w), float)
    _, u, v = spectral_norm_power(w, 2)
    assert not u.requires_grad and not v.requires_grad


@pytest.mark.parametrize("fn", [spectral_norm_exact, spectral_norm_upper_bound, spectral_norm_power])
def test_bad_weights(fn):
    with pytest.raises(TypeError, match="weight"):
        fn([[1.0, 2.0]])
    with pytest.raises(TypeError, match="floating-point"):
        fn(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"2-D.*\(4,\)"):
        fn(torch.ones(4))
    with pytest.raises(ValueError, match="non-empty"):
        fn(torch.ones(0, 3))
    with pytest.raises(ValueError, match="non-finite"):
        fn(torch.tensor([[1.0, float("nan")]]))


def test_bad_iterations_and_vectors():
    w = torch.randn(3, 4)
    with pytest.raises(ValueError, match="num_iterations must be >= 1, got 0"):
        spectral_norm_upper_bound(w, 0)
    with pytest.raises(TypeError, match="num_iterations must be an int"):
        spectral_norm_power(w, 2.5)
    with pytest.raises(TypeError, match="num_iterations must be an int"):
        spectral_norm_power(w, True)
    with pytest.raises(ValueError, match=r"u must have shape \(3,\)"):
        spectral_norm_power(w, 2, u=torch.ones(4))
    with pytest.raises(TypeError, match="u must be a torch.Tensor"):
        spectral_norm_power(w, 2, u=[1.0, 0.0, 0.0])
