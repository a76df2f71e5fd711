"""Bending energy of a coordinate network, from exact autograd Hessians at sample points."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_lipinr.losses.utils import check_reduction, reduce_loss
from monai_lipinr.ops.jacobian import hessian_autograd
from monai_lipinr.ops.validation import SUPPORTED_SPATIAL_DIMS, check_finite, check_float_tensor

__all__ = ["bending_energy", "INRBendingEnergyLoss"]


def bending_energy(hessian: torch.Tensor) -> torch.Tensor:
    """Point-wise thin-plate bending energy from full Hessians.

    ``Σ_o Σ_{d,e} (∂²u_o/∂x_d∂x_e)²``, i.e. for each output ``u_o`` in 3D
    ``u_xx² + u_yy² + u_zz² + 2(u_xy² + u_xz² + u_yz²)``: summing the squared entries of the full
    symmetric Hessian counts every mixed derivative twice, which is the correct weight (IDIR weights
    them 1).

    Args:
        hessian: ``(*batch, O, D, D)``, e.g. from :func:`~monai_lipinr.ops.hessian_autograd`, in output
            units per input unit squared.

    Returns:
        ``(*batch,)`` energies.

    Raises:
        TypeError: when ``hessian`` is not a floating tensor.
        ValueError: when it is not ``(*batch, O, D, D)``.
    """
    h = check_float_tensor("hessian", hessian)
    if h.ndim < 3 or h.shape[-1] != h.shape[-2]:
        raise ValueError(f"hessian must have shape (*batch, O, D, D), got {tuple(h.shape)}.")
    return h.square().sum(dim=(-3, -2, -1))


class INRBendingEnergyLoss(_Loss):
    """Bending energy of a point-wise callable (e.g. a displacement INR) at sample points.

    The Hessian of every output channel w.r.t. the input coordinates is computed exactly by autograd
    (with ``create_graph=True``, so the loss trains the callable's parameters), then
    :func:`bending_energy` is reduced over the points. Named to avoid MONAI's grid
    ``BendingEnergyLoss`` (finite differences on a DDF).

    Args:
        spatial_dims: expected number of input coordinates ``D`` (2 or 3); ``None`` accepts any.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the points.

    Raises:
        ValueError: for an unknown ``reduction`` or unsupported ``spatial_dims``.

    Example::

        loss = INRBendingEnergyLoss()(net, points)  # points (N, 3) in network units
    """

    def __init__(
        self, spatial_dims: int | None = None, reduction: LossReduction | str = LossReduction.MEAN
    ) -> None:
        super().__init__(reduction=check_reduction(reduction))
        if spatial_dims is not None and spatial_dims not in SUPPORTED_SPATIAL_DIMS:
            raise ValueError(
                f"spatial_dims must be one of {SUPPORTED_SPATIAL_DIMS} or None, got {spatial_dims!r}."
            )
        self.spatial_dims = spatial_dims

    def forward(self, fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
        """Bending energy of ``fn`` at ``points``.

        Args:
            fn: point-wise map ``(*batch, D) -> (*batch, O)`` (rows must not interact).
            points: ``(*batch, D)`` coordinates in ``fn``'s input units.

        Returns:
            the reduced energy (a scalar), or ``(*batch,)`` with ``reduction="none"``.

        Raises:
            TypeError: when ``fn`` is not callable or ``points`` is not a floating tensor.
            ValueError: when ``points`` has the wrong last dim or NaN/Inf.
        """
        if not callable(fn):
            raise TypeError(
                f"fn must be callable (a network or function of points), got {type(fn).__name__}."
            )
        p = check_float_tensor("points", points)
        if self.spatial_dims is not None and (p.ndim < 1 or p.shape[-1] != self.spatial_dims):
            raise ValueError(f"points must have shape (*batch, {self.spatial_dims}), got {tuple(p.shape)}.")
        check_finite("points", p)
        _, _, hess = hessian_autograd(fn, p, create_graph=True)
        return reduce_loss(bending_energy(hess), self.reduction)
