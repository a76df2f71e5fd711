"""Coordinate grids of voxel centres and masked random coordinate sampling.

Point sets are ``(N, D)`` tensors. Rows enumerate voxels in C order over the spatial axes of the MONAI
channel-first array (array-axis = ITK index order ``(i, j, k)``, last axis fastest), so
``values.reshape(*spatial_shape)`` restores the image layout. Columns are, per ``space``:

* ``"world"``: LPS millimetres ``(x, y, z)`` as in the image header (a MetaTensor's RAS affine is converted);
* ``"network"``: the isotropic network coordinates ``x̃ = (x - c)/s`` of :class:`NetworkCoordinates`;
* ``"index"``: continuous voxel indices in array-axis order.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import Randomizable, Transform
from monai.utils import TransformBackends

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import ImageGeometry
from monai_lipinr.ops.validation import check_option
from monai_lipinr.transforms.utils import (
    COORDINATE_SPACES,
    OutputKeyMapTransform,
    as_channel_first_tensor,
    check_coordinates,
    index_to_space,
    resolve_geometry,
    unravel,
    voxel_indices,
)

__all__ = [
    "coordinate_grid",
    "MaskedCoordinateSampler",
    "sample_masked_coordinates",
    "CoordinateGrid",
    "CoordinateGridd",
    "RandomMaskedCoordinates",
    "RandomMaskedCoordinatesd",
]


def coordinate_grid(
    image,
    space: str = "network",
    coordinates: NetworkCoordinates | None = None,
    geometry: ImageGeometry | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Coordinates of every voxel centre of ``image``, ``(N, D)``, rows in C order over array axes.

    Args:
        image: channel-first ``MetaTensor`` ``(C, *spatial)``, ``SimpleITK.Image`` or :class:`ImageGeometry`
            (a plain tensor needs ``geometry``).
        space: ``"network"`` (default), ``"world"`` (LPS mm) or ``"index"`` (voxel indices).
        coordinates: network map; default: built from this image (i.e. the image is the fixed image).
        geometry: explicit geometry (overrides the image's own).
        dtype: output floating dtype (computed in float64, then cast).
        device: output device (default: the image's device when it is a tensor, else CPU).

    Returns:
        ``(N, D)`` tensor, ``N = prod(spatial_shape)``.

    Raises:
        TypeError: when no geometry is available.
        ValueError: for an unknown ``space`` or a ``coordinates`` dimension mismatch.
    """
    space = check_option("space", space, COORDINATE_SPACES)
    geom = resolve_geometry(image, geometry)
    check_coordinates(coordinates, geom.spatial_dims)
    if device is None:
        device = image.device if isinstance(image, torch.Tensor) else None
    idx = voxel_indices(geom.size, device=device).to(torch.float64)
    return index_to_space(idx, space, geom, coordinates).to(dtype)


def _draw_integers(rng, high: int, size: int) -> np.ndarray | torch.Tensor:
    if isinstance(rng, torch.Generator):
        return torch.randint(0, high, (size,), generator=rng, device=rng.device)
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size=size)
    return rng.randint(0, high, size=size)


def _draw_uniform(rng, shape: tuple[int, int]) -> np.ndarray | torch.Tensor:
    if isinstance(rng, torch.Generator):
        return torch.rand(shape, generator=rng, device=rng.device, dtype=torch.float64) - 0.5
    return rng.uniform(-0.5, 0.5, size=shape)


