"""Budget sweep around the oracle: quality of the inpainted pixels as a function of ``K / K_oracle``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_lipinr.apps.inpainting.engine import InpaintingConfig, INRInpainting
from monai_lipinr.budget.priors import BudgetEstimate

__all__ = ["DEFAULT_RATIOS", "budget_sweep", "sweep_table", "plot_budget_sweep"]

#: K / K_oracle from 0.25 to 4 on a log2 grid.
DEFAULT_RATIOS = (0.25, 0.5, 1.0, 2.0, 4.0)


def budget_sweep(
    image: Any,
    mask: Any,
    budget: BudgetEstimate | float,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seeds: Sequence[int] = (0,),
    config: InpaintingConfig | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Fit the image at ``K = ratio · K_oracle`` for each ratio and seed.

    Args:
        image: ``(H, W)`` / ``(H, W, 3)`` image.
        mask: ``(H, W)`` observed-pixel mask.
        budget: the oracle budget (``BudgetEstimate`` or number).
        ratios: ``K / K_oracle`` values (> 0).
        seeds: network seeds.
        config: base settings; ``overrides`` replace its fields.

    Returns:
        one row per (ratio, seed): ``ratio``, ``budget``, ``seed``, the metrics, the certified and empirical
        Lipschitz constants and the utilisation.

    Raises:
        ValueError: for no or non-positive ratios, no seeds, or a bad image / mask.
    """
    ratios = [float(r) for r in ratios]
    if not ratios or any(not np.isfinite(r) or r <= 0 for r in ratios):
        raise ValueError(f"ratios must be a non-empty list of finite numbers > 0, got {ratios!r}.")
    if len(seeds) == 0:
        raise ValueError("seeds must contain at least one seed.")
    base = dataclasses.replace(config or InpaintingConfig(), **overrides)
    rows = []
    for ratio in ratios:
        for seed in seeds:
            res = INRInpainting(base, budget_ratio=ratio, seed=int(seed)).fit(image, mask, budget=budget)
            rows.append({
                "ratio": ratio, "budget": res.budget["value"], "seed": int(seed), **res.metrics,
                "certified": res.ledger["certified_bound"], "empirical": res.ledger["empirical"],
                "utilization": res.ledger["utilization"],
            })
    return rows


def sweep_table(rows: Sequence[dict[str, Any]], metric: str = "psnr_missing") -> list[dict[str, float]]:
    """Mean ± sd of ``metric`` per ratio (``[{"ratio", "budget", "mean", "sd", "n"}]``, sorted by ratio)."""
    out = []
    for ratio in sorted({r["ratio"] for r in rows}):
        sel = [r for r in rows if r["ratio"] == ratio]
        v = np.asarray([r[metric] for r in sel], dtype=np.float64)
        out.append({"ratio": ratio, "budget": float(np.mean([r["budget"] for r in sel])), "mean": float(v.mean()),
                    "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)})
    return out


def plot_budget_sweep(rows: Sequence[dict[str, Any]], path: str | Path,
                      metrics: Sequence[str] = ("psnr_missing", "ssim_missing")) -> Path:
    """Plot mean ± sd of each metric against ``K / K_oracle`` (log2 axis) and save it to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        table = sweep_table(rows, metric)
        x = [t["ratio"] for t in table]
        ax.errorbar(x, [t["mean"] for t in table], yerr=[t["sd"] for t in table], marker="o", capsize=3)
        ax.axvline(1.0, color="grey", ls="--", lw=1, label="oracle")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("K / K_oracle")
        ax.set_ylabel(metric)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
