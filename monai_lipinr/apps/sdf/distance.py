"""Exact unsigned distance to a triangle mesh and a robust inside/outside sign (generalized winding number).

Sign convention: signed distance is **negative inside** the surface, positive outside, zero on it.

* :func:`unsigned_distance` is exact (point-triangle distance), with a KD-tree pruning that never
  changes the answer: a surface point (vertex or centroid) at distance ``u`` bounds the true distance
  from above, and a triangle whose centroid is farther than ``u + R`` (``R`` = largest centroid-to-corner
  radius) cannot be closer.
* :func:`winding_number` is the generalized winding number of Jacobson et al. 2013 (sum of signed solid
  angles / 4π, Van Oosterom & Strackee's formula). It is 1 inside and 0 outside a closed, consistently
  oriented mesh and degrades gracefully (≈ 0.5 across a hole) on slightly open scans, which is why the
  sign is ``w > 0.5`` rather than a ray-parity test.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from monai_lipinr.apps.sdf.mesh import TriangleMesh

__all__ = ["point_triangle_distance", "unsigned_distance", "winding_number", "signed_distance"]


def _as_points(points, name: str = "points") -> np.ndarray:
    p = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3) (x y z, mesh world units), got {p.shape}.")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(p)).sum())} non-finite value(s).")
    return p


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    denom = np.einsum("ij,ij->i", ab, ab)
    t = np.divide(np.einsum("ij,ij->i", p - a, ab), denom, out=np.zeros_like(denom), where=denom > 0)
    t = np.clip(t, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def point_triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distance from points ``p`` to triangles ``(a, b, c)`` (all ``(M, 3)``).

    If the orthogonal projection of ``p`` on the triangle's plane falls inside the triangle the distance is
    the plane distance; otherwise the closest point lies on an edge. Degenerate triangles use the edges.
    """
    n = np.cross(b - a, c - a)
    nn = np.einsum("ij,ij->i", n, n)
    h = np.divide(np.einsum("ij,ij->i", p - a, n), nn, out=np.zeros_like(nn), where=nn > 0)
    q = p - h[:, None] * n
    inside = nn > 0
    for u, v in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("ij,ij->i", np.cross(v - u, q - u), n) >= 0
    plane = np.abs(h) * np.sqrt(nn)
    edges = np.minimum(np.minimum(_segment_distance(p, a, b), _segment_distance(p, b, c)), _segment_distance(p, c, a))
    return np.where(inside, plane, edges)


def unsigned_distance(points, mesh: TriangleMesh, chunk_size: int = 20000) -> np.ndarray:
    """Exact distance from each point to the mesh surface.

    Args:
        points: ``(N, 3)`` query points in the mesh's world units (array or tensor).
        mesh: the surface.
        chunk_size: points per pruning query (bounds memory).

    Returns:
        ``(N,)`` float64 distances (world units).

    Raises:
        ValueError: for points of the wrong shape or non-finite points.
    """
    p = _as_points(points)
    tri = mesh.triangles
    centroids = tri.mean(1)
    radius = float(np.linalg.norm(tri - centroids[:, None], axis=2).max())
    surface_tree = cKDTree(np.concatenate([mesh.vertices, centroids]))
    centroid_tree = cKDTree(centroids)
    out = np.empty(p.shape[0])
    for start in range(0, p.shape[0], chunk_size):
        q = p[start : start + chunk_size]
        upper, _ = surface_tree.query(q)
        cand = centroid_tree.query_ball_point(q, upper + radius * (1 + 1e-9) + 1e-12)
        lengths = np.fromiter((len(c) for c in cand), dtype=np.int64, count=len(cand))
        rows = np.repeat(np.arange(q.shape[0]), lengths)
        faces = np.concatenate([np.asarray(c, dtype=np.int64) for c in cand])
        d = point_triangle_distance(q[rows], tri[faces, 0], tri[faces, 1], tri[faces, 2])
        best = upper.copy()
        np.minimum.at(best, rows, d)
        out[start : start + q.shape[0]] = best
    return out


def _solid_angles(ax, ay, az, bx, by, bz, cx, cy, cz) -> torch.Tensor:
    """Signed solid angles of triangles with corners ``a, b, c`` relative to the query (component arrays)."""
    la = torch.sqrt(ax * ax + ay * ay + az * az)
    lb = torch.sqrt(bx * bx + by * by + bz * bz)
    lc = torch.sqrt(cx * cx + cy * cy + cz * cz)
    num = ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
    den = (
        la * lb * lc
        + (ax * bx + ay * by + az * bz) * lc
        + (bx * cx + by * cy + bz * cz) * la
        + (cx * ax + cy * ay + cz * az) * lb
    )
    return 2.0 * torch.atan2(num, den)


def _morton_order(points: np.ndarray) -> np.ndarray:
    """Indices sorting ``(N, 3)`` points along a Z-order (Morton) curve of a 1024³ grid."""
    lo, span = points.min(0), float(np.ptp(points, axis=0).max()) or 1.0
    q = np.clip(((points - lo) / span * 1023).astype(np.int64), 0, 1023)
    code = np.zeros(len(points), dtype=np.int64)
    for bit in range(10):
        for axis in range(3):
            code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="stable")


