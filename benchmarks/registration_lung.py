"""Lung CT registration benchmark (issue 4, "Evaluation"): ours vs no registration, elastix and IDIR.

One run registers each lung pair with every selected method, side by side on the same machine:

* ``identity``: no registration (``T(x) = x``);
* ``elastix``: a Par0011-style chain (affine -> B-spline 10 mm -> B-spline 5 mm with the fixed lung
  mask) through ``itk-elastix``, parameter files in ``benchmarks/elastix/`` (see its README), run
  single-threaded (elastix 5.3.1 segfaults with 2 threads in the multi-metric stages, see the bench
  README); ``--elastix-quick`` stops after the 10 mm B-spline stage;
* ``idir``: an IDIR-equivalent configuration of our engine: unconstrained SIREN 3-256-256-256-3,
  omega_0 = omega = 32, ``|det J - 1|`` penalty (weight 0.05) on every point, 2500 iterations of 10k mask points,
  Adam lr 1e-4. Differences from IDIR itself: our isotropic network coordinates (DESIGN.md section 2)
  instead of IDIR's per-axis [-1, 1] normalisation, and our intensity window and NCC;
* ``ours_uniform`` / ``ours_exponential``: our engine at the tissue-strain budget with uniform or
  exponential budget allocation, every other setting at the engine defaults.

Scoring (``../shared/bench/README.md``): every transform ``T`` maps fixed points into the moving image,
``TRE_i = |T(fixed_i) - moving_i|`` (mm) over all landmark pairs; mean, SD (population), p95 and max,
plus the mean TRE by distance of the fixed landmark to the pleura (< 10, 10-20, >= 20 mm), where
the distance is the Euclidean distance (mm) from the landmark's nearest voxel centre to the nearest
voxel centre outside ``fixed_lung_mask`` (this reproduces the bench README's 38 / 150 / 112 split).
Folding inside the fixed lung mask is measured twice: from the method's exact spatial Jacobian
(network Jacobian for the INRs, transformix's spatial Jacobian for elastix) and, identically for every
method, by finite differences of its dense ITK displacement field on the fixed grid.

Wall time is the time of the method's own call (registration + its dense outputs); for the INRs the
optimisation time and the time per iteration are reported too, so that a short run predicts a long one.

Usage (benchmark environment with ``itk-elastix``: ``make bench-env``)::

    .venv-bench/bin/python benchmarks/registration_lung.py --output bench_output/registration_lung.json
    # development: short INR runs, elastix affine + 10 mm B-spline only
    .venv-bench/bin/python benchmarks/registration_lung.py --iterations 100 --elastix-quick
    # both bench cases, two INR seeds, only some methods
    .venv-bench/bin/python benchmarks/registration_lung.py --case lung_popi lung_popi_large --seeds 0 1 \\
        --methods identity idir ours_exponential

Other noise seeds of the same benchmark (about 75-135 s and 2 GB each on 2 cores), generated from the
shared folder (the one holding ``bench/`` and ``data/``) into a writable temporary folder::

    cd ../shared
    for s in 2 3; do
      ../main/.venv/bin/python bench/lung_motion.py --image data/thorax/popi00.nii.gz \\
        --popi-fixed data/thorax/popi_landmarks_phase00.csv \\
        --popi-moving data/thorax/popi_landmarks_phase50.csv \\
        --out /tmp/lung_seeds/lung_popi_seed$s --seed $s --amplitude 1.0
    done
    cd ../main
    .venv-bench/bin/python benchmarks/registration_lung.py \\
        --data /tmp/lung_seeds/lung_popi_seed2 /tmp/lung_seeds/lung_popi_seed3

The markdown table is printed and written next to the JSON (same name, ``.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from scipy import ndimage

from monai_lipinr.apps.registration import INRRegistration, RegistrationConfig
from monai_lipinr.data.landmarks import read_landmarks_csv
from monai_lipinr.metrics.jacobian import compute_folding_rate, compute_sd_log_jacobian
from monai_lipinr.metrics.tre import compute_target_registration_error, summarize_target_registration_error
from monai_lipinr.ops.finite_difference import ddf_jacobian_determinant
from monai_lipinr.transforms.ddf import itk_displacement_field_to_ddf
from monai_lipinr.transforms.landmarks import warp_points

__all__ = [
    "METHODS",
    "INR_METHODS",
    "PLEURA_BINS_MM",
    "ELASTIX_STAGES",
    "LungCase",
    "load_case",
    "pleura_distance_mm",
    "tre_report",
    "folding_report",
    "inr_config",
    "run_identity",
    "run_inr",
    "run_elastix",
    "aggregate",
    "markdown_table",
    "main",
]

METHODS = ("identity", "elastix", "idir", "ours_uniform", "ours_exponential")
INR_METHODS = ("idir", "ours_uniform", "ours_exponential")
#: pleura-distance bins (mm), lower bound inclusive, upper exclusive
PLEURA_BINS_MM = ((0.0, 10.0), (10.0, 20.0), (20.0, math.inf))
ELASTIX_DIR = Path(__file__).resolve().parent / "elastix"
#: the chain: (parameter file, uses the fixed lung mask)
ELASTIX_STAGES = (
    ("par0011_affine.txt", False),
    ("par0011_bspline1_s.txt", False),
    ("par0011_bspline2_s.txt", True),
)
ELASTIX_QUICK_STAGES = 2
DEFAULT_BENCH_ROOT = Path(__file__).resolve().parents[2] / "shared" / "bench"
CASE_FILES = ("fixed.nii.gz", "moving.nii.gz", "fixed_lung_mask.nii.gz", "fixed_landmarks.csv",
              "moving_landmarks.csv")


@dataclasses.dataclass
class LungCase:
    """One fixed/moving lung pair of the benchmark (the output folder of ``lung_motion.py``).

    Attributes:
        name: display name (folder name).
        root: the folder.
        fixed, moving: CT images (HU, same grid).
        fixed_mask: fixed lung mask (uint8, fixed grid).
        fixed_points, moving_points: ``(N, 3)`` row-aligned landmark pairs, LPS world mm.
        pleura_mm: ``(N,)`` distance (mm) of each fixed landmark to the pleura (see :func:`pleura_distance_mm`).
    """

    name: str
    root: Path
    fixed: sitk.Image
    moving: sitk.Image
    fixed_mask: sitk.Image
    fixed_points: np.ndarray
    moving_points: np.ndarray
    pleura_mm: np.ndarray


def pleura_distance_mm(mask: sitk.Image, points: np.ndarray) -> np.ndarray:
    """Distance (mm) of world points to the pleura of a lung mask.

    The distance of a point is the Euclidean distance (mm, with the mask's spacing) from its nearest
    voxel centre to the nearest voxel centre outside the mask (0 for a point whose voxel is outside).

    Args:
        mask: binary lung mask (``> 0`` is lung).
        points: ``(N, 3)`` LPS world points in mm.

    Returns:
        ``(N,)`` float64 distances in mm.

    Raises:
        ValueError: when a point's nearest voxel lies outside the mask's grid.
    """
    inside = sitk.GetArrayFromImage(mask) > 0  # (k, j, i)
    dist = ndimage.distance_transform_edt(inside, sampling=tuple(reversed(mask.GetSpacing())))
    size = np.asarray(mask.GetSize())
    out = np.empty(len(points))
    for n, p in enumerate(np.asarray(points, dtype=np.float64)):
        ijk = np.asarray(mask.TransformPhysicalPointToIndex(tuple(float(c) for c in p)))
        if np.any(ijk < 0) or np.any(ijk >= size):
            raise ValueError(f"points[{n}] = {p.tolist()} mm is outside the mask grid (index {ijk.tolist()}).")
        out[n] = dist[ijk[2], ijk[1], ijk[0]]
    return out


def load_case(root: str | os.PathLike, name: str | None = None) -> LungCase:
    """Read a benchmark folder written by ``lung_motion.py``.

    Args:
        root: folder with ``fixed.nii.gz``, ``moving.nii.gz``, ``fixed_lung_mask.nii.gz``,
            ``fixed_landmarks.csv`` and ``moving_landmarks.csv`` (LPS mm).
        name: display name; defaults to the folder name.

    Returns:
        :class:`LungCase`.

    Raises:
        FileNotFoundError: when a file is missing.
        ValueError: when the landmark files are not row-aligned pairs.
    """
    root = Path(root)
    missing = [f for f in CASE_FILES if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"benchmark folder {str(root)!r} lacks {missing}; expected the output of "
                                "../shared/bench/lung_motion.py.")
    fixed = sitk.ReadImage(str(root / "fixed.nii.gz"))
    moving = sitk.ReadImage(str(root / "moving.nii.gz"))
    mask = sitk.Cast(sitk.ReadImage(str(root / "fixed_lung_mask.nii.gz")) > 0, sitk.sitkUInt8)
    fx = read_landmarks_csv(root / "fixed_landmarks.csv")
    mv = read_landmarks_csv(root / "moving_landmarks.csv")
    if fx.shape != mv.shape:
        raise ValueError(f"fixed_landmarks.csv has {fx.shape[0]} points but moving_landmarks.csv has {mv.shape[0]}.")
    return LungCase(name or root.name, root, fixed, moving, mask, fx, mv, pleura_distance_mm(mask, fx))


def _bin_label(lo: float, hi: float) -> str:
    return f"<{hi:g}" if lo == 0 else (f">={lo:g}" if math.isinf(hi) else f"{lo:g}-{hi:g}")


def tre_report(predicted: np.ndarray, case: LungCase) -> dict[str, Any]:
    """TRE summary of predicted moving points, overall and by distance to the pleura.

    Args:
        predicted: ``(N, 3)`` ``T(fixed_points)`` in LPS mm.
        case: the lung pair (true moving points and pleura distances).

    Returns:
        ``{"mean", "std", "p95", "max", "n", "by_pleura_mm": {bin: {"mean", "n"}}, "errors_mm": [...]}``.
    """
    errors = compute_target_registration_error(torch.as_tensor(predicted, dtype=torch.float64),
                                                torch.as_tensor(case.moving_points, dtype=torch.float64))
    out: dict[str, Any] = summarize_target_registration_error(errors)
    e = errors.numpy()
    out["by_pleura_mm"] = {}
    for lo, hi in PLEURA_BINS_MM:
        sel = (case.pleura_mm >= lo) & (case.pleura_mm < hi)
        out["by_pleura_mm"][_bin_label(lo, hi)] = {"mean": float(e[sel].mean()) if sel.any() else None,
                                                    "n": int(sel.sum())}
    out["errors_mm"] = [round(float(v), 5) for v in e]
    return out


def _det_report(det_ijk: torch.Tensor, mask_ijk: torch.Tensor) -> dict[str, Any]:
    det, mask = det_ijk[None].float(), mask_ijk[None]
    return {
        "folding_rate": float(compute_folding_rate(det, mask)),
        "folded_voxels_in_mask": int(((det <= 0) & mask).sum()),
        "sd_log_jacobian": float(compute_sd_log_jacobian(det, mask)),
        "det_jacobian_min_in_mask": float(det[mask].min()),
    }


def folding_report(field: sitk.Image, mask: sitk.Image) -> dict[str, Any]:
    """Folding in the mask from finite differences of a dense ITK displacement field (same for all methods).

    Args:
        field: ``SimpleITK`` displacement field (LPS mm vectors) on the fixed grid.
        mask: fixed lung mask on the same grid.

    Returns:
        folding rate (fraction of mask voxels with ``det(I + grad u) <= 0``), folded voxel count, SD of
        ``log det`` and the smallest determinant in the mask.
    """
    ddf = itk_displacement_field_to_ddf(field)  # (3, i, j, k) voxels
    det = ddf_jacobian_determinant(torch.as_tensor(ddf)[None])[0]
    mask_ijk = torch.from_numpy(np.ascontiguousarray(sitk.GetArrayFromImage(mask).transpose(2, 1, 0) > 0))
    return _det_report(det, mask_ijk)


def _exact_folding_from_det(det_image: sitk.Image, mask: sitk.Image) -> dict[str, Any]:
    det = torch.from_numpy(np.ascontiguousarray(sitk.GetArrayFromImage(det_image).transpose(2, 1, 0)))
    mask_ijk = torch.from_numpy(np.ascontiguousarray(sitk.GetArrayFromImage(mask).transpose(2, 1, 0) > 0))
    return _det_report(det, mask_ijk)


def inr_config(method: str, iterations: int | None = None, seed: int = 0, progress: bool = False) -> RegistrationConfig:
    """Configuration of an INR method of the benchmark.

    Args:
        method: ``idir``, ``ours_uniform`` or ``ours_exponential``.
        iterations: override of the number of iterations (``None``: 2500 for ``idir``, the engine default
            for ours).
        seed: network-initialisation and sampling seed.
        progress: show the engine's progress bar.

    Returns:
        :class:`RegistrationConfig`.

    Raises:
        ValueError: for an unknown method.
    """
    common = {"seed": seed, "progress": progress}
    if method == "idir":
        cfg = RegistrationConfig(preset="siren", constraint="none", omega_0=32.0, omega=32.0, hidden_features=256,
                                 num_layers=3, regularizer="volume", regularizer_weight=0.05, iterations=2500,
                                 batch_size=10000, regularizer_points=None, learning_rate=1e-4, **common)
    elif method == "ours_uniform":
        cfg = RegistrationConfig(allocation="uniform", allocation_kwargs={}, **common)
    elif method == "ours_exponential":
        cfg = RegistrationConfig(allocation="exponential", **common)
    else:
        raise ValueError(f"method must be one of {INR_METHODS}, got {method!r}.")
    if iterations is not None:
        cfg.iterations = int(iterations)
    cfg.validate()
    return cfg


def _json_config(cfg: RegistrationConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def run_identity(case: LungCase) -> dict[str, Any]:
    """No registration: ``T(x) = x``."""
    zero = sitk.Image(case.fixed.GetSize(), sitk.sitkVectorFloat64, 3)
    zero.CopyInformation(case.fixed)
    fd = folding_report(zero, case.fixed_mask)
    return {"tre": tre_report(case.fixed_points, case), "folding_exact": fd, "folding_fd": fd, "wall_time_s": 0.0}


def run_inr(case: LungCase, method: str, iterations: int | None, seed: int, progress: bool) -> dict[str, Any]:
    """Register with our engine in the configuration of ``method`` (see :func:`inr_config`)."""
    cfg = inr_config(method, iterations, seed, progress)
    t0 = time.perf_counter()
    result = INRRegistration(cfg).fit(case.fixed, case.moving, fixed_mask=case.fixed_mask,
                                      landmarks=(case.fixed_points, case.moving_points))
    wall = time.perf_counter() - t0
    predicted = warp_points(case.fixed_points, result.network, coordinates=result.coordinates)
    tre = tre_report(predicted, case)
    engine_mean = result.metrics["tre_mm"]["mean"]
    if abs(engine_mean - tre["mean"]) > 1e-3:  # same network, same points: only float32 rounding may differ
        raise RuntimeError(f"{method}: engine TRE {engine_mean} mm differs from the benchmark's {tre['mean']} mm.")
    m = result.metrics
    ledger = result.ledger
    return {
        "tre": tre,
        "folding_exact": {k: m[k] for k in ("folding_rate", "folded_voxels_in_mask", "sd_log_jacobian",
                                            "det_jacobian_min_in_mask")},
        "folding_fd": folding_report(result.displacement_itk, case.fixed_mask),
        "wall_time_s": wall,
        "optimisation_s": result.runtime_s["optimisation"],
        "iterations": cfg.iterations,
        "s_per_iteration": result.runtime_s["optimisation"] / cfg.iterations,
        "budget": result.budget,
        "lipschitz": {k: ledger.get(k) for k in ("certified_bound", "empirical", "utilization", "within_budget")},
        "config": _json_config(cfg),
        "final_loss": result.history[-1] if result.history else None,
    }


def _itk():
    try:
        import itk

        itk.ElastixRegistrationMethod  # noqa: B018  (lazy attribute: fails without itk-elastix)
    except (ImportError, AttributeError) as err:
        raise RuntimeError("method 'elastix' needs itk-elastix; run in the benchmark environment "
                           "(`make bench-env`, then .venv-bench/bin/python) or drop it from --methods.") from err
    return itk


def _parse_transformix_points(path: Path) -> np.ndarray:
    pts = []
    for line in path.read_text().splitlines():
        match = re.search(r"OutputPoint = \[([^\]]*)\]", line)
        if match:
            pts.append([float(v) for v in match.group(1).split()])
    return np.asarray(pts, dtype=np.float64)


def run_elastix(case: LungCase, quick: bool = False, iterations: int | None = None, threads: int = 1,
                workdir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Register with the Par0011-style elastix chain of ``benchmarks/elastix`` and score it.

    Args:
        case: the lung pair.
        quick: run only the affine and the 10 mm B-spline stage (no mask).
        iterations: override ``MaximumNumberOfIterations`` of every stage (development).
        threads: elastix threads (1: see the bench README).
        workdir: folder for elastix / transformix files (default: a temporary one).

    Returns:
        TRE, exact (transformix spatial Jacobian) and finite-difference folding, wall time per stage.
    """
    itk = _itk()
    with tempfile.TemporaryDirectory(prefix="elastix_") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fixed = itk.imread(str(case.root / "fixed.nii.gz"), itk.F)
        moving = itk.imread(str(case.root / "moving.nii.gz"), itk.F)
        mask_path = work / "fixed_lung_mask.nii.gz"
        sitk.WriteImage(case.fixed_mask, str(mask_path))
        mask = itk.imread(str(mask_path), itk.UC)
        stages = ELASTIX_STAGES[:ELASTIX_QUICK_STAGES] if quick else ELASTIX_STAGES
        chain, stage_times = None, {}
        t_all = time.perf_counter()
        for i, (name, use_mask) in enumerate(stages):
            params = itk.ParameterObject.New()
            params.ReadParameterFile(str(ELASTIX_DIR / name))
            if iterations is not None:
                pmap = params.GetParameterMap(0)
                pmap["MaximumNumberOfIterations"] = [str(int(iterations))]
                params.SetParameterMap(0, pmap)
            reg = itk.ElastixRegistrationMethod.New(fixed, moving)
            reg.SetParameterObject(params)
            reg.SetNumberOfThreads(threads)
            reg.SetLogToConsole(False)
            stage_dir = work / f"stage{i}"
            stage_dir.mkdir(exist_ok=True)
            reg.SetOutputDirectory(str(stage_dir))
            reg.SetLogToFile(True)
            if chain is not None:
                reg.SetInitialTransformParameterObject(chain)
            if use_mask:
                reg.SetFixedMask(mask)
            t0 = time.perf_counter()
            reg.Update()
            stage_times[name] = time.perf_counter() - t0
            chain = reg.GetTransformParameterObject()  # the composed chain so far
        t_reg = time.perf_counter() - t_all

        # landmarks through the composed chain (exact B-spline evaluation by transformix)
        pts_file = work / "fixed_points.txt"
        with open(pts_file, "w", encoding="utf-8") as f:
            f.write(f"point\n{len(case.fixed_points)}\n")
            f.writelines(f"{p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n" for p in case.fixed_points)
        t0 = time.perf_counter()
        tx = itk.TransformixFilter.New(moving)
        tx.SetTransformParameterObject(chain)
        tx.SetFixedPointSetFileName(str(pts_file))
        tx.SetOutputDirectory(str(work))
        tx.SetLogToConsole(False)
        tx.Update()
        predicted = _parse_transformix_points(work / "outputpoints.txt")
        if predicted.shape != case.fixed_points.shape:
            raise RuntimeError(f"transformix returned {predicted.shape[0]} points for {len(case.fixed_points)}.")

        # dense field and exact det of the spatial Jacobian, on the fixed grid
        tx = itk.TransformixFilter.New(fixed)
        tx.SetTransformParameterObject(chain)
        tx.SetComputeDeformationField(True)
        tx.SetOutputDirectory(str(work))  # transformix writes deformationField.nii.gz; keep it out of the cwd
        tx.SetLogToConsole(False)
        tx.Update()
        arr = itk.GetArrayFromImage(tx.GetOutputDeformationField()).astype(np.float64)  # (k, j, i, 3) mm
        field = sitk.GetImageFromArray(arr, isVector=True)
        field.CopyInformation(case.fixed)
        jac_dir = work / "jacobian"
        jac_dir.mkdir(exist_ok=True)
        tx = itk.TransformixFilter.New(fixed)
        tx.SetTransformParameterObject(chain)
        tx.SetComputeDeterminantOfSpatialJacobian(True)
        tx.SetOutputDirectory(str(jac_dir))
        tx.SetLogToConsole(False)
        tx.Update()
        det = sitk.ReadImage(str(jac_dir / "spatialJacobian.nii.gz"))
        det.CopyInformation(case.fixed)
        t_out = time.perf_counter() - t0
        return {
            "tre": tre_report(predicted, case),
            "folding_exact": _exact_folding_from_det(det, case.fixed_mask),
            "folding_fd": folding_report(field, case.fixed_mask),
            "wall_time_s": t_reg + t_out,
            "registration_s": t_reg,
            "stage_s": stage_times,
            "stages": [name for name, _ in stages],
            "threads": threads,
            "iterations_override": iterations,
        }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of each reported number of one method on one case (``n_seeds`` runs).

    Returns:
        the averaged TRE statistics, pleura bins, folding, times, and the SD across seeds of the mean TRE.
    """
    def avg(get):
        vals = [get(r) for r in runs]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals else None

    out: dict[str, Any] = {"n_seeds": len(runs)}
    for k in ("mean", "std", "p95", "max"):
        out[f"tre_{k}"] = avg(lambda r, k=k: r["tre"][k])
    out["tre_mean_sd_over_seeds"] = float(np.std([r["tre"]["mean"] for r in runs])) if len(runs) > 1 else None
    out["tre_by_pleura"] = {b: avg(lambda r, b=b: r["tre"]["by_pleura_mm"][b]["mean"])
                            for b in runs[0]["tre"]["by_pleura_mm"]}
    for src in ("folding_exact", "folding_fd"):
        out[f"{src}_rate"] = avg(lambda r, s=src: r[s]["folding_rate"])
        out[f"{src}_voxels"] = avg(lambda r, s=src: r[s]["folded_voxels_in_mask"])
    out["sd_log_jacobian"] = avg(lambda r: r["folding_exact"]["sd_log_jacobian"])
    out["wall_time_s"] = avg(lambda r: r["wall_time_s"])
    out["s_per_iteration"] = avg(lambda r: r.get("s_per_iteration"))
    out["iterations"] = runs[0].get("iterations")
    return out


def _fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def markdown_table(case_name: str, summary: dict[str, dict[str, Any]]) -> str:
    """Markdown table of :func:`aggregate` results of one case, one row per method."""
    bins = [_bin_label(lo, hi) for lo, hi in PLEURA_BINS_MM]
    head = ["method", "seeds", "TRE mean ± SD", "p95", "max", *(f"{b} mm" for b in bins),
            "folding % (exact)", "folded vox (exact / FD)", "SD log J", "iters", "s/it", "wall s"]
    lines = [f"**{case_name}** (TRE in mm; by-pleura columns: mean TRE by distance to the pleura)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, a in summary.items():
        mean = _fmt(a["tre_mean"]) + " ± " + _fmt(a["tre_std"])
        if a["tre_mean_sd_over_seeds"] is not None:
            mean += f" (seeds ± {a['tre_mean_sd_over_seeds']:.2f})"
        row = [method, str(a["n_seeds"]), mean, _fmt(a["tre_p95"]), _fmt(a["tre_max"]),
               *(_fmt(a["tre_by_pleura"][b]) for b in bins),
               _fmt(None if a["folding_exact_rate"] is None else 100 * a["folding_exact_rate"], ".4f"),
               f"{_fmt(a['folding_exact_voxels'], '.0f')} / {_fmt(a['folding_fd_voxels'], '.0f')}",
               _fmt(a["sd_log_jacobian"], ".3f"), _fmt(a["iterations"], "d") if a["iterations"] else "-",
               _fmt(a["s_per_iteration"], ".3f"), _fmt(a["wall_time_s"], ".0f")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-root", type=Path, default=Path(os.environ.get("MONAI_LIPINR_BENCH", DEFAULT_BENCH_ROOT)),
                    help="folder holding the bench cases (default ../shared/bench or $MONAI_LIPINR_BENCH)")
    ap.add_argument("--case", nargs="+", default=["lung_popi"],
                    help="case folder name(s) under --bench-root (e.g. lung_popi lung_popi_large)")
    ap.add_argument("--data", nargs="+", type=Path, default=[],
                    help="extra case folder(s) written by lung_motion.py (e.g. other seeds); with --data only, "
                         "--case is ignored unless given explicitly")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of the INR methods")
    ap.add_argument("--iterations", type=int, default=None,
                    help="INR iterations for every INR method (default: 2500 for idir, engine default for ours)")
    ap.add_argument("--elastix-quick", action="store_true", help="elastix: affine + 10 mm B-spline stage only")
    ap.add_argument("--elastix-iterations", type=int, default=None,
                    help="elastix: override MaximumNumberOfIterations of every stage (development)")
    ap.add_argument("--elastix-threads", type=int, default=1)
    ap.add_argument("--output", type=Path, default=Path("bench_output/registration_lung.json"))
    ap.add_argument("--progress", action="store_true", help="show the INR progress bars")
    args = ap.parse_args(argv)
    if args.data and not any(a == "--case" or a.startswith("--case=") for a in (argv or sys.argv[1:])):
        args.case = []
    for name in ("iterations", "elastix_iterations"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if args.elastix_threads < 1:
        ap.error(f"--elastix-threads must be >= 1, got {args.elastix_threads}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the tables; write JSON (and the tables as ``.md``) to ``--output``."""
    args = _parse_args(argv)
    folders = [(args.bench_root / c, c) for c in args.case] + [(Path(d), None) for d in args.data]
    if not folders:
        raise SystemExit("nothing to run: give --case and/or --data.")
    if "elastix" in args.methods:
        _itk()  # fail before any long run
    cases = [load_case(root, name) for root, name in folders]
    report: dict[str, Any] = {
        "benchmark": "registration_lung",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "cases": {},
    }
    tables = []
    for case in cases:
        print(f"== {case.name} ({case.root}): {len(case.fixed_points)} landmarks", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {}
        for method in args.methods:
            seeds = args.seeds if method in INR_METHODS else [None]
            for seed in seeds:
                label = method if seed is None else f"{method} (seed {seed})"
                print(f"-- {label} ...", flush=True)
                if method == "identity":
                    run = run_identity(case)
                elif method == "elastix":
                    run = run_elastix(case, args.elastix_quick, args.elastix_iterations, args.elastix_threads)
                else:
                    run = run_inr(case, method, args.iterations, seed, args.progress)
                run["seed"] = seed
                runs.setdefault(method, []).append(run)
                print(f"   TRE {run['tre']['mean']:.3f} ± {run['tre']['std']:.3f} mm, p95 {run['tre']['p95']:.3f}, "
                      f"folded (exact) {run['folding_exact']['folded_voxels_in_mask']}, "
                      f"{run['wall_time_s']:.1f} s", flush=True)
        summary = {m: aggregate(r) for m, r in runs.items()}
        bins = {_bin_label(lo, hi): int(((case.pleura_mm >= lo) & (case.pleura_mm < hi)).sum())
                for lo, hi in PLEURA_BINS_MM}
        report["cases"][case.name] = {"root": str(case.root), "n_landmarks": len(case.fixed_points),
                                      "pleura_bin_counts": bins, "summary": summary, "runs": runs}
        table = markdown_table(f"{case.name} — landmarks per pleura bin {bins}", summary)
        tables.append(table)
        print("\n" + table + "\n", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    tmp.replace(args.output)
    args.output.with_suffix(".md").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}")
    return report


if __name__ == "__main__":
    main()
