"""Building blocks of the networks."""

from __future__ import annotations

from monai_lipinr.networks.blocks.output_gain import BoundedGain

__all__ = ["BoundedGain"]
