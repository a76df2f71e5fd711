"""Finite-difference Jacobians of dense displacement fields on a voxel grid.

A MONAI DDF has shape ``(B, D, *spatial)`` (channel-first, channel ``i`` is the displacement along
array axis ``i``), is expressed in voxels and follows pull semantics
``warped(p) = moving(p + u(p))`` (see DESIGN.md §2). Derivatives use second-order central differences
inside the grid and one-sided differences on the border (first order by default,
``edge_order=2`` for second-order one-sided stencils), i.e. :func:`torch.gradient`.

With voxel spacing ``s`` (mm per voxel, array-axis order) the physical Jacobian of a voxel-unit DDF is
``∂u_i/∂x_j [mm/mm] = (s_i / s_j) · ∂u_i/∂x_j [voxel/voxel]``. This diagonal similarity leaves
``det(I + ∇u)`` unchanged, so the determinant does not depend on the spacing for a voxel-unit DDF —
but ``∇u`` itself (and losses built on it, e.g. ``‖∇u‖²``) does. The image direction matrix is a
rotation of both frames and changes neither the determinant nor ``‖∇u‖``; the Jacobian is returned in
the array-axis frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from monai_lipinr.ops.determinant import deformation_determinant
from monai_lipinr.ops.validation import check_ddf, check_option, spacing_tensor

__all__ = ["DDF_UNITS", "ddf_jacobian", "ddf_jacobian_determinant"]

#: ``"voxel"``: the MONAI convention (displacement in voxels); ``"physical"``: displacement in mm.
DDF_UNITS = ("voxel", "physical")


def ddf_jacobian(
    ddf: torch.Tensor,
    spacing: float | Sequence[float] | torch.Tensor | None = None,
    ddf_units: str = "voxel",
    edge_order: int = 1,
    spatial_dims: int | None = None,
) -> torch.Tensor:
    """Finite-difference displacement Jacobian ``∇u`` of a grid DDF.

    Args:
        ddf: ``(B, D, *spatial)`` with ``D = len(spatial)`` in {2, 3}; channel ``i`` is the displacement
            along array axis ``i``, in voxels (``ddf_units="voxel"``, MONAI) or mm (``"physical"``).
            Every spatial axis needs at least ``edge_order + 1`` voxels.
        spacing: voxel size in mm per array axis (one number for isotropic). ``None`` means unit
            spacing: the result is then in voxel/voxel (``ddf_units="voxel"``).
        ddf_units: ``"voxel"`` or ``"physical"`` (mm), see above.
        edge_order: order of the one-sided border stencils (1 or 2); the interior is always central.
        spatial_dims: expected ``D``; ``None`` infers it from ``ddf``.

    Returns:
        ``(B, *spatial, D, D)`` (matrix-last) with ``[b, ..., i, j] = ∂u_i/∂x_j``, in mm/mm when a
        spacing is given, voxel/voxel otherwise; same device and dtype as ``ddf``.

    Raises:
        TypeError: when ``ddf`` is not a floating tensor or ``spacing`` is not numeric.
        ValueError: on a wrong shape, channel/spatial mismatch, too small grid, NaN/Inf, bad spacing,
            unknown ``ddf_units`` or ``edge_order``.
    """
    if edge_order not in (1, 2) or isinstance(edge_order, bool):
        raise ValueError(f"edge_order must be 1 or 2, got {edge_order!r}.")
    units = check_option("ddf_units", ddf_units, DDF_UNITS)
    d = check_ddf("ddf", ddf, spatial_dims, min_size=edge_order + 1)
    s = spacing_tensor(spacing, d, ddf)
    grads = torch.gradient(ddf, dim=list(range(2, 2 + d)), edge_order=edge_order)  # D × (B, D, *spatial)
    jac = torch.stack(grads, dim=-1).movedim(1, -2)  # (B, *spatial, D_i, D_j) in [u-units per voxel]
    scale = 1.0 / s  # per-column: divide by the spacing of the derivative axis j
    if units == "voxel":
        scale = s.unsqueeze(-1) * scale  # rows: voxel displacement -> mm
    return jac * scale


def ddf_jacobian_determinant(
    ddf: torch.Tensor,
    spacing: float | Sequence[float] | torch.Tensor | None = None,
    ddf_units: str = "voxel",
    edge_order: int = 1,
    spatial_dims: int | None = None,
) -> torch.Tensor:
    """``det(I + ∇u)`` of a grid DDF by finite differences (see :func:`ddf_jacobian`).

    Args:
        ddf: ``(B, D, *spatial)`` MONAI DDF (voxels, or mm with ``ddf_units="physical"``).
        spacing: voxel size in mm per array axis; irrelevant for a voxel-unit DDF (the determinant is
            invariant), required for a mm DDF on an anisotropic grid.
        ddf_units: ``"voxel"`` or ``"physical"``.
        edge_order: order of the one-sided border stencils (1 or 2).
        spatial_dims: expected ``D``; ``None`` infers it from ``ddf``.

    Returns:
        ``(B, *spatial)`` determinants (dimensionless); ``<= 0`` marks folding.

    Raises:
        TypeError / ValueError: as :func:`ddf_jacobian`.
    """
    return deformation_determinant(
        ddf_jacobian(ddf, spacing, ddf_units, edge_order, spatial_dims), validate=False
    )
