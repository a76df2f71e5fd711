"""Neural signed distance fields with a certified Lipschitz bound (default 1-Lipschitz).

Load a mesh, sample points with exact signed distances (winding-number sign, so slightly open scans
work), fit a budgeted ``LipschitzINR``, extract the surface by marching cubes, score it (Chamfer,
normal consistency) and sphere-trace it with certified-safe steps ``|f|/K``.
"""

from __future__ import annotations

from monai_lipinr.apps.sdf.config import SDF_ACTIVATIONS, SDF_CONSTRAINTS, SDFConfig, build_sdf_network
from monai_lipinr.apps.sdf.distance import signed_distance, unsigned_distance, winding_number
from monai_lipinr.apps.sdf.engine import NeuralSDF, SDFResult, evaluate_on_grid, extract_mesh
from monai_lipinr.apps.sdf.mesh import TriangleMesh, load_mesh, mesh_coordinates
from monai_lipinr.apps.sdf.metrics import (
    SurfaceChamferDistance,
    SurfaceNormalConsistency,
    compute_chamfer_distance,
    compute_normal_consistency,
    mesh_surface_metrics,
)
from monai_lipinr.apps.sdf.sampling import SDFSamples, sample_sdf_points, sample_surface
from monai_lipinr.apps.sdf.sphere_trace import SphereTraceResult, sphere_trace

__all__ = [
    "SDF_ACTIVATIONS",
    "SDF_CONSTRAINTS",
    "SDFConfig",
    "build_sdf_network",
    "signed_distance",
    "unsigned_distance",
    "winding_number",
    "NeuralSDF",
    "SDFResult",
    "evaluate_on_grid",
    "extract_mesh",
    "TriangleMesh",
    "load_mesh",
    "mesh_coordinates",
    "SurfaceChamferDistance",
    "SurfaceNormalConsistency",
    "compute_chamfer_distance",
    "compute_normal_consistency",
    "mesh_surface_metrics",
    "SDFSamples",
    "sample_sdf_points",
    "sample_surface",
    "SphereTraceResult",
    "sphere_trace",
]
