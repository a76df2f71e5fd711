"""Lipschitz INR networks and presets."""

from __future__ import annotations

from monai_lipinr.networks.nets.lipschitz_inr import LipschitzINR
from monai_lipinr.networks.nets.presets import (
    NETWORK_PRESETS,
    SIREN,
    FourierFeatureINR,
    GaussianINR,
    GroupSortMLP,
    HouseholderMLP,
    MaxMinMLP,
    PositionalEncodingMLP,
)

__all__ = [
    "NETWORK_PRESETS",
    "LipschitzINR",
    "SIREN",
    "FourierFeatureINR",
    "GaussianINR",
    "PositionalEncodingMLP",
    "GroupSortMLP",
    "MaxMinMLP",
    "HouseholderMLP",
]
