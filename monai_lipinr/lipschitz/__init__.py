"""The Lipschitz budget core: bounds, constraints, activations, embeddings, allocation, ledger."""

from __future__ import annotations

from monai_lipinr.lipschitz.allocation import (
    ALLOCATION_STRATEGIES,
    allocate_budget,
    allocation_positions,
    register_allocation,
)
from monai_lipinr.lipschitz.base import CERTIFY_RTOL, LipschitzComponent, check_positive_finite

__all__ = [
    "ALLOCATION_STRATEGIES",
    "CERTIFY_RTOL",
    "LipschitzComponent",
    "allocate_budget",
    "allocation_positions",
    "check_positive_finite",
    "register_allocation",
]
