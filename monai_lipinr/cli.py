"""Command line ``monai-lipinr``.

Each subcommand lives in its own module and registers itself through :data:`SUBCOMMANDS`
(name -> ``(module path, help)``); the module exposes ``add_arguments(parser)`` and ``run(args)``.
Modules are imported lazily so that ``monai-lipinr --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("monai_lipinr.apps.demo", "run the main job on bundled sample data"),
    "register": ("monai_lipinr.apps.registration.cli", "register a lung CT pair with a tissue-strain budget"),
    "evaluate-dirlab": ("monai_lipinr.apps.registration.dirlab_cli", "register DIR-Lab cases and print TRE / folding"),
    "reconstruct": ("monai_lipinr.apps.reconstruction.cli", "CT from sparse projections with an HU-gradient budget"),
    "budget": ("monai_lipinr.apps.budget_cli", "split a Lipschitz budget and print the allocation table"),
    "sdf": ("monai_lipinr.apps.sdf.cli", "fit a certified 1-Lipschitz neural SDF to a mesh and extract its surface"),
    "inpaint": ("monai_lipinr.apps.inpainting.cli", "inpaint an image with an oracle-budgeted INR"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="monai-lipinr",
        description="Lipschitz-budgeted implicit neural representations for MONAI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_path, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_path)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``monai-lipinr`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"monai-lipinr {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
