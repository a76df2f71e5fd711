"""Landmark files: CSV in LPS world mm, and DIR-Lab voxel-index text files.

**CSV** (our format, the one of ``../shared/bench/lung_popi``): header ``x_mm,y_mm,z_mm``, one point per
row, LPS world millimetres of the image the points belong to. Two files with the same number of rows
correspond row by row.

**DIR-Lab** ``*_xyz.txt`` (Castillo et al. 2009, 2010): one point per line, three whitespace (tab or
space) separated numbers, the **1-based** voxel indices ``x y z`` of the DIR-Lab image grid (``x`` along
columns, ``y`` along rows, ``z`` along the stored slice order); CRLF line ends and trailing blanks are
tolerated. Converting them to mm needs the voxel size and a frame:

* :func:`read_dirlab_landmarks` gives ``(index - 1) * spacing + origin`` in the *DIR-Lab index frame*
  (identity direction, axes as stored). DIR-Lab stores slices from superior to inferior, so in this
  frame ``z`` grows towards the feet: it is not LPS. Distances and displacement magnitudes are exact.
* :func:`dirlab_indices_to_world` maps them into the LPS world frame of a given image (for instance one
  from :func:`monai_lipinr.data.dirlab.load_dirlab_case`, which flips the slice order: ``flip_z=True``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from monai_lipinr.budget.geometry import ImageGeometry, as_points
from monai_lipinr.data._atomic import atomic_write

__all__ = [
    "LANDMARK_CSV_HEADER",
    "check_landmarks_inside",
    "dirlab_indices_to_world",
    "landmarks_inside",
    "read_dirlab_indices",
    "read_dirlab_landmarks",
    "read_landmarks",
    "read_landmarks_csv",
    "write_landmarks_csv",
]

#: Header of landmark CSV files (LPS world mm).
LANDMARK_CSV_HEADER: tuple[str, str, str] = ("x_mm", "y_mm", "z_mm")


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {str(path)!r}")
    return path


def _points(points: Any, argname: str = "points") -> np.ndarray:
    """``(N, 3)`` finite float64 points (x, y, z in mm)."""
    if hasattr(points, "detach"):
        points = points.detach().cpu().numpy()
    return np.asarray(as_points(points, 3, argname), dtype=np.float64)


def read_landmarks_csv(path: str | os.PathLike) -> np.ndarray:
    """Read a landmark CSV file (header ``x_mm,y_mm,z_mm``; LPS world mm).

    Args:
        path: the CSV file.

    Returns:
        ``(N, 3)`` float64 array of points, columns ``(x, y, z)`` in LPS mm.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for a missing/different header, a row without three numbers, or non-finite values
            (the message names the file and line).
    """
    path = _existing_file(path, "landmark CSV")
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    if not lines:
        raise ValueError(
            f"landmark CSV {str(path)!r} is empty; expected the header {','.join(LANDMARK_CSV_HEADER)}."
        )
    header = tuple(h.strip().lower() for h in lines[0].split(","))
    if header != LANDMARK_CSV_HEADER:
        raise ValueError(
            f"landmark CSV {str(path)!r} has header {lines[0].strip()!r}; expected "
            f"{','.join(LANDMARK_CSV_HEADER)!r} (LPS world mm, one point per row)."
        )
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            values = [float(f) for f in fields]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise ValueError(
                f"landmark CSV {str(path)!r} line {lineno}: {line.strip()!r} is not three finite numbers."
            )
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def write_landmarks_csv(points: Any, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write points to a landmark CSV file (header ``x_mm,y_mm,z_mm``), atomically.

    Args:
        points: ``(N, 3)`` points in LPS world mm.
        path: output ``.csv`` file.
        overwrite: replace an existing file.

    Returns:
        the written path.

    Raises:
        ValueError: for points that are not ``(N, 3)`` finite numbers.
        FileExistsError: when ``path`` exists and ``overwrite`` is false.
    """
    arr = _points(points)
    text = ",".join(LANDMARK_CSV_HEADER) + "\n" + "".join(f"{x:.6f},{y:.6f},{z:.6f}\n" for x, y, z in arr)
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_dirlab_indices(path: str | os.PathLike) -> np.ndarray:
    """Read a DIR-Lab landmark file: 1-based voxel indices ``x y z`` per line.

    Tab- or space-separated, CRLF tolerated, blank lines skipped; columns after the third are ignored.

    Args:
        path: the ``*_xyz.txt`` file.

    Returns:
        ``(N, 3)`` float64 array of **1-based** indices ``(x, y, z)`` as stored.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for a line without three numbers, or an index below 1 (not 1-based).
    """
    path = _existing_file(path, "DIR-Lab landmark")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(f) for f in fields[:3]]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise ValueError(
                f"DIR-Lab file {str(path)!r} line {lineno}: {line.strip()!r} is not three numbers x y z."
            )
        if min(values) < 1:
            raise ValueError(
                f"DIR-Lab file {str(path)!r} line {lineno}: index {values} below 1; DIR-Lab indices are 1-based."
            )
        rows.append(values)
    if not rows:
        raise ValueError(f"DIR-Lab file {str(path)!r} holds no landmarks.")
    return np.asarray(rows, dtype=np.float64)


