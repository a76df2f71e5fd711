"""The Lipschitz budget core: bounds, constraints, activations, embeddings, allocation, ledger.

- :mod:`~monai_lipinr.lipschitz.base`: the :class:`LipschitzComponent` contract.
- :mod:`~monai_lipinr.lipschitz.bounds`, :mod:`~monai_lipinr.lipschitz.spectral`: closed-form and
  spectral-norm bounds (exact SVD, power iteration, certified Gram-iteration upper bound).
- :mod:`~monai_lipinr.lipschitz.constraints`, :mod:`~monai_lipinr.lipschitz.sll`: K-scaled
  constraints (spectral normalisation, Björck orthogonalisation, SLL blocks).
- :mod:`~monai_lipinr.lipschitz.activations`, :mod:`~monai_lipinr.lipschitz.embeddings`:
  components with known constants (Sine, Gaussian, MaxMin, GroupSort, Householder; positional
  encoding and random Fourier features with exact budgets).
- :mod:`~monai_lipinr.lipschitz.allocation`: splitting a budget in log-space.
- :mod:`~monai_lipinr.lipschitz.ledger`, :mod:`~monai_lipinr.lipschitz.empirical`: certified
  per-component table and the empirical (lower-bound) constant.
"""

from __future__ import annotations

from monai_lipinr.lipschitz.activations import Gaussian, GroupSort, Householder, MaxMin, Sine
from monai_lipinr.lipschitz.allocation import (
    ALLOCATION_STRATEGIES,
    allocate_budget,
    allocation_positions,
    register_allocation,
)
from monai_lipinr.lipschitz.base import CERTIFY_RTOL, LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.bounds import (
    activation_lipschitz,
    fourier_features_lipschitz,
    gaussian_lipschitz,
    linear_lipschitz,
    positional_encoding_lipschitz,
    sine_lipschitz,
)
from monai_lipinr.lipschitz.constraints import (
    CONSTRAINT_METHODS,
    BjorckConstraint,
    SpectralNormConstraint,
    bjorck_orthogonalize,
    constrain_linear,
    constraint_of,
    lipschitz_linear,
    register_retraction,
    retract_constraints,
)
from monai_lipinr.lipschitz.embeddings import PositionalEncoding, RandomFourierFeatures
from monai_lipinr.lipschitz.empirical import EmpiricalLipschitz, box_domain, estimate_lipschitz
from monai_lipinr.lipschitz.ledger import LedgerRow, LipschitzLedger
from monai_lipinr.lipschitz.sll import SLLBlock, SLLProjection
from monai_lipinr.lipschitz.spectral import (
    spectral_norm_exact,
    spectral_norm_power,
    spectral_norm_upper_bound,
)

__all__ = [
    "ALLOCATION_STRATEGIES",
    "CERTIFY_RTOL",
    "CONSTRAINT_METHODS",
    "BjorckConstraint",
    "EmpiricalLipschitz",
    "Gaussian",
    "GroupSort",
    "Householder",
    "LedgerRow",
    "LipschitzComponent",
    "LipschitzLedger",
    "MaxMin",
    "PositionalEncoding",
    "RandomFourierFeatures",
    "SLLBlock",
    "SLLProjection",
    "Sine",
    "SpectralNormConstraint",
    "activation_lipschitz",
    "allocate_budget",
    "allocation_positions",
    "bjorck_orthogonalize",
    "box_domain",
    "check_positive_finite",
    "constrain_linear",
    "constraint_of",
    "estimate_lipschitz",
    "fourier_features_lipschitz",
    "gaussian_lipschitz",
    "linear_lipschitz",
    "lipschitz_linear",
    "positional_encoding_lipschitz",
    "register_allocation",
    "register_retraction",
    "retract_constraints",
    "sine_lipschitz",
    "spectral_norm_exact",
    "spectral_norm_power",
    "spectral_norm_upper_bound",
]
