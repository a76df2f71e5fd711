"""Triangle meshes for the SDF app: loading (OBJ/PLY/… via ``trimesh``), validation, normalisation.

A mesh is held as a :class:`TriangleMesh`: ``vertices`` ``(V, 3)`` float64 in the file's world units and
``faces`` ``(F, 3)`` int64 vertex indices (counter-clockwise seen from outside for outward normals).
The network sees the mesh through one isotropic map (:class:`~monai_lipinr.budget.NetworkCoordinates`):
``x̃ = (x - c) / s`` with ``c`` the bounding-box centre and ``s`` half the largest bounding-box extent times
``1 + padding``, so the mesh lies inside ``[-1/(1+padding), 1/(1+padding)]^3`` and a signed distance in
network units is the world distance divided by ``s`` — a uniform scaling, so a 1-Lipschitz SDF in world
units is 1-Lipschitz in network units too.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from monai_lipinr.budget.coordinates import NetworkCoordinates

__all__ = ["TriangleMesh", "load_mesh", "mesh_coordinates"]


@dataclasses.dataclass
class TriangleMesh:
    """A validated triangle mesh.

    Attributes:
        vertices: ``(V, 3)`` float64 vertex positions (world units, x y z).
        faces: ``(F, 3)`` int64 vertex indices.
    """

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices, dtype=np.float64)
        f = np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] == 0:
            raise ValueError(f"vertices must have shape (V>0, 3), got {v.shape}: the mesh is empty or not 3-D.")
        if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] == 0:
            raise ValueError(f"faces must have shape (F>0, 3) (triangles), got {f.shape}: the mesh has no faces.")
        if not np.issubdtype(f.dtype, np.integer):
            raise TypeError(f"faces must hold integer vertex indices, got dtype {f.dtype}.")
        if not np.isfinite(v).all():
            raise ValueError(f"vertices must be finite, got {int((~np.isfinite(v)).sum())} non-finite value(s).")
        if f.min() < 0 or f.max() >= v.shape[0]:
            raise ValueError(f"faces index vertices in [{f.min()}, {f.max()}], expected [0, {v.shape[0] - 1}].")
        self.vertices, self.faces = v, f.astype(np.int64)

    @property
    def triangles(self) -> np.ndarray:
        """``(F, 3, 3)`` corner positions (face, corner, xyz)."""
        return self.vertices[self.faces]

    def face_areas(self) -> np.ndarray:
        """``(F,)`` triangle areas (world units squared)."""
        t = self.triangles
        return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)

    def face_normals(self) -> np.ndarray:
        """``(F, 3)`` unit normals by the right-hand rule (zero rows for degenerate faces)."""
        t = self.triangles
        n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        norm = np.linalg.norm(n, axis=1, keepdims=True)
        return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)

    def edge_face_counts(self) -> np.ndarray:
        """Number of faces sharing each undirected edge (``(E,)``; 1 = boundary, 2 = manifold, > 2 = not)."""
        edges = np.sort(self.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        return counts

    def check_manifold(self) -> None:
        """Raise ``ValueError`` when an edge is shared by more than two faces or a face is degenerate.

        Boundary edges (one face) are allowed: scans are often slightly open; the winding-number sign
        handles them.
        """
        counts = self.edge_face_counts()
        bad = int((counts > 2).sum())
        if bad:
            raise ValueError(
                f"mesh is non-manifold: {bad} edge(s) are shared by more than two faces (max {int(counts.max())}); "
                "expected every edge in at most two triangles."
            )
        if (self.faces[:, 0] == self.faces[:, 1]).any() or (self.faces[:, 1] == self.faces[:, 2]).any() or (
            self.faces[:, 0] == self.faces[:, 2]
        ).any():
            raise ValueError("mesh has faces that repeat a vertex index (degenerate triangles).")
        if not (self.face_areas() > 0).any():
            raise ValueError("mesh has zero surface area (every triangle is degenerate).")

    def boundary_edges(self) -> int:
        """Number of edges used by exactly one face (0 for a closed mesh)."""
        return int((self.edge_face_counts() == 1).sum())

    def used(self) -> TriangleMesh:
        """The same surface without unreferenced vertices (indices renumbered)."""
        keep, inverse = np.unique(self.faces.reshape(-1), return_inverse=True)
        return TriangleMesh(self.vertices[keep], inverse.reshape(-1, 3))


def load_mesh(source: str | os.PathLike | TriangleMesh, check: bool = True) -> TriangleMesh:
    """Load a triangle mesh from a file (OBJ, PLY, STL, OFF, … as ``trimesh`` reads them).

    Args:
        source: a path, a :class:`TriangleMesh`, or a ``trimesh.Trimesh``.
        check: reject non-manifold meshes and degenerate faces (see :meth:`TriangleMesh.check_manifold`).

    Returns:
        the :class:`TriangleMesh` with unreferenced vertices removed (vertex order otherwise kept).

    Raises:
        FileNotFoundError: when the path does not exist.
        ValueError: for an unreadable, empty or non-manifold mesh.
    """
    if isinstance(source, TriangleMesh):
        mesh = source
    elif hasattr(source, "vertices") and hasattr(source, "faces"):
        mesh = TriangleMesh(np.asarray(source.vertices), np.asarray(source.faces))
    else:
        import trimesh

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"mesh={str(path)!r} does not exist.")
        try:
            loaded = trimesh.load(str(path), force="mesh", process=False)
        except Exception as err:  # trimesh raises many types for unreadable files
            raise ValueError(f"mesh={str(path)!r} could not be read as a triangle mesh: {err}") from err
        vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))))
        faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3), dtype=np.int64)))
        if vertices.size == 0 or faces.size == 0:
            raise ValueError(
                f"mesh={str(path)!r} is empty ({len(vertices)} vertices, {len(faces)} faces); expected triangles."
            )
        mesh = TriangleMesh(vertices, faces)
    mesh = mesh.used()
    if check:
        mesh.check_manifold()
    return mesh


def mesh_coordinates(mesh: TriangleMesh, padding: float = 0.1) -> NetworkCoordinates:
    """The isotropic world -> network map of a mesh (see the module docstring).

    Args:
        mesh: the mesh.
        padding: relative margin around the bounding box (``>= 0``): the mesh fills
            ``±1/(1+padding)`` of the network cube ``[-1, 1]^3``.

    Raises:
        ValueError: for a negative/non-finite padding or a mesh with zero extent.
    """
    if not np.isfinite(padding) or padding < 0:
        raise ValueError(f"padding must be a finite number >= 0, got {padding!r}.")
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    half = 0.5 * float((hi - lo).max())
    if not half > 0:
        raise ValueError("mesh has zero extent (all vertices coincide).")
    return NetworkCoordinates(0.5 * (lo + hi), half * (1.0 + padding))
