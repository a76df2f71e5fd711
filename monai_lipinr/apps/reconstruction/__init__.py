"""CT reconstruction from sparse projections with an HU-gradient Lipschitz budget.

* :mod:`.geometry` — parallel / fan beam scan geometries (mm), sinogram validation;
* :mod:`.projector` — line integrals of INRs (stratified quadrature) and of grid images (sparse matrix);
* :mod:`.fbp` — filtered back-projection baseline; :mod:`.sart` — SART for parallel and fan beams; :mod:`.noise` — Poisson / Gaussian noise;
* :mod:`.phantom` — ellipse phantoms with exact line integrals;
* :mod:`.engine` — :class:`INRReconstruction`; :mod:`.cli` — ``monai-lipinr reconstruct``.
"""

from __future__ import annotations

from monai_lipinr.apps.reconstruction.config import ReconstructionConfig
from monai_lipinr.apps.reconstruction.engine import (
    INRReconstruction,
    ReconstructionResult,
    reconstruction_grid,
)
from monai_lipinr.apps.reconstruction.fbp import filtered_back_projection
from monai_lipinr.apps.reconstruction.geometry import FanBeamGeometry, ParallelBeamGeometry, ScanGeometry
from monai_lipinr.apps.reconstruction.noise import add_noise
from monai_lipinr.apps.reconstruction.phantom import EllipsePhantom, shepp_logan_ellipses
from monai_lipinr.apps.reconstruction.projector import (
    GridProjector,
    INRField,
    RayProjector,
    project_image,
    simulate_sinogram,
)
from monai_lipinr.apps.reconstruction.sart import SART

__all__ = [
    "EllipsePhantom",
    "FanBeamGeometry",
    "GridProjector",
    "INRField",
    "INRReconstruction",
    "ParallelBeamGeometry",
    "RayProjector",
    "SART",
    "ReconstructionConfig",
    "ReconstructionResult",
    "ScanGeometry",
    "add_noise",
    "filtered_back_projection",
    "project_image",
    "reconstruction_grid",
    "shepp_logan_ellipses",
    "simulate_sinogram",
]
