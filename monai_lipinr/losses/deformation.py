"""Deformation regularisers built on the displacement Jacobian ``∇u``.

Every loss here accepts two kinds of input through one ``kind`` argument, and shares one code path
after the Jacobian is formed:

- ``kind="points"``: a batch of displacement Jacobians ``(*batch, D, D)`` (matrix-last,
  ``[..., i, j] = ∂u_i/∂x_j``) sampled at points, e.g. from
  :func:`~monai_lipinr.ops.jacobian_autograd` or the networks' fast path, with ``u`` and ``x`` in the
  SAME units (network units, or mm).
- ``kind="ddf"``: a MONAI DDF ``(B, D, *spatial)`` (voxels, or mm with ``ddf_units="physical"``), whose
  Jacobian is taken by finite differences (:func:`~monai_lipinr.ops.ddf_jacobian`); with ``spacing``
  it is physical (mm/mm).

The point-wise penalties are exposed as functions (:func:`folding_penalty`, :func:`volume_penalty`,
:func:`hyperelastic_energy`) so they can be reused on any determinant / Jacobian tensor. With
``reduction="none"`` the losses return the point-wise penalty, ``(*batch,)`` for points and
``(B, *spatial)`` for a DDF. Nothing is tied to a device: tensors follow the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_lipinr.lipschitz.base import check_positive_finite
from monai_lipinr.losses.utils import check_reduction, reduce_loss
from monai_lipinr.ops.determinant import deformation_determinant
from monai_lipinr.ops.finite_difference import DDF_UNITS, ddf_jacobian
from monai_lipinr.ops.validation import SUPPORTED_SPATIAL_DIMS, check_matrix_field, check_option

__all__ = [
    "INPUT_KINDS",
    "folding_penalty",
    "volume_penalty",
    "hyperelastic_volume_term",
    "hyperelastic_energy",
    "DeformationJacobianLoss",
    "JacobianFoldingLoss",
    "JacobianVolumeLoss",
    "HyperelasticLoss",
]

#: Input kinds of the deformation losses.
INPUT_KINDS = ("points", "ddf")


def _check_real(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r}).")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return float(value)


def folding_penalty(det: torch.Tensor, margin: float = 0.1, power: float = 2.0) -> torch.Tensor:
    """Point-wise folding penalty ``relu(margin − det)^power``.

    Exactly zero wherever ``det >= margin``; grows as the determinant approaches and crosses zero.

    Args:
        det: determinants ``det(I + ∇u)`` of any shape (dimensionless).
        margin: the margin ``ε`` below which the determinant is penalised.
        power: exponent ``p >= 1`` (2 gives a smooth penalty).

    Returns:
        penalty of ``det``'s shape.
    """
    return torch.relu(margin - det) ** power


def volume_penalty(det: torch.Tensor) -> torch.Tensor:
    """Point-wise volume change ``|det − 1|`` (zero for volume-preserving deformations)."""
    return (det - 1.0).abs()


def hyperelastic_volume_term(det: torch.Tensor, det_floor: float = 0.1) -> torch.Tensor:
    """Burger et al.'s volume penalty ``ψ(v) = (v − 1)⁴ / v²``, continued linearly below ``det_floor``.

    ``ψ`` is convex on ``v > 0``, ``ψ(1) = 0``, ``ψ(v) = ψ(1/v)`` and ``ψ → ∞`` as ``v → 0⁺``; it is
    undefined for folded points (``v <= 0``). Below ``det_floor`` we use its tangent line
    ``ψ(f) + ψ'(f)(v − f)`` with ``ψ'(v) = 2(v − 1)³(v + 1)/v³``: a C¹, finite, strictly decreasing
    continuation whose gradient keeps pushing folded points towards positive volume.

    Args:
        det: determinants ``det(I + ∇u)``, any shape.
        det_floor: the switch point ``f`` in ``(0, 1)``.

    Returns:
        ``ψ`` of ``det``'s shape.
    """
    f = det_floor
    psi_f = (f - 1.0) ** 4 / f**2
    dpsi_f = 2.0 * (f - 1.0) ** 3 * (f + 1.0) / f**3
    safe = torch.clamp(det, min=f)  # keeps the unused branch finite (and its gradient zero)
    inside = (safe - 1.0) ** 4 / safe**2
    return torch.where(det >= f, inside, psi_f + dpsi_f * (det - f))


def hyperelastic_energy(
    displacement_jacobian: torch.Tensor,
    length_weight: float = 1.0,
    volume_weight: float = 1.0,
    det_floor: float = 0.1,
    validate: bool = True,
) -> torch.Tensor:
    """Point-wise hyperelastic energy ``α_l ‖∇u‖²_F + α_v ψ(det(I + ∇u))`` (Burger et al. 2013).

    The length term penalises the squared Frobenius norm of the displacement Jacobian (FAIR's
    ``hyperElastic`` uses ``α_l/2``; pass ``length_weight = α_l^FAIR / 2`` to match it); the volume term
    is :func:`hyperelastic_volume_term`. The surface-area term of the full model is not included.

    Args:
        displacement_jacobian: ``(*batch, D, D)``, matrix-last, ``u`` and ``x`` in the same units.
        length_weight: ``α_l >= 0``.
        volume_weight: ``α_v >= 0``.
        det_floor: see :func:`hyperelastic_volume_term`.
        validate: check the Jacobians' type, shape and finiteness.

    Returns:
        ``(*batch,)`` energies.

    Raises:
        TypeError / ValueError: for a non-floating, non-square or non-finite input (when validating).
    """
    if validate:
        check_matrix_field("displacement_jacobian", displacement_jacobian)
    length = displacement_jacobian.square().sum(dim=(-2, -1))
    det = deformation_determinant(displacement_jacobian, validate=False)
    return length_weight * length + volume_weight * hyperelastic_volume_term(det, det_floor)


class DeformationJacobianLoss(_Loss):
    """Base class: a point-wise penalty of the displacement Jacobian, from point samples or a DDF.

    Subclasses implement :meth:`pointwise` (``(*batch, D, D) -> (*batch,)``); this class turns the
    input into ``∇u`` and applies the reduction.

    Args:
        kind: ``"points"`` (input ``(*batch, D, D)`` displacement Jacobians) or ``"ddf"`` (input a MONAI
            DDF ``(B, D, *spatial)``, differentiated by finite differences).
        spacing: ``kind="ddf"`` only: voxel size in mm per array axis (or one number); the Jacobian is
            then physical (mm/mm). ``None``: voxel/voxel.
        ddf_units: ``kind="ddf"`` only: ``"voxel"`` (MONAI) or ``"physical"`` (mm).
        spatial_dims: expected ``D`` (2 or 3); ``None`` accepts both.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over every point / voxel.

    Raises:
        ValueError: for an unknown ``kind``/``ddf_units``/``reduction``, a ``spacing`` with
            ``kind="points"``, or an unsupported ``spatial_dims``.
    """

    def __init__(
        self,
        kind: str = "points",
        spacing: float | Sequence[float] | None = None,
        ddf_units: str = "voxel",
        spatial_dims: int | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=check_reduction(reduction))
        self.kind = check_option("kind", kind, INPUT_KINDS)
        self.ddf_units = check_option("ddf_units", ddf_units, DDF_UNITS)
        if self.kind == "points" and spacing is not None:
            raise ValueError(
                f"spacing={spacing!r} only applies to kind='ddf'; point Jacobians must already be in "
                "consistent units."
            )
        if spatial_dims is not None and spatial_dims not in SUPPORTED_SPATIAL_DIMS:
            raise ValueError(
                f"spatial_dims must be one of {SUPPORTED_SPATIAL_DIMS} or None, got {spatial_dims!r}."
            )
        self.spacing = spacing
        self.spatial_dims = spatial_dims

    def displacement_jacobian(self, input: torch.Tensor) -> torch.Tensor:
        """``∇u`` in matrix-last layout: ``(*batch, D, D)`` for points, ``(B, *spatial, D, D)`` for a DDF."""
        if self.kind == "ddf":
            return ddf_jacobian(input, self.spacing, self.ddf_units, spatial_dims=self.spatial_dims)
        check_matrix_field("input", input, self.spatial_dims)
        return input

    def pointwise(self, displacement_jacobian: torch.Tensor) -> torch.Tensor:
        """Penalty per point, ``(*batch, D, D) -> (*batch,)``."""
        raise NotImplementedError

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Reduced penalty of ``input`` (see the class docstring for the two input kinds)."""
        return reduce_loss(self.pointwise(self.displacement_jacobian(input)), self.reduction)


