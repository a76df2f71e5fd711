"""A classical lung mask for thorax CT (no learned model).

Steps, on a working grid of about ``working_spacing_mm`` (the input is block-averaged with
``BinShrink`` when its voxels are smaller; the mask is brought back to the input grid at the end):

1. **Orientation.** The image is re-oriented to LPS index axes (``DICOMOrient``), so that slices are
   axial and the last index axis points to the head, whatever the input direction.
2. **Body.** The largest connected component of ``HU > threshold_hu``, its holes filled slice by
   slice (axial), is the body; outside air, the table and the air around it are thereby excluded.
3. **Candidates.** ``HU < threshold_hu`` inside the body. The two largest connected components are kept
   (the second only when it has at least ``min_component_fraction`` of the largest's volume), which
   drops bowel gas and small air pockets.
4. **Trachea** (``remove_trachea``). Starting at the most superior slice, a small (4-30 mm wide) air
   region near the body's left-right centre is followed slice by slice downwards while it stays a
   single region of similar size; it stops at the carina (the region splits) or where it merges with
   lung. The followed region, grown by one voxel within the candidates, is removed. The main bronchi
   stay in the mask. If no trachea is found the step is skipped.
5. **Components again** (the lungs usually separate once the trachea is gone), then, per lung,
   a morphological closing with a ball of ``closing_radius_mm`` and axial slice-wise hole filling,
   which brings in vessels and airway walls. Each lung is closed and filled on its own, so the
   mediastinum between them is never filled.

References for the approach (threshold, connected components, airway removal, closing): Hu S, Hoffman
EA, Reinhardt JM, *Automatic lung segmentation for accurate quantitation of volumetric X-ray CT images*,
IEEE TMI 20(6):490-498, 2001.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

__all__ = ["compute_lung_mask"]

_INPLANE = np.zeros((3, 3, 3), dtype=bool)
_INPLANE[1] = ndimage.generate_binary_structure(2, 1)  # arrays are [z, y, x]: connectivity within a slice


def _largest(mask: np.ndarray, n: int, min_fraction: float) -> list[np.ndarray]:
    labels, count = ndimage.label(mask)
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(sizes)[::-1][:n]
    keep = [order[0]] + [i for i in order[1:] if sizes[i] >= min_fraction * sizes[order[0]]]
    return [labels == (i + 1) for i in keep]


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    """Bounding box of ``mask`` grown by ``pad`` voxels (clipped to the array)."""
    out = []
    for axis in range(mask.ndim):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        out.append(slice(max(0, idx[0] - pad), min(mask.shape[axis], idx[-1] + pad + 1)))
    return tuple(out)


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    return ndimage.binary_fill_holes(mask, structure=_INPLANE)


def _trachea(cand: np.ndarray, body: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Track the trachea from the top slice down to the carina; return its voxels (may be empty)."""
    area_px = spacing[0] * spacing[1]  # mm^2 per voxel in a slice (x, y spacing)
    min_area, max_area = np.pi * 2.0**2 / area_px, np.pi * 15.0**2 / area_px
    out = np.zeros_like(cand)
    zs = np.flatnonzero(cand.any(axis=(1, 2)))
    if zs.size == 0:
        return out
    cols = np.flatnonzero(body.any(axis=(0, 1)))
    x_mid, x_half = 0.5 * (cols[0] + cols[-1]), 0.5 * (cols[-1] - cols[0])
    # 1. the start: in the top quarter of the candidates' slices, the highest slice holding a small
    #    central region.
    start, prev = None, None
    top = zs[-1]
    for z in range(top, top - max(1, (zs[-1] - zs[0]) // 4) - 1, -1):
        lab, n = ndimage.label(cand[z])
        for i in range(1, n + 1):
            reg = lab == i
            a = int(reg.sum())
            cx = np.mean(np.nonzero(reg)[1])
            if min_area <= a <= max_area and abs(cx - x_mid) <= 0.25 * x_half:
                start, prev = z, reg
                break
        if start is not None:
            break
    if start is None:
        return out
    # 2. follow it downwards while it stays one region of similar size.
    areas = [int(prev.sum())]
    out[start] = prev
    for z in range(start - 1, zs[0] - 1, -1):
        lab, _ = ndimage.label(cand[z])
        hits = np.unique(lab[ndimage.binary_dilation(prev, iterations=1) & (lab > 0)])
        if hits.size != 1:  # lost (0) or split at the carina (>= 2)
            break
        reg = lab == hits[0]
        a = int(reg.sum())
        if a > 4.0 * np.median(areas) or a > max_area:  # merged with lung
            break
        out[z], prev = reg, reg
        areas.append(a)
    return ndimage.binary_dilation(out, structure=_INPLANE) & cand


def compute_lung_mask(
    ct_image: sitk.Image,
    threshold_hu: float = -400.0,
    working_spacing_mm: float = 2.0,
    closing_radius_mm: float = 4.0,
    remove_trachea: bool = True,
    min_component_fraction: float = 0.1,
) -> sitk.Image:
    """Compute a binary lung mask of a thorax CT in Hounsfield units (see the module docstring).

    Args:
        ct_image: 3-D CT, values in HU, any direction.
        threshold_hu: air/tissue threshold in HU (lung parenchyma is about -850, soft tissue about 40).
        working_spacing_mm: the input is block-averaged to voxels of about this size (mm) per axis
            before segmentation when its voxels are smaller (never upsampled).
        closing_radius_mm: radius (mm) of the ball of the per-lung morphological closing.
        remove_trachea: remove the trachea down to the carina.
        min_component_fraction: the second-largest air component is kept as a lung only if its
            volume is at least this fraction of the largest.

    Returns:
        uint8 mask (1 = lung) on the input grid (same size, spacing, origin, direction).

    Raises:
        TypeError: when ``ct_image`` is not a ``sitk.Image``.
        ValueError: for a non-3-D or vector image, non-positive parameters, or when no lung is found
            (empty result).
    """
    if not isinstance(ct_image, sitk.Image):
        raise TypeError(f"ct_image must be a SimpleITK.Image, got {type(ct_image).__name__}.")
    if ct_image.GetDimension() != 3 or ct_image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"ct_image must be a 3-D scalar CT, got {ct_image.GetDimension()}-D with "
            f"{ct_image.GetNumberOfComponentsPerPixel()} components."
        )
    for name, value in (("working_spacing_mm", working_spacing_mm), ("closing_radius_mm", closing_radius_mm)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    if not 0.0 <= min_component_fraction <= 1.0:
        raise ValueError(f"min_component_fraction must be in [0, 1], got {min_component_fraction!r}.")

    image = sitk.DICOMOrient(sitk.Cast(ct_image, sitk.sitkFloat32), "LPS")
    factors = [max(1, int(np.floor(working_spacing_mm / s + 0.25))) for s in image.GetSpacing()]
    work = sitk.BinShrink(image, factors) if max(factors) > 1 else image
    spacing = np.asarray(work.GetSpacing())
    hu = sitk.GetArrayViewFromImage(work)  # [z, y, x], z towards the head

    dense = hu > threshold_hu
    body_parts = _largest(dense, 1, 1.0)
    if not body_parts:
        raise ValueError(f"no voxel above threshold_hu={threshold_hu} HU: not a CT in HU?")
    body = _fill_slices(body_parts[0])
    cand = (hu < threshold_hu) & body
    parts = _largest(cand, 2, min_component_fraction)
    if not parts:
        raise ValueError(
            f"lung mask is empty: no air (HU < {threshold_hu}) inside the body. Is the image a thorax CT in HU?"
        )
    radius = [max(1, int(round(closing_radius_mm / s))) for s in spacing]  # (x, y, z) voxels
    box = _bbox(np.logical_or.reduce(parts), pad=max(radius) + 2)
    lungs = np.logical_or.reduce([p[box] for p in parts])
    if remove_trachea:
        lungs &= ~_trachea(lungs, body[box], spacing)
        parts = _largest(lungs, 2, min_component_fraction)
    else:
        parts = [p[box] for p in parts]
    out = np.zeros(hu.shape, dtype=np.uint8)
    for part in parts:
        img = sitk.GetImageFromArray(part.astype(np.uint8))
        closed = sitk.GetArrayFromImage(sitk.BinaryMorphologicalClosing(img, radius, sitk.sitkBall)) > 0
        out[box] |= _fill_slices(closed).astype(np.uint8)
    if not out.any():
        raise ValueError(
            "lung mask is empty after trachea removal; check the image or pass remove_trachea=False."
        )

    mask = sitk.GetImageFromArray(out)
    mask.CopyInformation(work)
    # back to the input grid: linear interpolation of the 0/1 mask, threshold at 1/2.
    soft = sitk.Resample(sitk.Cast(mask, sitk.sitkFloat32), ct_image, sitk.Transform(), sitk.sitkLinear, 0.0)
    result = sitk.Cast(sitk.BinaryThreshold(soft, 0.5, 2.0, 1, 0), sitk.sitkUInt8)
    if not np.any(sitk.GetArrayViewFromImage(result)):
        raise ValueError("lung mask is empty on the input grid (lungs smaller than a voxel?).")
    return result
