"""Image-quality numbers of CT reconstructions inside the body: PSNR and SSIM on an HU window.

Both images are clipped to the window ``[-1000, 1000]`` HU (data range 2000 HU) — air to dense bone
edges — and compared only inside the body mask (the largest connected region above -500 HU of the
reference, holes filled): the air around the patient would otherwise inflate the numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["HU_WINDOW", "body_mask", "masked_psnr", "masked_ssim"]

HU_WINDOW = (-1000.0, 1000.0)


def body_mask(reference_hu: Any, threshold_hu: float = -500.0) -> np.ndarray:
    """Largest connected region of ``reference_hu > threshold_hu`` with holes (lungs) filled, ``(H, W)`` bool.

    Raises:
        ValueError: when no pixel exceeds the threshold.
    """
    ref = np.asarray(reference_hu, dtype=np.float64)
    fg = ref > threshold_hu
    labels, n = ndimage.label(fg)
    if n == 0:
        raise ValueError(f"reference_hu has no pixel above {threshold_hu} HU: no body to evaluate.")
    largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    return ndimage.binary_fill_holes(labels == largest)


def _windowed(a: Any) -> np.ndarray:
    return np.clip(np.asarray(a, dtype=np.float64), *HU_WINDOW)


def _check(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> None:
    if image.shape != reference.shape or mask.shape != reference.shape:
        raise ValueError(f"image {image.shape}, reference {reference.shape} and mask {mask.shape} must match.")
    if not mask.any():
        raise ValueError("mask is empty.")


def masked_psnr(image_hu: Any, reference_hu: Any, mask: Any) -> float:
    """PSNR (dB) over ``mask`` of HU images clipped to :data:`HU_WINDOW` (peak = window width)."""
    a, b, m = _windowed(image_hu), _windowed(reference_hu), np.asarray(mask, bool)
    _check(a, b, m)
    mse = float(((a - b)[m] ** 2).mean())
    peak = HU_WINDOW[1] - HU_WINDOW[0]
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak ** 2 / mse))


def masked_ssim(image_hu: Any, reference_hu: Any, mask: Any) -> float:
    """Mean SSIM (scikit-image, 7x7 window) over ``mask`` of HU images clipped to :data:`HU_WINDOW`."""
    from skimage.metrics import structural_similarity

    a, b, m = _windowed(image_hu), _windowed(reference_hu), np.asarray(mask, bool)
    _check(a, b, m)
    _, full = structural_similarity(a, b, data_range=HU_WINDOW[1] - HU_WINDOW[0], full=True)
    return float(full[m].mean())
