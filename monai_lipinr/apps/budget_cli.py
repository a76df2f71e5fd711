"""Split a Lipschitz budget across the components of a network and print the allocation table."""

from __future__ import annotations

import argparse

from monai_lipinr.lipschitz.allocation import ALLOCATION_STRATEGIES, allocate_budget

__all__ = ["add_arguments", "run", "allocation_table"]


def allocation_table(total: float, num_components: int, k_min: float = 1.0) -> str:
    """Markdown table of the per-component targets of every registered strategy."""
    header = "| strategy | " + " | ".join(f"K_{i + 1}" for i in range(num_components)) + " | product |"
    rows = [header, "|" + "---|" * (num_components + 2)]
    for name in ALLOCATION_STRATEGIES:
        params = {"k_min": k_min} if name in ("linear", "exponential", "cosine") else {}
        k = allocate_budget(total, num_components, name, **params)
        rows.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in k.tolist()) + f" | {float(k.prod()):.6f} |")
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--total", type=float, default=2.0, help="global budget K_B (default 2, lung strain)")
    parser.add_argument("--components", type=int, default=5, help="number of budgeted components M")
    parser.add_argument("--k-min", type=float, default=1.0, help="smallest target of the monotone ramps")


def run(args: argparse.Namespace) -> int:
    print(allocation_table(args.total, args.components, args.k_min))
    return 0
