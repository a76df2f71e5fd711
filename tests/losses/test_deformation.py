"""Folding, volume and hyperelastic losses on point Jacobians and grid DDFs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.losses import (
    HyperelasticLoss,
    JacobianFoldingLoss,
    JacobianVolumeLoss,
    hyperelastic_energy,
    hyperelastic_volume_term,
)
from monai_lipinr.ops import jacobian_autograd

DTYPES = (torch.float32, torch.float64)


def linear_ddf(a: float, shape=(6, 5, 4), spacing=(1.0, 1.0, 1.0), dtype=torch.float64) -> torch.Tensor:
    """MONAI voxel DDF of the physical field u(x) = a x on a grid with the given spacing."""
    axes = [torch.arange(n, dtype=dtype) * s for n, s in zip(shape, spacing)]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij"))
    s = torch.tensor(spacing, dtype=dtype).reshape(-1, *([1] * len(shape)))
    return (a * x / s).unsqueeze(0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [2, 3])
def test_folding_loss_zero_on_identity_and_smooth_compression(dtype, d):
    loss = JacobianFoldingLoss(margin=0.1)
    assert float(loss(torch.zeros(7, d, d, dtype=dtype))) == 0.0
    # u = -0.3 x from an actual callable: det = 0.7^d >= 0.343 > margin
    _, jac = jacobian_autograd(lambda x: -0.3 * x, torch.randn(9, d, dtype=dtype))
    out = loss(jac)
    assert out.dtype == dtype and float(out) == 0.0
    grid = JacobianFoldingLoss(margin=0.1, kind="ddf", spacing=(0.7, 1.0, 2.5)[:d])
    shape = (6, 5, 4)[:d]
    assert float(grid(linear_ddf(-0.3, shape, (0.7, 1.0, 2.5)[:d], dtype))) == 0.0
    assert float(grid(torch.zeros(2, d, *shape, dtype=dtype))) == 0.0


def test_folding_loss_value_on_folded_fields():
    margin, power = 0.1, 2.0
    loss = JacobianFoldingLoss(margin=margin, power=power, reduction="none")
    # 3D: u = -2.5 x -> det = (-1.5)^3 = -3.375
    j3 = torch.stack([-2.5 * torch.eye(3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)])
    expected = (margin + 3.375) ** power
    torch.testing.assert_close(loss(j3), torch.tensor([expected, 0.0], dtype=torch.float64))
    assert float(JacobianFoldingLoss(margin, power)(j3)) == pytest.approx(
        expected / 2
    )  # mean over the region
    assert float(JacobianFoldingLoss(margin, power, reduction="sum")(j3)) == pytest.approx(expected)
    # 2D: fold along one axis -> det = -1.5
    j2 = torch.diag(torch.tensor([-2.5, 0.0], dtype=torch.float64)).unsqueeze(0)
    assert float(JacobianFoldingLoss(margin, 3.0)(j2)) == pytest.approx((margin + 1.5) ** 3)
    # near-folding but not folded is penalised only below the margin
    j_near = torch.diag(torch.tensor([-0.95, 0.0], dtype=torch.float64)).unsqueeze(0)  # det = 0.05
    assert float(loss(j_near)) == pytest.approx((margin - 0.05) ** 2)


def test_folding_loss_on_grid_ddf_matches_points():
    spacing = (1.5, 0.8, 2.0)
    ddf = linear_ddf(-2.5, spacing=spacing)  # FD is exact on linear fields
    grid = JacobianFoldingLoss(kind="ddf", spacing=spacing, reduction="none")
    out = grid(ddf)
    assert out.shape == (1, 6, 5, 4)
    torch.testing.assert_close(out, torch.full_like(out, (0.1 + 3.375) ** 2))
    # the same folded slab as in the FD test: only the slab (and its edge) is penalised
    ddf = torch.zeros(1, 3, 10, 5, 6, dtype=torch.float64)
    ddf[0, 0] = (-2.5 * torch.clamp(torch.arange(10.0, dtype=torch.float64), max=4)).reshape(10, 1, 1)
    per_voxel = grid(ddf)
    torch.testing.assert_close(per_voxel[0, :4], torch.full((4, 5, 6), 1.6**2, dtype=torch.float64))
    torch.testing.assert_close(per_voxel[0, 4], torch.full((5, 6), 0.35**2, dtype=torch.float64))
    assert torch.count_nonzero(per_voxel[0, 5:]) == 0


def test_volume_loss():
    loss = JacobianVolumeLoss(reduction="none")
    a = torch.tensor([0.0, 0.2, -0.3], dtype=torch.float64)
    jac = a[:, None, None] * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(loss(jac), ((1 + a) ** 3 - 1).abs())
    # a volume-preserving shear costs nothing
    shear = torch.tensor([[0.0, 0.8], [0.0, 0.0]], dtype=torch.float64)
    assert float(JacobianVolumeLoss()(shear.unsqueeze(0))) == 0.0
    ddf = linear_ddf(0.2, spacing=(0.5, 1.0, 3.0))
    torch.testing.assert_close(
        JacobianVolumeLoss(kind="ddf", spacing=(0.5, 1.0, 3.0))(ddf),
        torch.tensor(1.2**3 - 1, dtype=torch.float64),
    )


def test_hyperelastic_analytic_values():
    la, va = 0.7, 1.9
    loss = HyperelasticLoss(length_weight=la, volume_weight=va, reduction="none")
    assert float(loss(torch.zeros(1, 3, 3)).abs().max()) == 0.0
    a = torch.tensor([0.2, -0.3], dtype=torch.float64)
    jac = a[:, None, None] * torch.eye(3, dtype=torch.float64)
    v = (1 + a) ** 3
    torch.testing.assert_close(loss(jac), la * 3 * a**2 + va * (v - 1) ** 4 / v**2)
    # the length term is physical with a spacing: u = 0.2 x on an anisotropic grid
    spacing = (0.5, 1.0, 3.0)
    grid = HyperelasticLoss(la, 0.0, kind="ddf", spacing=spacing)
    torch.testing.assert_close(
        grid(linear_ddf(0.2, spacing=spacing)), torch.tensor(la * 3 * 0.04, dtype=torch.float64)
    )


@settings(max_examples=50, deadline=None)
@given(v=st.floats(0.11, 9.0))
def test_hyperelastic_volume_term_is_symmetric_in_inverse(v):
    t = torch.tensor([v, 1.0 / v], dtype=torch.float64)
    psi = hyperelastic_volume_term(t, det_floor=0.1)
    assert float(psi[0]) == pytest.approx(float(psi[1]), rel=1e-9, abs=1e-12)


def test_hyperelastic_volume_term_is_c1_and_decreasing_below_the_floor():
    f = 0.1
    v = torch.tensor([f - 1e-7, f + 1e-7, -0.5, -2.0], dtype=torch.float64, requires_grad=True)
    psi = hyperelastic_volume_term(v, det_floor=f)
    (g,) = torch.autograd.grad(psi.sum(), v)
    psi = psi.detach()
    assert float(psi[0]) == pytest.approx(float(psi[1]), rel=1e-5)
    assert float(g[0]) == pytest.approx(float(g[1]), rel=1e-4)
    assert torch.isfinite(psi).all() and float(psi[3]) > float(psi[2]) > float(psi[0])
    assert float(g[2]) < 0 and float(g[3]) < 0  # pushes folded points towards positive volume


def _gradcheck_jacobians(d: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(d)
    return (0.8 * torch.randn(12, d, d, generator=g, dtype=torch.float64)).requires_grad_(True)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize(
    "loss",
    [
        JacobianFoldingLoss(margin=0.3),
        JacobianFoldingLoss(margin=0.3, power=3.0, reduction="sum"),
        JacobianVolumeLoss(),
        HyperelasticLoss(0.5, 2.0, det_floor=0.2),
    ],
    ids=["folding", "folding-p3", "volume", "hyperelastic"],
)
def test_gradcheck_points_and_ddf(loss, d):
    jac = _gradcheck_jacobians(d)
    assert bool((loss.pointwise(jac.detach()) > 0).any())  # the check exercises a non-trivial penalty
    assert torch.autograd.gradcheck(loss, (jac,))
    ddf = (0.8 * torch.randn(1, d, *([4] * d), dtype=torch.float64)).requires_grad_(True)
    grid = type(loss)(**{**_ctor_args(loss), "kind": "ddf", "spacing": (1.2, 0.7, 2.0)[:d]})
    assert torch.autograd.gradcheck(grid, (ddf,))


def _ctor_args(loss) -> dict:
    args = {"reduction": loss.reduction}
    if isinstance(loss, JacobianFoldingLoss):
        args.update(margin=loss.margin, power=loss.power)
    if isinstance(loss, HyperelasticLoss):
        args.update(
            length_weight=loss.length_weight, volume_weight=loss.volume_weight, det_floor=loss.det_floor
        )
    return args


@pytest.mark.parametrize(
    ("ctor", "kwargs", "error", "match"),
    [
        (
            JacobianFoldingLoss,
            {"reduction": "median"},
            ValueError,
            r"reduction must be one of \['none', 'mean', 'sum'\]",
        ),
        (JacobianFoldingLoss, {"kind": "grid"}, ValueError, r"kind must be one of \['points', 'ddf'\]"),
        (JacobianFoldingLoss, {"spacing": (1.0, 1.0)}, ValueError, "spacing=.* only applies to kind='ddf'"),
        (JacobianFoldingLoss, {"power": 0.5}, ValueError, "power must be >= 1"),
        (JacobianFoldingLoss, {"margin": float("nan")}, ValueError, "margin must be finite"),
        (JacobianFoldingLoss, {"margin": "0.1"}, TypeError, "margin must be a real number"),
        (JacobianVolumeLoss, {"spatial_dims": 4}, ValueError, "spatial_dims must be one of"),
        (HyperelasticLoss, {"det_floor": 1.0}, ValueError, r"det_floor must lie in \(0, 1\)"),
        (HyperelasticLoss, {"length_weight": -1.0}, ValueError, "length_weight must be >= 0"),
    ],
)
def test_bad_constructor_arguments(ctor, kwargs, error, match):
    with pytest.raises(error, match=match):
        ctor(**kwargs)


def test_bad_forward_inputs():
    with pytest.raises(ValueError, match=r"input must have shape \(\*batch, D, D\)"):
        JacobianFoldingLoss()(torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match="input has 2 spatial dims .* spatial_dims=3"):
        JacobianFoldingLoss(spatial_dims=3)(torch.zeros(4, 2, 2))
    with pytest.raises(ValueError, match="input must be finite"):
        HyperelasticLoss()(torch.full((1, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="ddf has 2 channels but 3 spatial dims"):
        JacobianFoldingLoss(kind="ddf")(torch.zeros(1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match="spacing must have 3 entries"):
        JacobianFoldingLoss(kind="ddf", spacing=(1.0, 2.0))(torch.zeros(1, 3, 4, 4, 4))


@settings(max_examples=60, deadline=None)
@given(
    d=st.sampled_from([2, 3]),
    margin=st.floats(-0.5, 0.9),
    scale=st.floats(0.05, 2.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_folding_loss_is_zero_exactly_when_every_det_clears_the_margin(d, margin, scale, seed):
    g = torch.Generator().manual_seed(seed)
    jac = scale * torch.randn(16, d, d, generator=g, dtype=torch.float64)
    det = torch.linalg.det(torch.eye(d, dtype=torch.float64) + jac)
    per_point = JacobianFoldingLoss(margin=margin, reduction="none")(jac)
    torch.testing.assert_close(per_point, torch.relu(margin - det) ** 2, rtol=1e-9, atol=1e-12)
    assert (float(per_point.sum()) == 0.0) == bool((det >= margin - 1e-12).all()) or bool(
        ((det - margin).abs() < 1e-9).any()
    )


def test_hyperelastic_energy_validates_its_input():
    with pytest.raises(ValueError, match="displacement_jacobian must be finite"):
        hyperelastic_energy(torch.full((2, 3, 3), float("nan")))
    with pytest.raises(ValueError, match=r"displacement_jacobian must have shape \(\*batch, D, D\)"):
        hyperelastic_energy(torch.zeros(2, 3, 2))
