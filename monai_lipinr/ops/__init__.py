"""Differential operators: Jacobians, Hessians and determinants of INR fields and grid DDFs.

All Jacobians use the matrix-last layout ``[..., i, j] = ∂u_i/∂x_j``.

- :func:`jacobian_autograd`, :func:`hessian_autograd`: autograd reference for any point-wise callable.
- :func:`deformation_jacobian` (``I + ∇u``), :func:`jacobian_determinant` (2D/3D closed form),
  :func:`deformation_determinant` (``det(I + ∇u)``).
- :func:`ddf_jacobian`, :func:`ddf_jacobian_determinant`: finite differences on a MONAI DDF
  ``(B, D, *spatial)`` in voxels, physical with a spacing.
- :mod:`monai_lipinr.ops.forward_jacobian`: the fast one-pass path for the package's networks.
"""

from __future__ import annotations

from monai_lipinr.ops.determinant import deformation_determinant, jacobian_determinant
from monai_lipinr.ops.finite_difference import DDF_UNITS, ddf_jacobian, ddf_jacobian_determinant
from monai_lipinr.ops.jacobian import deformation_jacobian, hessian_autograd, jacobian_autograd

__all__ = [
    "DDF_UNITS",
    "ddf_jacobian",
    "ddf_jacobian_determinant",
    "deformation_determinant",
    "deformation_jacobian",
    "hessian_autograd",
    "jacobian_autograd",
    "jacobian_determinant",
]
