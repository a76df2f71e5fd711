"""Inpainting benchmark on photographs shipped by scikit-image: budget sweep around the oracle, allocation.

For each test photograph (grey, resized to --size², --observed fraction of pixels observed at random),
the oracle budget comes from the *other* photographs (leave-one-out references, resampled to the same
grid). Reports PSNR/SSIM on the missing pixels for K/K_oracle in {0.25, 0.5, 1, 2, 4} and for uniform vs
exponential vs first-heavy allocation at the oracle budget, mean ± sd over images × seeds, with paired
t-tests (scipy) across (image, seed) pairs, and where quality peaks. Runs single-threaded.

    python benchmarks/inpainting.py [--quick] [--seeds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from skimage import data
from skimage.color import rgb2gray
from skimage.transform import resize

from monai_lipinr.apps.inpainting import InpaintingConfig, budget_sweep, oracle_budget, random_observed_mask

__all__ = ["PHOTOS", "main"]

PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "cat")


def _grey(name: str, size: int) -> np.ndarray:
    img = getattr(data, name)()
    img = rgb2gray(img) if img.ndim == 3 else img / 255.0
    return resize(img, (size, size), anti_aliasing=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--observed", type=float, default=0.25)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--images", type=int, default=4, help="how many of the photographs to test on")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = InpaintingConfig(iterations=150 if args.quick else 300, empirical_starts=4, empirical_steps=2)
    ratios = (0.25, 0.5, 1.0, 2.0, 4.0)
    allocations = ("uniform", "exponential", "first_heavy")
    names = PHOTOS[: args.images]
    refs_all = {n: _grey(n, args.size) for n in PHOTOS}
    rows = []
    t0 = time.time()
    for name in names:
        img = refs_all[name]
        budget = oracle_budget([v for k, v in refs_all.items() if k != name], img.shape)
        for seed in range(args.seeds):
            mask = random_observed_mask(img.shape, args.observed, seed)
            for r in budget_sweep(img, mask, budget, ratios, [seed], cfg):
                rows.append({"image": name, "study": "sweep", "allocation": cfg.allocation, **r})
                print(json.dumps(rows[-1]), flush=True)
            for al in allocations:
                if al == cfg.allocation:
                    continue
                for r in budget_sweep(img, mask, budget, (1.0,), [seed], cfg, allocation=al):
                    rows.append({"image": name, "study": "allocation", "allocation": al, **r})
                    print(json.dumps(rows[-1]), flush=True)
    print(f"\nInpainting benchmark: {len(names)} photographs ({', '.join(names)}), {args.size}², "
          f"{args.observed:.3g} observed, {args.seeds} seeds, FFN + SLL, {cfg.iterations} Adam steps; "
          f"wall {time.time() - t0:.0f} s (shared 2-core machine, 1 thread)\n")

    def key(r):
        return (r["image"], r["seed"])

    sweep = [r for r in rows if r["study"] == "sweep"]
    print(f"Budget sweep ({cfg.allocation} allocation): PSNR / SSIM on missing pixels, mean ± sd over images × seeds")
    print("| K/K_oracle | PSNR (dB) | SSIM | K_m / K | best-ratio count |")
    print("|---|---|---|---|---|")
    best = {}
    for k in {key(r) for r in sweep}:
        sel = [r for r in sweep if key(r) == k]
        best[k] = max(sel, key=lambda r: r["psnr_missing"])["ratio"]
    for ratio in ratios:
        sel = [r for r in sweep if r["ratio"] == ratio]
        p = np.array([r["psnr_missing"] for r in sel])
        s = np.array([r["ssim_missing"] for r in sel])
        u = np.array([r["utilization"] for r in sel])
        print(f"| {ratio:g} | {p.mean():.2f} ± {p.std(ddof=1):.2f} | {s.mean():.4f} ± {s.std(ddof=1):.4f} | "
              f"{u.mean():.3f} | {sum(v == ratio for v in best.values())} |")
    at1 = {key(r): r["psnr_missing"] for r in sweep if r["ratio"] == 1.0}
    for ratio in ratios:
        if ratio == 1.0:
            continue
        other = {key(r): r["psnr_missing"] for r in sweep if r["ratio"] == ratio}
        ks = sorted(at1)
        t = stats.ttest_rel([at1[k] for k in ks], [other[k] for k in ks])
        print(f"oracle vs {ratio:g}×: mean ΔPSNR = {np.mean([at1[k] - other[k] for k in ks]):+.2f} dB, "
              f"paired t = {t.statistic:.2f}, p = {t.pvalue:.3g}")
    print("\nAllocation at the oracle budget: PSNR on missing pixels")
    per_alloc = {cfg.allocation: at1}
    for al in allocations:
        if al != cfg.allocation:
            per_alloc[al] = {key(r): r["psnr_missing"] for r in rows if r["study"] == "allocation" and
                             r["allocation"] == al}
    ks = sorted(at1)
    for al, vals in per_alloc.items():
        v = np.array([vals[k] for k in ks])
        print(f"| {al} | {v.mean():.2f} ± {v.std(ddof=1):.2f} dB |")
    base = per_alloc["uniform"]
    for al in allocations:
        if al == "uniform":
            continue
        t = stats.ttest_rel([per_alloc[al][k] for k in ks], [base[k] for k in ks])
        print(f"{al} vs uniform: mean ΔPSNR = {np.mean([per_alloc[al][k] - base[k] for k in ks]):+.2f} dB, "
              f"paired t = {t.statistic:.2f}, p = {t.pvalue:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