def _as_rng(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.RandomState(rng)
    if isinstance(rng, (np.random.RandomState, np.random.Generator, torch.Generator)):
        return rng
    raise TypeError(
        f"rng must be None, an int seed, a numpy RandomState/Generator or a torch.Generator, got {type(rng).__name__}."
    )


class MaskedCoordinateSampler:
    """Draws random coordinates inside a mask; the mask's voxel list is computed once (for repeated draws).

    Voxels are drawn uniformly with replacement among the mask voxels (value > 0); with ``jitter`` each
    sample is moved uniformly within its voxel (``± 0.5`` voxel per array axis), i.e. continuous sampling
    of the masked region.

    Args:
        mask: channel-first mask ``(1, *spatial)`` (``MetaTensor`` with affine, or a plain tensor/array
            together with ``geometry``); nonzero = inside.
        space: output space, ``"network"`` (default), ``"world"`` (LPS mm) or ``"index"``.
        coordinates: network map (default: from the mask's geometry).
        geometry: explicit geometry of the mask.
        jitter: sample continuously within voxels (default) instead of at voxel centres.

    Raises:
        ValueError: for a mask with more than one channel (channel mismatch) or an empty mask.
        TypeError: when no geometry is available.
    """

    def __init__(
        self,
        mask,
        space: str = "network",
        coordinates: NetworkCoordinates | None = None,
        geometry: ImageGeometry | None = None,
        jitter: bool = True,
    ):
        self.space = check_option("space", space, COORDINATE_SPACES)
        self.geometry = resolve_geometry(mask, geometry, "mask")
        self.coordinates = check_coordinates(coordinates, self.geometry.spatial_dims)
        arr = as_channel_first_tensor(mask, "mask")
        if arr.ndim != self.geometry.spatial_dims + 1 or arr.shape[0] != 1:
            raise ValueError(
                f"mask must be channel-first with exactly 1 channel, shape (1, *{self.geometry.size}), "
                f"got shape {tuple(arr.shape)}."
            )
        self.device = arr.device
        self.flat_indices = torch.nonzero(arr[0].reshape(-1) > 0).reshape(-1)
        if self.flat_indices.numel() == 0:
            raise ValueError(
                f"mask is empty (no voxel > 0 among {arr[0].numel()}); cannot sample coordinates."
            )
        self.jitter = bool(jitter)

    @property
    def num_voxels(self) -> int:
        """Number of voxels inside the mask."""
        return int(self.flat_indices.numel())

    def sample(
        self, num_samples: int, rng=None, dtype: torch.dtype = torch.float32, return_indices: bool = False
    ):
        """Draw ``num_samples`` coordinates ``(num_samples, D)`` in :attr:`space`.

        Args:
            num_samples: number of points (> 0).
            rng: ``None``, an int seed, ``numpy.random.RandomState``/``Generator`` or ``torch.Generator``.
            dtype: floating dtype of the output.
            return_indices: also return the continuous voxel indices ``(num_samples, D)`` (float64,
                array-axis order) of the samples, e.g. to interpolate intensities.

        Raises:
            ValueError: for a non-positive ``num_samples``.
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
        rng = _as_rng(rng)
        pick = torch.as_tensor(_draw_integers(rng, self.num_voxels, int(num_samples)), device=self.device)
        idx = unravel(self.flat_indices[pick], self.geometry.size).to(torch.float64)
        if self.jitter:
            idx = idx + torch.as_tensor(_draw_uniform(rng, tuple(idx.shape)), device=self.device)
        out = index_to_space(idx, self.space, self.geometry, self.coordinates).to(dtype)
        return (out, idx) if return_indices else out


def sample_masked_coordinates(
    mask,
    num_samples: int,
    space: str = "network",
    coordinates: NetworkCoordinates | None = None,
    geometry: ImageGeometry | None = None,
    jitter: bool = True,
    rng=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Functional form of :class:`MaskedCoordinateSampler` (one draw). See there for the arguments."""
    sampler = MaskedCoordinateSampler(mask, space, coordinates, geometry, jitter)
    return sampler.sample(num_samples, rng, dtype)


class CoordinateGrid(Transform):
    """Image -> ``(N, D)`` coordinates of all voxel centres (see :func:`coordinate_grid`).

    Args:
        space: ``"network"`` (default), ``"world"`` (LPS mm) or ``"index"``.
        coordinates: network map (default: from each input image, i.e. the input is the fixed image).
        dtype: output dtype.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self, space: str = "network", coordinates: NetworkCoordinates | None = None, dtype=torch.float32
    ):
        self.space = check_option("space", space, COORDINATE_SPACES)
        self.coordinates = check_coordinates(coordinates)
        self.dtype = dtype

    def __call__(self, img, geometry: ImageGeometry | None = None) -> torch.Tensor:
        """Args: img: channel-first MetaTensor / SimpleITK image / ImageGeometry; geometry: optional override."""
        return coordinate_grid(img, self.space, self.coordinates, geometry, self.dtype)


class CoordinateGridd(OutputKeyMapTransform):
    """Dictionary version of :class:`CoordinateGrid`: writes ``data[key + coords_postfix]``.

    Args:
        keys: image keys.
        space: as :class:`CoordinateGrid`.
        coordinates: as :class:`CoordinateGrid`.
        dtype: as :class:`CoordinateGrid`.
        output_keys: explicit output keys (default ``key + coords_postfix``).
        coords_postfix: default ``"_coords"``.
        allow_missing_keys: skip missing keys.
    """

    backend = CoordinateGrid.backend

    def __init__(
        self,
        keys: KeysCollection,
        space: str = "network",
        coordinates: NetworkCoordinates | None = None,
        dtype=torch.float32,
        output_keys: KeysCollection | None = None,
        coords_postfix: str = "_coords",
        allow_missing_keys: bool = False,
    ):
        transform = CoordinateGrid(space, coordinates, dtype)
        super().__init__(keys, transform, output_keys, coords_postfix, allow_missing_keys)


class RandomMaskedCoordinates(Randomizable, Transform):
    """Mask -> ``(num_samples, D)`` random coordinates inside it (see :class:`MaskedCoordinateSampler`).

    Randomness comes from MONAI's ``self.R`` (``set_random_state(seed)`` makes it reproducible).

    Args:
        num_samples: points per call.
        space: ``"network"`` (default), ``"world"`` (LPS mm) or ``"index"``.
        coordinates: network map (default: from the mask's geometry).
        jitter: continuous sampling within voxels (default True).
        dtype: output dtype.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        num_samples: int,
        space: str = "network",
        coordinates: NetworkCoordinates | None = None,
        jitter: bool = True,
        dtype=torch.float32,
    ):
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
        self.num_samples = int(num_samples)
        self.space = check_option("space", space, COORDINATE_SPACES)
        self.coordinates = check_coordinates(coordinates)
        self.jitter = jitter
        self.dtype = dtype

    def randomize(self, data=None) -> None:  # randomness is drawn inside __call__ from self.R
        pass

    def __call__(self, mask, geometry: ImageGeometry | None = None) -> torch.Tensor:
        """Args: mask: channel-first ``(1, *spatial)`` mask (MetaTensor, or tensor + ``geometry``)."""
        sampler = MaskedCoordinateSampler(mask, self.space, self.coordinates, geometry, self.jitter)
        return sampler.sample(self.num_samples, self.R, self.dtype)


class RandomMaskedCoordinatesd(Randomizable, OutputKeyMapTransform):
    """Dictionary version of :class:`RandomMaskedCoordinates`: mask ``key`` -> ``data[key + coords_postfix]``.

    Args:
        keys: mask keys.
        num_samples: as :class:`RandomMaskedCoordinates`.
        space: as :class:`RandomMaskedCoordinates`.
        coordinates: as :class:`RandomMaskedCoordinates`.
        jitter: as :class:`RandomMaskedCoordinates`.
        dtype: as :class:`RandomMaskedCoordinates`.
        output_keys: explicit output keys (default ``key + coords_postfix``).
        coords_postfix: default ``"_coords"``.
        allow_missing_keys: skip missing keys.
    """

    backend = RandomMaskedCoordinates.backend

    def __init__(
        self,
        keys: KeysCollection,
        num_samples: int,
        space: str = "network",
        coordinates: NetworkCoordinates | None = None,
        jitter: bool = True,
        dtype=torch.float32,
        output_keys: KeysCollection | None = None,
        coords_postfix: str = "_coords",
        allow_missing_keys: bool = False,
    ):
        sampler = RandomMaskedCoordinates(num_samples, space, coordinates, jitter, dtype)
        OutputKeyMapTransform.__init__(self, keys, sampler, output_keys, coords_postfix, allow_missing_keys)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:  # the wrapped array transform draws from its own self.R
        pass
