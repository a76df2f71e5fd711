"""Small helpers shared by the coordinate / DDF / landmark transforms (no transform logic here)."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import ensure_tuple

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import (
    ImageGeometry,
    apply_affine_to_points,
    is_sitk_image,
    sitk_to_channel_first,
)
from monai_lipinr.ops.validation import check_option

__all__ = [
    "COORDINATE_SPACES",
    "resolve_geometry",
    "resolve_output_keys",
    "voxel_indices",
    "unravel",
    "index_to_space",
    "check_coordinates",
    "as_channel_first_tensor",
    "network_device_dtype",
    "OutputKeyMapTransform",
]

#: ``"world"``: LPS mm; ``"network"``: isotropic network units; ``"index"``: continuous voxel index.
COORDINATE_SPACES = ("world", "network", "index")


def resolve_geometry(image, geometry: ImageGeometry | None = None, name: str = "img") -> ImageGeometry:
    """World geometry of ``image``: the explicit ``geometry`` if given, else from the image itself.

    Args:
        image: a channel-first ``MetaTensor``, a ``SimpleITK.Image``, an :class:`ImageGeometry`, or (with
            ``geometry``) a plain channel-first tensor/array.
        geometry: explicit geometry; when given, the image's spatial shape must match it.
        name: argument name for error messages.

    Raises:
        TypeError: when no geometry can be found.
        ValueError: when the spatial shape of ``image`` does not match ``geometry``.
    """
    if geometry is None:
        try:
            return ImageGeometry.from_image(image)
        except TypeError as e:
            raise TypeError(f"{name}: {e} Pass geometry=ImageGeometry(...) for a plain tensor.") from None
    if not isinstance(geometry, ImageGeometry):
        raise TypeError(f"geometry must be an ImageGeometry, got {type(geometry).__name__}.")
    if isinstance(image, (torch.Tensor, np.ndarray)):
        shape = tuple(image.shape[1:])
        if shape != geometry.size:
            raise ValueError(
                f"{name} must be channel-first (C, *spatial) with spatial shape {geometry.size} matching geometry, "
                f"got shape {tuple(image.shape)}."
            )
    return geometry


def resolve_output_keys(
    keys: KeysCollection, output_keys: KeysCollection | None, postfix: str
) -> tuple[Hashable, ...]:
    """Output key per input key: ``output_keys`` when given, else ``f"{key}{postfix}"``.

    Raises:
        ValueError: when the number of output keys differs from the number of keys.
    """
    keys = ensure_tuple(keys)
    if output_keys is None:
        return tuple(f"{k}{postfix}" for k in keys)
    out = ensure_tuple(output_keys)
    if len(out) != len(keys):
        raise ValueError(f"output_keys must have one entry per key ({len(keys)}), got {out!r}.")
    return out


def voxel_indices(shape: Sequence[int], start: int = 0, stop: int | None = None, device=None) -> torch.Tensor:
    """Integer voxel indices ``(n, D)`` of flat voxels ``start:stop`` in C order (last array axis fastest).

    Args:
        shape: spatial shape in array-axis order.
        start: first flat (C-order) voxel number of the range.
        stop: end (exclusive) of the range of flat voxel numbers; ``None`` means up to the last voxel.
        device: torch device of the result.

    Returns:
        ``int64`` tensor ``(stop - start, D)``, columns in array-axis order.
    """
    total = int(np.prod(shape))
    stop = total if stop is None else min(stop, total)
    flat = torch.arange(start, stop, device=device, dtype=torch.int64)
    return unravel(flat, shape)


def unravel(flat: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """C-order flat voxel numbers ``(n,)`` -> integer indices ``(n, D)`` in array-axis order."""
    cols = []
    rem = flat
    for size in reversed(tuple(shape)):
        cols.append(rem % size)
        rem = torch.div(rem, size, rounding_mode="floor")
    return torch.stack(cols[::-1], dim=1)


def index_to_space(
    index: torch.Tensor, space: str, geometry: ImageGeometry, coordinates: NetworkCoordinates | None = None
) -> torch.Tensor:
    """Continuous voxel indices ``(n, D)`` -> coordinates in ``space`` (float64 in, float64 out).

    Args:
        index: float tensor ``(n, D)`` in array-axis order.
        space: one of :data:`COORDINATE_SPACES`.
        geometry: the image geometry.
        coordinates: network map for ``space="network"`` (default: built from ``geometry``).
    """
    space = check_option("space", space, COORDINATE_SPACES)
    if space == "index":
        return index
    world = apply_affine_to_points(index, geometry.index_to_world_matrix, geometry.origin)
    if space == "world":
        return world
    nc = coordinates if coordinates is not None else NetworkCoordinates.from_geometry(geometry)
    return nc.world_to_network(world)


def check_coordinates(coordinates: NetworkCoordinates | None, spatial_dims: int | None = None):
    """Type / dimension check of an optional :class:`NetworkCoordinates` argument."""
    if coordinates is None:
        return None
    if not isinstance(coordinates, NetworkCoordinates):
        raise TypeError(f"coordinates must be a NetworkCoordinates, got {type(coordinates).__name__}.")
    if spatial_dims is not None and coordinates.spatial_dims != spatial_dims:
        raise ValueError(
            f"coordinates are {coordinates.spatial_dims}-D but the image has spatial_dims={spatial_dims}."
        )
    return coordinates


def as_channel_first_tensor(image, name: str = "img") -> torch.Tensor:
    """Channel-first tensor ``(C, *spatial)`` (array-axis order) of a tensor, array or ``SimpleITK.Image``.

    Tensors are returned as they are (detached, device kept); SimpleITK pixel arrays are reordered from
    ``(k, j, i[, C])`` to ``(C, i, j, k)``.

    Raises:
        TypeError: for anything else.
    """
    if isinstance(image, torch.Tensor):
        return image.detach()
    if is_sitk_image(image):
        return torch.as_tensor(sitk_to_channel_first(image))
    if isinstance(image, np.ndarray):
        return torch.as_tensor(image)
    raise TypeError(f"{name} must be a tensor, numpy array or SimpleITK.Image, got {type(image).__name__}.")


def network_device_dtype(
    network, device=None, compute_dtype: torch.dtype | None = None, default_dtype: torch.dtype = torch.float32
):
    """``(device, input dtype)`` for calling ``network``: its first floating parameter/buffer, else the
    arguments (``device`` default CPU, ``default_dtype``) — so inputs follow the module's device and
    precision. An explicit ``compute_dtype`` always wins."""
    if isinstance(network, torch.nn.Module):
        for t in itertools.chain(network.parameters(), network.buffers()):
            if t.is_floating_point():
                return (t.device if device is None else torch.device(device)), (compute_dtype or t.dtype)
    return torch.device("cpu" if device is None else device), (compute_dtype or default_dtype)


class OutputKeyMapTransform(MapTransform):
    """Dictionary wrapper of an array transform: ``data[out_key] = transform(data[key])`` per key.

    Output keys are ``output_keys`` when given, else ``key + postfix`` (``postfix=""``: in place).
    Subclasses that need more than ``data[key]`` override :meth:`apply_one`.
    """

    def __init__(
        self,
        keys: KeysCollection,
        transform,
        output_keys: KeysCollection | None = None,
        postfix: str = "",
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        self.transform = transform
        self.output_keys = resolve_output_keys(self.keys, output_keys, postfix)

    def apply_one(self, data: Mapping[Hashable, object], key: Hashable):
        return self.transform(data[key])

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key, out_key in self.key_iterator(d, self.output_keys):
            d[out_key] = self.apply_one(d, key)
        return d
