"""Medical-image input/output through SimpleITK, with explicit world frames.

World frame: ITK/SimpleITK **LPS millimetres** as stored in the image header (DESIGN.md §2). A voxel with
0-based continuous index ``(i, j, k)`` (``i`` along the first image axis, the column / x axis) sits at
``origin + direction @ (spacing * (i, j, k))``. ``sitk.GetArrayFromImage`` returns arrays indexed
``[k, j, i]``; MONAI arrays are indexed ``[i, j, k]`` (channel first when there is a channel).

MONAI's :class:`~monai.data.MetaTensor` carries a homogeneous affine in **RAS** by default (``ITKReader``
converts LPS -> RAS; ``meta["space"]`` says which). :func:`metatensor_to_sitk` and
:func:`sitk_to_metatensor` convert between the two explicitly, never implicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.utils import SpaceKeys

from monai_lipinr.budget.geometry import ImageGeometry, sitk_to_channel_first
from monai_lipinr.data._atomic import atomic_write

__all__ = [
    "IMAGE_SUFFIXES",
    "check_same_geometry",
    "geometry_mismatch",
    "load_image",
    "metatensor_to_sitk",
    "read_dicom_series",
    "same_geometry",
    "save_image",
    "sitk_to_metatensor",
]

#: File suffixes read and written by :func:`load_image` / :func:`save_image` (a folder = DICOM series).
IMAGE_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr", ".dcm")

#: Default tolerance (mm for origin and spacing, absolute for direction cosines) of geometry checks.
GEOMETRY_TOL = 1e-3


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _check_suffix(path: Path, argname: str, writing: bool = False) -> None:
    allowed = tuple(s for s in IMAGE_SUFFIXES if not (writing and s == ".dcm"))
    if _suffix(path) not in allowed:
        raise ValueError(
            f"{argname}={str(path)!r} has an unsupported file type; expected one of {allowed}"
            + ("" if writing else " or a folder holding one DICOM series")
            + "."
        )


def read_dicom_series(folder: str | os.PathLike, series_id: str | None = None) -> sitk.Image:
    """Read a DICOM series from a folder with SimpleITK's ``ImageSeriesReader`` (GDCM).

    Slices are sorted by GDCM along the slice normal (ImagePositionPatient), so the geometry (LPS
    origin, spacing including the slice distance, direction) comes from the DICOM headers.

    Args:
        folder: folder holding the ``.dcm`` files of the series.
        series_id: SeriesInstanceUID to read when the folder holds several series.

    Returns:
        the 3-D image (pixel values rescaled to e.g. HU by GDCM's rescale slope/intercept).

    Raises:
        FileNotFoundError: when ``folder`` does not exist.
        ValueError: when the folder holds no DICOM series, several series and no ``series_id``, or
            not the requested ``series_id``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DICOM folder not found: {str(folder)!r}")
    ids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    if not ids:
        raise ValueError(
            f"folder={str(folder)!r} holds no DICOM series (expected .dcm slices of one series)."
        )
    if series_id is None:
        if len(ids) > 1:
            raise ValueError(f"folder={str(folder)!r} holds {len(ids)} DICOM series {ids}; pass series_id.")
        series_id = ids[0]
    elif series_id not in ids:
        raise ValueError(f"series_id={series_id!r} is not in folder={str(folder)!r}; it holds {ids}.")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def metatensor_to_sitk(tensor: torch.Tensor, spatial_dims: int | None = None) -> sitk.Image:
    """Convert a MONAI ``MetaTensor`` (array axes ``[(C,) i, j, k]``, RAS or LPS affine) to a SimpleITK image.

    The affine is read from ``tensor.affine`` and its frame from ``tensor.meta["space"]`` (``"RAS"``,
    MONAI's default, or ``"LPS"``); a RAS affine is converted to LPS by negating its first two rows,
    so the world coordinates (LPS mm) agree with ``sitk.ReadImage`` of the same file.

    Args:
        tensor: a ``MetaTensor`` of shape ``(i, j[, k])`` or channel-first ``(1, i, j[, k])``.
        spatial_dims: number of spatial dimensions; default: the affine's size minus one.

    Returns:
        the image (float16 is promoted to float32, bool to uint8).

    Raises:
        TypeError: when ``tensor`` is not a tensor carrying an affine.
        ValueError: for more than one channel, a shape that does not match ``spatial_dims``, an unknown
            space, or an affine with shear.
    """
    affine = getattr(tensor, "affine", None)
    if not isinstance(tensor, torch.Tensor) or affine is None:
        raise TypeError(
            f"tensor must be a monai.data.MetaTensor with an affine, got {type(tensor).__name__}."
        )
    affine = np.asarray(torch.as_tensor(affine).detach().cpu().double().numpy())
    if affine.ndim != 2 or affine.shape[0] != affine.shape[1] or affine.shape[0] not in (3, 4):
        raise ValueError(f"tensor.affine must be a 3x3 or 4x4 matrix, got shape {affine.shape}.")
    d = affine.shape[0] - 1 if spatial_dims is None else int(spatial_dims)
    if d != affine.shape[0] - 1:
        raise ValueError(
            f"spatial_dims={spatial_dims} does not match the {affine.shape[0]}x{affine.shape[0]} affine."
        )
    arr = tensor.detach().cpu().numpy()
    if arr.ndim == d + 1:
        if arr.shape[0] != 1:
            raise ValueError(f"tensor must have one channel, got shape {tuple(arr.shape)} (channel first).")
        arr = arr[0]
    elif arr.ndim != d:
        raise ValueError(f"tensor shape {tuple(arr.shape)} is not {d}-D (optionally channel first).")
    space = str(getattr(tensor, "meta", {}).get("space", "RAS")).upper()
    geom = ImageGeometry.from_affine(affine, arr.shape, space=space)
    if not np.allclose(geom.direction.T @ geom.direction, np.eye(d), atol=1e-4):
        raise ValueError(
            f"tensor.affine has shear (its direction cosines are not orthonormal): {affine.tolist()}; "
            "ITK images need an orthonormal direction. Resample the tensor first."
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose()), isVector=False)
    geom.apply_to_sitk(image)
    return image


