"""Landmark warping: world points ``(N, D)`` (LPS mm) through a displacement network, a MONAI DDF or an
ITK displacement field.

All three follow the pull convention of the registration: a point ``x`` of the *fixed* image is mapped to
its corresponding point in the *moving* image, ``φ(x) = x + u(x)`` (so warping the fixed landmarks should
land on the moving landmarks; TRE = ``‖φ(x_fixed) - x_moving‖``).

* network: ``φ(x) = x + s · ũ((x - c)/s)`` (exact, evaluated in chunks under ``torch.no_grad``);
* MONAI DDF: ``p = A_f⁻¹(x - o_f)``, ``q = p + ddf(p)`` (``ddf`` interpolated (bi/tri)linearly),
  ``φ(x) = o_m + A_m q`` (``moving`` geometry defaults to the DDF's own grid);
* ITK field: ``sitk.DisplacementFieldTransform(field).TransformPoint(x)`` (linear interpolation).

Points further than half a voxel outside the field's grid raise ``ValueError`` by default
(``outside="border"`` clamps to the border value like ``Warp``'s ``"border"`` padding instead).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Transform
from monai.utils import TransformBackends

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import ImageGeometry, as_points, is_sitk_image
from monai_lipinr.ops.validation import check_option
from monai_lipinr.transforms.utils import (
    OutputKeyMapTransform,
    check_coordinates,
    network_device_dtype,
    resolve_geometry,
)

__all__ = ["interpolate_field", "warp_points", "WarpLandmarks", "WarpLandmarksd"]

OUTSIDE_MODES = ("error", "border")


def interpolate_field(field: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Linearly interpolate a channel-first field ``(C, *spatial)`` at continuous voxel indices ``(N, D)``.

    Indices are in array-axis order (voxel centres at integers); values beyond the grid take the border
    value. Computed in the dtype of ``field``.

    Returns:
        ``(N, C)`` tensor.
    """
    d = index.shape[1]
    size = field.shape[1:]
    idx = index.to(field.dtype)
    cols = [
        2.0 * idx[:, a] / (size[a] - 1) - 1.0 if size[a] > 1 else torch.zeros_like(idx[:, a])
        for a in range(d)
    ]
    grid = torch.stack(cols[::-1], dim=-1).reshape((1, idx.shape[0]) + (1,) * (d - 1) + (d,))
    out = F.grid_sample(field[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(field.shape[0], idx.shape[0]).T


def _check_inside(index: np.ndarray | torch.Tensor, geom: ImageGeometry, outside: str, name: str) -> None:
    if outside != "error":
        return
    idx = torch.as_tensor(index)
    hi = torch.as_tensor(geom.size, dtype=idx.dtype, device=idx.device) - 0.5
    bad = ((idx < -0.5 - 1e-6) | (idx > hi + 1e-6)).any(dim=1)
    if bool(bad.any()):
        first = int(torch.nonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} of {idx.shape[0]} points lie outside the {name} grid {geom.size} (more than half a "
            f"voxel beyond the outer voxel centres); first: point #{first} at voxel index "
            f"{idx[first].tolist()}. Pass outside='border' to clamp."
        )


def _warp_with_network(points: torch.Tensor, network, coordinates: NetworkCoordinates, chunk_size: int):
    dev, cdtype = network_device_dtype(network, default_dtype=points.dtype)
    out = torch.empty_like(points, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk_size):
            x = points[start : start + chunk_size].to(torch.float64)
            u = network(coordinates.world_to_network(x).to(device=dev, dtype=cdtype))
            if not isinstance(u, torch.Tensor) or tuple(u.shape) != tuple(x.shape):
                got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
                raise ValueError(
                    f"network must map {tuple(x.shape)} points to {tuple(x.shape)} displacements, got {got}."
                )
            out[start : start + x.shape[0]] = x + coordinates.displacement_to_world(
                u.to(x.device, torch.float64)
            )
    return out


def _warp_with_ddf(points: torch.Tensor, ddf, geometry, moving, outside: str):
    geom = resolve_geometry(ddf, geometry, "ddf")
    t = ddf.as_tensor() if isinstance(ddf, MetaTensor) else torch.as_tensor(ddf)
    if t.ndim != geom.spatial_dims + 1 or t.shape[0] != geom.spatial_dims:
        raise ValueError(
            f"ddf must be channel-first with spatial_dims={geom.spatial_dims} channels, got shape {tuple(t.shape)}."
        )
    p = geom.world_to_index(points.to(torch.float64))
    _check_inside(p, geom, outside, "ddf")
    q = p + interpolate_field(t.to(device=p.device, dtype=torch.float64), p)
    mg = geom if moving is None else ImageGeometry.from_image(moving, geom.spatial_dims)
    return mg.index_to_world(q)


def _warp_with_itk(points: torch.Tensor, field, outside: str):
    import SimpleITK as sitk

    geom = ImageGeometry.from_sitk(field)
    if field.GetNumberOfComponentsPerPixel() != geom.spatial_dims:
        raise ValueError(
            f"field must have {geom.spatial_dims} components per pixel, got {field.GetNumberOfComponentsPerPixel()}."
        )
    pts = points.detach().cpu().to(torch.float64)
    _check_inside(geom.world_to_index(pts), geom, outside, "ITK field")
    vec = sitk.Cast(field, sitk.sitkVectorFloat64) if field.GetPixelID() != sitk.sitkVectorFloat64 else field
    tx = sitk.DisplacementFieldTransform(sitk.Image(vec))  # the constructor empties its argument: copy
    return torch.tensor(
        [tx.TransformPoint([float(v) for v in row]) for row in pts.tolist()], dtype=torch.float64
    )


def warp_points(
    points,
    field,
    coordinates: NetworkCoordinates | None = None,
    geometry: ImageGeometry | None = None,
    moving=None,
    chunk_size: int = 65536,
    outside: str = "error",
):
    """Map fixed-image world points ``(N, D)`` (LPS mm) to the moving image: ``x -> x + u(x)``.

    Args:
        points: ``(N, D)`` world points in LPS mm (torch or numpy).
        field: a displacement network (callable, network units; needs ``coordinates``), a MONAI DDF
            (channel-first ``(D, *spatial)``, voxel units; ``MetaTensor`` with affine or tensor + ``geometry``)
            or a ``SimpleITK`` displacement field (LPS mm).
        coordinates: the network coordinate map (network fields only).
        geometry: grid of a plain-tensor DDF.
        moving: geometry source of the moving grid when the DDF indexes a different moving array.
        chunk_size: points per network call.
        outside: ``"error"`` (default) or ``"border"`` for points beyond the field's grid.

    Returns:
        warped points ``(N, D)`` in LPS mm, same container as ``points`` (numpy float64, or a tensor with
        the dtype and device of ``points``).

    Raises:
        ValueError: for a wrong shape / ``spatial_dims``, NaN points, points outside the grid, or a channel
            mismatch of the field.
        TypeError: for an unsupported ``field`` or a network without ``coordinates``.
    """
    outside = check_option("outside", outside, OUTSIDE_MODES)
    pts = as_points(points, None, "points")
    as_numpy = not isinstance(pts, torch.Tensor)
    pts_t = torch.as_tensor(pts)
    if is_sitk_image(field):
        out = _warp_with_itk(pts_t, field, outside)
    elif isinstance(field, (torch.Tensor, np.ndarray)):
        out = _warp_with_ddf(pts_t, field, geometry, moving, outside)
    elif callable(field):
        if coordinates is None:
            raise TypeError("warping through a network needs coordinates=NetworkCoordinates(...) (got None).")
        check_coordinates(coordinates)
        as_points(pts_t, coordinates.spatial_dims, "points")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
        out = _warp_with_network(pts_t, field, coordinates, int(chunk_size))
    else:
        raise TypeError(
            "field must be a displacement network (callable), a MONAI DDF tensor or a SimpleITK displacement "
            f"field, got {type(field).__name__}."
        )
    if out.shape[1] != pts_t.shape[1]:
        raise ValueError(f"points have {pts_t.shape[1]} columns but the field is {out.shape[1]}-D.")
    if as_numpy:
        return out.cpu().numpy()
    return out.to(device=pts_t.device, dtype=pts_t.dtype)


class WarpLandmarks(Transform):
    """Warp fixed-image landmarks ``(N, D)`` (LPS mm) to the moving image (see :func:`warp_points`).

    Args:
        field: default displacement source (network, MONAI DDF or SimpleITK field); can be overridden per call.
        coordinates: as :func:`warp_points`.
        geometry: as :func:`warp_points`.
        moving: as :func:`warp_points`.
        chunk_size: as :func:`warp_points`.
        outside: as :func:`warp_points`.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        field=None,
        coordinates: NetworkCoordinates | None = None,
        geometry: ImageGeometry | None = None,
        moving=None,
        chunk_size: int = 65536,
        outside: str = "error",
    ):
        self.field = field
        self.coordinates = check_coordinates(coordinates)
        self.geometry = geometry
        self.moving = moving
        self.chunk_size = chunk_size
        self.outside = check_option("outside", outside, OUTSIDE_MODES)

    def __call__(self, points, field=None):
        """Args: points: ``(N, D)`` LPS mm; field: overrides the default field."""
        field = self.field if field is None else field
        if field is None:
            raise TypeError("no displacement field: pass field= to WarpLandmarks or to the call.")
        return warp_points(
            points, field, self.coordinates, self.geometry, self.moving, self.chunk_size, self.outside
        )


class WarpLandmarksd(OutputKeyMapTransform):
    """Dictionary version of :class:`WarpLandmarks` (in place unless ``output_keys``).

    Args:
        keys: landmark keys (``(N, D)`` LPS mm).
        field: fixed displacement source, or ``None`` to read it from ``data[field_key]``.
        field_key: key of the displacement source in the data (e.g. ``"ddf"``).
        coordinates: as :func:`warp_points`.
        geometry: as :func:`warp_points`.
        moving: as :func:`warp_points`.
        chunk_size: as :func:`warp_points`.
        outside: as :func:`warp_points`.
        output_keys: explicit output keys (default: the input keys).
        allow_missing_keys: skip missing keys.

    Raises:
        ValueError: unless exactly one of ``field`` and ``field_key`` is given.
    """

    backend = WarpLandmarks.backend

    def __init__(
        self,
        keys: KeysCollection,
        field=None,
        field_key: Hashable | None = None,
        coordinates: NetworkCoordinates | None = None,
        geometry: ImageGeometry | None = None,
        moving=None,
        chunk_size: int = 65536,
        outside: str = "error",
        output_keys: KeysCollection | None = None,
        allow_missing_keys: bool = False,
    ):
        if (field is None) == (field_key is None):
            raise ValueError(
                f"give exactly one of field and field_key, got field={field!r}, field_key={field_key!r}."
            )
        warper = WarpLandmarks(field, coordinates, geometry, moving, chunk_size, outside)
        super().__init__(keys, warper, output_keys, "", allow_missing_keys)
        self.field_key = field_key

    def apply_one(self, data: Mapping[Hashable, object], key: Hashable):
        field = data[self.field_key] if self.field_key is not None else None
        return self.transform(data[key], field)
