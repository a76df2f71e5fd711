"""INR -> MONAI dense displacement field (DDF), and MONAI DDF <-> ITK displacement field (LPS mm).

**MONAI DDF** (what :class:`INRToDDF` produces and ``monai.networks.blocks.Warp`` consumes): a
channel-first tensor ``(D, *spatial)`` on the fixed image's voxel grid; channel ``d`` is the displacement
along **array axis** ``d`` (array-axis = ITK index order ``(i, j, k)`` of a MONAI array) in **voxel
units**; pull semantics ``warped(p) = moving(p + ddf(p))`` for every fixed voxel index ``p``. It is returned
as a ``MetaTensor`` carrying the fixed image's (RAS) affine.

For a displacement network ``ũ`` in network units (:class:`~monai_lipinr.budget.NetworkCoordinates`,
``x̃ = (x - c)/s``) and a fixed voxel ``p`` at world point ``x = o_f + A_f p`` (LPS mm,
``A = direction · diag(spacing)``) the moving-side point is ``y = x + s · ũ(x̃)`` and

* moving on the fixed grid (the usual case, and what ``Warp`` supports — it requires the moving array to
  have the DDF's shape): ``ddf(p) = A_f⁻¹ · s · ũ(x̃)``;
* moving on another grid (``moving=`` given): ``ddf(p) = A_m⁻¹ (y - o_m) - p``, i.e. ``p + ddf(p)`` is the
  continuous index into the *moving* array. Note that ``Warp`` only accepts a moving array of the DDF's
  shape, so with different grids either resample the moving image onto the fixed grid first (then use the
  default) or use the mixed DDF with a sampler that normalises by the moving shape.

Directions and anisotropic spacing enter only through ``A⁻¹``; no axis is ever normalised on its own.

**ITK displacement field** (:func:`ddf_to_itk_displacement_field`): a ``SimpleITK`` vector image
(``sitkVectorFloat64``) on the same grid (size, spacing, origin, direction) whose pixel is the world
displacement ``d(x) = A · ddf(p)`` in LPS mm. ``sitk.DisplacementFieldTransform(field)`` then maps
``x -> x + d(x)``, and ``sitk.Resample(moving, fixed, transform)`` reproduces the same pull warp.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Transform
from monai.utils import TransformBackends

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import (
    ImageGeometry,
    apply_affine_to_points,
    is_sitk_image,
    sitk_to_channel_first,
)
from monai_lipinr.transforms.utils import (
    OutputKeyMapTransform,
    check_coordinates,
    index_to_space,
    network_device_dtype,
    resolve_geometry,
    voxel_indices,
)

__all__ = [
    "inr_to_ddf",
    "ddf_to_world_displacement",
    "world_displacement_to_ddf",
    "ddf_to_itk_displacement_field",
    "itk_displacement_field_to_ddf",
    "ddf_metatensor",
    "INRToDDF",
    "INRToDDFd",
    "DDFToITKDisplacementField",
    "DDFToITKDisplacementFieldd",
    "ITKDisplacementFieldToDDF",
    "ITKDisplacementFieldToDDFd",
]


def _check_chunk_size(chunk_size) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(
            f"chunk_size must be a positive integer (points per network call), got {chunk_size!r}."
        )
    return int(chunk_size)


def ddf_metatensor(ddf: torch.Tensor, geometry: ImageGeometry) -> MetaTensor:
    """Wrap a ``(D, *spatial)`` DDF as a ``MetaTensor`` with the (RAS) affine of ``geometry``."""
    affine = torch.as_tensor(geometry.affine_ras, dtype=torch.float64)
    return MetaTensor(ddf, affine=affine, meta={"space": "RAS"})


def inr_to_ddf(
    network: Callable[[torch.Tensor], torch.Tensor],
    reference,
    coordinates: NetworkCoordinates | None = None,
    chunk_size: int = 65536,
    moving=None,
    geometry: ImageGeometry | None = None,
    dtype: torch.dtype = torch.float32,
    compute_dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> MetaTensor:
    """Evaluate a displacement network on every fixed voxel, in chunks, and return a MONAI DDF.

    Args:
        network: callable ``net(points (n, D) in network units) -> displacement (n, D) in network units``
            (columns: LPS world axes, scaled by ``1/s``). Evaluated under ``torch.no_grad`` on at most
            ``chunk_size`` points at a time (memory bounded by the chunk plus the output field).
        reference: the fixed image: channel-first ``MetaTensor``, ``SimpleITK.Image`` or :class:`ImageGeometry`.
        coordinates: the network coordinate map used in training (default: from ``reference``).
        chunk_size: points per network call.
        moving: optional geometry source of the moving image when it lies on another grid (see module doc).
        geometry: explicit fixed geometry (overrides ``reference``'s).
        dtype: DDF dtype (geometry is computed in float64).
        compute_dtype: dtype of the network input (default: the network's parameter dtype, else float32).
        device: device for parameter-free callables (default CPU; modules use their own device).

    Returns:
        ``MetaTensor`` ``(D, *spatial)``: voxel units, array-axis order, pull semantics, fixed (RAS) affine.

    Raises:
        ValueError: for a bad ``chunk_size``, mismatching ``spatial_dims``, or a network output of the wrong
            shape or with non-finite values.
        TypeError: when no geometry is available.
    """
    chunk = _check_chunk_size(chunk_size)
    geom = resolve_geometry(reference, geometry, "reference")
    d = geom.spatial_dims
    nc = check_coordinates(coordinates, d) or NetworkCoordinates.from_geometry(geom)
    dev, cdtype = network_device_dtype(network, device, compute_dtype)
    if moving is None:
        vec_to_index, base_mat, base_off = geom.world_to_index_matrix, None, None
    else:
        mg = ImageGeometry.from_image(moving, d)
        vec_to_index = mg.world_to_index_matrix
        # index of the unmoved point in the moving array minus p: (A_m^-1 A_f - I) p + A_m^-1 (o_f - o_m)
        base_mat = vec_to_index @ geom.index_to_world_matrix - np.eye(d)
        base_off = vec_to_index @ (geom.origin - mg.origin)
    n = geom.num_voxels
    out = torch.empty((d, n), dtype=dtype, device=dev)
    with torch.no_grad():
        for start in range(0, n, chunk):
            idx = voxel_indices(geom.size, start, start + chunk, device=dev).to(torch.float64)
            u = network(index_to_space(idx, "network", geom, nc).to(cdtype))
            if not isinstance(u, torch.Tensor) or tuple(u.shape) != (idx.shape[0], d):
                got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
                raise ValueError(
                    f"network must map (n, {d}) network coordinates to (n, {d}) displacements, got {got} "
                    f"for n={idx.shape[0]} (check out_channels == spatial_dims)."
                )
            if not bool(torch.isfinite(u).all()):
                raise ValueError("network produced NaN or infinite displacements.")
            disp = apply_affine_to_points(u.to(torch.float64) * nc.scale, vec_to_index)
            if base_mat is not None:
                disp = disp + apply_affine_to_points(idx, base_mat, base_off)
            out[:, start : start + idx.shape[0]] = disp.T.to(dtype)
    return ddf_metatensor(out.reshape((d, *geom.size)), geom)


def _check_field(field: torch.Tensor, geom: ImageGeometry, name: str) -> None:
    d = geom.spatial_dims
    if field.ndim != d + 1 or field.shape[0] != d:
        raise ValueError(
            f"{name} must be channel-first with spatial_dims={d} channels, shape ({d}, *{geom.size}), "
            f"got shape {tuple(field.shape)}."
        )
    if not bool(torch.isfinite(field).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")


def _matrix_on_channels(field: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """``out[i] = Σ_j matrix[i, j] field[j]`` for a channel-first vector field."""
    m = torch.as_tensor(matrix, dtype=field.dtype, device=field.device)
    return torch.einsum("ij,j...->i...", m, field)


def ddf_to_world_displacement(ddf, geometry: ImageGeometry | None = None) -> torch.Tensor:
    """MONAI DDF ``(D, *spatial)`` (voxel units, array-axis order) -> world displacement ``(D, *spatial)``
    in LPS mm (channel ``d`` = LPS axis ``d``): ``A · ddf`` with ``A = direction · diag(spacing)``.

    Args:
        ddf: channel-first DDF (``MetaTensor`` with affine, or a tensor with ``geometry``).
        geometry: grid of the DDF (default: from its affine).

    Raises:
        ValueError: for a channel / shape mismatch or non-finite values.
    """
    geom = resolve_geometry(ddf, geometry, "ddf")
    t = ddf.as_tensor() if isinstance(ddf, MetaTensor) else torch.as_tensor(ddf)
    _check_field(t, geom, "ddf")
    return _matrix_on_channels(t.to(torch.float64), geom.index_to_world_matrix)


def world_displacement_to_ddf(
    displacement, geometry: ImageGeometry, dtype: torch.dtype = torch.float32
) -> MetaTensor:
    """World displacement ``(D, *spatial)`` in LPS mm on ``geometry``'s grid -> MONAI DDF (voxel units)."""
    t = torch.as_tensor(displacement)
    if isinstance(t, MetaTensor):
        t = t.as_tensor()
    _check_field(t, geometry, "displacement")
    ddf = _matrix_on_channels(t.to(torch.float64), geometry.world_to_index_matrix)
    return ddf_metatensor(ddf.to(dtype), geometry)


def ddf_to_itk_displacement_field(ddf, geometry: ImageGeometry | None = None):
    """MONAI DDF -> ``SimpleITK`` displacement field image (``sitkVectorFloat64``, LPS mm, same grid).

    The result is readable by ``sitk.DisplacementFieldTransform`` (note: that constructor *moves* the image
    into the transform and leaves the argument empty — pass ``sitk.Image(field)`` to keep a copy).

    Args:
        ddf: channel-first DDF ``(D, *spatial)`` in voxel units (``MetaTensor`` with affine, or a tensor with
            ``geometry``), defined on the fixed grid (moving resampled onto it).
        geometry: grid of the DDF (default: from its affine).

    Returns:
        ``SimpleITK.Image`` with ``D`` float64 components per pixel.

    Raises:
        ValueError: for a channel / shape mismatch or non-finite values.
    """
    import SimpleITK as sitk

    geom = resolve_geometry(ddf, geometry, "ddf")
    disp = ddf_to_world_displacement(ddf, geom).cpu().numpy()
    d = geom.spatial_dims
    arr = np.ascontiguousarray(disp.transpose(tuple(range(d, 0, -1)) + (0,)))  # (k, j, i, D)
    return geom.apply_to_sitk(sitk.GetImageFromArray(arr, isVector=True))


def itk_displacement_field_to_ddf(field, dtype: torch.dtype = torch.float32) -> MetaTensor:
    """``SimpleITK`` displacement field (LPS mm, vector pixel) -> MONAI DDF on the field's grid.

    Args:
        field: ``SimpleITK.Image`` with ``D`` components per pixel, ``D`` = image dimension.
        dtype: DDF dtype.

    Returns:
        ``MetaTensor`` ``(D, *spatial)`` in voxel units, array-axis order, with the field's (RAS) affine.

    Raises:
        TypeError: when ``field`` is not a SimpleITK image.
        ValueError: when the number of components differs from the dimension.
    """
    if not is_sitk_image(field):
        raise TypeError(f"field must be a SimpleITK.Image displacement field, got {type(field).__name__}.")
    d = field.GetDimension()
    if field.GetNumberOfComponentsPerPixel() != d:
        raise ValueError(
            f"field must have {d} components per pixel (a {d}-D displacement), got "
            f"{field.GetNumberOfComponentsPerPixel()}."
        )
    geom = ImageGeometry.from_sitk(field)
    return world_displacement_to_ddf(
        torch.as_tensor(sitk_to_channel_first(field).astype(np.float64)), geom, dtype
    )


class INRToDDF(Transform):
    """Fixed image -> MONAI DDF of a displacement network (see :func:`inr_to_ddf`).

    Args:
        network: ``net(points (n, D) network units) -> displacement (n, D) network units``.
        coordinates: the training coordinate map (default: from each fixed image).
        chunk_size: points per network call (bounded memory).
        dtype: DDF dtype.
        compute_dtype: network input dtype (default: the network's parameter dtype, else float32).
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        network: Callable[[torch.Tensor], torch.Tensor],
        coordinates: NetworkCoordinates | None = None,
        chunk_size: int = 65536,
        dtype: torch.dtype = torch.float32,
        compute_dtype: torch.dtype | None = None,
    ):
        if not callable(network):
            raise TypeError(f"network must be callable, got {type(network).__name__}.")
        self.network = network
        self.coordinates = check_coordinates(coordinates)
        self.chunk_size = _check_chunk_size(chunk_size)
        self.dtype = dtype
        self.compute_dtype = compute_dtype

    def __call__(self, img, moving=None, geometry: ImageGeometry | None = None) -> MetaTensor:
        """Args: img: the fixed image (defines the grid); moving: optional moving geometry source."""
        return inr_to_ddf(
            self.network,
            img,
            self.coordinates,
            self.chunk_size,
            moving,
            geometry,
            self.dtype,
            self.compute_dtype,
        )


class INRToDDFd(OutputKeyMapTransform):
    """Dictionary version of :class:`INRToDDF`: fixed image ``key`` -> ``data[key + ddf_postfix]``.

    Args:
        keys: fixed image keys.
        network: as :class:`INRToDDF`.
        coordinates: as :class:`INRToDDF`.
        chunk_size: as :class:`INRToDDF`.
        dtype: as :class:`INRToDDF`.
        compute_dtype: as :class:`INRToDDF`.
        moving_key: optional key of a moving image on another grid (see :func:`inr_to_ddf`).
        output_keys: explicit output keys (default ``key + ddf_postfix``).
        ddf_postfix: default ``"_ddf"``.
        allow_missing_keys: skip missing keys.
    """

    backend = INRToDDF.backend

    def __init__(
        self,
        keys: KeysCollection,
        network: Callable[[torch.Tensor], torch.Tensor],
        coordinates: NetworkCoordinates | None = None,
        chunk_size: int = 65536,
        dtype: torch.dtype = torch.float32,
        compute_dtype: torch.dtype | None = None,
        moving_key: Hashable | None = None,
        output_keys: KeysCollection | None = None,
        ddf_postfix: str = "_ddf",
        allow_missing_keys: bool = False,
    ):
        transform = INRToDDF(network, coordinates, chunk_size, dtype, compute_dtype)
        super().__init__(keys, transform, output_keys, ddf_postfix, allow_missing_keys)
        self.moving_key = moving_key

    def apply_one(self, data: Mapping[Hashable, object], key: Hashable) -> MetaTensor:
        moving = data[self.moving_key] if self.moving_key is not None else None
        return self.transform(data[key], moving)


class DDFToITKDisplacementField(Transform):
    """MONAI DDF (voxel units, array-axis order) -> SimpleITK displacement field (LPS mm); see
    :func:`ddf_to_itk_displacement_field`."""

    backend = [TransformBackends.TORCH]

    def __call__(self, ddf, geometry: ImageGeometry | None = None):
        """Args: ddf: channel-first DDF ``MetaTensor`` (or tensor + ``geometry``). Returns: SimpleITK image."""
        return ddf_to_itk_displacement_field(ddf, geometry)


class ITKDisplacementFieldToDDF(Transform):
    """SimpleITK displacement field (LPS mm) -> MONAI DDF ``MetaTensor``; see
    :func:`itk_displacement_field_to_ddf`.

    Args:
        dtype: DDF dtype.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, dtype: torch.dtype = torch.float32):
        self.dtype = dtype

    def __call__(self, field) -> MetaTensor:
        return itk_displacement_field_to_ddf(field, self.dtype)


class DDFToITKDisplacementFieldd(OutputKeyMapTransform):
    """Dictionary version of :class:`DDFToITKDisplacementField` (in place unless ``output_keys``)."""

    backend = DDFToITKDisplacementField.backend

    def __init__(
        self, keys: KeysCollection, output_keys: KeysCollection | None = None, allow_missing_keys=False
    ):
        super().__init__(keys, DDFToITKDisplacementField(), output_keys, "", allow_missing_keys)


class ITKDisplacementFieldToDDFd(OutputKeyMapTransform):
    """Dictionary version of :class:`ITKDisplacementFieldToDDF` (in place unless ``output_keys``)."""

    backend = ITKDisplacementFieldToDDF.backend

    def __init__(
        self,
        keys: KeysCollection,
        dtype: torch.dtype = torch.float32,
        output_keys: KeysCollection | None = None,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, ITKDisplacementFieldToDDF(dtype), output_keys, "", allow_missing_keys)