def sitk_to_metatensor(image: sitk.Image, channel_first: bool = True) -> MetaTensor:
    """Convert a SimpleITK image to a MONAI ``MetaTensor`` with a RAS affine (``meta["space"] = "RAS"``).

    Args:
        image: scalar image, LPS frame.
        channel_first: prepend a channel axis of size 1.

    Returns:
        ``MetaTensor`` of shape ``([1,] i, j[, k])`` (MONAI array-axis order) whose affine maps
        ``(i, j, k, 1)`` to RAS mm.

    Raises:
        TypeError: when ``image`` is not a ``sitk.Image``.
        ValueError: for a vector (multi-component) image.
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"image must be a SimpleITK.Image, got {type(image).__name__}.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"image must be scalar, got {image.GetNumberOfComponentsPerPixel()} components per pixel."
        )
    arr = sitk_to_channel_first(image)
    affine = torch.from_numpy(ImageGeometry.from_sitk(image).affine_ras)
    data = torch.from_numpy(arr if channel_first else arr[0])
    return MetaTensor(data, affine=affine, meta={"space": SpaceKeys.RAS})


def load_image(source: Any, series_id: str | None = None) -> sitk.Image:
    """Load an image as a SimpleITK image in the LPS world frame.

    Args:
        source: a file path (NIfTI ``.nii``/``.nii.gz``, MetaImage ``.mha``/``.mhd``, NRRD
            ``.nrrd``/``.nhdr``, single ``.dcm``), a folder holding one DICOM series, a
            ``sitk.Image`` (returned unchanged), or a MONAI ``MetaTensor`` (see :func:`metatensor_to_sitk`).
        series_id: DICOM SeriesInstanceUID when a folder holds several series.

    Returns:
        the image, with the pixel type stored in the file.

    Raises:
        FileNotFoundError: when the path does not exist (the message names it).
        ValueError: for an unsupported file type or an unreadable file.
        TypeError: for any other kind of ``source``.
    """
    if isinstance(source, sitk.Image):
        return source
    if isinstance(source, torch.Tensor):
        return metatensor_to_sitk(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a path, a SimpleITK.Image or a MetaTensor, got {type(source).__name__}."
        )
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"image not found: {str(path)!r}")
    if path.is_dir():
        return read_dicom_series(path, series_id)
    _check_suffix(path, "source")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise ValueError(f"could not read image {str(path)!r}: {str(err).strip().splitlines()[-1]}") from err


def save_image(image: Any, path: str | os.PathLike, overwrite: bool = False, compress: bool = True) -> Path:
    """Write an image atomically (a temporary name in the same folder, then a rename).

    Args:
        image: a ``sitk.Image`` or a ``MetaTensor`` (converted with :func:`metatensor_to_sitk`).
        path: output file (``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``, ``.nrrd``, ``.nhdr``).
        overwrite: replace an existing file; otherwise an existing ``path`` is an error.
        compress: ask the writer to compress (MetaImage/NRRD; ``.nii.gz`` is always gzip).

    Returns:
        the written path.

    Raises:
        FileExistsError: when ``path`` exists and ``overwrite`` is false.
        ValueError: for an unsupported suffix.
    """
    path = Path(path)
    _check_suffix(path, "path", writing=True)
    image = load_image(image) if not isinstance(image, sitk.Image) else image
    with atomic_write(path, overwrite=overwrite) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return path


def geometry_mismatch(a: sitk.Image, b: sitk.Image, tol: float = GEOMETRY_TOL) -> list[str]:
    """Describe how the sampling grids of two images differ.

    Args:
        a: first image.
        b: second image.
        tol: tolerance on origin and spacing (mm) and on direction cosines (absolute).

    Returns:
        one human-readable line per differing property (size, spacing, origin, direction); empty when
        the grids agree.
    """
    if a.GetDimension() != b.GetDimension():
        return [f"dimension {a.GetDimension()} vs {b.GetDimension()}"]
    ga, gb = ImageGeometry.from_sitk(a), ImageGeometry.from_sitk(b)
    out = []
    if ga.size != gb.size:
        out.append(f"size {ga.size} vs {gb.size} voxels")
    for key, unit in (("spacing", " mm"), ("origin", " mm"), ("direction", "")):
        va, vb = getattr(ga, key).ravel(), getattr(gb, key).ravel()
        if not np.allclose(va, vb, rtol=0.0, atol=tol):
            out.append(f"{key} {tuple(np.round(va, 6).tolist())} vs {tuple(np.round(vb, 6).tolist())}{unit}")
    return out


def same_geometry(a: sitk.Image, b: sitk.Image, tol: float = GEOMETRY_TOL) -> bool:
    """Whether two images share one sampling grid (size, spacing, origin, direction) within ``tol``."""
    return not geometry_mismatch(a, b, tol)


def check_same_geometry(
    a: sitk.Image, b: sitk.Image, names: tuple[str, str] = ("fixed", "moving"), tol: float = GEOMETRY_TOL
) -> None:
    """Raise a clear error when two images do not share one sampling grid.

    Args:
        a: first image.
        b: second image.
        names: names of the two images used in the message.
        tol: see :func:`geometry_mismatch`.

    Raises:
        ValueError: naming both images and every differing property.
    """
    diff = geometry_mismatch(a, b, tol)
    if diff:
        raise ValueError(
            f"{names[0]} and {names[1]} images have different geometry: " + "; ".join(diff) + "."
        )
