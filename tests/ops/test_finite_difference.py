"""Finite-difference Jacobian of MONAI DDFs against analytic fields, with anisotropic spacing."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_lipinr.ops import ddf_jacobian, ddf_jacobian_determinant, deformation_determinant

SPACING_3D = (0.8, 1.3, 2.1)
SHAPE_3D = (26, 22, 18)


def physical_grid(shape, spacing, dtype=torch.float64):
    """(D, *shape) mm coordinates of voxel centres, index i at i * spacing (array-axis order)."""
    axes = [torch.arange(n, dtype=dtype) * s for n, s in zip(shape, spacing)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def to_voxel_ddf(u_mm: torch.Tensor, spacing) -> torch.Tensor:
    """(D, *shape) mm displacement -> (1, D, *shape) MONAI voxel DDF."""
    s = torch.tensor(spacing, dtype=u_mm.dtype).reshape(-1, *([1] * (u_mm.ndim - 1)))
    return (u_mm / s).unsqueeze(0)


def smooth_field(x):
    """A smooth 3D displacement in mm and its analytic Jacobian (D, D, *shape) in mm/mm."""
    lx, ly, lz = 18.0, 25.0, 30.0
    a, b, c = 1.2, 0.7, 0.9
    u = torch.stack(
        [
            a * torch.sin(x[0] / lx) * torch.cos(x[1] / ly),
            b * torch.sin(x[1] / ly + x[2] / lz),
            c * torch.cos(x[0] / lx) * torch.sin(x[2] / lz),
        ]
    )
    z = torch.zeros_like(x[0])
    jac = torch.stack(
        [
            torch.stack(
                [
                    a / lx * torch.cos(x[0] / lx) * torch.cos(x[1] / ly),
                    -a / ly * torch.sin(x[0] / lx) * torch.sin(x[1] / ly),
                    z,
                ]
            ),
            torch.stack(
                [z, b / ly * torch.cos(x[1] / ly + x[2] / lz), b / lz * torch.cos(x[1] / ly + x[2] / lz)]
            ),
            torch.stack(
                [
                    -c / lx * torch.sin(x[0] / lx) * torch.sin(x[2] / lz),
                    z,
                    c / lz * torch.cos(x[0] / lx) * torch.cos(x[2] / lz),
                ]
            ),
        ]
    )
    return u, jac


def matrix_last(jac_first: torch.Tensor) -> torch.Tensor:
    """(D, D, *shape) -> (1, *shape, D, D)."""
    return jac_first.movedim(0, -1).movedim(0, -1).unsqueeze(0)


def test_smooth_anisotropic_field_matches_analytic():
    x = physical_grid(SHAPE_3D, SPACING_3D)
    u_mm, jac_true = smooth_field(x)
    jac = ddf_jacobian(to_voxel_ddf(u_mm, SPACING_3D), spacing=SPACING_3D)
    expected = matrix_last(jac_true)
    assert jac.shape == (1, *SHAPE_3D, 3, 3)
    err = (jac - expected).abs()
    interior = err[:, 1:-1, 1:-1, 1:-1]
    scale = expected.abs().max()
    # central differences: O(h^2) inside; one-sided first order on the border: O(h)
    assert float(interior.max()) < 1e-3 * float(scale)
    assert float(err.max()) < 0.03 * float(scale)
    assert float(interior.max()) < 0.05 * float(err.max())  # the border really is less accurate
    # second-order one-sided stencils shrink the border error
    jac2 = ddf_jacobian(to_voxel_ddf(u_mm, SPACING_3D), spacing=SPACING_3D, edge_order=2)
    assert float((jac2 - expected).abs().max()) < 0.1 * float(err.max())
    # the determinant follows
    det = ddf_jacobian_determinant(to_voxel_ddf(u_mm, SPACING_3D), spacing=SPACING_3D)
    det_true = deformation_determinant(expected)
    assert float((det - det_true)[:, 1:-1, 1:-1, 1:-1].abs().max()) < 2e-4


def test_interior_error_is_second_order():
    errors = []
    for refine in (1, 2):
        spacing = tuple(s / refine for s in SPACING_3D)
        shape = tuple(n * refine for n in SHAPE_3D)
        u_mm, jac_true = smooth_field(physical_grid(shape, spacing))
        jac = ddf_jacobian(to_voxel_ddf(u_mm, spacing), spacing)
        errors.append(float((jac - matrix_last(jac_true))[:, 1:-1, 1:-1, 1:-1].abs().max()))
    assert 3.0 < errors[0] / errors[1] < 5.0, errors


def test_spacing_is_needed_for_the_physical_jacobian():
    x = physical_grid(SHAPE_3D, SPACING_3D)
    u_mm, jac_true = smooth_field(x)
    ddf = to_voxel_ddf(u_mm, SPACING_3D)
    with_spacing = ddf_jacobian(ddf, spacing=SPACING_3D)
    voxel = ddf_jacobian(ddf)
    s = torch.tensor(SPACING_3D, dtype=torch.float64)
    torch.testing.assert_close(with_spacing, voxel * s[:, None] / s[None, :])
    assert float((voxel - with_spacing).abs().max()) > 1e-3  # anisotropy matters for ∇u ...
    # ... but not for det(I + ∇u) of a voxel DDF (diagonal similarity)
    torch.testing.assert_close(
        ddf_jacobian_determinant(ddf), ddf_jacobian_determinant(ddf, spacing=SPACING_3D)
    )
    # a DDF in mm gives the same physical Jacobian
    torch.testing.assert_close(
        ddf_jacobian(u_mm.unsqueeze(0), SPACING_3D, ddf_units="physical"), with_spacing
    )


def test_linear_field_exact_everywhere_and_quadratic_exact_inside():
    spacing = (0.5, 2.0)
    x = physical_grid((9, 7), spacing)
    a = torch.tensor([[0.3, -1.1], [0.7, 0.2]], dtype=torch.float64)
    u_lin = torch.einsum("ij,j...->i...", a, x)
    jac = ddf_jacobian(to_voxel_ddf(u_lin, spacing), spacing)
    torch.testing.assert_close(jac, a.expand(1, 9, 7, 2, 2), rtol=1e-12, atol=1e-12)
    # u = (x0^2, x0 x1): exact central differences for quadratics
    u_q = torch.stack([x[0] ** 2, x[0] * x[1]])
    jac = ddf_jacobian(to_voxel_ddf(u_q, spacing), spacing)
    true = torch.stack([torch.stack([2 * x[0], 0 * x[0]]), torch.stack([x[1], x[0]])])
    torch.testing.assert_close(jac[:, 1:-1, 1:-1], matrix_last(true)[:, 1:-1, 1:-1], rtol=1e-12, atol=1e-12)
    # ... and everywhere with second-order border stencils
    jac2 = ddf_jacobian(to_voxel_ddf(u_q, spacing), spacing, edge_order=2)
    torch.testing.assert_close(jac2, matrix_last(true), rtol=1e-12, atol=1e-12)


def test_folded_slab_determinant():
    # u_0 = -2.5 * min(i, k) voxels along axis 0 -> det = -1.5 for i < k, -0.25 at i = k, 1 beyond
    k = 4
    i = torch.arange(10, dtype=torch.float32)
    ddf = torch.zeros(1, 3, 10, 5, 6)
    ddf[0, 0] = (-2.5 * torch.clamp(i, max=k)).reshape(10, 1, 1)
    det = ddf_jacobian_determinant(ddf, spacing=(1.5, 1.0, 1.0))
    assert det.dtype == torch.float32
    torch.testing.assert_close(det[0, :k], torch.full((k, 5, 6), -1.5))
    torch.testing.assert_close(det[0, k], torch.full((5, 6), -0.25))
    torch.testing.assert_close(det[0, k + 1 :], torch.ones(10 - k - 1, 5, 6))


@settings(max_examples=25, deadline=None)
@given(
    spacing=st.lists(st.floats(0.3, 3.0), min_size=2, max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_determinant_is_spacing_invariant_for_voxel_ddfs(spacing, seed):
    d = len(spacing)
    g = torch.Generator().manual_seed(seed)
    ddf = 0.4 * torch.randn(2, d, *([5] * d), generator=g, dtype=torch.float64)
    torch.testing.assert_close(
        ddf_jacobian_determinant(ddf, spacing), ddf_jacobian_determinant(ddf), rtol=1e-10, atol=1e-10
    )
    assert math.isfinite(float(ddf_jacobian(ddf, spacing).abs().max()))


def test_gradcheck_ddf_jacobian():
    ddf = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ddf_jacobian(t, (0.7, 1.9)), (ddf,))


@pytest.mark.parametrize(
    ("ddf", "kwargs", "error", "match"),
    [
        (torch.zeros(1, 3, 4, 4), {}, ValueError, "3 channels but 2 spatial dims"),
        (torch.zeros(1, 2, 4, 4, 4), {}, ValueError, "2 channels but 3 spatial dims"),
        (torch.zeros(3, 4, 4), {}, ValueError, r"ddf must be a DDF of shape \(B, D, \*spatial\)"),
        (torch.zeros(1, 2, 4, 4), {"spatial_dims": 3}, ValueError, "spatial_dims=3"),
        (torch.zeros(1, 2, 1, 4), {}, ValueError, "at least 2 voxels"),
        (torch.zeros(1, 2, 2, 4), {"edge_order": 2}, ValueError, "at least 3 voxels"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.int32), {}, TypeError, "floating-point"),
        (torch.full((1, 2, 4, 4), float("nan")), {}, ValueError, "ddf must be finite.*NaN"),
        (
            torch.zeros(1, 2, 4, 4),
            {"spacing": (1.0, -2.0)},
            ValueError,
            "spacing entries must be finite and > 0",
        ),
        (torch.zeros(1, 2, 4, 4), {"spacing": (1.0, 2.0, 3.0)}, ValueError, "spacing must have 2 entries"),
        (torch.zeros(1, 2, 4, 4), {"spacing": "1mm"}, TypeError, "spacing must be a number"),
        (
            torch.zeros(1, 2, 4, 4),
            {"ddf_units": "mm"},
            ValueError,
            r"ddf_units must be one of \['voxel', 'physical'\]",
        ),
        (torch.zeros(1, 2, 4, 4), {"edge_order": 3}, ValueError, "edge_order must be 1 or 2"),
    ],
)
def test_bad_ddf_inputs(ddf, kwargs, error, match):
    with pytest.raises(error, match=match):
        ddf_jacobian(ddf, **kwargs)
