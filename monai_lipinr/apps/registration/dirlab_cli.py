"""Register DIR-Lab 4DCT cases (T00 fixed, T50 moving) from their original distribution and print TRE / folding.

--root is a folder holding Case<N>Pack folders in DIR-Lab's original format (raw int16 .img images,
1-based landmark .txt files; see monai_lipinr.data.dirlab for the accepted names). TRE is reported in
both conventions: continuous (exact predicted position) and DIR-Lab rounded (prediction snapped to the
moving voxel grid, as in Castillo et al.). Per-case outputs go to --output/case<N>/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_arguments", "run", "dirlab_table"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from monai_lipinr.apps.registration.cli import add_training_arguments

    parser.add_argument("--root", required=True, help="folder with DIR-Lab Case<N>Pack folders")
    parser.add_argument("--cases", type=int, nargs="*", default=None, help="case numbers (default: all found)")
    parser.add_argument("--output", required=True, help="output folder (refused if it exists, see --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_training_arguments(parser)


def dirlab_table(rows: list[dict]) -> str:
    """Markdown table of per-case results (TRE in mm, folding in the lung mask)."""
    lines = [
        "| case | TRE before (mm) | TRE (mm) | TRE rounded (mm) | p95 | max | folded voxels | folding rate | time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['tre_before']:.2f} | {r['tre']:.2f} ± {r['tre_sd']:.2f} | {r['tre_rounded']:.2f} | "
            f"{r['p95']:.2f} | {r['max']:.2f} | {r['folded']} | {r['folding_rate']:.2e} | {r['time']:.0f} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from monai_lipinr.apps.registration.cli import config_from_args
    from monai_lipinr.apps.registration.engine import INRRegistration
    from monai_lipinr.apps.registration.outputs import write_registration_outputs
    from monai_lipinr.data.dirlab import find_dirlab_cases, load_dirlab_case
    from monai_lipinr.utils.output import atomic_output_dir

    root = Path(args.root)
    if not root.is_dir():
        raise FileNotFoundError(f"--root {str(root)!r} is not a folder.")
    found = find_dirlab_cases(root)
    cases = sorted(found) if not args.cases else list(args.cases)
    missing = [c for c in cases if c not in found]
    if missing:
        raise FileNotFoundError(f"DIR-Lab case(s) {missing} not found under {str(root)!r}; found {sorted(found)}.")
    if not cases:
        raise FileNotFoundError(f"no complete DIR-Lab case found under {str(root)!r}.")
    config = config_from_args(args)
    rows = []
    with atomic_output_dir(args.output, overwrite=args.overwrite) as tmp:
        for c in cases:
            case = load_dirlab_case(found[c], c)
            result = INRRegistration(config).fit(
                case.fixed, case.moving, None, landmarks=(case.fixed_landmarks, case.moving_landmarks)
            )
            folder = tmp / f"case{c}"
            folder.mkdir()
            write_registration_outputs(result, folder, case.fixed, case.moving, extra={"dirlab_case": c})
            m = result.metrics
            rows.append({
                "case": c, "tre_before": m["tre_before_mm"]["mean"], "tre": m["tre_mm"]["mean"],
                "tre_sd": m["tre_mm"]["std"], "tre_rounded": m["tre_dirlab_rounded_mm"]["mean"],
                "p95": m["tre_mm"]["p95"], "max": m["tre_mm"]["max"], "folded": m["folded_voxels_in_mask"],
                "folding_rate": m["folding_rate"], "time": result.runtime_s["total"],
            })
            print(dirlab_table(rows[-1:]).splitlines()[-1], flush=True)
        table = dirlab_table(rows)
        (tmp / "summary.md").write_text(table + "\n")
        (tmp / "summary.json").write_text(json.dumps(rows, indent=2))
    print(table)
    print(f"outputs in {args.output}/")
    return 0
