"""Target registration error (TRE) of landmarks, in mm, with the two conventions in use.

- ``"continuous"``: the Euclidean distance between predicted and true landmark positions, as is.
- ``"dirlab_rounded"``: the DIR-Lab / IDIR evaluation convention. DIR-Lab landmarks are voxel
  indices; evaluations in the literature (e.g. IDIR's ``compute_landmark_accuracy``) round the
  *predicted* positions to the nearest voxel (numpy rounding: half to even) before measuring the
  distance in mm. Here the rounding happens in voxel-index space
  ``(p − origin) / spacing``, then the position is mapped back to mm; the true positions are used as
  given (DIR-Lab's are on the grid already).

The two conventions differ by up to ``‖spacing‖/2`` per landmark; always report which one is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.utils import MetricReduction

from monai_lipinr.metrics.base import ReducedCumulativeMetric
from monai_lipinr.ops.validation import check_finite, check_float_tensor, check_option, spacing_tensor

__all__ = [
    "TRE_CONVENTIONS",
    "compute_target_registration_error",
    "summarize_target_registration_error",
    "TargetRegistrationErrorMetric",
]

#: Supported TRE conventions (see the module docstring).
TRE_CONVENTIONS = ("continuous", "dirlab_rounded")


def _check_landmarks(name: str, value: object) -> torch.Tensor:
    t = check_float_tensor(name, value)
    if t.ndim not in (2, 3) or t.shape[-1] not in (2, 3):
        raise ValueError(
            f"{name} must have shape (N, D) or (B, N, D) with D in {{2, 3}} (mm), got {tuple(t.shape)}."
        )
    return check_finite(name, t)


def compute_target_registration_error(
    pred_points_mm: torch.Tensor,
    true_points_mm: torch.Tensor,
    spacing: float | Sequence[float] | torch.Tensor | None = None,
    convention: str = "continuous",
    origin: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-landmark Euclidean error in mm.

    Args:
        pred_points_mm: predicted landmark positions ``(N, D)`` or ``(B, N, D)`` in mm (e.g. fixed
            landmarks moved by the estimated transform), coordinates in the same axis order as
            ``spacing``.
        true_points_mm: corresponding true positions, same shape, mm.
        spacing: voxel size in mm per axis; required by ``"dirlab_rounded"``, unused by
            ``"continuous"``.
        convention: ``"continuous"`` or ``"dirlab_rounded"`` (see the module docstring).
        origin: mm position of voxel index 0 (``"dirlab_rounded"`` only); default 0, i.e. points given
            as ``index · spacing`` (as DIR-Lab landmarks converted with ``(index − 1) · spacing`` or
            ``index · spacing`` are).

    Returns:
        ``(N,)`` or ``(B, N)`` errors in mm, on the input's device and dtype.

    Raises:
        TypeError: for non-floating inputs.
        ValueError: for mismatched shapes, NaN/Inf, an unknown convention, or ``"dirlab_rounded"``
            without a spacing.
    """
    conv = check_option("convention", convention, TRE_CONVENTIONS)
    pred = _check_landmarks("pred_points_mm", pred_points_mm)
    true = _check_landmarks("true_points_mm", true_points_mm)
    if pred.shape != true.shape:
        raise ValueError(
            f"pred_points_mm and true_points_mm must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(true.shape)}."
        )
    if conv == "dirlab_rounded":
        if spacing is None:
            raise ValueError(
                "convention='dirlab_rounded' needs the voxel spacing (mm per axis), got spacing=None."
            )
        d = pred.shape[-1]
        s = spacing_tensor(spacing, d, pred)
        o = torch.zeros(d, dtype=pred.dtype, device=pred.device)
        if origin is not None:
            o = torch.as_tensor(origin, dtype=pred.dtype, device=pred.device).reshape(-1)
            if o.shape != (d,) or not bool(torch.isfinite(o).all()):
                raise ValueError(f"origin must be {d} finite numbers (mm), got {origin!r}.")
        pred = torch.round((pred - o) / s) * s + o
    return torch.linalg.vector_norm(pred - true, dim=-1)


def summarize_target_registration_error(errors: torch.Tensor) -> dict[str, float]:
    """Summary statistics of landmark errors as usually reported (mm).

    Args:
        errors: landmark errors in mm, any shape (pooled).

    Returns:
        ``{"mean", "std", "p95", "max", "n"}``; ``std`` is the population standard deviation (numpy's
        default, as in DIR-Lab-style reports), ``p95`` the linearly interpolated 95th percentile.

    Raises:
        ValueError: for an empty or non-finite ``errors``.
    """
    e = check_float_tensor("errors", errors).detach().reshape(-1).to(torch.float64)
    if e.numel() == 0:
        raise ValueError("errors is empty: no landmark errors to summarise.")
    check_finite("errors", e)
    return {
        "mean": float(e.mean()),
        "std": float(e.std(correction=0)),
        "p95": float(torch.quantile(e, 0.95)),
        "max": float(e.max()),
        "n": int(e.numel()),
    }


class TargetRegistrationErrorMetric(ReducedCumulativeMetric):
    """Cumulative TRE over landmarks (mm).

    Each call adds one buffer row per landmark, so cases with different numbers of landmarks
    accumulate; :meth:`aggregate` reduces over all landmarks (``"mean"``: the pooled mean TRE, equal to
    the mean of per-case means when every case has the same number of landmarks) and
    :meth:`summary` gives mean/std/p95/max.

    Args:
        spacing: voxel size in mm per axis (needed by ``"dirlab_rounded"``).
        convention: ``"continuous"`` or ``"dirlab_rounded"``
            (see :func:`compute_target_registration_error`).
        origin: mm position of voxel index 0 (``"dirlab_rounded"`` only).
        reduction: MONAI metric reduction over the ``(landmarks, 1)`` buffer.
        get_not_nans: also return the count of aggregated values.

    Example::

        metric = TargetRegistrationErrorMetric(spacing=(0.97, 0.97, 2.5), convention="dirlab_rounded")
        metric(pred_mm, true_mm)   # (N, 3) or (B, N, 3)
        metric.aggregate(), metric.summary()
    """

    def __init__(
        self,
        spacing: float | Sequence[float] | None = None,
        convention: str = "continuous",
        origin: Sequence[float] | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.convention = check_option("convention", convention, TRE_CONVENTIONS)
        if self.convention == "dirlab_rounded" and spacing is None:
            raise ValueError(
                "convention='dirlab_rounded' needs the voxel spacing (mm per axis), got spacing=None."
            )
        self.spacing = spacing
        self.origin = origin

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """Per-landmark errors of one batch as a ``(landmarks, 1)`` tensor (mm)."""
        if y is None:
            raise ValueError("y (the true landmark positions in mm) is required.")
        errors = compute_target_registration_error(y_pred, y, self.spacing, self.convention, self.origin)
        return errors.reshape(-1, 1)

    def summary(self) -> dict[str, float]:
        """mean/std/p95/max/n of all accumulated landmark errors (see :func:`summarize_target_registration_error`)."""
        return summarize_target_registration_error(self.buffer_tensor())
