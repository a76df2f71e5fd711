"""monai_lipinr: Lipschitz-budgeted implicit neural representations for MONAI.

Subpackages mirror MONAI's layout: ``lipschitz`` (bounds, constraints, allocation, ledger),
``budget`` (physical priors -> budgets), ``networks``, ``ops``, ``losses``, ``metrics``,
``transforms`` and ``apps`` (registration, reconstruction, SDF, inpainting).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
