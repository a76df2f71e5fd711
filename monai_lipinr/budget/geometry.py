"""Image geometry in the ITK/SimpleITK world frame (LPS, mm): voxel index <-> world point.

One small value object, :class:`ImageGeometry`, is the single place where the three image
conventions met in practice are reconciled:

* **SimpleITK**: ``image.GetSize()`` / ``GetSpacing()`` / ``GetOrigin()`` / ``GetDirection()`` in LPS mm;
  ``sitk.GetArrayFromImage`` returns the array in *reversed* index order ``(k, j, i)``.
* **MONAI** ``MetaTensor``: channel-first array ``(C, i, j, k)`` in ITK *index* order (``LoadImage`` with
  either ``ITKReader`` or ``NibabelReader``), with an ``affine`` in **RAS** unless
  ``meta["space"] == "LPS"``. The RAS -> LPS conversion (negate the first two world rows) is done here
  explicitly, never implicitly.
* a plain affine matrix ``(D+1, D+1)`` together with a spatial shape.

Conventions used everywhere in :mod:`monai_lipinr`:

* *array-axis order* = ITK index order ``(i, j, k)`` = the spatial axes of a MONAI channel-first array;
  ``size[d]`` is the number of voxels along array axis ``d``.
* world point ``x = origin + A @ p`` with ``A = direction @ diag(spacing)`` (LPS mm), ``p`` a continuous
  voxel index in array-axis order (voxel centres at integer ``p``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ImageGeometry",
    "as_points",
    "apply_affine_to_points",
    "lps_ras_flip",
    "sitk_to_channel_first",
    "is_sitk_image",
]


def lps_ras_flip(spatial_dims: int) -> np.ndarray:
    """Diagonal of the LPS <-> RAS world flip (negate the first two world axes; 2D: both axes).

    Args:
        spatial_dims: 2 or 3.

    Returns:
        float64 array of length ``spatial_dims`` (the flip is its own inverse).
    """
    flip = np.ones(spatial_dims)
    flip[: min(2, spatial_dims)] = -1.0
    return flip


def is_sitk_image(obj) -> bool:
    """Whether ``obj`` looks like a ``SimpleITK.Image`` (duck-typed: no import needed)."""
    return (
        hasattr(obj, "GetDirection")
        and hasattr(obj, "GetSize")
        and hasattr(obj, "GetNumberOfComponentsPerPixel")
    )


def sitk_to_channel_first(image) -> np.ndarray:
    """Pixel array of a ``SimpleITK.Image`` in MONAI layout ``(C, i, j, k)`` (array-axis = ITK index order).

    ``sitk.GetArrayFromImage`` returns ``(k, j, i[, C])``; this reverses the spatial axes and moves vector
    components to a leading channel axis (``C = 1`` for scalar images).
    """
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(image)
    d = image.GetDimension()
    arr = arr[None] if arr.ndim == d else np.moveaxis(arr, -1, 0)
    return np.ascontiguousarray(arr.transpose((0,) + tuple(range(d, 0, -1))))


def as_points(points, spatial_dims: int | None = None, name: str = "points"):
    """Validate an ``(N, D)`` array of points or vectors (torch tensor or numpy array).

    Args:
        points: ``(N, D)`` torch tensor or array-like.
        spatial_dims: expected ``D``; ``None`` accepts 2 or 3.
        name: argument name used in error messages.

    Returns:
        ``points`` unchanged when it is a floating torch tensor, else a float64 numpy array.

    Raises:
        TypeError: for a non-numeric input.
        ValueError: for a wrong shape, a wrong ``D`` or non-finite values.
    """
    if isinstance(points, torch.Tensor):
        if not points.is_floating_point():
            points = points.double()
        finite = bool(torch.isfinite(points).all())
    else:
        try:
            points = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{name} must be an (N, D) tensor or array of numbers, got {type(points).__name__}."
            ) from e
        finite = bool(np.isfinite(points).all())
    if points.ndim != 2:
        raise ValueError(f"{name} must have shape (N, spatial_dims), got shape {tuple(points.shape)}.")
    d = points.shape[1]
    if spatial_dims is not None and d != spatial_dims:
        raise ValueError(
            f"{name} must have spatial_dims={spatial_dims} columns, got shape {tuple(points.shape)}."
        )
    if spatial_dims is None and d not in (2, 3):
        raise ValueError(f"{name} must have 2 or 3 columns (spatial_dims), got shape {tuple(points.shape)}.")
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite values; coordinates must be finite.")
    return points


def apply_affine_to_points(points, matrix: np.ndarray, offset: np.ndarray | None = None):
    """``y = points @ matrix.T + offset`` keeping the container, dtype and device of ``points``.

    Args:
        points: ``(N, D)`` torch tensor or numpy array.
        matrix: ``(D, D)`` float64 matrix.
        offset: optional ``(D,)`` float64 vector.

    Returns:
        the transformed ``(N, D)`` points, same type as ``points``.
    """
    if isinstance(points, torch.Tensor):
        m = torch.as_tensor(matrix, dtype=points.dtype, device=points.device)
        out = points @ m.T
        if offset is not None:
            out = out + torch.as_tensor(offset, dtype=points.dtype, device=points.device)
        return out
    out = points @ np.asarray(matrix).T
    return out if offset is None else out + np.asarray(offset)


def _vector(name: str, value, length: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (length,) or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be {length} finite numbers, got {value!r}.")
    return arr


@dataclass(frozen=True, eq=False)
class ImageGeometry:
    """Voxel grid of an image in the LPS world frame (mm).

    Args:
        size: number of voxels along each array axis, array-axis (ITK index) order ``(i, j, k)``.
        spacing: voxel spacing in mm along each array axis.
        origin: world position (LPS mm) of the centre of voxel ``(0, 0, 0)``.
        direction: ``(D, D)`` matrix whose column ``d`` is the LPS unit direction of array axis ``d``
            (SimpleITK's flat row-major ``GetDirection()`` tuple is accepted too). Entries below 1e-15 in
            magnitude are set to 0 (ITK rejects subnormal direction entries).

    Raises:
        ValueError: for inconsistent lengths, non-positive spacing, a singular direction, non-finite values
            or ``spatial_dims`` other than 2 or 3.
    """

    size: tuple[int, ...]
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray

    def __init__(self, size: Sequence[int], spacing, origin=None, direction=None):
        size_t = tuple(int(s) for s in np.asarray(size).reshape(-1))
        d = len(size_t)
        if d not in (2, 3):
            raise ValueError(f"size must have 2 or 3 entries (spatial_dims 2 or 3), got {tuple(size)!r}.")
        if any(s < 1 for s in size_t):
            raise ValueError(f"size entries must be >= 1, got {size_t}.")
        sp = _vector("spacing", spacing, d)
        if (sp <= 0).any():
            raise ValueError(f"spacing must be > 0 mm along every axis, got {tuple(sp)}.")
        org = np.zeros(d) if origin is None else _vector("origin", origin, d)
        dirm = np.eye(d) if direction is None else np.asarray(direction, dtype=np.float64)
        if dirm.size == d * d:
            dirm = dirm.reshape(d, d)
        if dirm.shape != (d, d) or not np.isfinite(dirm).all():
            raise ValueError(f"direction must be a finite {d}x{d} matrix, got {direction!r}.")
        # flush negligible entries (|v| < 1e-15, e.g. round-off or subnormals) to exact zeros: ITK's SVD of
        # the direction matrix fails on subnormal entries, and they are far below float64 resolution of 1
        dirm = np.where(np.abs(dirm) < 1e-15, 0.0, dirm)
        if abs(np.linalg.det(dirm)) < 1e-8:
            raise ValueError(f"direction must be non-singular, got {dirm.tolist()}.")
        object.__setattr__(self, "size", size_t)
        object.__setattr__(self, "spacing", sp)
        object.__setattr__(self, "origin", org)
        object.__setattr__(self, "direction", dirm)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_sitk(cls, image) -> ImageGeometry:
        """Geometry of a ``SimpleITK.Image`` (LPS mm, as stored in its header)."""
        return cls(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())

    @classmethod
    def from_affine(cls, affine, spatial_shape: Sequence[int], space: str = "RAS") -> ImageGeometry:
        """Geometry from a homogeneous ``(D+1, D+1)`` index -> world affine.

        Args:
            affine: ``(D+1, D+1)`` matrix mapping array-axis voxel indices to world coordinates (mm).
            spatial_shape: array shape of the spatial axes (array-axis order), length ``D``.
            space: ``"RAS"`` (MONAI/NIfTI default) or ``"LPS"``; a RAS affine is converted to LPS explicitly.

        Raises:
            ValueError: for an unknown ``space``, or an affine that does not match ``spatial_shape``.
        """
        aff = np.asarray(
            affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64
        )
        d = len(tuple(spatial_shape))
        if aff.shape != (d + 1, d + 1):
            raise ValueError(
                f"affine must be ({d + 1}, {d + 1}) for a {d}-D spatial_shape {tuple(spatial_shape)}, got {aff.shape}."
            )
        space_u = str(space).upper()
        if space_u not in ("RAS", "LPS"):
            raise ValueError(f"space must be 'RAS' or 'LPS', got {space!r}.")
        lin, off = aff[:d, :d], aff[:d, d]
        if space_u == "RAS":
            flip = lps_ras_flip(d)
            lin, off = flip[:, None] * lin, flip * off
        spacing = np.linalg.norm(lin, axis=0)
        if (spacing <= 0).any():
            raise ValueError(f"affine has a zero column (degenerate voxel axis): {aff.tolist()}.")
        return cls(spatial_shape, spacing, off, lin / spacing)

    @classmethod
    def from_metatensor(cls, image, spatial_dims: int | None = None) -> ImageGeometry:
        """Geometry of a channel-first MONAI ``MetaTensor`` ``(C, *spatial)`` from its affine.

        ``meta["space"]`` decides the affine's frame (``"RAS"`` when absent, MONAI's default).

        Args:
            image: channel-first ``MetaTensor``.
            spatial_dims: expected number of spatial dimensions (checked when given).

        Raises:
            TypeError: when ``image`` has no affine.
            ValueError: when the array rank does not match the affine (channel dimension missing) or
                ``spatial_dims``.
        """
        affine = getattr(image, "affine", None)
        if affine is None:
            raise TypeError(f"image must be a MONAI MetaTensor with an affine, got {type(image).__name__}.")
        d = int(affine.shape[-1]) - 1
        if spatial_dims is not None and spatial_dims != d:
            raise ValueError(f"spatial_dims={spatial_dims} does not match the image affine of a {d}-D image.")
        if image.ndim != d + 1:
            raise ValueError(
                f"image must be channel-first with shape (C, *spatial) for a {d}-D affine, got shape {tuple(image.shape)}."
            )
        space = getattr(image, "meta", {}).get("space", "RAS")
        return cls.from_affine(affine, tuple(image.shape[1:]), space=str(space))

    @classmethod
    def from_image(cls, image, spatial_dims: int | None = None) -> ImageGeometry:
        """Geometry of an :class:`ImageGeometry`, a ``SimpleITK.Image`` or a channel-first ``MetaTensor``.

        Raises:
            TypeError: for any other input (a plain tensor carries no geometry).
            ValueError: when ``spatial_dims`` is given and differs.
        """
        if isinstance(image, ImageGeometry):
            geom = image
        elif is_sitk_image(image):
            geom = cls.from_sitk(image)
        elif hasattr(image, "affine") and isinstance(image, torch.Tensor):
            geom = cls.from_metatensor(image, spatial_dims)
        else:
            raise TypeError(
                "expected an ImageGeometry, a SimpleITK.Image or a channel-first MetaTensor with an affine, "
                f"got {type(image).__name__} (a plain tensor/array carries no world geometry)."
            )
        if spatial_dims is not None and geom.spatial_dims != spatial_dims:
            raise ValueError(
                f"spatial_dims={spatial_dims} does not match the {geom.spatial_dims}-D image geometry."
            )
        return geom

    # ------------------------------------------------------------------ properties
    @property
    def spatial_dims(self) -> int:
        return len(self.size)

    @property
    def num_voxels(self) -> int:
        return int(np.prod(self.size))

    @property
    def index_to_world_matrix(self) -> np.ndarray:
        """``A = direction @ diag(spacing)`` (mm per voxel index step, LPS), float64 ``(D, D)``."""
        return self.direction * self.spacing[None, :]

    @property
    def world_to_index_matrix(self) -> np.ndarray:
        """``A^{-1}`` (voxel index steps per mm), float64 ``(D, D)``."""
        return np.linalg.inv(self.index_to_world_matrix)

    @property
    def affine_lps(self) -> np.ndarray:
        """Homogeneous index -> LPS world affine ``(D+1, D+1)``."""
        d = self.spatial_dims
        aff = np.eye(d + 1)
        aff[:d, :d] = self.index_to_world_matrix
        aff[:d, d] = self.origin
        return aff

    @property
    def affine_ras(self) -> np.ndarray:
        """Homogeneous index -> RAS world affine ``(D+1, D+1)``, MONAI's ``MetaTensor.affine`` convention."""
        flip = np.ones(self.spatial_dims + 1)
        flip[: self.spatial_dims] = lps_ras_flip(self.spatial_dims)
        return flip[:, None] * self.affine_lps

    @property
    def physical_extent(self) -> np.ndarray:
        """Edge-to-edge field of view along each array axis, ``size * spacing`` (mm)."""
        return np.asarray(self.size, dtype=np.float64) * self.spacing

    @property
    def centre(self) -> np.ndarray:
        """World position (LPS mm) of the centre of the field of view, index ``(size - 1) / 2``."""
        return self.origin + self.index_to_world_matrix @ ((np.asarray(self.size, dtype=np.float64) - 1) / 2)

    def refined(self, factor: int) -> ImageGeometry:
        """The same field of view with every voxel split into ``factor`` sub-voxels along each axis.

        Sub-voxel ``(f·i + a, …)`` (``0 <= a < factor``) lies inside voxel ``(i, …)``; the voxel's area (volume)
        average is the mean over its ``factor^D`` sub-voxel centres.

        Raises:
            ValueError: when ``factor`` is not an int >= 1.
        """
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ValueError(f"factor must be an int >= 1, got {factor!r}.")
        f = int(factor)
        origin = self.index_to_world(np.full((1, self.spatial_dims), -0.5 + 0.5 / f))[0]
        return ImageGeometry(tuple(s * f for s in self.size), self.spacing / f, origin, self.direction)

    # ------------------------------------------------------------------ mappings
    def index_to_world(self, index):
        """Continuous voxel indices ``(N, D)`` (array-axis order) -> world points ``(N, D)`` (LPS mm)."""
        index = as_points(index, self.spatial_dims, "index")
        return apply_affine_to_points(index, self.index_to_world_matrix, self.origin)

    def world_to_index(self, points):
        """World points ``(N, D)`` (LPS mm) -> continuous voxel indices ``(N, D)`` (array-axis order)."""
        points = as_points(points, self.spatial_dims, "points")
        inv = self.world_to_index_matrix
        return apply_affine_to_points(points, inv, -inv @ self.origin)

    def vectors_to_world(self, vectors):
        """Voxel-unit vectors ``(N, D)`` (array-axis order) -> LPS mm vectors (no origin)."""
        return apply_affine_to_points(
            as_points(vectors, self.spatial_dims, "vectors"), self.index_to_world_matrix
        )

    def vectors_to_index(self, vectors):
        """LPS mm vectors ``(N, D)`` -> voxel-unit vectors in array-axis order (no origin)."""
        return apply_affine_to_points(
            as_points(vectors, self.spatial_dims, "vectors"), self.world_to_index_matrix
        )

    def apply_to_sitk(self, image):
        """Set this geometry on a ``SimpleITK.Image`` of matching size (in place) and return it.

        Raises:
            ValueError: when the image size differs from :attr:`size`.
        """
        if tuple(image.GetSize()) != self.size:
            raise ValueError(
                f"image size {tuple(image.GetSize())} does not match the geometry size {self.size}."
            )
        image.SetSpacing([float(v) for v in self.spacing])
        image.SetOrigin([float(v) for v in self.origin])
        image.SetDirection([float(v) for v in self.direction.reshape(-1)])
        return image

    def allclose(self, other: ImageGeometry, atol: float = 1e-5) -> bool:
        """Whether two geometries describe the same grid (sizes equal, the rest to ``atol``)."""
        return (
            self.size == other.size
            and np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.direction, other.direction, atol=atol)
        )

    def to_dict(self) -> dict:
        """JSON-serialisable description (LPS mm), inverse of ``ImageGeometry(**d)``."""
        return {
            "size": list(self.size),
            "spacing": self.spacing.tolist(),
            "origin": self.origin.tolist(),
            "direction": self.direction.tolist(),
        }

    def __repr__(self) -> str:
        return (
            f"ImageGeometry(size={self.size}, spacing={tuple(np.round(self.spacing, 6).tolist())}, "
            f"origin={tuple(np.round(self.origin, 6).tolist())}, direction={np.round(self.direction, 6).tolist()})"
        )
