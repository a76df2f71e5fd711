"""Closed-form determinants of batched 2×2 and 3×3 Jacobians (differentiable, any device/dtype)."""

from __future__ import annotations

import torch

from monai_lipinr.ops.jacobian import deformation_jacobian
from monai_lipinr.ops.validation import check_matrix_field

__all__ = ["jacobian_determinant", "deformation_determinant"]


def jacobian_determinant(jac: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Determinant of a batch of 2×2 or 3×3 matrices in matrix-last layout.

    The closed form (rule of Sarrus) is used rather than an LU factorisation: it is exact for
    singular matrices, smooth everywhere (``gradcheck``-friendly) and cheap for millions of points.

    Args:
        jac: ``(*batch, D, D)`` with ``D`` in {2, 3}; for a deformation pass ``I + ∇u``
            (see :func:`~monai_lipinr.ops.jacobian.deformation_jacobian`).
        validate: check type, shape and finiteness (one host sync); internal callers that already
            validated their input pass ``False``.

    Returns:
        ``(*batch,)`` determinants on ``jac``'s device and dtype.

    Raises:
        TypeError: when ``jac`` is not a floating tensor.
        ValueError: when the matrices are not 2×2 / 3×3, or on NaN/Inf.
    """
    d = check_matrix_field("jac", jac) if validate else jac.shape[-1]
    if d == 2:
        return jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
    a, b, c = jac[..., 0, 0], jac[..., 0, 1], jac[..., 0, 2]
    e, f, g = jac[..., 1, 0], jac[..., 1, 1], jac[..., 1, 2]
    h, i, k = jac[..., 2, 0], jac[..., 2, 1], jac[..., 2, 2]
    return a * (f * k - g * i) - b * (e * k - g * h) + c * (e * i - f * h)


def deformation_determinant(displacement_jacobian: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """``det(I + ∇u)``: the local volume ratio of ``φ(x) = x + u(x)`` (``<= 0`` marks folding).

    Args:
        displacement_jacobian: ``∇u`` of shape ``(*batch, D, D)``, matrix-last, ``D`` in {2, 3}, with
            ``u`` and ``x`` in the same units.
        validate: check the input (see :func:`jacobian_determinant`).

    Returns:
        ``(*batch,)`` determinants (dimensionless).

    Raises:
        TypeError / ValueError: as :func:`jacobian_determinant`.
    """
    return jacobian_determinant(deformation_jacobian(displacement_jacobian, validate), validate=False)
