"""Training points of a neural SDF: on the surface, near it, and uniformly in the network cube.

All points are returned in **network units** (``x̃ = (x - c)/s``, see :func:`mesh_coordinates`), with
their signed distances also in network units (world distance ``/ s``; negative inside).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from monai_lipinr.apps.sdf.distance import signed_distance
from monai_lipinr.apps.sdf.mesh import TriangleMesh
from monai_lipinr.budget.coordinates import NetworkCoordinates

__all__ = ["SDFSamples", "sample_surface", "sample_sdf_points"]


@dataclasses.dataclass
class SDFSamples:
    """Points with signed distances, all in network units.

    Attributes:
        points: ``(N, 3)`` float32 network coordinates (x y z).
        sdf: ``(N,)`` float32 signed distances (network units, negative inside).
        kind: ``(N,)`` int8: 0 = surface, 1 = near-surface, 2 = volume.
    """

    points: torch.Tensor
    sdf: torch.Tensor
    kind: torch.Tensor

    def __len__(self) -> int:
        return int(self.points.shape[0])


def sample_surface(mesh: TriangleMesh, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform points on the surface and the normals of their triangles.

    Args:
        mesh: the surface.
        n: number of points (>= 1).
        rng: numpy random generator.

    Returns:
        ``(points (n, 3), normals (n, 3))`` in world units / unit vectors.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}.")
    areas = mesh.face_areas()
    face = rng.choice(len(areas), size=int(n), p=areas / areas.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = mesh.triangles[face]
    points = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return points, mesh.face_normals()[face]


def sample_sdf_points(
    mesh: TriangleMesh,
    coordinates: NetworkCoordinates,
    num_surface: int = 4000,
    num_near: int = 12000,
    num_volume: int = 4000,
    near_sigma: tuple[float, ...] = (0.01, 0.05),
    seed: int = 0,
) -> SDFSamples:
    """Surface, near-surface and volume points with exact signed distances.

    Args:
        mesh: the surface (world units).
        coordinates: the world -> network map (e.g. :func:`mesh_coordinates`).
        num_surface: points on the surface (distance 0).
        num_near: surface points displaced by isotropic Gaussian noise, split evenly over ``near_sigma``.
        num_volume: points uniform in the network cube ``[-1, 1]^3``.
        near_sigma: standard deviations of the near-surface noise, in network units (the cube has side 2).
        seed: random seed.

    Returns:
        :class:`SDFSamples` in network units.

    Raises:
        ValueError: for negative counts, no points at all, or non-positive sigmas.
    """
    for name, v in (("num_surface", num_surface), ("num_near", num_near), ("num_volume", num_volume)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}.")
    if num_surface + num_near + num_volume == 0:
        raise ValueError("at least one of num_surface, num_near, num_volume must be > 0.")
    sig = np.asarray(near_sigma, dtype=np.float64).reshape(-1)
    if num_near and (sig.size == 0 or not np.isfinite(sig).all() or (sig <= 0).any()):
        raise ValueError(f"near_sigma must be positive network-unit lengths, got {near_sigma!r}.")
    rng = np.random.default_rng(seed)
    s = coordinates.scale
    parts, kinds = [], []
    if num_surface:
        pts, _ = sample_surface(mesh, num_surface, rng)
        parts.append((coordinates.world_to_network(pts), np.zeros(num_surface)))
        kinds.append(np.zeros(num_surface, np.int8))
    if num_near:
        base, _ = sample_surface(mesh, num_near, rng)
        sigma = np.repeat(sig, -(-num_near // sig.size))[:num_near] * s
        world = base + rng.normal(size=base.shape) * sigma[:, None]
        parts.append((coordinates.world_to_network(world), signed_distance(world, mesh) / s))
        kinds.append(np.ones(num_near, np.int8))
    if num_volume:
        net = rng.uniform(-1.0, 1.0, size=(num_volume, 3))
        world = coordinates.network_to_world(net)
        parts.append((net, signed_distance(world, mesh) / s))
        kinds.append(np.full(num_volume, 2, np.int8))
    points = np.concatenate([p for p, _ in parts])
    sdf = np.concatenate([d for _, d in parts])
    return SDFSamples(
        torch.as_tensor(points, dtype=torch.float32),
        torch.as_tensor(sdf, dtype=torch.float32),
        torch.as_tensor(np.concatenate(kinds)),
    )
