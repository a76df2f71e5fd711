"""Reader for the DIR-Lab 4DCT data set in its original distribution format.

DIR-Lab (Castillo R et al., Phys Med Biol 54:1849-1870, 2009, cases 1-5; Castillo E et al., Phys Med
Biol 55:305-327, 2010, cases 6-10; https://www.dir-lab.com) distributes each case as headerless raw
images plus landmark text files. Users obtain the data from DIR-Lab; nothing of it ships with this package.

**Images.** ``.img`` files of little-endian signed 16-bit integers, x fastest, then y, then z (so a
NumPy ``reshape(nz, ny, nx)``), with the per-case sizes and voxel spacings of :data:`DIRLAB_CASES`
(Table 1 of each paper and the DIR-Lab web page):

====  ===================  ========================
case  size (x, y, z)       spacing (x, y, z) in mm
====  ===================  ========================
1     256 x 256 x 94       0.97 x 0.97 x 2.5
2     256 x 256 x 112      1.16 x 1.16 x 2.5
3     256 x 256 x 104      1.15 x 1.15 x 2.5
4     256 x 256 x 99       1.13 x 1.13 x 2.5
5     256 x 256 x 106      1.10 x 1.10 x 2.5
6     512 x 512 x 128      0.97 x 0.97 x 2.5
7     512 x 512 x 136      0.97 x 0.97 x 2.5
8     512 x 512 x 128      0.97 x 0.97 x 2.5
9     512 x 512 x 128      0.97 x 0.97 x 2.5
10    512 x 512 x 120      0.97 x 0.97 x 2.5
====  ===================  ========================

**Orientation (our choice, documented).** The files carry no geometry. DIR-Lab stores the slices from
superior to inferior: the published landmarks move towards *smaller* slice indices from end-inhale T00
to end-exhale T50 (case 1: mean -1.42 slices = -3.56 mm; case 6: -4.01 slices = -10.0 mm), and at
exhale the lungs rise, towards the head. ITK/LPS wants z to grow towards the head. :func:`load_dirlab_image`
therefore **reverses the slice order** so that the returned image has identity direction, origin
``(0, 0, 0)`` and slice 0 = the most inferior slice (like the POPI volumes in ``../shared``), and the
landmarks are mapped with ``k = nz - z`` (:func:`~monai_lipinr.data.landmarks.dirlab_indices_to_world`
with ``flip_z=True``). In-plane, the first column is taken as the patient's right and the first row as
anterior (standard axial DICOM storage), so x and y are LPS without a flip.

**Intensities.** ``hu_offset="auto"`` (default) adds -1024 when the data look like ``HU + 1024``
(0.5th percentile above -500, i.e. no air at -1000), else 0; the applied value is reported in
:attr:`DIRLabCase.hu_offset`. Pass a number to force it.

**Folder layout and accepted names** (file and folder names matched case-insensitively; ``N`` = case
number without zero padding, ``PP`` = phase ``00`` or ``50``)::

    ROOT/CaseNPack/Images/caseN_TPP_s.img           (also caseN_TPP.img, caseN_TPP-ssm.img)
    ROOT/CaseNPack/ExtremePhases/CaseN_300_TPP_xyz.txt   (also caseN_dirLab300_TPP_xyz.txt)

``ROOT`` may also be the ``CaseNPack`` folder itself, and a ``CaseNPack`` folder nested once inside
another ``CaseNPack`` (as in some case-8 downloads) is accepted. When several image names match, the
order above decides (``_s`` first).
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from monai_lipinr.data.landmarks import dirlab_indices_to_world, read_dirlab_indices

__all__ = [
    "DIRLAB_CASES",
    "DIRLabCase",
    "DIRLabCaseInfo",
    "find_dirlab_cases",
    "load_dirlab_case",
    "load_dirlab_image",
    "locate_dirlab_case",
]


@dataclasses.dataclass(frozen=True)
class DIRLabCaseInfo:
    """Size and voxel spacing of one DIR-Lab case.

    Attributes:
        case: case number (1-10).
        size: voxels ``(nx, ny, nz)``.
        spacing: voxel size ``(sx, sy, sz)`` in mm.
    """

    case: int
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]


#: Per-case size and spacing (Castillo et al. 2009 Table 1 for cases 1-5, 2010 Table 1 for 6-10).
DIRLAB_CASES: dict[int, DIRLabCaseInfo] = {
    c: DIRLabCaseInfo(c, size, spacing)
    for c, size, spacing in (
        (1, (256, 256, 94), (0.97, 0.97, 2.5)),
        (2, (256, 256, 112), (1.16, 1.16, 2.5)),
        (3, (256, 256, 104), (1.15, 1.15, 2.5)),
        (4, (256, 256, 99), (1.13, 1.13, 2.5)),
        (5, (256, 256, 106), (1.10, 1.10, 2.5)),
        (6, (512, 512, 128), (0.97, 0.97, 2.5)),
        (7, (512, 512, 136), (0.97, 0.97, 2.5)),
        (8, (512, 512, 128), (0.97, 0.97, 2.5)),
        (9, (512, 512, 128), (0.97, 0.97, 2.5)),
        (10, (512, 512, 120), (0.97, 0.97, 2.5)),
    )
}

_PHASES = ("00", "50")
_IMAGE_SUFFIXES = ("_s", "", "-ssm")  # preference order of image name variants


@dataclasses.dataclass
class DIRLabCase:
    """One loaded DIR-Lab case: end-inhale (T00, fixed) and end-exhale (T50, moving).

    Attributes:
        case: case number.
        fixed: T00 image (int16 HU, LPS, identity direction, slice 0 most inferior).
        moving: T50 image on the same grid.
        fixed_landmarks: ``(300, 3)`` T00 landmarks, LPS world mm of ``fixed``.
        moving_landmarks: ``(300, 3)`` T50 landmarks, LPS world mm (row-aligned with ``fixed_landmarks``).
        fixed_indices: the T00 landmarks as stored: 1-based ``(x, y, z)`` DIR-Lab indices.
        moving_indices: the T50 landmarks as stored.
        info: size and spacing used.
        hu_offset: the intensity offset that was added (0 or -1024).
        paths: the files read (``fixed``, ``moving``, ``fixed_landmarks``, ``moving_landmarks``).
    """

    case: int
    fixed: sitk.Image
    moving: sitk.Image
    fixed_landmarks: np.ndarray
    moving_landmarks: np.ndarray
    fixed_indices: np.ndarray
    moving_indices: np.ndarray
    info: DIRLabCaseInfo
    hu_offset: int
    paths: dict[str, Path]


def _case_info(case: int, info: DIRLabCaseInfo | None) -> DIRLabCaseInfo:
    if isinstance(case, bool) or not isinstance(case, (int, np.integer)) or case < 1:
        raise ValueError(f"case={case!r} is not a DIR-Lab case number; expected an integer 1..10.")
    if info is not None:
        return info
    if int(case) not in DIRLAB_CASES:
        raise ValueError(
            f"case={case!r} is not a DIR-Lab 4DCT case; expected an integer 1..10 (or pass info=)."
        )
    return DIRLAB_CASES[int(case)]


def _child(folder: Path, name: str) -> Path | None:
    """The sub-folder of ``folder`` whose name equals ``name`` case-insensitively."""
    if not folder.is_dir():
        return None
    for p in sorted(folder.iterdir()):
        if p.is_dir() and p.name.lower() == name.lower():
            return p
    return None


def _match(folder: Path | None, patterns: list[str]) -> Path | None:
    if folder is None:
        return None
    names = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_file()}
    for pat in patterns:
        rx = re.compile(pat, re.IGNORECASE)
        for lower, p in names.items():
            if rx.fullmatch(lower):
                return p
    return None


def _case_folders(root: Path, case: int) -> list[Path]:
    pack = f"case{case}pack"
    out = []
    if root.name.lower() == pack:
        out.append(root)
    sub = _child(root, pack)
    if sub is not None:
        out.append(sub)
    for folder in list(out):
        nested = _child(folder, pack)
        if nested is not None:
            out.append(nested)
    return out


def _files_in(folder: Path, case: int) -> dict[str, Path | None]:
    images, extreme = _child(folder, "Images"), _child(folder, "ExtremePhases")
    files: dict[str, Path | None] = {}
    for key, phase in (("fixed", "00"), ("moving", "50")):
        files[key] = _match(images, [rf"case{case}_t{phase}{re.escape(s)}\.img" for s in _IMAGE_SUFFIXES])
        files[f"{key}_landmarks"] = _match(extreme, [rf"case{case}_(300|dirlab300)_t{phase}_xyz\.txt"])
    return files


def locate_dirlab_case(root: str | os.PathLike, case: int) -> dict[str, Path]:
    """Find the four files of a DIR-Lab case (T00/T50 images and landmark files).

    Args:
        root: folder holding ``Case<N>Pack`` folders, or a ``Case<N>Pack`` folder itself.
        case: case number 1-10.

    Returns:
        ``{"fixed", "moving", "fixed_landmarks", "moving_landmarks"}`` -> file path.

    Raises:
        FileNotFoundError: naming the missing files and the accepted names (see the module docstring).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DIR-Lab root folder not found: {str(root)!r}")
    best: dict[str, Path | None] = {}
    for folder in _case_folders(root, case):
        files = _files_in(folder, case)
        if sum(v is not None for v in files.values()) > sum(v is not None for v in best.values()):
            best = files
    missing = [k for k in ("fixed", "moving", "fixed_landmarks", "moving_landmarks") if best.get(k) is None]
    if missing:
        raise FileNotFoundError(
            f"DIR-Lab case {case} under {str(root)!r}: missing {missing}. Expected "
            f"Case{case}Pack/Images/case{case}_T00_s.img (or _T00.img, _T00-ssm.img), the same for T50, and "
            f"Case{case}Pack/ExtremePhases/Case{case}_300_T00_xyz.txt (or case{case}_dirLab300_T00_xyz.txt) "
            "and T50 (names case-insensitive)."
        )
    return {k: v for k, v in best.items() if v is not None}


