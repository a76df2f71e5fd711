"""Lipschitz INR networks (:mod:`~monai_lipinr.networks.nets`) and their blocks."""

from __future__ import annotations

from monai_lipinr.networks.blocks import BoundedGain
from monai_lipinr.networks.nets import (
    SIREN,
    FourierFeatureINR,
    GaussianINR,
    GroupSortMLP,
    HouseholderMLP,
    LipschitzINR,
    MaxMinMLP,
    PositionalEncodingMLP,
)

__all__ = [
    "BoundedGain",
    "LipschitzINR",
    "SIREN",
    "FourierFeatureINR",
    "GaussianINR",
    "PositionalEncodingMLP",
    "GroupSortMLP",
    "MaxMinMLP",
    "HouseholderMLP",
]
