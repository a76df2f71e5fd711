"""Lipschitz INR networks (:mod:`~monai_lipinr.networks.nets`) and their blocks."""

from __future__ import annotations

from monai_lipinr.networks.blocks import BoundedGain
from monai_lipinr.networks.nets import (
    NETWORK_PRESETS,
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
    "NETWORK_PRESETS",
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
