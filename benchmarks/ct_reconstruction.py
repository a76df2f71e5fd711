"""CT reconstruction from sparse views on real chest CT: ours vs the plain INR, ours unconstrained, FBP and SART.

For each slice (full resolution, HU) a parallel-beam scan over 180° (``--geometry fan``: a fan-beam scan over
360° with a flat detector, :func:`scan_geometry`; SART is then the package's own,
:class:`~monai_lipinr.apps.reconstruction.sart.SART`) is simulated on the full-resolution grid
(no inverse crime) by detector bins that count the photons over their whole width (``--aperture bin``,
:func:`~monai_lipinr.apps.reconstruction.projector.simulate_sinogram`; ``point`` = one pencil ray per bin, the
idealised detector of the earlier tables), with Poisson noise (``I0`` photons per bin and view); every method reconstructs on a
``--size`` grid over the same field of view (at most half the source resolution) and is scored against the
area-averaged slice inside the body and the scanned field-of-view disk (less a 4-pixel rim) (PSNR / SSIM on [-1000, 1000] HU,
``monai_lipinr.apps.reconstruction.quality``). The parallel detector and the grid are aligned with scikit-image's
conventions (rotation centre at pixel ``size // 2``) so that its SART runs on the same data. Then a budget
sweep (x0.25 … x4 around the HU-gradient prior) at ``--sweep-views``.

    python benchmarks/ct_reconstruction.py --threads 1                       # popi slice, 30/60/90 views
    python benchmarks/ct_reconstruction.py --slices popi 4dlung cip pydicom --views 60 --sweep
    python benchmarks/ct_reconstruction.py --slices popi --views 60 --methods --sweep 0.25 0.5 1 2 4
    python benchmarks/ct_reconstruction.py --slices popi 4dlung --geometry fan --views 60 --methods fbp ours

Slices: ``popi`` (POPI 4D CT phase 00, slice 70), ``4dlung`` (4D-Lung 113, slice 60), ``cip`` (Chest
Imaging Platform crop, slice 0) from ``--data``, and ``pydicom`` (pydicom's bundled ``CT_small.dcm``; needs
``pydicom``). Times are wall-clock on the machine at hand (shared cores: use ``--threads 1`` and compare
ratios within one run).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from monai_lipinr.apps.reconstruction.cli import _downsample, _hu_image
from monai_lipinr.apps.reconstruction.config import ReconstructionConfig
from monai_lipinr.apps.reconstruction.engine import (
    INRReconstruction,
    _fov_mask,
    attenuation_to_hu,
    hu_to_attenuation,
)
from monai_lipinr.apps.reconstruction.fbp import filtered_back_projection
from monai_lipinr.apps.reconstruction.geometry import FanBeamGeometry, ParallelBeamGeometry
from monai_lipinr.apps.reconstruction.noise import add_noise
from monai_lipinr.apps.reconstruction.projector import APERTURES, simulate_sinogram
from monai_lipinr.apps.reconstruction.quality import body_mask, masked_psnr, masked_ssim
from monai_lipinr.apps.reconstruction.sart import SART
from monai_lipinr.budget import ImageGeometry
from monai_lipinr.data.images import save_image

__all__ = ["main", "SLICES", "load_slice", "slices_on_grid", "run_case", "simulate_case"]

#: name -> (file under --data, axial slice index); "pydicom" is pydicom's bundled CT_small.dcm.
SLICES = {"popi": ("thorax/popi00.nii.gz", 70), "4dlung": ("thorax/4dlung113_g40.nii.gz", 60),
          "cip": ("ct/crop_ct_2slices.nrrd", 0), "pydicom": (None, 0)}
METHODS = ("fbp", "sart", "inr", "unconstrained", "ours")
MU_WATER = 0.0193
#: Pixels at the edge of the field-of-view disk left out of the scores of every method: scikit-image's SART
#: does not reconstruct them (on the CIP crop, whose anatomy fills the disk, its error is 230-480 HU RMS in
#: the outer 4 pixels against 56 HU inside: 24.9 dB with the rim, 30.4 dB without). The body slices do not
#: reach the rim, so their scores do not change.
EVAL_RIM_PIXELS = 4
#: Source-to-rotation-centre and source-to-detector distances (mm) of the fan-beam scans, as the CLI's
#: ``simulate_scan`` (a clinical scanner's geometry).
FAN_SOURCE_TO_ISOCENTRE, FAN_SOURCE_TO_DETECTOR = 570.0, 1040.0


def load_slice(name: str, data: Path):
    """``(hu (H, W) float64, ImageGeometry)`` of a named slice, or ``None`` when its source is absent."""
    rel, k = SLICES[name]
    if rel is None:
        try:
            import pydicom
            from pydicom.data import get_testdata_file
        except ImportError:
            print("skip pydicom: pydicom is not installed")
            return None
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        arr = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        spacing = tuple(float(v) for v in ds.PixelSpacing)[::-1]  # (row, col) -> (x, y)
        origin = tuple(float(v) for v in ds.ImagePositionPatient[:2])
        return np.clip(arr, -1024, None), ImageGeometry((arr.shape[1], arr.shape[0]), spacing, origin)
    path = data / rel
    if not path.exists():
        print(f"skip {name}: {path} not found")
        return None
    img = sitk.ReadImage(str(path))
    arr = np.clip(sitk.GetArrayFromImage(img)[k].astype(np.float64), -1024, None)
    return arr, ImageGeometry((arr.shape[1], arr.shape[0]), img.GetSpacing()[:2], img.GetOrigin()[:2])


def slices_on_grid(names, data, size):
    """``(name, HU, geometry, grid size)`` of every slice that loads (:func:`load_slice` skips the missing ones);
    the grid is ``size``² or, for a smaller slice, half its shorter side (the reference is an area average)."""
    for name in names:
        loaded = load_slice(name, Path(data))
        if loaded is not None:
            yield name, *loaded, min(size, min(loaded[0].shape) // 2)


def scan_geometry(kind, views, size, pixel, centre):
    """The simulated scan of a ``size``-pixel grid of ``pixel`` mm: ``"parallel"`` or ``"fan"``.

    Parallel beam: ``size`` bins of one pixel over ``[0, π)``, aligned with scikit-image's ``radon`` (rotation
    centre at pixel ``size // 2``, half a bin offset for even sizes) so that its SART runs on the same data.
    Fan beam: a flat detector at the CLI's clinical distances (:data:`FAN_SOURCE_TO_ISOCENTRE`,
    :data:`FAN_SOURCE_TO_DETECTOR` mm), views over ``[0, 2π)``, bins of one pixel at the rotation centre and
    enough of them to cover the parallel scan's field-of-view disk (radius ``(size - 1) · pixel / 2`` for even
    sizes, ``size · pixel / 2`` for odd ones).
    """
    parallel = ParallelBeamGeometry(np.linspace(0, np.pi, views, endpoint=False), size, pixel, centre=centre,
                                    detector_offset=-0.5 * pixel if size % 2 == 0 else 0.0)
    if kind == "parallel":
        return parallel
    mag = FAN_SOURCE_TO_DETECTOR / FAN_SOURCE_TO_ISOCENTRE
    half_fan = math.asin(parallel.field_of_view_radius() / FAN_SOURCE_TO_ISOCENTRE)
    bins = int(math.ceil(2 * FAN_SOURCE_TO_DETECTOR * math.tan(half_fan) / (pixel * mag)))
    return FanBeamGeometry(np.linspace(0, 2 * np.pi, views, endpoint=False), bins, pixel * mag,
                           FAN_SOURCE_TO_ISOCENTRE, FAN_SOURCE_TO_DETECTOR, centre=centre)


def simulate_case(hu_full, geom_full, size, views, photons, seed=0, aperture="bin", geometry="parallel"):
    """One simulated scan of a slice: ``(scan geometry, reconstruction grid, noisy sinogram, reference HU, mask)``.

    The reference is the slice area-averaged onto the ``size``² grid, with the anatomy outside the scanned
    field-of-view disk replaced by air (see :func:`run_case`); the mask is the body inside the disk, less a rim of
    ``EVAL_RIM_PIXELS``, where every method is scored. Poisson noise of ``photons`` per bin, ``seed``.
    """
    _, grid = _downsample(hu_full, geom_full, size)
    h = float(grid.spacing[0])
    geom = scan_geometry(geometry, views, size, h,
                         grid.index_to_world(np.array([[size // 2, size // 2]], dtype=np.float64))[0])
    hu_full = np.where(_fov_mask(geom_full, geom.centre, geom.field_of_view_radius()), hu_full, -1000.0)
    ref, _ = _downsample(hu_full, geom_full, size)
    mu = hu_to_attenuation(hu_full, MU_WATER)
    sino = add_noise(simulate_sinogram(torch.tensor(mu), geom_full, geom, aperture), "poisson", photons=photons, seed=seed)
    mask = body_mask(ref) & _fov_mask(grid, geom.centre, geom.field_of_view_radius() - EVAL_RIM_PIXELS * h)
    return geom, grid, sino, ref, mask


def run_case(hu_full, geom_full, size, views, photons, iterations, budget_scales, seed=0,
             methods=METHODS, overrides=None, aperture="bin", geometry="parallel", save_images=None):
    """Simulate one scan and score the requested methods on it; returns one row per method.

    With ``save_images`` (a directory), every scored reconstruction, the reference and the scoring mask are
    written there as NIfTI on the reconstruction grid (HU; the mask 0/1), named after the method and the case,
    for error maps; an existing file is not overwritten (``save_image`` raises).

    Anatomy outside the scanned field-of-view disk is replaced by air first (the crops ``cip`` and
    ``pydicom`` reach the image border): every ray then sees the whole object and no method has to deal
    with truncated projections, which is a different problem (interior tomography).
    """
    geom, grid, sino, ref, mask = simulate_case(hu_full, geom_full, size, views, photons, seed, aperture, geometry)
    h = float(grid.spacing[0])
    rows = []
    stem = f"{geometry}_{size}px_{views}v_seed{seed}"
    if save_images is not None:
        Path(save_images).mkdir(parents=True, exist_ok=True)
        save_image(_hu_image(ref, grid), Path(save_images) / f"{stem}_reference.nii.gz")
        save_image(_hu_image(mask.astype(np.float32), grid), Path(save_images) / f"{stem}_mask.nii.gz")

    def score(name, img_hu, seconds, extra=None):
        if save_images is not None:
            key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
            save_image(_hu_image(np.asarray(img_hu), grid), Path(save_images) / f"{stem}_{key}.nii.gz")
        rows.append({"method": name, "geometry": geometry, "views": views, "size": size, "psnr_db": masked_psnr(img_hu, ref, mask),
                     "ssim": masked_ssim(img_hu, ref, mask), "time_s": seconds, **(extra or {})})

    if "fbp" in methods:
        t = time.perf_counter()
        fbp = filtered_back_projection(sino, geom, grid)
        score("FBP (ramp)", attenuation_to_hu(fbp, MU_WATER), time.perf_counter() - t)
    if "sart" in methods:
        iterates, seconds = [], []
        if geometry == "parallel":  # the independent reference: scikit-image's SART (parallel beams only)
            from skimage.transform import iradon_sart

            s = sino.numpy().T / h  # line integrals in pixel units, (detectors, views)
            for _ in range(6):  # iradon_sart updates the image it is given in place: keep copies
                t = time.perf_counter()
                iterates.append(iradon_sart(s, np.rad2deg(geom.angles),
                                            image=iterates[-1].copy() if iterates else None))
                seconds.append(time.perf_counter() - t)
        else:  # fan beam: the package's SART on the INR's grid model (same rays per bin)
            t = time.perf_counter()
            sart = SART(geom, grid, detector_subsamples=ReconstructionConfig().detector_subsamples)
            build = time.perf_counter() - t
            for _ in range(6):
                t = time.perf_counter()
                iterates.append(sart(sino, 1, iterates[-1] if iterates else None))
                seconds.append(time.perf_counter() - t)
            seconds[0] += build
        score("SART (2 it)", attenuation_to_hu(iterates[1], MU_WATER), sum(seconds[:2]))
        # SART's quality peaks after a few iterations and then falls (it fits the noise); this row is its
        # best over 1-6 iterations *chosen on the reference*: an upper bound no user can pick, for context
        psnrs = [masked_psnr(attenuation_to_hu(x, MU_WATER), ref, mask) for x in iterates]
        best = int(np.argmax(psnrs))
        score(f"SART (best: {best + 1} it, oracle)", attenuation_to_hu(iterates[best], MU_WATER), float("nan"),
              {"iterations": best + 1})
    # "inr": the plain INR of the literature (unconstrained SIREN, data term only); "unconstrained": ours
    # without the budget (same data term and total variation), so the two rows separate the budget's share
    # of the gain from the regulariser's. Both at the SIREN's usual rate (the default for constraint="none").
    for key, label, extra in (("inr", "INR plain (no budget, no TV)", {"tv_weight": 0.0}),
                              ("unconstrained", "INR unconstrained (+TV)", {})):
        if key not in methods:
            continue
        t = time.perf_counter()
        res = INRReconstruction(constraint="none", iterations=iterations, seed=seed,
                                **{**(overrides or {}), **extra}).fit(sino, geom, grid, photons=photons)
        score(label, res.hu, time.perf_counter() - t,
              {"empirical_K": res.ledger["empirical"], "prior_K": res.ledger["prior_budget"],
               "num_layers": res.budget["num_layers"], "tv_strength": res.metrics["total_variation_strength"],
               "learning_rate": res.metrics["learning_rate"], "iterations": res.metrics["iterations"],
               **_selected(res)})
    if "ours" in methods:
        for scale in budget_scales:
            t = time.perf_counter()
            res = INRReconstruction(budget_scale=scale, iterations=iterations, seed=seed, **(overrides or {})).fit(
                sino, geom, grid, photons=photons)
            score(f"INR ours (K x{scale:g})", res.hu, time.perf_counter() - t,
                  {"budget_scale": scale, "budget_K": res.budget["applied_value"],
                   "empirical_K": res.ledger["empirical"], "utilization": res.ledger["utilization"],
                   "num_layers": res.budget["num_layers"], "tv_strength": res.metrics["total_variation_strength"],
                   "learning_rate": res.metrics["learning_rate"], "iterations": res.metrics["iterations"],
                   "allocation": res.network.allocation,
                   "allocation_kwargs": dict(res.network._allocation_kwargs), **_selected(res)})
    return rows


def _selected(res):
    """The iterate the held-out views chose (``--set validation_views=N``), for the row; nothing without them."""
    return {"selected_iteration": res.metrics["selected_iteration"]} if "selected_iteration" in res.metrics else {}


def _print(row):
    extra = f"  K {row['budget_K']:.3g} Km {row['empirical_K']:.3g}" if "budget_K" in row else ""
    extra += f"  {row['num_layers']} layers" if "num_layers" in row else ""
    extra += f"  TV c {row['tv_strength']:.3g}" if "tv_strength" in row else ""
    # the INR rows (SART's oracle row has "iterations" too, but no learning rate)
    extra += f"  lr {row['learning_rate']:.3g}  {row['iterations']} it" if "learning_rate" in row else ""
    extra += f" (held-out views chose {row['selected_iteration']})" if "selected_iteration" in row else ""
    print(f"{row['slice']:8s} {row['size']:4d}px {row['views']:3d} views  {row['method']:22s} "
          f"PSNR {row['psnr_db']:6.2f} dB  SSIM {row['ssim']:.3f}  {row['time_s']:7.1f} s{extra}", flush=True)


def markdown(rows) -> str:
    """The rows as a Markdown table."""
    out = ["| slice | views | method | PSNR (dB) | SSIM | time (s) | K | K_m / K |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = f"{r['budget_K']:.3g}" if "budget_K" in r else "—"
        u = f"{r['utilization']:.2f}" if "utilization" in r else "—"
        out.append(f"| {r['slice']} | {r['views']} | {r['method']} | {r['psnr_db']:.2f} | {r['ssim']:.3f} | "
                   f"{r['time_s']:.0f} | {k} | {u} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--slices", nargs="+", choices=sorted(SLICES), default=["popi"])
    p.add_argument("--size", type=int, default=128, help="reconstruction grid (at most half the source pixels)")
    p.add_argument("--views", type=int, nargs="+", default=[30, 60, 90])
    p.add_argument("--methods", nargs="*", choices=METHODS, default=list(METHODS),
                   help="methods at every view count (none: only the sweep)")
    p.add_argument("--sweep-views", type=int, default=60)
    p.add_argument("--sweep", type=float, nargs="*", default=None,
                   help="budget scales of ours at --sweep-views (flag alone: 0.25 0.5 2 4)")
    p.add_argument("--photons", type=float, default=1e5)
    p.add_argument("--aperture", choices=APERTURES, default="bin",
                   help="detector model of the simulated scan: bin (integrates over the bin width) or point")
    p.add_argument("--geometry", choices=("parallel", "fan"), default="parallel",
                   help="simulated scan: parallel beam over 180 degrees or fan beam (flat detector) over 360")
    p.add_argument("--iterations", type=int, default=None,
                   help="optimiser steps of every INR (default: the ReconstructionConfig rule, iteration_count)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 on a shared machine)")
    p.add_argument("--json", default=None, help="write all rows to this JSON file")
    p.add_argument("--save-images", default=None, metavar="DIR",
                   help="write every reconstruction, the reference and the scoring mask as NIfTI (HU) into DIR, "
                        "one subdirectory per slice")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON",
                   help='ReconstructionConfig overrides for both INRs, e.g. allocation=\"first_heavy\" '
                        'allocation_kwargs={\"k_out\":0.0884} max_hu_jump=1000')
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    overrides = {}
    for item in a.set:
        field, _, value = item.partition("=")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            overrides[field] = value  # a bare string, e.g. allocation=first_heavy
    sweep = [] if a.sweep is None else (a.sweep or [0.25, 0.5, 2.0, 4.0])
    all_rows = []
    save_dir = Path(a.save_images) if a.save_images else None
    if save_dir is not None and save_dir.exists() and any(save_dir.iterdir()):
        p.error(f"--save-images {str(save_dir)!r} is not empty: give a new or empty directory (nothing is overwritten).")
    for name, hu, g, size in slices_on_grid(a.slices, a.data, a.size):
        for v in a.views:
            rows = run_case(hu, g, size, v, a.photons, a.iterations, [1.0], seed=a.seed, methods=a.methods,
                            overrides=overrides, aperture=a.aperture, geometry=a.geometry,
                            save_images=save_dir and save_dir / name) if a.methods else []
            extra = [s for s in sweep if not (s == 1.0 and "ours" in a.methods)] if v == a.sweep_views else []
            rows += run_case(hu, g, size, v, a.photons, a.iterations, extra, seed=a.seed, methods=("ours",),
                             overrides=overrides, aperture=a.aperture, geometry=a.geometry,
                             save_images=save_dir and save_dir / f"{name}_sweep") if extra else []
            for r in rows:
                r["slice"] = name
                _print(r)
            all_rows += rows
            if a.json:
                Path(a.json).write_text(json.dumps(all_rows, indent=1), encoding="utf-8")
    print(markdown(all_rows))
    return all_rows


if __name__ == "__main__":
    main()
