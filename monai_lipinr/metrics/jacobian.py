"""Regularity metrics of a deformation from its Jacobian determinant, inside a region of interest.

Both metrics are computed per case over the voxels of the mask only (e.g. the lung), never diluted by
background voxels, and refuse an empty mask. Obtain ``det_j`` from a DDF with
:func:`~monai_lipinr.ops.ddf_jacobian_determinant` (shape ``(B, *spatial)``) or from point samples with
:func:`~monai_lipinr.ops.deformation_determinant` (shape ``(B, N)``).
"""

from __future__ import annotations

import math

import torch
from monai.utils import MetricReduction

from monai_lipinr.lipschitz.base import check_positive_finite
from monai_lipinr.metrics.base import ReducedCumulativeMetric
from monai_lipinr.ops.validation import check_finite, check_float_tensor

__all__ = [
    "compute_folding_rate",
    "compute_sd_log_jacobian",
    "JacobianDeterminantMetric",
    "FoldingRateMetric",
    "SDLogJacobianMetric",
]


def _check_offset(offset: float) -> float:
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ValueError(f"offset must be a finite number, got {offset!r}.")
    return float(offset)


def _masked_det(det_j: object, mask: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``det_j (B, ...)`` and ``mask``; return them flattened to ``(B, M)`` (mask as float 0/1)."""
    det = check_float_tensor("det_j", det_j)
    if det.ndim < 2:
        raise ValueError(
            f"det_j must have shape (B, *spatial) (or (B, N) for points), got {tuple(det.shape)}."
        )
    if mask is None:
        inside = torch.ones_like(det, dtype=torch.bool)
    else:
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}.")
        try:
            shape = torch.broadcast_shapes(mask.shape, det.shape)
        except RuntimeError:
            shape = None
        if shape != det.shape:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} must match (or broadcast to) det_j of shape {tuple(det.shape)}."
            )
        if mask.is_floating_point():
            check_finite("mask", mask)
        inside = (mask != 0 if mask.dtype == torch.bool else mask > 0).to(det.device).expand(det.shape)
    inside = inside.reshape(det.shape[0], -1)
    det = det.reshape(det.shape[0], -1)
    counts = inside.sum(dim=1)
    empty = torch.nonzero(counts == 0).reshape(-1).tolist()
    if empty:
        raise ValueError(f"mask is empty for batch item(s) {empty}: no voxel inside the region of interest.")
    check_finite("det_j (inside the mask)", det[inside])
    return det, inside.to(det.dtype)


def compute_folding_rate(det_j: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of voxels with ``det J <= 0`` inside the mask, per case.

    Args:
        det_j: Jacobian determinants ``(B, *spatial)`` (or ``(B, N)`` point samples; a singleton
            channel axis is fine), dimensionless.
        mask: region of interest broadcastable to ``det_j`` (bool, or numeric with ``> 0`` inside);
            ``None`` uses every voxel.

    Returns:
        ``(B,)`` folding fractions in [0, 1] (multiply by 100 for %), on ``det_j``'s device and dtype.

    Raises:
        TypeError: for a non-floating ``det_j`` or a non-tensor mask.
        ValueError: for a bad shape, an empty mask in any case, or NaN/Inf inside the mask.
    """
    det, inside = _masked_det(det_j, mask)
    return ((det <= 0).to(det.dtype) * inside).sum(dim=1) / inside.sum(dim=1)


def compute_sd_log_jacobian(
    det_j: torch.Tensor, mask: torch.Tensor | None = None, clamp: float = 1e-9, offset: float = 0.0
) -> torch.Tensor:
    """Standard deviation of ``log det J`` inside the mask, per case.

    ``log`` is undefined for folded voxels, so ``det J + offset`` is clamped to at least ``clamp``
    before the logarithm: with the default ``clamp=1e-9`` every non-positive determinant counts as
    ``log 1e-9 ≈ −20.7``, which makes folding inflate the metric strongly (report the folding rate
    alongside). ``offset=3.0`` reproduces the Learn2Reg evaluation convention
    ``log(clip(det J + 3, 1e-9, 1e9))``.

    Args:
        det_j: Jacobian determinants ``(B, *spatial)`` or ``(B, N)``, dimensionless.
        mask: region of interest broadcastable to ``det_j``; ``None`` uses every voxel.
        clamp: lower bound (> 0) applied to ``det J + offset``.
        offset: added to ``det J`` before clamping (default 0).

    Returns:
        ``(B,)`` population standard deviations (``ddof = 0``).

    Raises:
        TypeError / ValueError: as :func:`compute_folding_rate`, and for a non-positive ``clamp``.
    """
    lo = check_positive_finite("clamp", clamp)
    shift = _check_offset(offset)
    det, inside = _masked_det(det_j, mask)
    n = inside.sum(dim=1)
    logs = torch.log(torch.clamp(det + shift, min=lo)) * inside
    mean = logs.sum(dim=1) / n
    var = ((logs - mean.unsqueeze(1)).square() * inside).sum(dim=1) / n
    return torch.sqrt(var)


class JacobianDeterminantMetric(ReducedCumulativeMetric):
    """Base of the per-case determinant metrics: call with ``(det_j, mask)``, one buffer row per case.

    Args:
        reduction: MONAI metric reduction over the ``(B, 1)`` buffer (default mean over cases).
        get_not_nans: also return the count of aggregated values.
    """

    def compute(self, det_j: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Per-case value ``(B,)``; implemented by subclasses."""
        raise NotImplementedError

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """``y_pred``: ``det_j (B, *spatial)``; ``y``: the mask (optional). Returns ``(B, 1)``."""
        return self.compute(y_pred, y).unsqueeze(1)


class FoldingRateMetric(JacobianDeterminantMetric):
    """Fraction of ``det J <= 0`` inside a mask (see :func:`compute_folding_rate`).

    Example::

        metric = FoldingRateMetric()
        metric(ddf_jacobian_determinant(ddf, spacing), lung_mask)  # (B, H, W, D), (B, H, W, D)
        rate = metric.aggregate()
    """

    def compute(self, det_j: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return compute_folding_rate(det_j, mask)


class SDLogJacobianMetric(JacobianDeterminantMetric):
    """Standard deviation of ``log det J`` inside a mask (see :func:`compute_sd_log_jacobian`).

    Args:
        clamp: lower clamp of ``det J + offset`` before the log (default 1e-9).
        offset: added before clamping (``3.0`` for the Learn2Reg convention; default 0).
        reduction: see :class:`JacobianDeterminantMetric`.
        get_not_nans: see :class:`JacobianDeterminantMetric`.
    """

    def __init__(
        self,
        clamp: float = 1e-9,
        offset: float = 0.0,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.clamp = check_positive_finite("clamp", clamp)
        self.offset = _check_offset(offset)

    def compute(self, det_j: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return compute_sd_log_jacobian(det_j, mask, self.clamp, self.offset)