class JacobianFoldingLoss(DeformationJacobianLoss):
    """Penalises ``det(I + ∇u)`` below a margin: ``relu(margin − det)^power``.

    Exactly zero for every deformation whose Jacobian determinant is at least ``margin`` everywhere
    (e.g. the identity, or a uniform compression to 70% per axis with the default margin), positive
    where the deformation approaches folding (``det -> 0``) or folds (``det <= 0``).

    Args:
        margin: ``ε``; points with ``det >= ε`` cost nothing. Default 0.1.
        power: ``p >= 1``; default 2.
        kind: see :class:`DeformationJacobianLoss`.
        spacing: see :class:`DeformationJacobianLoss`.
        ddf_units: see :class:`DeformationJacobianLoss`.
        spatial_dims: see :class:`DeformationJacobianLoss`.
        reduction: see :class:`DeformationJacobianLoss`.

    Example::

        values, jac = jacobian_autograd(net, points, create_graph=True)   # jac: (N, 3, 3)
        loss = JacobianFoldingLoss(margin=0.1)(jac)
        grid_loss = JacobianFoldingLoss(kind="ddf", spacing=(1.0, 1.0, 2.5))(ddf)  # ddf: (B, 3, H, W, D)
    """

    def __init__(
        self,
        margin: float = 0.1,
        power: float = 2.0,
        kind: str = "points",
        spacing: float | Sequence[float] | None = None,
        ddf_units: str = "voxel",
        spatial_dims: int | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(kind, spacing, ddf_units, spatial_dims, reduction)
        self.margin = _check_real("margin", margin)
        self.power = check_positive_finite("power", power)
        if self.power < 1.0:
            raise ValueError(
                f"power must be >= 1 (a power < 1 has an infinite slope at det = margin), got {power!r}."
            )

    def pointwise(self, displacement_jacobian: torch.Tensor) -> torch.Tensor:
        det = deformation_determinant(displacement_jacobian, validate=False)
        return folding_penalty(det, self.margin, self.power)


class JacobianVolumeLoss(DeformationJacobianLoss):
    """Penalises local volume change ``|det(I + ∇u) − 1|`` (zero for volume-preserving fields).

    Args:
        kind: see :class:`DeformationJacobianLoss`.
        spacing: see :class:`DeformationJacobianLoss`.
        ddf_units: see :class:`DeformationJacobianLoss`.
        spatial_dims: see :class:`DeformationJacobianLoss`.
        reduction: see :class:`DeformationJacobianLoss`.
    """

    def pointwise(self, displacement_jacobian: torch.Tensor) -> torch.Tensor:
        return volume_penalty(deformation_determinant(displacement_jacobian, validate=False))


class HyperelasticLoss(DeformationJacobianLoss):
    """Hyperelastic regulariser of Burger, Modersitzki & Ruthotto (SIAM J. Sci. Comput. 2013).

    Per point: ``length_weight · ‖∇u‖²_F + volume_weight · ψ(det(I + ∇u))`` with
    ``ψ(v) = (v − 1)⁴ / v²`` (continued linearly below ``det_floor``, see
    :func:`hyperelastic_volume_term`). The length term depends on the units of ``∇u`` (use a spacing
    with a DDF to make it physical); ``ψ`` does not. The surface-area term is not included.

    Args:
        length_weight: ``α_l >= 0`` (default 1).
        volume_weight: ``α_v >= 0`` (default 1).
        det_floor: in ``(0, 1)``, default 0.1.
        kind: see :class:`DeformationJacobianLoss`.
        spacing: see :class:`DeformationJacobianLoss`.
        ddf_units: see :class:`DeformationJacobianLoss`.
        spatial_dims: see :class:`DeformationJacobianLoss`.
        reduction: see :class:`DeformationJacobianLoss`.
    """

    def __init__(
        self,
        length_weight: float = 1.0,
        volume_weight: float = 1.0,
        det_floor: float = 0.1,
        kind: str = "points",
        spacing: float | Sequence[float] | None = None,
        ddf_units: str = "voxel",
        spatial_dims: int | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(kind, spacing, ddf_units, spatial_dims, reduction)
        for name, w in (("length_weight", length_weight), ("volume_weight", volume_weight)):
            if _check_real(name, w) < 0:
                raise ValueError(f"{name} must be >= 0, got {w!r}.")
        if not 0.0 < _check_real("det_floor", det_floor) < 1.0:
            raise ValueError(f"det_floor must lie in (0, 1), got {det_floor!r}.")
        self.length_weight = float(length_weight)
        self.volume_weight = float(volume_weight)
        self.det_floor = float(det_floor)

    def pointwise(self, displacement_jacobian: torch.Tensor) -> torch.Tensor:
        return hyperelastic_energy(
            displacement_jacobian, self.length_weight, self.volume_weight, self.det_floor, validate=False
        )