def read_dirlab_landmarks(path: str | os.PathLike, spacing: Any, origin: Any = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Read a DIR-Lab landmark file and convert it to mm in the DIR-Lab index frame.

    ``mm = (index - 1) * spacing + origin``, per axis. The frame has identity direction and the axes of
    the stored DIR-Lab grid, whose slice axis runs superior -> inferior (so it is not LPS; see the module
    docstring and :func:`dirlab_indices_to_world` for the LPS frame of a loaded image).

    Args:
        path: the ``*_xyz.txt`` file.
        spacing: voxel size ``(sx, sy, sz)`` in mm (e.g. ``DIRLAB_CASES[1].spacing``).
        origin: mm added after scaling (default 0: index 1 -> 0 mm).

    Returns:
        ``(N, 3)`` float64 points in mm.

    Raises:
        ValueError: for non-positive spacing or a malformed file (see :func:`read_dirlab_indices`).
    """
    sp = np.asarray(spacing, dtype=np.float64)
    org = np.asarray(origin, dtype=np.float64)
    if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(f"spacing must be three finite positive numbers (mm), got {spacing!r}.")
    if org.shape != (3,) or not np.all(np.isfinite(org)):
        raise ValueError(f"origin must be three finite numbers (mm), got {origin!r}.")
    return (read_dirlab_indices(path) - 1.0) * sp + org


def dirlab_indices_to_world(indices: Any, image: sitk.Image, flip_z: bool = False) -> np.ndarray:
    """Map 1-based DIR-Lab voxel indices to the LPS world frame of ``image``.

    The 0-based index is ``(x - 1, y - 1, z - 1)``; with ``flip_z`` the slice index is mirrored,
    ``k = nz - z`` (``nz`` = number of slices of ``image``), which is what an image whose slice order was
    reversed on loading (as :func:`~monai_lipinr.data.dirlab.load_dirlab_case` does) needs.

    Args:
        indices: ``(N, 3)`` 1-based indices ``(x, y, z)`` as read by :func:`read_dirlab_indices`.
        image: the 3-D image the indices refer to.
        flip_z: the image holds the slices in reverse of the DIR-Lab stored order.

    Returns:
        ``(N, 3)`` float64 points in LPS mm.
    """
    idx = _points(indices, "indices") - 1.0
    if image.GetDimension() != 3:
        raise ValueError(f"image must be 3-D for DIR-Lab landmarks, got {image.GetDimension()}-D.")
    if flip_z:
        idx[:, 2] = (image.GetSize()[2] - 1) - idx[:, 2]
    return ImageGeometry.from_sitk(image).index_to_world(idx)


def read_landmarks(
    path: str | os.PathLike, image: sitk.Image | None = None, dirlab_flip_z: bool = False
) -> np.ndarray:
    """Read landmarks in LPS world mm from a CSV file or a DIR-Lab ``.txt`` file.

    Args:
        path: ``.csv`` (``x_mm,y_mm,z_mm``, LPS mm) or ``.txt`` (DIR-Lab 1-based voxel indices).
        image: the image the DIR-Lab indices refer to (required for ``.txt``; unused for ``.csv``).
        dirlab_flip_z: see :func:`dirlab_indices_to_world`.

    Returns:
        ``(N, 3)`` float64 points, LPS mm.

    Raises:
        ValueError: for another suffix, or a ``.txt`` without ``image``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_landmarks_csv(p)
    if suffix == ".txt":
        if image is None:
            raise ValueError(
                f"path={str(p)!r} is a DIR-Lab voxel-index file; pass the image it refers to (image=...) "
                "to convert it to world mm."
            )
        return dirlab_indices_to_world(read_dirlab_indices(p), image, flip_z=dirlab_flip_z)
    raise ValueError(
        f"path={str(p)!r}: expected a landmark file ending in .csv (mm) or .txt (DIR-Lab indices)."
    )


def landmarks_inside(points: Any, image: sitk.Image, margin_voxels: float = 0.0) -> np.ndarray:
    """Which points lie inside the image's field of view.

    Inside means: the continuous 0-based index is within ``[-0.5 + m, n - 0.5 - m]`` on every axis
    (``n`` voxels, ``m = margin_voxels``), i.e. inside the physical extent of the voxels.

    Args:
        points: ``(N, 3)`` points, LPS mm.
        image: reference image.
        margin_voxels: extra margin in voxels (negative values allow points slightly outside).

    Returns:
        ``(N,)`` bool array.
    """
    pts = _points(points)
    idx = ImageGeometry.from_sitk(image).world_to_index(pts)
    size = np.asarray(image.GetSize(), dtype=np.float64)
    lo, hi = -0.5 + margin_voxels, size - 0.5 - margin_voxels
    return np.all((idx >= lo) & (idx <= hi), axis=1)


def check_landmarks_inside(
    points: Any, image: sitk.Image, name: str = "landmarks", margin_voxels: float = 0.0
) -> None:
    """Raise when any point lies outside the image (see :func:`landmarks_inside`).

    Args:
        points: ``(N, 3)`` points, LPS mm.
        image: reference image.
        name: name of the point set used in the message.
        margin_voxels: see :func:`landmarks_inside`.

    Raises:
        ValueError: listing the offending rows (0-based) and their coordinates (up to 10), and the
            image's physical bounds.
    """
    pts = _points(points, name)
    inside = landmarks_inside(pts, image, margin_voxels)
    if inside.all():
        return
    bad = np.flatnonzero(~inside)
    size = np.asarray(image.GetSize())
    corners = ImageGeometry.from_sitk(image).index_to_world(np.array([[-0.5] * 3, (size - 0.5).tolist()]))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    shown = "; ".join(f"row {i}: ({pts[i, 0]:.2f}, {pts[i, 1]:.2f}, {pts[i, 2]:.2f})" for i in bad[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    raise ValueError(
        f"{len(bad)} of {len(pts)} {name} lie outside the image (0-based rows, LPS mm): {shown}{more}. "
        f"Image extent: x {lo[0]:.2f}..{hi[0]:.2f}, y {lo[1]:.2f}..{hi[1]:.2f}, z {lo[2]:.2f}..{hi[2]:.2f} mm."
    )
