"""Physical / data / signal priors -> Lipschitz budgets, and the world <-> network coordinate map.

* :class:`ImageGeometry` — voxel index <-> world (LPS mm), from SimpleITK images, MONAI MetaTensors (RAS
  affine converted explicitly) or parameters.
* :class:`NetworkCoordinates` — the one isotropic map ``x̃ = (x - c) / s`` (DESIGN.md §2).
* priors: :class:`StrainPrior`, :class:`IntensityGradientPrior`, :class:`ImageGradientOracle`,
  :class:`BandwidthPrior`, each returning a :class:`BudgetEstimate`.
* shares: :func:`output_stage_share` (the output stage's share from the output amplitude), the
  ``"first_heavy_output"`` allocation, :func:`allocate_with_output_share` and :func:`stages_for_gain`.
"""

from __future__ import annotations

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import (
    ImageGeometry,
    apply_affine_to_points,
    as_points,
    is_sitk_image,
    lps_ras_flip,
    sitk_to_channel_first,
)
from monai_lipinr.budget.priors import (
    BandwidthPrior,
    BudgetEstimate,
    BudgetPrior,
    ImageGradientOracle,
    IntensityGradientPrior,
    StrainPrior,
)
from monai_lipinr.budget.shares import (
    allocate_with_output_share,
    first_heavy_output,
    output_stage_share,
    stages_for_gain,
)

__all__ = [
    "BandwidthPrior",
    "BudgetEstimate",
    "BudgetPrior",
    "ImageGeometry",
    "ImageGradientOracle",
    "IntensityGradientPrior",
    "NetworkCoordinates",
    "StrainPrior",
    "allocate_with_output_share",
    "apply_affine_to_points",
    "as_points",
    "first_heavy_output",
    "is_sitk_image",
    "lps_ras_flip",
    "output_stage_share",
    "sitk_to_channel_first",
    "stages_for_gain",
]
