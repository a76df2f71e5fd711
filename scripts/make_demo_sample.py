"""Derive the small demo sample bundled in ``monai_lipinr/data`` from ``../shared/bench/lung_popi``.

The source is the lung registration benchmark built from the POPI-model thorax CT (see
``../shared/bench/README.md`` and ``../shared/data/README.md``): a real CT (fixed), the same anatomy
after a known breathing-like motion (moving), the fixed lung mask and 300 landmark pairs with exact
correspondence, all in LPS world mm on one grid.

What it does:

* region: the bounding box of the fixed lung mask grown by ``--margin-mm`` (clipped to the source);
* grid: ``--spacing`` mm voxels tiling that region, identity direction (the source's), so that world
  coordinates are unchanged and the landmark CSV files stay valid as they are;
* images: Gaussian anti-aliasing with per-axis sigma ``sqrt(s_new^2 - s_old^2) / 2.3548`` mm (going from a
  resolution of one source voxel to one new voxel, FWHM-wise), linear interpolation, rounding to int16 HU;
* mask: linear interpolation of the 0/1 source mask, threshold 1/2, uint8;
* landmarks: the pairs whose fixed *and* moving points lie inside the new sampling grid (continuous
  index within ``[0, n - 1]``), rows in the source order;
* ``demo_sample.json``: provenance (source files with SHA-256, citation and terms), the command, the
  resampling parameters, the conventions (field direction, correspondence, TRE) and checks.

Existing files are not replaced unless ``--overwrite`` is given. Run from the repository root::

    python scripts/make_demo_sample.py --spacing 3.5 --margin-mm 20
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import monai_lipinr
from monai_lipinr.data._atomic import atomic_write
from monai_lipinr.data.images import check_same_geometry, load_image, save_image
from monai_lipinr.data.landmarks import landmarks_inside, read_landmarks_csv, write_landmarks_csv
from monai_lipinr.data.samples import DEMO_SAMPLE_FILES

__all__ = ["main", "make_demo_sample"]

_REPO = Path(__file__).resolve().parents[1]
_SHARED = Path(os.environ.get("MONAI_LIPINR_SHARED", _REPO.parent / "shared"))

POPI_CITATION = (
    "Vandemeulebroucke J, Sarrut D, Clarysse P. The POPI-model, a point-validated pixel-based breathing "
    "thorax model. Proc. XVth International Conference on the Use of Computers in Radiation Therapy "
    "(ICCR), Toronto, 2007."
)
POPI_TERMS = (
    "POPI-model data: free for research use with citation (Léon Bérard Cancer Center & CREATIS, Lyon). "
    "The DICOM slices were taken from InsightSoftwareConsortium/ITKElastix @ "
    "787db6d117d5c3de231935163b713f3e0a5c7433 (examples/data/00, Apache-2.0 repository)."
)
CONVENTIONS = {
    "world_frame": "ITK/SimpleITK LPS millimetres as stored in the NIfTI headers (x to the patient's left, "
    "y posterior, z superior); NIfTI stores RAS, SimpleITK converts on reading.",
    "landmark_files": "CSV with header x_mm,y_mm,z_mm, LPS world mm; row i of the fixed and moving files is "
    "the same anatomical point.",
    "field_direction": "The benchmark's true field v lives on the moving grid and maps moving to fixed: "
    "y + v(y) is the fixed-image point corresponding to moving point y; moving(y) = fixed(y + v(y)) up to "
    "noise, blur and partial volume.",
    "correspondence": "moving_landmarks[i] + v(moving_landmarks[i]) = fixed_landmarks[i] (exact in the "
    "source benchmark).",
    "scoring": "For a registration whose transform T maps fixed points into the moving image (the "
    "ITK/SimpleITK/elastix convention), TRE_i = |T(fixed_i) - moving_i| in mm; for the opposite direction "
    "swap the roles. No registration (identity) gives TRE_i = |fixed_i - moving_i|.",
    "images": "fixed = end-inhale anatomy (POPI phase 00), moving = the same anatomy after the synthetic "
    "breathing motion of lung_popi (amplitude 1, seed 0); both int16 HU on one grid; fixed_lung_mask uint8.",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _target_grid(mask: sitk.Image, spacing: np.ndarray, margin_mm: float) -> sitk.Image:
    """An empty image whose grid tiles the lung bounding box grown by ``margin_mm`` (clipped to the source)."""
    arr = sitk.GetArrayViewFromImage(mask) > 0
    if not arr.any():
        raise ValueError("the source lung mask is empty.")
    src_sp = np.asarray(mask.GetSpacing())
    size = np.asarray(mask.GetSize())
    lo_idx = np.array(
        [np.flatnonzero(arr.any(axis=tuple(a for a in range(3) if a != 2 - d)))[0] for d in range(3)]
    )
    hi_idx = np.array(
        [np.flatnonzero(arr.any(axis=tuple(a for a in range(3) if a != 2 - d)))[-1] for d in range(3)]
    )
    # physical edges (index space, voxel edges at +-0.5), grown by the margin, clipped to the source extent
    lo = np.maximum(lo_idx - 0.5 - margin_mm / src_sp, -0.5)
    hi = np.minimum(hi_idx + 0.5 + margin_mm / src_sp, size - 0.5)
    extent_mm = (hi - lo) * src_sp
    new_size = np.maximum(1, np.floor(extent_mm / spacing + 1e-6)).astype(int)
    # centre the new grid in the region
    centre_idx = 0.5 * (lo + hi)
    direction = np.asarray(mask.GetDirection()).reshape(3, 3)
    centre_mm = np.asarray(mask.GetOrigin()) + direction @ (centre_idx * src_sp)
    origin = centre_mm - direction @ (0.5 * (new_size - 1) * spacing)
    grid = sitk.Image([int(n) for n in new_size], sitk.sitkUInt8)
    grid.SetSpacing(tuple(float(s) for s in spacing))
    grid.SetOrigin(tuple(float(o) for o in origin))
    grid.SetDirection(mask.GetDirection())
    return grid


def _resample_ct(image: sitk.Image, grid: sitk.Image) -> tuple[sitk.Image, list[float]]:
    old = np.asarray(image.GetSpacing())
    new = np.asarray(grid.GetSpacing())
    sigma = np.sqrt(np.maximum(new**2 - old**2, 0.0)) / 2.3548
    smooth = sitk.Cast(image, sitk.sitkFloat32)
    if np.any(sigma > 0):
        smooth = sitk.SmoothingRecursiveGaussian(smooth, [float(max(s, 1e-6)) for s in sigma])
    out = sitk.Resample(smooth, grid, sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkFloat32)
    arr = np.clip(np.rint(sitk.GetArrayFromImage(out)), -32768, 32767).astype(np.int16)
    res = sitk.GetImageFromArray(arr)
    res.CopyInformation(grid)
    return res, sigma.tolist()


def _resample_mask(mask: sitk.Image, grid: sitk.Image) -> sitk.Image:
    soft = sitk.Resample(sitk.Cast(mask > 0, sitk.sitkFloat32), grid, sitk.Transform(), sitk.sitkLinear, 0.0)
    return sitk.Cast(sitk.BinaryThreshold(soft, 0.5, 2.0, 1, 0), sitk.sitkUInt8)


def make_demo_sample(
    source: Path, output: Path, spacing: list[float], margin_mm: float, overwrite: bool, command: str
) -> dict:
    """Build the demo sample; see the module docstring. Returns the metadata written to the JSON file."""
    names = {
        "fixed": "fixed.nii.gz",
        "moving": "moving.nii.gz",
        "fixed_mask": "fixed_lung_mask.nii.gz",
        "fixed_landmarks": "fixed_landmarks.csv",
        "moving_landmarks": "moving_landmarks.csv",
    }
    src = {k: source / v for k, v in names.items()}
    for p in src.values():
        if not p.is_file():
            raise FileNotFoundError(f"source file not found: {str(p)!r}")
    targets = {k: output / v for k, v in DEMO_SAMPLE_FILES.items()}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing} already exist; pass --overwrite to replace them.")

    fixed, moving, mask = (load_image(src[k]) for k in ("fixed", "moving", "fixed_mask"))
    check_same_geometry(fixed, moving, ("fixed", "moving"))
    check_same_geometry(fixed, mask, ("fixed", "fixed lung mask"))
    lm_f, lm_m = read_landmarks_csv(src["fixed_landmarks"]), read_landmarks_csv(src["moving_landmarks"])
    if lm_f.shape != lm_m.shape:
        raise ValueError(f"{len(lm_f)} fixed but {len(lm_m)} moving landmarks; expected pairs.")

    sp = np.asarray(spacing, dtype=np.float64)
    grid = _target_grid(mask, sp, margin_mm)
    demo_fixed, sigma = _resample_ct(fixed, grid)
    demo_moving, _ = _resample_ct(moving, grid)
    demo_mask = _resample_mask(mask, grid)
    keep = landmarks_inside(lm_f, grid, margin_voxels=0.5) & landmarks_inside(lm_m, grid, margin_voxels=0.5)
    kf, km = lm_f[keep], lm_m[keep]
    if len(kf) == 0:
        raise ValueError("no landmark pair lies inside the demo grid; increase --margin-mm.")

    mask_arr = sitk.GetArrayViewFromImage(demo_mask)
    idx = np.rint([demo_mask.TransformPhysicalPointToContinuousIndex(tuple(p)) for p in kf]).astype(int)
    in_mask = float(np.mean(mask_arr[idx[:, 2], idx[:, 1], idx[:, 0]] > 0))
    disp = np.linalg.norm(km - kf, axis=1)
    voxel_ml = float(np.prod(sp)) / 1000.0

    save_image(demo_fixed, targets["fixed"], overwrite=overwrite)
    save_image(demo_moving, targets["moving"], overwrite=overwrite)
    save_image(demo_mask, targets["fixed_mask"], overwrite=overwrite)
    write_landmarks_csv(kf, targets["fixed_landmarks"], overwrite=overwrite)
    write_landmarks_csv(km, targets["moving_landmarks"], overwrite=overwrite)

    shared_rel = "shared/bench/lung_popi"
    meta = {
        "name": "monai_lipinr demo sample: POPI thorax CT with a known breathing-like motion (lung_popi), "
        "downsampled",
        "description": "A small real-anatomy lung CT registration pair for the demo and tutorials: end-inhale "
        "POPI CT (fixed) and the same anatomy after the lung_popi benchmark's synthetic motion (moving), "
        "with the fixed lung mask and exact landmark correspondences.",
        "files": {
            k: {"file": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)}
            for k, p in targets.items()
            if k != "metadata"
        },
        "source": {
            "benchmark_folder": shared_rel,
            "files": {f"{shared_rel}/{v}": _sha256(src[k]) for k, v in names.items()},
            "benchmark_generator": "python bench/lung_motion.py --image data/thorax/popi00.nii.gz "
            "--popi-fixed data/thorax/popi_landmarks_phase00.csv --popi-moving data/thorax/popi_landmarks_phase50.csv "
            "--out bench/lung_popi --seed 0 --amplitude 1.0 (run from shared/; see shared/bench/README.md)",
            "original_data": "shared/data/thorax/popi00.nii.gz: POPI 4DCT phase 00 (end-inhale), 512x512x141 "
            "voxels, 0.9765625x0.9765625x2 mm, converted from 141 DICOM slices (see shared/data/README.md)",
            "source_grid": {
                "size": list(fixed.GetSize()),
                "spacing_mm": list(fixed.GetSpacing()),
                "origin_mm": list(fixed.GetOrigin()),
            },
        },
        "citation": POPI_CITATION,
        "terms": POPI_TERMS,
        "generator": {
            "script": "scripts/make_demo_sample.py",
            "command": command,
            "monai_lipinr_version": monai_lipinr.__version__,
            "simpleitk_version": sitk.Version_VersionString(),
            "numpy_version": np.__version__,
        },
        "resampling": {
            "region": "bounding box of the fixed lung mask grown by margin_mm on every side, clipped to the "
            "source field of view; the new grid is centred in it",
            "margin_mm": margin_mm,
            "spacing_mm": sp.tolist(),
            "size": list(grid.GetSize()),
            "origin_mm": list(grid.GetOrigin()),
            "direction": list(grid.GetDirection()),
            "antialias_gaussian_sigma_mm": sigma,
            "antialias_rule": "sigma_i = sqrt(s_new_i^2 - s_old_i^2) / 2.3548 (FWHM from one source voxel to "
            "one new voxel)",
            "interpolator": "linear",
            "default_value_hu": -1024,
            "intensity": "int16 HU, rounded to the nearest integer",
            "mask": "linear interpolation of the 0/1 source mask, threshold 0.5, uint8",
        },
        "landmarks": {
            "n_source": int(len(lm_f)),
            "n_kept": int(len(kf)),
            "rule": "pairs whose fixed and moving points both lie inside the demo grid (continuous index in "
            "[0, n-1] on every axis)",
            "source_rows_kept": np.flatnonzero(keep).tolist(),
            "fraction_fixed_in_demo_lung_mask": round(in_mask, 4),
            "identity_tre_mm": {
                "mean": round(float(disp.mean()), 4),
                "sd": round(float(disp.std()), 4),
                "p95": round(float(np.percentile(disp, 95)), 4),
                "max": round(float(disp.max()), 4),
            },
        },
        "fixed_lung_volume_ml": round(float(np.count_nonzero(mask_arr)) * voxel_ml, 1),
        "conventions": CONVENTIONS,
    }
    text = json.dumps(meta, indent=2, ensure_ascii=True) + "\n"
    with atomic_write(targets["metadata"], overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return meta


def _spacing(text: str) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or any(not np.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"--spacing must be one or three positive numbers (mm), got {text!r}."
        )
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", type=Path, default=_SHARED / "bench" / "lung_popi", help="lung_popi folder"
    )
    parser.add_argument("--output", type=Path, default=_REPO / "monai_lipinr" / "data", help="output folder")
    parser.add_argument("--spacing", type=_spacing, default=[3.5, 3.5, 3.5], help="mm, one value or x,y,z")
    parser.add_argument("--margin-mm", type=float, default=20.0, help="margin around the lung box (mm)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing demo files")
    args = parser.parse_args(argv)
    if not np.isfinite(args.margin_mm) or args.margin_mm < 0:
        parser.error(f"--margin-mm must be a finite number >= 0, got {args.margin_mm}.")
    spacing_arg = ",".join(f"{s:g}" for s in args.spacing)
    command = f"python scripts/make_demo_sample.py --spacing {spacing_arg} --margin-mm {args.margin_mm:g}"
    try:
        meta = make_demo_sample(
            args.source, args.output, args.spacing, args.margin_mm, args.overwrite, command
        )
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"make_demo_sample: error: {err}", file=sys.stderr)
        return 2
    total = sum(f["bytes"] for f in meta["files"].values())
    print(
        f"wrote {args.output}: grid {meta['resampling']['size']} at {spacing_arg} mm, "
        f"{meta['landmarks']['n_kept']}/{meta['landmarks']['n_source']} landmark pairs, {total / 1e6:.2f} MB"
    )
    print(f"equivalent command: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
