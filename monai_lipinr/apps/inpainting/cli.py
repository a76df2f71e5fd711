"""Inpaint an image with a Lipschitz-budgeted INR fitted to its observed pixels.

The observed pixels come from --mask (nonzero = observed, same H×W as the image) or a random fraction
(--observed). The budget is the gradient oracle of reference images (--reference; default: natural
photographs shipped by scikit-image) resampled to the image's pixel grid, or --budget. Writes into
--output: inpainted.png (observed pixels kept), prediction.png, mask.png, network.pt and report.json
(PSNR/SSIM on the missing pixels, budget derivation, Lipschitz ledger); with --sweep also sweep.json and
sweep.png (K/K_oracle from 0.25 to 4). A failing run leaves no partial output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "DEFAULT_REFERENCES", "default_references"]

#: scikit-image photographs used as default oracle references (natural images).
DEFAULT_REFERENCES = ("astronaut", "coffee", "chelsea", "camera", "rocket", "cat")


def default_references() -> list:
    """The :data:`DEFAULT_REFERENCES` photographs (needs scikit-image)."""
    from skimage import data

    return [getattr(data, name)() for name in DEFAULT_REFERENCES]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from monai_lipinr.apps.inpainting.engine import INPAINTING_PRESETS, InpaintingConfig
    from monai_lipinr.lipschitz.allocation import ALLOCATION_STRATEGIES

    d = InpaintingConfig()
    parser.add_argument("--image", required=True, help="image (PNG/JPEG/TIFF, or a 2-D NIfTI/MHA)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mask", default=None, help="observed-pixel mask image (nonzero = observed)")
    group.add_argument("--observed", type=float, default=None, help="random observed fraction (default 0.125)")
    parser.add_argument("--output", required=True, help="output folder (refused if it exists, see --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--reference", nargs="+", default=None, help="reference images for the budget oracle")
    parser.add_argument("--budget", type=float, default=None, help="oracle budget K (overrides --reference)")
    parser.add_argument("--budget-ratio", type=float, default=d.budget_ratio, help="K = ratio × K_oracle")
    parser.add_argument("--preset", choices=INPAINTING_PRESETS, default=d.preset)
    parser.add_argument("--constraint", choices=("sll", "bjorck", "spectral"), default=d.constraint)
    parser.add_argument("--allocation", choices=sorted(ALLOCATION_STRATEGIES), default=d.allocation)
    parser.add_argument("--iterations", type=int, default=d.iterations)
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the network and the random mask")
    parser.add_argument("--sweep", action="store_true", help="also run the budget sweep (0.25…4 × K_oracle)")
    parser.add_argument("--device", default=None)


def _save_png(array, path: Path) -> None:
    import numpy as np
    from skimage import io

    io.imsave(str(path), (np.clip(array, 0, 1) * 255).round().astype(np.uint8), check_contrast=False)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from monai_lipinr.apps.inpainting.data import check_mask, load_image_2d, random_observed_mask
    from monai_lipinr.apps.inpainting.engine import InpaintingConfig, INRInpainting, oracle_budget
    from monai_lipinr.apps.inpainting.sweep import budget_sweep, plot_budget_sweep, sweep_table
    from monai_lipinr.utils.output import atomic_output_dir

    config = InpaintingConfig(preset=args.preset, constraint=args.constraint, allocation=args.allocation,
                              budget_ratio=args.budget_ratio, iterations=args.iterations, seed=args.seed,
                              device=args.device)
    config.validate()
    image = load_image_2d(args.image)
    shape = image.shape[:2]
    if args.mask is not None:
        mask = check_mask(load_image_2d(args.mask), shape, "--mask")
    else:
        mask = random_observed_mask(shape, 0.125 if args.observed is None else args.observed, args.seed)
    if args.budget is not None:
        budget = float(args.budget)
        if not np.isfinite(budget) or budget <= 0:
            raise ValueError(f"--budget must be a finite number > 0, got {args.budget!r}.")
    else:
        refs = [load_image_2d(p) for p in args.reference] if args.reference else default_references()
        budget = oracle_budget(refs, shape, config.percentile)
    with atomic_output_dir(args.output, overwrite=args.overwrite) as tmp:
        result = INRInpainting(config).fit(image, mask, budget=budget)
        _save_png(result.inpainted, tmp / "inpainted.png")
        _save_png(result.prediction, tmp / "prediction.png")
        _save_png(mask.astype(np.float64), tmp / "mask.png")
        torch.save({"state_dict": result.network.state_dict(), "shape": list(shape)}, tmp / "network.pt")
        report = {**result.report(), "inputs": {"image": str(args.image), "mask": args.mask,
                                                "observed": args.observed}}
        if args.sweep:
            rows = budget_sweep(image, mask, budget, config=config)
            plot_budget_sweep(rows, tmp / "sweep.png")
            (tmp / "sweep.json").write_text(json.dumps({"rows": rows, "table": sweep_table(rows)}, indent=2),
                                            encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    m = result.metrics
    print(f"missing pixels: PSNR {m['psnr_missing']:.2f} dB, SSIM {m['ssim_missing']:.4f} "
          f"(observed {mask.mean():.3f} of {mask.size}); budget K = {result.budget['value']:.4g}; "
          f"certified {result.ledger['certified_bound']}, empirical {result.ledger['empirical']}")
    print(f"outputs in {Path(args.output)}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser()
    add_arguments(p)
    sys.exit(run(p.parse_args()))
