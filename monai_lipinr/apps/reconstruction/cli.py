"""Reconstruct a CT slice from a sinogram (or from a simulated scan of an image) as a Lipschitz INR.

Input, either
  * --sinogram FILE (.npy, or a 2-D image file whose rows are views) with --geometry geometry.json
    (kind "parallel" or "fan", angles in radians, lengths in mm; see ScanGeometry.to_dict), or
  * --image FILE (HU; a 3-D volume uses --slice) with --simulate-views N [--noise poisson|gaussian|none]:
    a parallel (or --fan) scan of the full-resolution slice is simulated and reconstructed on a --size grid.

Writes into --output (refused if it exists unless --overwrite; a failing run leaves nothing):
reconstruction.nii.gz (HU), fbp.nii.gz (HU, ramp-filter FBP baseline), sart.nii.gz (HU, with --sart-iterations N:
the SART baseline on the INR's forward model), sinogram.npy + geometry.json (the data used), reference.nii.gz
(simulation only), report.json (budget derivation, Lipschitz ledger with empirical constant and utilisation,
metrics of every method), overview.png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run", "load_sinogram", "simulate_scan"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from monai_lipinr.apps.reconstruction.config import (
        CONSTRAINTS,
        DEFAULT_HIDDEN_STAGE_GAIN,
        FIRST_SHARES,
        PRESETS,
    )
    from monai_lipinr.apps.reconstruction.noise import NOISE_MODELS
    from monai_lipinr.apps.reconstruction.projector import APERTURES
    from monai_lipinr.lipschitz.allocation import ALLOCATION_STRATEGIES

    src = parser.add_argument_group("input")
    src.add_argument("--sinogram", default=None, help="sinogram (num_views, num_detectors): .npy or 2-D image")
    src.add_argument("--geometry", default=None, help="geometry JSON of the sinogram (mm, radians)")
    src.add_argument("--image", default=None, help="image in HU to simulate a scan of (NIfTI, MHA, NRRD, DICOM)")
    src.add_argument("--slice", type=int, default=None, help="axial slice index k of a 3-D --image (default middle)")
    src.add_argument("--simulate-views", type=int, default=None, help="number of views to simulate")
    src.add_argument("--noise", choices=NOISE_MODELS, default="poisson")
    src.add_argument("--aperture", choices=APERTURES, default="bin",
                     help="simulated detector: bin (integrates over the bin width) or point (pencil ray)")
    src.add_argument("--photons", type=float, default=1e5, help="I0 per detector bin and view (Poisson)")
    src.add_argument("--sigma", type=float, default=0.01, help="std of line-integral noise (Gaussian)")
    src.add_argument("--size", type=int, default=None, help="output grid pixels per side (default: from geometry)")
    src.add_argument("--fan", action="store_true", help="simulate a fan-beam scan (full rotation, flat detector)")
    src.add_argument("--source-to-isocentre", type=float, default=570.0, help="mm (fan)")
    src.add_argument("--source-to-detector", type=float, default=1040.0, help="mm (fan)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    g = parser.add_argument_group("model and optimisation")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None)
    g.add_argument("--constraint", choices=CONSTRAINTS, default=None)
    g.add_argument("--allocation", choices=sorted(ALLOCATION_STRATEGIES), default=None)
    g.add_argument("--first-share", choices=FIRST_SHARES, default=None,
                   help="first stage's share of the budget: capped at twice the views' sampling limit "
                        "('views', default) or the whole budget ('budget')")
    g.add_argument("--num-layers", type=int, default=None,
                   help="hidden layers of the network (default: as many as keep each hidden stage's share "
                        f"near {DEFAULT_HIDDEN_STAGE_GAIN:g})")
    g.add_argument("--hidden-features", type=int, default=None,
                   help="width of the hidden layers (default 128; 256 gains on some 256² slices at ~2.5x the time, "
                        "see benchmarks/README.md)")
    g.add_argument("--max-hu-jump", type=float, default=None, help="largest edge jump (HU), default 2000")
    g.add_argument("--edge-width", type=float, default=None, help="sharpest edge width (mm); default resolution")
    g.add_argument("--budget-scale", type=float, default=None, help="multiply the prior's budget")
    g.add_argument("--tv-weight", type=float, default=None,
                   help="total-variation weight λ relative to the data misfit; the strength is λ √(pixels per "
                        "measured line integral) (default 11; 0 = off)")
    g.add_argument("--iterations", type=int, default=None,
                   help="Adam steps (default 1600, up to twice that on grids more than 181 pixels across)")
    g.add_argument("--validation-views", type=int, default=None,
                   help="hold N views (spread over the scan) out of the fit and return the iterate with the lowest "
                        "misfit on them: a length chosen by the data (default 0: all views fitted)")
    parser.add_argument("--sart-iterations", type=int, default=0,
                        help="also reconstruct with N sweeps of SART (the iterative baseline) and write sart.nii.gz "
                             "(default 0: FBP is the only baseline)")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--device", default=None, help="cpu, cuda, … (default cpu)")
    g.add_argument("--no-progress", action="store_true")


def _config(args: argparse.Namespace):
    from monai_lipinr.apps.reconstruction.config import ReconstructionConfig

    mapping = {"preset": "preset", "constraint": "constraint", "allocation": "allocation", "first_share": "first_share",
               "num_layers": "num_layers", "hidden_features": "hidden_features", "max_hu_jump": "max_hu_jump", "edge_width": "edge_width_mm", "budget_scale": "budget_scale",
               "tv_weight": "tv_weight", "iterations": "iterations", "validation_views": "validation_views", "seed": "seed",
               "device": "device"}
    values = {f: getattr(args, a) for a, f in mapping.items() if getattr(args, a, None) is not None}
    values["progress"] = not args.no_progress
    cfg = ReconstructionConfig(**values)
    cfg.validate()
    return cfg


def load_sinogram(path: str | Path, geometry_path: str | Path):
    """``(sinogram (V, D) float64, geometry)`` from a ``.npy``/image file and a geometry JSON file.

    Raises:
        FileNotFoundError: for missing files. ValueError: for unreadable files or a shape mismatch.
    """
    from monai_lipinr.apps.reconstruction.geometry import check_sinogram, geometry_from_dict

    path, geometry_path = Path(path), Path(geometry_path)
    for p, name in ((path, "--sinogram"), (geometry_path, "--geometry")):
        if not p.exists():
            raise FileNotFoundError(f"{name} file not found: {str(p)!r}")
    try:
        geometry = geometry_from_dict(json.loads(geometry_path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ValueError(f"--geometry {str(geometry_path)!r} is not valid JSON: {err}") from err
    if path.suffix == ".npy":
        sino = np.load(path, allow_pickle=False)
    else:
        import SimpleITK as sitk

        from monai_lipinr.data.images import load_image

        sino = sitk.GetArrayFromImage(load_image(path))
    sino = np.squeeze(np.asarray(sino, dtype=np.float64))
    return check_sinogram(sino, geometry).numpy(), geometry


def simulate_scan(image_hu: np.ndarray, image_geometry, views: int, fan: bool = False,
                  source_to_isocentre: float = 570.0, source_to_detector: float = 1040.0,
                  detector_spacing: float | None = None, mu_water: float | None = None, aperture: str = "bin"):
    """Noise-free sinogram of an HU slice: ``(sinogram (V, D), geometry)``.

    The geometry is centred on the image, its detector covers the image's circumscribed disk with bins of
    ``detector_spacing`` (default: the pixel spacing, magnified for fan beam); parallel views are uniform on
    ``[0, π)``, fan views on ``[0, 2π)``. ``aperture`` is the detector model of
    :func:`~monai_lipinr.apps.reconstruction.projector.simulate_sinogram` (``"bin"``: each bin integrates over
    its width; ``"point"``: a pencil ray through its centre).

    Raises:
        ValueError: for ``views < 1`` or an unknown ``aperture``.
    """
    from monai_lipinr.apps.reconstruction.config import MU_WATER_PER_MM
    from monai_lipinr.apps.reconstruction.engine import hu_to_attenuation
    from monai_lipinr.apps.reconstruction.geometry import FanBeamGeometry, ParallelBeamGeometry
    from monai_lipinr.apps.reconstruction.projector import simulate_sinogram

    if isinstance(views, bool) or not isinstance(views, int) or views < 1:
        raise ValueError(f"--simulate-views must be an int >= 1 (number of projections), got {views!r}.")
    mu_water = MU_WATER_PER_MM if mu_water is None else mu_water
    centre = image_geometry.centre
    radius = 0.5 * float(np.linalg.norm(image_geometry.physical_extent))
    pitch = float(np.min(image_geometry.spacing)) if detector_spacing is None else float(detector_spacing)
    if fan:
        mag = source_to_detector / source_to_isocentre
        half = math.asin(min(radius / source_to_isocentre, 0.99))
        n = int(math.ceil(2 * source_to_detector * math.tan(half) / (pitch * mag)))
        geom = FanBeamGeometry(np.linspace(0, 2 * np.pi, views, endpoint=False), n, pitch * mag,
                               source_to_isocentre, source_to_detector, centre=centre)
    else:
        n = int(math.ceil(2 * radius / pitch))
        geom = ParallelBeamGeometry(np.linspace(0, np.pi, views, endpoint=False), n, pitch, centre=centre)
    sino = simulate_sinogram(hu_to_attenuation(image_hu, mu_water), image_geometry, geom, aperture)
    return sino.double().numpy(), geom


def _downsample(image_hu: np.ndarray, image_geometry, size: int):
    """Area-average an ``(H, W)`` slice to ``size x size`` over the same field of view (reference grid)."""
    import SimpleITK as sitk

    from monai_lipinr.budget.geometry import ImageGeometry

    w, h = image_geometry.size
    extent = image_geometry.physical_extent
    spacing = float(max(extent)) / size
    origin = image_geometry.centre - 0.5 * (size - 1) * spacing
    out_geom = ImageGeometry((size, size), (spacing, spacing), origin)
    img = _hu_image(image_hu, image_geometry)
    sigma = max(0.0, 0.5 * (spacing - float(min(image_geometry.spacing))))
    if sigma > 0:
        img = sitk.SmoothingRecursiveGaussian(img, sigma)
    ref = sitk.Image(size, size, sitk.sitkFloat32)
    out_geom.apply_to_sitk(ref)
    res = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, -1000.0)
    return sitk.GetArrayFromImage(res).astype(np.float64), out_geom


def _load_slice(path: str, slice_index: int | None):
    import SimpleITK as sitk

    from monai_lipinr.budget.geometry import ImageGeometry
    from monai_lipinr.data.images import load_image

    img = load_image(path)
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    if img.GetDimension() == 3:
        k = arr.shape[0] // 2 if slice_index is None else slice_index
        if not 0 <= k < arr.shape[0]:
            raise ValueError(f"--slice must be in [0, {arr.shape[0] - 1}], got {slice_index}.")
        arr = arr[k]
        sp, org = img.GetSpacing()[:2], img.GetOrigin()[:2]
    elif img.GetDimension() == 2:
        sp, org = img.GetSpacing(), img.GetOrigin()
    else:
        raise ValueError(f"--image must be 2-D or 3-D, got {img.GetDimension()}-D.")
    if not np.isfinite(arr).all():
        raise ValueError(f"--image {path!r} contains non-finite values.")
    return np.clip(arr, -1024.0, None), ImageGeometry((arr.shape[1], arr.shape[0]), sp, org)


def _hu_image(hu: np.ndarray, grid):
    """A SimpleITK image of an ``(H, W)`` HU array on ``grid`` (LPS mm)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(hu.astype(np.float32))
    grid.apply_to_sitk(img)
    return img


