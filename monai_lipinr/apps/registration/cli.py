"""Register a fixed/moving CT pair with a tissue-strain Lipschitz budget and write the results.

Writes into --output: ddf.nii.gz (MONAI DDF: channel-first vector, array-axis order, voxel units, pull
semantics), displacement_itk.nii.gz (LPS mm, readable by SimpleITK DisplacementFieldTransform),
warped.nii.gz, jacobian_det.nii.gz, report.json and overview.png. The transform maps fixed points to
moving points (ITK convention). A failing run leaves no partial output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "add_training_arguments", "config_from_args"]


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``register``, ``demo`` and ``evaluate-dirlab``."""
    from monai_lipinr.apps.registration.config import CONSTRAINTS, PRESETS, REGULARIZERS
    from monai_lipinr.lipschitz.allocation import ALLOCATION_STRATEGIES

    g = parser.add_argument_group("model and optimisation")
    g.add_argument("--strain", type=float, default=None, help="tissue-strain prior = budget K (default 2.0)")
    g.add_argument("--fold-free", action="store_true", help="certified fold-free budget K < 1")
    g.add_argument("--allocation", choices=sorted(ALLOCATION_STRATEGIES), default=None)
    g.add_argument("--constraint", choices=CONSTRAINTS, default=None)
    g.add_argument("--preset", choices=sorted(PRESETS), default=None)
    g.add_argument("--regularizer", choices=REGULARIZERS, default=None)
    g.add_argument("--iterations", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--hidden-features", type=int, default=None)
    g.add_argument("--learning-rate", type=float, default=None, help="Adam learning rate (hidden layers)")
    g.add_argument("--regularizer-points", type=int, default=None,
                   help="points per batch carrying the Jacobian regulariser (default 1000)")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1, … (default cpu)")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def config_from_args(args: argparse.Namespace, **defaults):
    """A :class:`RegistrationConfig` from parsed options (unset options keep ``defaults`` / the defaults)."""
    from monai_lipinr.apps.registration.config import RegistrationConfig

    mapping = {
        "strain": "max_strain", "fold_free": "fold_free", "allocation": "allocation", "constraint": "constraint",
        "preset": "preset", "regularizer": "regularizer", "iterations": "iterations", "batch_size": "batch_size",
        "hidden_features": "hidden_features", "seed": "seed", "device": "device",
        "learning_rate": "learning_rate", "regularizer_points": "regularizer_points",
    }
    values = dict(defaults)
    for arg, field in mapping.items():
        v = getattr(args, arg, None)
        if v is not None and v is not False:
            values[field] = v
    if getattr(args, "no_progress", False):
        values["progress"] = False
    if "max_strain" in values and not values["max_strain"] > 0:
        raise ValueError(f"--strain must be > 0 (a tissue-strain limit), got {values['max_strain']!r}.")
    config = RegistrationConfig(**values)
    config.validate()
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fixed", required=True, help="fixed image: NIfTI, MHA/MHD, NRRD or DICOM-series folder")
    parser.add_argument("--moving", required=True, help="moving image (same forms)")
    parser.add_argument("--fixed-mask", default=None, help="lung mask on the fixed grid (default: computed)")
    parser.add_argument("--fixed-landmarks", default=None, help="CSV (x_mm,y_mm,z_mm, LPS) or DIR-Lab .txt")
    parser.add_argument("--moving-landmarks", default=None, help="row-aligned with --fixed-landmarks")
    parser.add_argument("--output", required=True, help="output folder (refused if it exists, see --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (saved periodically; resumed if present)")
    add_training_arguments(parser)


def register_to_folder(fixed, moving, output, config, fixed_mask=None, fixed_landmarks=None,
                       moving_landmarks=None, overwrite=False, checkpoint=None, extra=None):
    """Load inputs, register, write all outputs atomically into ``output``; returns the result."""
    from monai_lipinr.apps.registration.engine import INRRegistration
    from monai_lipinr.apps.registration.outputs import write_registration_outputs
    from monai_lipinr.data.images import load_image
    from monai_lipinr.data.landmarks import read_landmarks
    from monai_lipinr.utils.output import atomic_output_dir

    if (fixed_landmarks is None) != (moving_landmarks is None):
        raise ValueError("--fixed-landmarks and --moving-landmarks must be given together.")
    with atomic_output_dir(output, overwrite=overwrite) as tmp:
        fixed_img, moving_img = load_image(fixed), load_image(moving)
        mask = load_image(fixed_mask) if fixed_mask is not None else None
        landmarks = None
        if fixed_landmarks is not None:
            landmarks = (read_landmarks(fixed_landmarks, fixed_img), read_landmarks(moving_landmarks, moving_img))
        result = INRRegistration(config).fit(fixed_img, moving_img, mask, landmarks=landmarks,
                                             checkpoint=checkpoint, resume=checkpoint is not None)
        write_registration_outputs(result, tmp, fixed_img, moving_img,
                                   extra={"inputs": {"fixed": str(fixed), "moving": str(moving)},
                                          "config": json.loads(json.dumps(dataclasses.asdict(config), default=str)),
                                          **(extra or {})})
    return result


def print_summary(result, output: Path) -> None:
    m = result.metrics
    print(f"folding rate in mask: {m['folding_rate']:.3e} ({m['folded_voxels_in_mask']} voxels), "
          f"SD log J: {m['sd_log_jacobian']:.4f}")
    if "tre_mm" in m:
        t, b = m["tre_mm"], m["tre_before_mm"]
        print(f"TRE (mm): before {b['mean']:.2f} ± {b['std']:.2f}; after {t['mean']:.2f} ± {t['std']:.2f} "
              f"(p95 {t['p95']:.2f}, max {t['max']:.2f}, n={int(t['n'])})")
    led = result.ledger
    print(f"Lipschitz: budget {result.budget['value']:.4g} ({result.budget['units']}), certified "
          f"{led['certified_bound']}, empirical {led['empirical']}")
    print(f"runtime: {result.runtime_s['total']:.1f} s; outputs in {output}/")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = register_to_folder(args.fixed, args.moving, args.output, config, args.fixed_mask,
                                args.fixed_landmarks, args.moving_landmarks, args.overwrite, args.checkpoint)
    print_summary(result, Path(args.output))
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser()
    add_arguments(p)
    sys.exit(run(p.parse_args()))
