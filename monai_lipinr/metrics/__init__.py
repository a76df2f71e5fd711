"""Registration metrics as MONAI ``CumulativeIterationMetric`` s, each with a functional twin."""

from __future__ import annotations

from monai_lipinr.metrics.base import ReducedCumulativeMetric
from monai_lipinr.metrics.jacobian import (
    FoldingRateMetric,
    JacobianDeterminantMetric,
    SDLogJacobianMetric,
    compute_folding_rate,
    compute_sd_log_jacobian,
)
from monai_lipinr.metrics.tre import (
    TRE_CONVENTIONS,
    TargetRegistrationErrorMetric,
    compute_target_registration_error,
    summarize_target_registration_error,
)

__all__ = [
    "TRE_CONVENTIONS",
    "FoldingRateMetric",
    "JacobianDeterminantMetric",
    "ReducedCumulativeMetric",
    "SDLogJacobianMetric",
    "TargetRegistrationErrorMetric",
    "compute_folding_rate",
    "compute_sd_log_jacobian",
    "compute_target_registration_error",
    "summarize_target_registration_error",
]
