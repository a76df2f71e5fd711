"""Reduction shared by the package's losses (``torch.nn.modules.loss._Loss`` semantics)."""

from __future__ import annotations

import torch
from monai.utils import LossReduction

from monai_lipinr.ops.validation import check_option

__all__ = ["check_reduction", "reduce_loss"]


def check_reduction(reduction: LossReduction | str) -> str:
    """Resolve ``reduction`` to ``"none"``, ``"mean"`` or ``"sum"``.

    Raises:
        ValueError: naming the argument and the supported options.
    """
    return check_option("reduction", reduction, LossReduction)


def reduce_loss(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply a resolved reduction: mean or sum over every element, or return ``values`` unchanged."""
    if reduction == LossReduction.MEAN.value:
        return values.mean()
    if reduction == LossReduction.SUM.value:
        return values.sum()
    return values