def winding_number(
    points,
    mesh: TriangleMesh,
    beta: float | None = 2.0,
    cluster_size: int = 32,
    max_pairs: int = 2**20,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Generalized winding number of the mesh at each point (``(N,)`` float64).

    Triangles are grouped into clusters of ``cluster_size`` consecutive triangles along a Morton curve.
    A cluster whose centre is more than ``beta`` times its radius away from the query contributes its
    far-field expansion to second order (Barill et al. 2018): with ``r = p_c - q``,
    ``Ω_c ≈ N_c·r/|r|³ + tr(M_c)/|r|³ - 3 rᵀM_c r/|r|⁵``, ``N_c = Σ a_t n_t`` (area vectors) and
    ``M_c = Σ a_t n_t (x_t - p_c)ᵀ``; the other clusters are summed exactly. ``beta=None`` sums every
    triangle exactly. The truncation error decays like ``(r/d)²`` relative; near the surface, where the
    sign matters, every cluster is exact.

    Args:
        points: ``(N, 3)`` query points (mesh world units).
        mesh: the surface (either orientation; see :func:`signed_distance`).
        beta: far-field acceptance ratio (``> 1``), or ``None`` for the exact sum.
        cluster_size: triangles per cluster.
        max_pairs: point-triangle pairs per chunk (bounds memory to ~``100 · max_pairs`` bytes).
        device: torch device of the computation (default CPU).

    Returns:
        ≈ 1 inside and ≈ 0 outside an outward-oriented closed mesh (≈ -1 inside an inward one).

    Raises:
        ValueError: for bad points or ``beta <= 1``.
    """
    p = torch.as_tensor(_as_points(points), dtype=torch.float64, device=device)
    if beta is not None and not (math.isfinite(beta) and beta > 1.0):
        raise ValueError(f"beta must be a finite number > 1 or None (exact), got {beta!r}.")
    tri_np = mesh.triangles
    n_faces = tri_np.shape[0]
    size = n_faces if beta is None else max(1, min(int(cluster_size), n_faces))
    order = np.arange(n_faces) if beta is None else _morton_order(tri_np.mean(1))
    n_clusters = -(-n_faces // size)
    index = np.concatenate([order, np.full(n_clusters * size - n_faces, n_faces)]).reshape(n_clusters, size)
    padded = np.concatenate([tri_np, np.zeros((1, 3, 3))])  # index n_faces: a zero triangle (solid angle 0)
    tri = torch.as_tensor(padded, dtype=torch.float64, device=p.device)
    comp = [[tri[:, k, j].contiguous() for j in range(3)] for k in range(3)]  # corner k, axis j: (F+1,)
    idx = torch.as_tensor(index, device=p.device)
    out = torch.zeros(p.shape[0], dtype=torch.float64, device=p.device)

    if beta is not None:
        real = torch.as_tensor(index < n_faces, device=p.device)
        tri_area_vec = 0.5 * torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)[idx]  # (C, s, 3)
        area_vec = tri_area_vec.sum(1)  # (C, 3)
        centre = (tri.mean(1)[idx] * real[..., None]).sum(1) / real.sum(1, keepdim=True)  # (C, 3)
        offset = tri.mean(1)[idx] - centre[:, None]  # (C, s, 3) triangle centroid - cluster centre
        moment = torch.einsum("csi,csj->cij", tri_area_vec, offset)  # (C, 3, 3): Σ a n dᵀ
        corner_dist = (tri[idx] - centre[:, None, None]).norm(dim=-1).amax(-1)  # (C, size)
        radius = torch.where(real, corner_dist, torch.zeros_like(corner_dist)).amax(1)  # (C,)
    q_chunk = max(1, int(max_pairs) // max(n_clusters, 1))
    for start in range(0, p.shape[0], q_chunk):
        q = p[start : start + q_chunk]
        if beta is None:
            near = torch.ones(q.shape[0], n_clusters, dtype=torch.bool, device=p.device)
        else:
            rel = centre[None] - q[:, None]  # (n, C, 3)
            dist = rel.norm(dim=-1)
            near = dist <= beta * radius[None]
            inv3 = dist.clamp_min(1e-300) ** -3
            first = (rel * area_vec[None]).sum(-1) * inv3
            rmr = torch.einsum("nci,cij,ncj->nc", rel, moment, rel)
            second = moment.diagonal(dim1=1, dim2=2).sum(-1)[None] * inv3 - 3.0 * rmr * inv3 / dist.clamp_min(1e-300) ** 2
            out[start : start + q.shape[0]] += torch.where(near, 0.0, first + second).sum(1)  # solid angles
        qi, ci = near.nonzero(as_tuple=True)
        pair_chunk = max(1, int(max_pairs) // size)
        for s in range(0, qi.shape[0], pair_chunk):
            rows, faces = qi[s : s + pair_chunk] + start, idx[ci[s : s + pair_chunk]]  # (P,), (P, size)
            pts = [p[rows, j : j + 1] for j in range(3)]
            corners = [comp[k][j][faces] - pts[j] for k in range(3) for j in range(3)]
            out.index_add_(0, rows, _solid_angles(*corners).sum(1))
    return (out / (4.0 * math.pi)).cpu().numpy()


def _orientation(mesh: TriangleMesh) -> float:
    """+1 for outward-oriented faces, -1 for inward ones (sign of the signed volume ``Σ a·(b×c) / 6``)."""
    t = mesh.triangles
    volume = float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum()) / 6.0
    return -1.0 if volume < 0 else 1.0


def signed_distance(points, mesh: TriangleMesh, threshold: float = 0.5) -> np.ndarray:
    """Signed distance (negative inside) with the sign from the generalized winding number.

    Args:
        points: ``(N, 3)`` query points (mesh world units).
        mesh: the surface; may be slightly open (holes are bridged by the winding number) and oriented
            either way (the orientation is read from the sign of the enclosed signed volume).
        threshold: winding number above which a point is inside (default 0.5).

    Returns:
        ``(N,)`` float64 signed distances (world units).
    """
    p = _as_points(points)
    d = unsigned_distance(p, mesh)
    w = winding_number(p, mesh) * _orientation(mesh)
    return np.where(w > threshold, -d, d)
