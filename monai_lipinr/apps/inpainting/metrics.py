"""PSNR and SSIM restricted to a pixel mask (the *missing* pixels of an inpainting problem).

* ``compute_masked_psnr``: ``10 log10(data_range² / MSE)`` with the MSE over masked pixels and channels.
* ``compute_masked_ssim``: MONAI's SSIM map (``compute_ssim_and_cs``, Gaussian 11×11, σ = 1.5, valid
  convolution) averaged over the masked pixels whose window lies inside the image.

Images are channel-first ``(B, C, H, W)`` tensors (``(C, H, W)`` and ``(H, W)`` are promoted), masks
``(B, 1, H, W)`` / ``(H, W)`` with nonzero = pixel counted.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.metrics.regression import compute_ssim_and_cs
from monai.utils import MetricReduction

from monai_lipinr.lipschitz.base import check_positive_finite
from monai_lipinr.metrics.base import ReducedCumulativeMetric
from monai_lipinr.ops.validation import check_float_tensor

__all__ = ["compute_masked_psnr", "compute_masked_ssim", "MaskedPSNR", "MaskedSSIM"]

SSIM_KERNEL = 11
SSIM_SIGMA = 1.5


def _prepare(y_pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
    check_float_tensor("y_pred", y_pred)
    check_float_tensor("y", y)
    if y_pred.shape != y.shape:
        raise ValueError(f"y_pred and y must have the same shape, got {tuple(y_pred.shape)} and {tuple(y.shape)}.")
    while y_pred.ndim < 4:
        y_pred, y = y_pred[None], y[None]
    if y_pred.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), (C, H, W) or (H, W), got {tuple(y.shape)}.")
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}.")
    m = mask.to(device=y.device)
    while m.ndim < 4:
        m = m[None]
    if m.shape[-2:] != y.shape[-2:] or m.shape[1] != 1 or m.shape[0] not in (1, y.shape[0]):
        raise ValueError(
            f"mask must have spatial shape {tuple(y.shape[-2:])} (one channel), got {tuple(mask.shape)}."
        )
    m = (m != 0).expand(y.shape[0], 1, *y.shape[-2:])
    if not bool(m.flatten(1).any(1).all()):
        raise ValueError("mask selects no pixel (in at least one image); nothing to evaluate.")
    return y_pred, y, m


def compute_masked_psnr(
    y_pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, data_range: float = 1.0
) -> torch.Tensor:
    """PSNR (dB) over the masked pixels, one value per image ``(B,)``.

    Raises:
        TypeError / ValueError: for non-float images, mismatched shapes, a badly shaped or empty mask.
    """
    data_range = check_positive_finite("data_range", data_range)
    p, t, m = _prepare(y_pred, y, mask)
    err = ((p - t) ** 2) * m
    mse = err.flatten(1).sum(1) / (m.flatten(1).sum(1) * p.shape[1])
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(torch.finfo(p.dtype).tiny))


def compute_masked_ssim(
    y_pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, data_range: float = 1.0
) -> torch.Tensor:
    """Mean SSIM over the masked pixels (window centres), one value per image ``(B,)``.

    Raises:
        ValueError: when the image is smaller than the 11×11 window or no masked pixel lies at least
            5 pixels from the border.
    """
    data_range = check_positive_finite("data_range", data_range)
    p, t, m = _prepare(y_pred, y, mask)
    if min(p.shape[-2:]) < SSIM_KERNEL:
        raise ValueError(f"images must be at least {SSIM_KERNEL}x{SSIM_KERNEL} for SSIM, got {tuple(p.shape[-2:])}.")
    ssim_map, _ = compute_ssim_and_cs(
        p, t, spatial_dims=2, kernel_size=(SSIM_KERNEL,) * 2, kernel_sigma=(SSIM_SIGMA,) * 2, data_range=data_range
    )
    ssim_map = ssim_map.mean(1, keepdim=True)  # mean over channels, valid region (H - 10, W - 10)
    r = SSIM_KERNEL // 2
    inner = m[..., r:-r, r:-r].to(ssim_map.dtype)
    count = inner.flatten(1).sum(1)
    if bool((count == 0).any()):
        raise ValueError(f"mask selects no pixel at least {r} pixels away from the border.")
    return (ssim_map * inner).flatten(1).sum(1) / count


class _MaskedImageMetric(ReducedCumulativeMetric):
    _fn = staticmethod(compute_masked_psnr)

    def __init__(
        self, data_range: float = 1.0, reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction=reduction, get_not_nans=get_not_nans)
        self.data_range = check_positive_finite("data_range", data_range)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None,
                        **kwargs: Any) -> torch.Tensor:
        if mask is None:
            raise ValueError(f"{type(self).__name__} needs mask=... (nonzero = pixel counted).")
        return type(self)._fn(y_pred, y, mask, self.data_range)[:, None]


class MaskedPSNR(_MaskedImageMetric):
    """Cumulative PSNR over masked pixels: ``metric(y_pred, y, mask=missing)`` (see :func:`compute_masked_psnr`).

    Args:
        data_range: intensity range (1 for images in ``[0, 1]``).
        reduction: as MONAI metrics.
        get_not_nans: as MONAI metrics.
    """

    _fn = staticmethod(compute_masked_psnr)


class MaskedSSIM(_MaskedImageMetric):
    """Cumulative SSIM over masked pixels: ``metric(y_pred, y, mask=missing)`` (see :func:`compute_masked_ssim`).

    Args:
        data_range: intensity range (1 for images in ``[0, 1]``).
        reduction: as MONAI metrics.
        get_not_nans: as MONAI metrics.
    """

    _fn = staticmethod(compute_masked_ssim)
