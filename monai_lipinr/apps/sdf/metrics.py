"""Surface metrics between two meshes: Chamfer distance and normal consistency.

Both are computed between point clouds sampled area-uniformly on the surfaces (with the normals of
their triangles), by nearest neighbours in both directions:

* Chamfer distance ``CD = ½ (mean_a min_b ‖a - b‖ + mean_b min_a ‖a - b‖)`` (not squared; same units as
  the points).
* Normal consistency ``NC = ½ (mean_a |n_a · n_{nn(a)}| + mean_b |n_b · n_{nn(b)}|)`` in ``[0, 1]``
  (1 = identical normals; absolute value, so it ignores orientation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from monai_lipinr.apps.sdf.mesh import TriangleMesh
from monai_lipinr.apps.sdf.sampling import sample_surface
from monai_lipinr.metrics.base import ReducedCumulativeMetric
from monai_lipinr.ops.validation import check_float_tensor

__all__ = [
    "compute_chamfer_distance",
    "compute_normal_consistency",
    "SurfaceChamferDistance",
    "SurfaceNormalConsistency",
    "mesh_surface_metrics",
]


def _check_cloud(name: str, x: torch.Tensor, width: int = 3) -> torch.Tensor:
    check_float_tensor(name, x)
    if x.ndim != 2 or x.shape[1] != width or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N>0, {width}), got {tuple(x.shape)}.")
    return x


def _nearest(a: torch.Tensor, b: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``a`` the distance to and index of its nearest row of ``b`` (chunked ``cdist``)."""
    dists, idx = [], []
    for s in range(0, a.shape[0], chunk):
        d = torch.cdist(a[s : s + chunk], b)
        v, i = d.min(dim=1)
        dists.append(v)
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def compute_chamfer_distance(points_a: torch.Tensor, points_b: torch.Tensor) -> torch.Tensor:
    """Symmetric mean nearest-neighbour distance between two clouds ``(N, 3)`` and ``(M, 3)`` (any units).

    Raises:
        TypeError / ValueError: for non-float or badly shaped clouds.
    """
    a, b = _check_cloud("points_a", points_a), _check_cloud("points_b", points_b)
    b = b.to(a)
    return 0.5 * (_nearest(a, b)[0].mean() + _nearest(b, a)[0].mean())


def compute_normal_consistency(
    points_a: torch.Tensor, normals_a: torch.Tensor, points_b: torch.Tensor, normals_b: torch.Tensor
) -> torch.Tensor:
    """Mean ``|n · n_nearest|`` in both directions (unit normals ``(N, 3)``, ``(M, 3)``), in ``[0, 1]``."""
    a, b = _check_cloud("points_a", points_a), _check_cloud("points_b", points_b).to(points_a)
    na, nb = _check_cloud("normals_a", normals_a).to(a), _check_cloud("normals_b", normals_b).to(a)
    if na.shape != a.shape or nb.shape != b.shape:
        raise ValueError("normals_a/normals_b must match points_a/points_b in shape.")
    _, ia = _nearest(a, b)
    _, ib = _nearest(b, a)
    return 0.5 * ((na * nb[ia]).sum(1).abs().mean() + (nb * na[ib]).sum(1).abs().mean())


def _batched(name: str, x: torch.Tensor, width: int) -> torch.Tensor:
    check_float_tensor(name, x)
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[-1] != width:
        raise ValueError(f"{name} must have shape (B, N, {width}) or (N, {width}), got {tuple(x.shape)}.")
    return x


class _PairedCloudMetric(ReducedCumulativeMetric):
    """Per-cloud metric of paired point clouds ``(B, N, width)`` / ``(B, M, width)``, accumulated over calls.

    Args:
        reduction: MONAI metric reduction over the accumulated per-cloud values.
        get_not_nans: also return the count.
    """

    width = 3

    def _per_cloud(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        p, r = _batched("y_pred", y_pred, self.width), _batched("y", y, self.width)
        if p.shape[0] != r.shape[0]:
            raise ValueError(f"y_pred and y must have the same batch size, got {p.shape[0]} and {r.shape[0]}.")
        return torch.stack([self._per_cloud(a, b) for a, b in zip(p, r)])[:, None]


class SurfaceChamferDistance(_PairedCloudMetric):
    """Cumulative Chamfer distance between point clouds ``y_pred`` and ``y`` (``(B, N, 3)`` / ``(B, M, 3)``)."""

    width = 3

    def _per_cloud(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return compute_chamfer_distance(pred, ref)


class SurfaceNormalConsistency(_PairedCloudMetric):
    """Cumulative normal consistency; ``y_pred`` and ``y`` are ``(B, N, 6)`` rows ``[x y z nx ny nz]``."""

    width = 6

    def _per_cloud(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return compute_normal_consistency(pred[:, :3], pred[:, 3:], ref[:, :3], ref[:, 3:])


def mesh_surface_metrics(
    pred: TriangleMesh, reference: TriangleMesh, num_points: int = 20000, seed: int = 0
) -> dict[str, float]:
    """Chamfer distance and normal consistency between two meshes (world units of the meshes).

    Args:
        pred: e.g. the marching-cubes mesh of a neural SDF.
        reference: the input mesh.
        num_points: points sampled on each surface.
        seed: sampling seed.

    Returns:
        ``{"chamfer": CD, "chamfer_relative": CD / reference bounding-box diagonal,
        "normal_consistency": NC, "num_points": n}``.
    """
    rng = np.random.default_rng(seed)
    pa, na = sample_surface(pred, num_points, rng)
    pb, nb = sample_surface(reference, num_points, rng)
    ta, tb = torch.as_tensor(pa), torch.as_tensor(pb)
    cd = float(compute_chamfer_distance(ta, tb))
    nc = float(compute_normal_consistency(ta, torch.as_tensor(na), tb, torch.as_tensor(nb)))
    diag = float(np.linalg.norm(np.ptp(reference.vertices, axis=0)))
    return {"chamfer": cd, "chamfer_relative": cd / diag, "normal_consistency": nc, "num_points": int(num_points)}
