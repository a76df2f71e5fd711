"""Global NCC of point samples: perfect match, scale/shift invariance, constant-safe, batches."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.losses import PointNCCLoss, point_ncc

DTYPES = (torch.float32, torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_and_affine_intensities(dtype):
    a = torch.randn(500, dtype=dtype)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert float(point_ncc(a, a)) == pytest.approx(1.0, abs=tol)
    assert float(point_ncc(a, 3.5 * a - 40.0)) == pytest.approx(1.0, abs=tol)
    assert float(point_ncc(a, -0.2 * a + 1.0)) == pytest.approx(-1.0, abs=tol)
    out = PointNCCLoss()(a, 2.0 * a + 7.0)
    assert out.dtype == dtype and float(out) == pytest.approx(0.0, abs=tol)
    assert float(PointNCCLoss(form="negative")(a, a)) == pytest.approx(-1.0, abs=tol)


def test_hand_value():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    b = torch.tensor([1.0, 3.0, 2.0, 5.0], dtype=torch.float64)
    # centred: a (-1.5,-.5,.5,1.5), b (-1.75,.25,-.75,2.25): cov 5.5, |a|² 5, |b|² 8.75
    assert float(point_ncc(a, b)) == pytest.approx(5.5 / (5.0 * 8.75) ** 0.5, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-1e3, 1e3),
    seed=st.integers(0, 2**31 - 1),
)
def test_invariant_to_scale_and_shift(scale, shift, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, 64, generator=g, dtype=torch.float64)
    ref = float(point_ncc(a, b))
    assert float(point_ncc(scale * a + shift, b)) == pytest.approx(ref, abs=1e-9)
    assert float(point_ncc(a, scale * b - shift)) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_inputs_are_safe(dtype):
    const = torch.full((1000,), 0.1, dtype=dtype)  # mean has rounding error: not exactly centred
    b = torch.randn(1000, dtype=dtype)
    for x, y in (
        (const, b),
        (b, const),
        (const, const),
        (torch.zeros(10, dtype=dtype), torch.zeros(10, dtype=dtype)),
    ):
        x = x.clone().requires_grad_(True)
        y = y.clone().requires_grad_(True)
        loss = PointNCCLoss()(x, y)
        assert float(loss) == 1.0  # NCC defined as 0: no correlation information
        loss.backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_batches_and_reduction():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(4, 50, generator=g, dtype=torch.float64)
    b = a.clone()
    b[1] = -b[1]
    b[2] = torch.randn(50, generator=g, dtype=torch.float64)
    per = PointNCCLoss(reduction="none")(a, b)
    assert per.shape == (4,)
    torch.testing.assert_close(per[[0, 1, 3]], torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64))
    assert float(PointNCCLoss(reduction="sum")(a, b)) == pytest.approx(float(per.sum()))
    assert float(PointNCCLoss()(a, b)) == pytest.approx(float(per.mean()))


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 20, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 20, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(PointNCCLoss(), (a, b))


def test_bad_inputs():
    with pytest.raises(ValueError, match="input and target must have the same shape"):
        point_ncc(torch.zeros(5), torch.zeros(6))
    with pytest.raises(ValueError, match=r"input must have shape \(N,\) or \(B, N\)"):
        point_ncc(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="target must be finite"):
        point_ncc(torch.zeros(3), torch.tensor([0.0, float("nan"), 1.0]))
    with pytest.raises(TypeError, match="floating-point"):
        point_ncc(torch.arange(5), torch.arange(5))
    with pytest.raises(ValueError, match=r"form must be one of \['one_minus', 'negative'\]"):
        PointNCCLoss(form="1-ncc")
    with pytest.raises(ValueError, match="reduction must be one of"):
        PointNCCLoss(reduction="avg")
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        PointNCCLoss(eps=-1.0)
