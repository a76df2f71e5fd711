"""Images and masks of the inpainting app, and the pixel -> network coordinate map.

Images are float64 arrays in ``[0, 1]``, ``(H, W)`` (grey) or ``(H, W, C)`` (colour), array-axis order
(row, column). Pixel ``(r, c)`` sits at world position ``(r, c)`` in pixel units (spacing 1 pixel along both
axes, origin 0); the network sees it through the one isotropic map of
:class:`~monai_lipinr.budget.NetworkCoordinates` (``x̃ = (x - centre) / s``, ``s`` = half the largest extent
in pixels), so a Lipschitz constant in network units is ``intensity per pixel × s``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from monai_lipinr.budget.coordinates import NetworkCoordinates

__all__ = [
    "as_image",
    "load_image_2d",
    "check_mask",
    "random_observed_mask",
    "pixel_coordinates",
    "pixel_grid",
    "resize_to",
]


def as_image(image, name: str = "image") -> np.ndarray:
    """A 2-D image as float64 in ``[0, 1]``: integer arrays are divided by their dtype maximum.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array/tensor (``C`` in 1..4; an alpha channel is dropped).
        name: argument name used in messages.

    Raises:
        ValueError: for a wrong shape, non-finite values, or float values outside ``[0, 1]``.
    """
    arr = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or min(arr.shape[:2]) < 2:
        raise ValueError(f"{name} must be (H, W) or (H, W, 3) with H, W >= 2, got shape {arr.shape}.")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        top = 1 if arr.dtype == bool else np.iinfo(arr.dtype).max
        return arr.astype(np.float64) / top
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(arr)).sum())} non-finite value(s).")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} floats must lie in [0, 1], got range [{arr.min():.4g}, {arr.max():.4g}].")
    return arr


def load_image_2d(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG/TIFF/… image (scikit-image) or a 2-D NIfTI/MHA (SimpleITK, min-max scaled) into ``[0, 1]``.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when it cannot be read as a 2-D image.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image={str(p)!r} does not exist.")
    if p.name.endswith((".nii", ".nii.gz", ".mha", ".mhd", ".nrrd")):
        import SimpleITK as sitk

        arr = np.squeeze(sitk.GetArrayFromImage(sitk.ReadImage(str(p)))).astype(np.float64)
        lo, hi = arr.min(), arr.max()
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        return as_image(arr, f"image {str(p)!r}")
    from skimage import io

    try:
        arr = io.imread(str(p))
    except Exception as err:  # imageio raises many types
        raise ValueError(f"image={str(p)!r} could not be read: {err}") from err
    return as_image(arr, f"image {str(p)!r}")


def check_mask(mask, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Validate an observation mask (nonzero = observed pixel) against the image's ``(H, W)``.

    Returns:
        the boolean ``(H, W)`` mask.

    Raises:
        ValueError: for the wrong shape, no observed pixel, or no missing pixel.
    """
    m = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
    if m.ndim == 3 and m.shape[2] in (1, 3, 4):
        m = m[..., 0]
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have the image's shape (H, W) = {tuple(shape)}, got {m.shape}.")
    m = m != 0
    if not m.any():
        raise ValueError(f"{name} marks no pixel as observed (all missing): nothing to fit.")
    if m.all():
        raise ValueError(f"{name} marks every pixel as observed: nothing to inpaint or evaluate.")
    return m


def random_observed_mask(shape: tuple[int, int], fraction: float, seed: int = 0) -> np.ndarray:
    """A mask observing exactly ``round(fraction · H · W)`` pixels chosen uniformly at random.

    Raises:
        ValueError: when the fraction is not in ``(0, 1)`` or rounds to no / every pixel.
    """
    if not isinstance(fraction, (int, float)) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction (observed) must be in (0, 1), got {fraction!r}.")
    n = int(np.prod(shape))
    k = int(round(float(fraction) * n))
    if k < 1 or k >= n:
        raise ValueError(f"fraction={fraction} of {n} pixels observes {k}; need at least 1 and fewer than {n}.")
    m = np.zeros(n, dtype=bool)
    m[np.random.default_rng(seed).choice(n, size=k, replace=False)] = True
    return m.reshape(shape)


def pixel_coordinates(shape: tuple[int, int]) -> NetworkCoordinates:
    """The isotropic map of an ``(H, W)`` pixel grid (spacing 1 pixel, origin 0, array-axis order)."""
    return NetworkCoordinates.from_parameters(tuple(int(s) for s in shape), (1.0, 1.0))


def pixel_grid(shape: tuple[int, int], coordinates: NetworkCoordinates) -> np.ndarray:
    """Network coordinates ``(H·W, 2)`` of every pixel centre, row-major, axes (row, column)."""
    rr, cc = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return coordinates.world_to_network(np.stack([rr.ravel(), cc.ravel()], 1).astype(np.float64))


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a reference image to ``shape`` (anti-aliased), so that it spans the same field of view
    in the same pixels as the target and its gradients are per *target* pixel."""
    from skimage.transform import resize

    out_shape = tuple(shape) + image.shape[2:]
    if image.shape == out_shape:
        return image
    return np.clip(resize(image, out_shape, anti_aliasing=True, order=1), 0.0, 1.0)