def save_overview(panels: list[tuple[str, np.ndarray]], title: str, path: Path) -> None:
    """One row of HU images (window [-1000, 400]) with titles, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.4))
    for ax, (name, img) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, cmap="gray", vmin=-1000, vmax=400)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from monai_lipinr.apps.reconstruction.engine import (
        INRReconstruction,
        attenuation_to_hu,
        reconstruction_grid,
    )
    from monai_lipinr.apps.reconstruction.fbp import filtered_back_projection
    from monai_lipinr.apps.reconstruction.noise import add_noise
    from monai_lipinr.apps.reconstruction.quality import body_mask, masked_psnr, masked_ssim
    from monai_lipinr.apps.reconstruction.sart import SART
    from monai_lipinr.data.images import save_image
    from monai_lipinr.utils.output import atomic_output_dir

    if (args.sinogram is None) == (args.image is None):
        raise ValueError("give exactly one input: --sinogram (with --geometry) or --image (with --simulate-views).")
    cfg = _config(args)
    sart_iterations = args.sart_iterations
    if isinstance(sart_iterations, bool) or not isinstance(sart_iterations, int) or sart_iterations < 0:
        raise ValueError(f"--sart-iterations must be an int >= 0 (SART sweeps; 0 = no SART), got {sart_iterations!r}.")
    reference = None
    if args.sinogram is not None:
        if args.geometry is None:
            raise ValueError("--sinogram needs --geometry (a JSON geometry description).")
        sino, geom = load_sinogram(args.sinogram, args.geometry)
        grid = reconstruction_grid(geom, size=args.size)
        photons = args.photons if args.noise == "poisson" else None
    else:
        if args.simulate_views is None:
            raise ValueError("--image needs --simulate-views N (the number of projections to simulate).")
        hu_full, geom_full = _load_slice(args.image, args.slice)
        size = args.size or int(max(geom_full.size))
        reference, grid = _downsample(hu_full, geom_full, size)
        clean, geom = simulate_scan(hu_full, geom_full, args.simulate_views, args.fan, args.source_to_isocentre,
                                    args.source_to_detector, detector_spacing=float(grid.spacing[0]),
                                    mu_water=cfg.mu_water, aperture=args.aperture)
        sino = add_noise(clean, args.noise, photons=args.photons, sigma=args.sigma, seed=cfg.seed).numpy()
        photons = args.photons if args.noise == "poisson" else None
    with atomic_output_dir(args.output, overwrite=args.overwrite) as tmp:
        result = INRReconstruction(cfg).fit(sino, geom, grid, photons=photons)
        baselines = {"fbp": attenuation_to_hu(filtered_back_projection(sino, geom, grid), cfg.mu_water)}
        if sart_iterations:
            sart = SART(geom, grid, detector_subsamples=cfg.detector_subsamples, device=cfg.device)
            baselines["sart"] = attenuation_to_hu(sart(sino, sart_iterations), cfg.mu_water)
        save_image(result.image, tmp / "reconstruction.nii.gz")
        for name, hu in baselines.items():
            save_image(_hu_image(hu, grid), tmp / f"{name}.nii.gz")
        np.save(tmp / "sinogram.npy", np.asarray(sino, dtype=np.float64))
        (tmp / "geometry.json").write_text(json.dumps(geom.to_dict(), indent=1), encoding="utf-8")
        report = {"inputs": {k: getattr(args, k) for k in ("sinogram", "geometry", "image", "slice",
                                                            "simulate_views", "noise", "aperture", "photons",
                                                            "sigma", "sart_iterations")},
                  "config": {k: v for k, v in vars(cfg).items()}, **result.report()}
        labels = {"fbp": "FBP", "sart": f"SART ({sart_iterations} it)"}
        panels = [("INR (ours)", result.hu)] + [(labels[name], hu) for name, hu in baselines.items()]
        title = (f"budget K = {result.budget['applied_value']:.4g} ({result.budget['edge_width_mm']:.3g} mm edge), "
                 f"empirical {result.ledger['empirical']:.4g}")
        if reference is not None:
            save_image(_hu_image(reference, grid), tmp / "reference.nii.gz")
            mask = body_mask(reference)
            report["quality_in_body"] = {
                name: {"psnr_db": masked_psnr(img, reference, mask), "ssim": masked_ssim(img, reference, mask)}
                for name, img in (("inr", result.hu), *baselines.items())}
            panels.insert(0, ("reference", reference))
            q = report["quality_in_body"]
            title += "; PSNR body: " + ", ".join(
                f"{labels.get(name, 'INR')} {v['psnr_db']:.2f} dB" for name, v in q.items())
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
        save_overview(panels, title, tmp / "overview.png")
    print(title)
    print(f"outputs in {args.output}/ ({result.runtime_s['total']:.1f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser()
    add_arguments(p)
    sys.exit(run(p.parse_args()))
