"""Losses: deformation regularisers and point-sample similarity for registration, total variation for images.

All subclass ``torch.nn.modules.loss._Loss`` with ``reduction: LossReduction | str`` and follow the
input's device and dtype.
"""

from __future__ import annotations

from monai_lipinr.losses.bending import INRBendingEnergyLoss, bending_energy
from monai_lipinr.losses.deformation import (
    INPUT_KINDS,
    DeformationJacobianLoss,
    HyperelasticLoss,
    JacobianFoldingLoss,
    JacobianVolumeLoss,
    folding_penalty,
    hyperelastic_energy,
    hyperelastic_volume_term,
    volume_penalty,
)
from monai_lipinr.losses.ncc import NCC_FORMS, PointNCCLoss, point_ncc
from monai_lipinr.losses.total_variation import TotalVariationLoss, total_variation_map

__all__ = [
    "INPUT_KINDS",
    "NCC_FORMS",
    "DeformationJacobianLoss",
    "HyperelasticLoss",
    "INRBendingEnergyLoss",
    "JacobianFoldingLoss",
    "JacobianVolumeLoss",
    "PointNCCLoss",
    "TotalVariationLoss",
    "bending_energy",
    "folding_penalty",
    "hyperelastic_energy",
    "hyperelastic_volume_term",
    "point_ncc",
    "total_variation_map",
    "volume_penalty",
]
