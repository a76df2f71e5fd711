"""Image inpainting with a Lipschitz-budgeted INR and a data-driven (gradient-oracle) budget."""

from __future__ import annotations

from monai_lipinr.apps.inpainting.data import (
    as_image,
    check_mask,
    load_image_2d,
    pixel_coordinates,
    pixel_grid,
    random_observed_mask,
    resize_to,
)
from monai_lipinr.apps.inpainting.engine import (
    AMPLITUDE_ALLOCATION,
    INPAINTING_PRESETS,
    InpaintingConfig,
    InpaintingResult,
    INRInpainting,
    amplitude_matched,
    feature_spread,
    oracle_budget,
    output_amplitude,
)
from monai_lipinr.apps.inpainting.metrics import (
    MaskedPSNR,
    MaskedSSIM,
    compute_masked_psnr,
    compute_masked_ssim,
)
from monai_lipinr.apps.inpainting.sweep import DEFAULT_RATIOS, budget_sweep, plot_budget_sweep, sweep_table

__all__ = [
    "as_image",
    "check_mask",
    "load_image_2d",
    "pixel_coordinates",
    "pixel_grid",
    "random_observed_mask",
    "resize_to",
    "AMPLITUDE_ALLOCATION",
    "INPAINTING_PRESETS",
    "InpaintingConfig",
    "InpaintingResult",
    "INRInpainting",
    "oracle_budget",
    "amplitude_matched",
    "feature_spread",
    "output_amplitude",
    "MaskedPSNR",
    "MaskedSSIM",
    "compute_masked_psnr",
    "compute_masked_ssim",
    "DEFAULT_RATIOS",
    "budget_sweep",
    "plot_budget_sweep",
    "sweep_table",
]