def find_dirlab_cases(root: str | os.PathLike) -> dict[int, Path]:
    """List the complete DIR-Lab cases under ``root``.

    Args:
        root: folder holding ``Case<N>Pack`` folders (or one ``Case<N>Pack`` folder).

    Returns:
        case number -> folder of the T00 image's ``Images`` parent, sorted by case, for every case whose
        four files are present. Incomplete case folders are skipped with a warning.

    Raises:
        FileNotFoundError: when ``root`` does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DIR-Lab root folder not found: {str(root)!r}")
    candidates = {root, *(p for p in root.iterdir() if p.is_dir())}
    numbers = sorted(
        {int(m.group(1)) for p in candidates if (m := re.fullmatch(r"case(\d+)pack", p.name, re.IGNORECASE))}
    )
    found = {}
    for case in numbers:
        try:
            files = locate_dirlab_case(root, case)
        except FileNotFoundError as err:
            warnings.warn(f"skipping incomplete DIR-Lab case: {err}", stacklevel=2)
            continue
        found[case] = files["fixed"].parent.parent
    return found


def _resolve_offset(arr: np.ndarray, hu_offset: int | str) -> int:
    if hu_offset == "auto":
        return -1024 if float(np.percentile(arr, 0.5)) > -500.0 else 0
    if isinstance(hu_offset, bool) or not isinstance(hu_offset, (int, np.integer)):
        raise ValueError(f"hu_offset must be 'auto' or an integer, got {hu_offset!r}.")
    return int(hu_offset)


def load_dirlab_image(
    path: str | os.PathLike, case: int, info: DIRLabCaseInfo | None = None, hu_offset: int | str = "auto"
) -> tuple[sitk.Image, int]:
    """Read one raw DIR-Lab ``.img`` file into an LPS image (slice order reversed, see module docstring).

    Args:
        path: the ``.img`` file.
        case: DIR-Lab case number (selects size and spacing from :data:`DIRLAB_CASES`).
        info: override of size and spacing (e.g. for a cropped or synthetic file).
        hu_offset: ``"auto"`` or the integer added to the stored values to get HU.

    Returns:
        ``(image, offset)``: int16 image with spacing ``info.spacing``, origin 0, identity direction,
        slice 0 = the last stored (most inferior) slice; and the offset that was applied.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file size is not ``nx * ny * nz * 2`` bytes, or for a bad ``case``/``hu_offset``.
    """
    info = _case_info(case, info)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DIR-Lab image not found: {str(path)!r}")
    nx, ny, nz = info.size
    expected = nx * ny * nz * 2
    actual = path.stat().st_size
    if actual != expected:
        raise ValueError(
            f"DIR-Lab image {str(path)!r} has {actual} bytes; case {info.case} expects {nx}x{ny}x{nz} int16 "
            f"= {expected} bytes."
        )
    arr = np.fromfile(path, dtype="<i2").reshape(nz, ny, nx)[::-1]
    offset = _resolve_offset(arr, hu_offset)
    if offset:
        arr = np.clip(arr.astype(np.int32) + offset, -32768, 32767)
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr, dtype=np.int16))
    image.SetSpacing(tuple(float(s) for s in info.spacing))
    return image, offset


def load_dirlab_case(
    root: str | os.PathLike, case: int, info: DIRLabCaseInfo | None = None, hu_offset: int | str = "auto"
) -> DIRLabCase:
    """Load a DIR-Lab 4DCT case: T00 (fixed), T50 (moving) and the 300 landmark pairs in LPS mm.

    Args:
        root: folder holding ``Case<N>Pack`` folders, or a ``Case<N>Pack`` folder.
        case: case number 1-10.
        info: override of size and spacing (default: :data:`DIRLAB_CASES`).
        hu_offset: ``"auto"`` or the integer added to the stored values (decided on T00, applied to both).

    Returns:
        the :class:`DIRLabCase`. Landmarks are in the LPS world frame of the images, using
        ``k = nz - z`` for the reversed slice order.

    Raises:
        FileNotFoundError: for missing files (naming the accepted names).
        ValueError: for a wrong file size, landmarks outside the grid, or a different number of rows
            in the two landmark files.
    """
    info = _case_info(case, info)
    paths = locate_dirlab_case(root, int(case))
    fixed, offset = load_dirlab_image(paths["fixed"], case, info, hu_offset)
    moving, _ = load_dirlab_image(paths["moving"], case, info, offset)
    idx_f = read_dirlab_indices(paths["fixed_landmarks"])
    idx_m = read_dirlab_indices(paths["moving_landmarks"])
    if idx_f.shape != idx_m.shape:
        raise ValueError(
            f"DIR-Lab case {case}: {len(idx_f)} T00 landmarks but {len(idx_m)} T50 landmarks; expected pairs."
        )
    size = np.asarray(info.size, dtype=np.float64)
    for key, idx in (("fixed_landmarks", idx_f), ("moving_landmarks", idx_m)):
        bad = np.flatnonzero(np.any(idx > size, axis=1))
        if bad.size:
            raise ValueError(
                f"{str(paths[key])!r}: rows {bad[:10].tolist()} (0-based) exceed the case {case} grid "
                f"{info.size}; wrong case or size?"
            )
    return DIRLabCase(
        case=int(case),
        fixed=fixed,
        moving=moving,
        fixed_landmarks=dirlab_indices_to_world(idx_f, fixed, flip_z=True),
        moving_landmarks=dirlab_indices_to_world(idx_m, moving, flip_z=True),
        fixed_indices=idx_f,
        moving_indices=idx_m,
        info=info,
        hu_offset=offset,
        paths=paths,
    )
