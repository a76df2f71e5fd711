"""Inpainting benchmark on photographs shipped by scikit-image: budget sweep around the oracle, allocation.

For each test photograph (grey, resized to --size², --observed fraction of pixels observed at random, one
mask per seed), the oracle budget comes from the *other* photographs (leave-one-out references, resampled
to the same grid). Per (photograph, seed) it fits FFN + SLL networks

* at ``K/K_oracle`` in {0.25, 0.5, 1, 2, 4} with the default (amplitude-matched) allocation,
* at the oracle budget with the ``uniform``, ``exponential`` and ``first_heavy`` allocations,
* and the unconstrained FFN (``sigma`` = 1 cycle per network unit) for reference;
* with ``--gain-sweep`` instead: ``K/K_oracle`` in {0.25, 0.5, 2, 4} put into the output stage
  (``k_out = ratio · A``), the embedding keeping its oracle share (merge with a main run for ×1),

and reports PSNR/SSIM on the missing pixels, mean ± sd over photographs × seeds, paired tests over
(photograph, seed) pairs (Wilcoxon signed-rank and paired t, scipy), and where quality peaks. One torch
thread. Long runs can be split over photographs and merged:

    python benchmarks/inpainting.py --images camera astronaut --seeds 3 --json a.json
    python benchmarks/inpainting.py --images coffee chelsea --seeds 3 --json b.json
    python benchmarks/inpainting.py --merge a.json b.json
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

from monai_lipinr.apps.inpainting import (
    InpaintingConfig,
    budget_sweep,
    oracle_budget,
    output_amplitude,
    random_observed_mask,
)

__all__ = ["PHOTOS", "RATIOS", "ALLOCATIONS", "main"]

PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "cat")
RATIOS = (0.25, 0.5, 1.0, 2.0, 4.0)
ALLOCATIONS = ("uniform", "exponential", "first_heavy")


def _grey(name: str, size: int) -> np.ndarray:
    img = getattr(data, name)()
    img = rgb2gray(img) if img.ndim == 3 else img / 255.0
    return resize(img, (size, size), anti_aliasing=True)


def run(names, size: int, observed: float, seeds: int, cfg: InpaintingConfig, gain_sweep: bool = False) -> list[dict]:
    refs_all = {n: _grey(n, size) for n in PHOTOS}
    rows = []
    for name in names:
        img = refs_all[name]
        budget = oracle_budget([v for k, v in refs_all.items() if k != name], img.shape)
        for seed in range(seeds):
            mask = random_observed_mask(img.shape, observed, seed)
            studies = [("sweep", cfg.allocation, RATIOS, {})]
            studies += [("allocation", al, (1.0,), {"allocation": al}) for al in ALLOCATIONS]
            studies += [("unconstrained", "none", (1.0,), {"constraint": "none"})]
            if gain_sweep:  # only the sweep in which K/K_oracle goes into the output stage's gain
                amp = output_amplitude(img[mask][:, None])
                studies = [("gain-sweep", cfg.allocation, (q,), {"allocation_kwargs": {"k_out": q * amp}})
                           for q in RATIOS if q != 1.0]
            for study, label, ratios, over in studies:
                t = time.perf_counter()
                for r in budget_sweep(img, mask, budget, ratios, [seed], cfg, **over):
                    rows.append({"image": name, "study": study, "allocation": label, "size": size,
                                 "observed": observed, "iterations": cfg.iterations,
                                 "wall_s": (time.perf_counter() - t) / len(ratios), **r})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def _paired(a: dict, b: dict) -> str:
    ks = sorted(set(a) & set(b))
    d = np.array([a[k] - b[k] for k in ks])
    t = stats.ttest_rel([a[k] for k in ks], [b[k] for k in ks])
    w = stats.wilcoxon(d) if np.any(d != 0) else None
    wp = f"{w.pvalue:.3g}" if w is not None else "n/a"
    return f"{d.mean():+.2f} ± {d.std(ddof=1):.2f} dB (n = {len(ks)}, Wilcoxon p = {wp}, paired t p = {t.pvalue:.3g})"


def _k_emp(sel: list[dict]) -> np.ndarray:
    """Empirical Lipschitz constant over the oracle budget (``budget = ratio · K_oracle``)."""
    return np.array([r["empirical"] * r["ratio"] / r["budget"] for r in sel])


def summarize(rows: list[dict]) -> str:
    def key(r):
        return (r["image"], r["seed"])

    out = []
    images = sorted({r["image"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    r0 = rows[0]
    out.append(f"Inpainting benchmark: {len(images)} photographs ({', '.join(images)}), {r0['size']}², "
               f"{r0['observed']:.3g} observed, seeds {seeds}, FFN + SLL, {r0['iterations']} Adam steps.\n")
    sweep = [r for r in rows if r["study"] == "sweep"]
    alloc = sweep[0]["allocation"] if sweep else "?"
    out.append(f"Budget sweep ({alloc} allocation), missing pixels, mean ± sd over photographs × seeds:\n")
    out.append("| K/K_oracle | PSNR (dB) | SSIM | PSNR observed (dB) | K_emp / K_oracle | best ratio for (image, seed) |")
    out.append("|---|---|---|---|---|---|")
    best = {}
    for k in {key(r) for r in sweep}:
        best[k] = max((r for r in sweep if key(r) == k), key=lambda r: r["psnr_missing"])["ratio"]
    for ratio in RATIOS:
        sel = [r for r in sweep if r["ratio"] == ratio]
        if not sel:
            continue
        p, s, o = (np.array([r[m] for r in sel]) for m in ("psnr_missing", "ssim_missing", "psnr_observed"))
        u = _k_emp(sel)
        out.append(f"| {ratio:g} | {p.mean():.2f} ± {p.std(ddof=1):.2f} | {s.mean():.3f} ± {s.std(ddof=1):.3f} | "
                   f"{o.mean():.2f} | {u.mean():.2f} | {sum(v == ratio for v in best.values())} / {len(best)} |")
    out.append("\nPer photograph, PSNR on missing pixels (mean over seeds):\n")
    out.append("| photograph | K_oracle | " + " | ".join(f"×{r:g}" for r in RATIOS) + " | peak |")
    out.append("|---|---|" + "---|" * len(RATIOS) + "---|")
    for im in images:
        means = [np.mean([r["psnr_missing"] for r in sweep if r["image"] == im and r["ratio"] == q]) for q in RATIOS]
        k_or = np.mean([r["budget"] for r in sweep if r["image"] == im and r["ratio"] == 1.0])
        out.append(f"| {im} | {k_or:.3g} | " + " | ".join(f"{m:.2f}" for m in means)
                   + f" | ×{RATIOS[int(np.argmax(means))]:g} |")
    at1 = {key(r): r["psnr_missing"] for r in sweep if r["ratio"] == 1.0}
    gain = [r for r in rows if r["study"] == "gain-sweep"]
    if gain:
        out.append("\nGain sweep: K/K_oracle put into the output stage (k_out = ratio · A), the embedding's share "
                   "kept at its oracle value; PSNR on missing pixels, same (photograph, seed) pairs:\n")
        out.append("| photograph | seed | " + " | ".join(f"×{q:g}" for q in RATIOS) + " |")
        out.append("|---|---|" + "---|" * len(RATIOS))
        for k in sorted({key(r) for r in gain}):
            vals = {r["ratio"]: r["psnr_missing"] for r in gain if key(r) == k}
            vals[1.0] = at1.get(k, float("nan"))
            out.append(f"| {k[0]} | {k[1]} | " + " | ".join(f"{vals.get(q, float('nan')):.2f}" for q in RATIOS) + " |")
        for q in RATIOS:
            oth = {key(r): r["psnr_missing"] for r in gain if r["ratio"] == q}
            if len(set(oth) & set(at1)) >= 2:
                out.append(f"- gain ×{q:g} − oracle: {_paired(oth, at1)}")
    out.append("\nOracle budget vs other budgets (ΔPSNR = oracle − other, paired over (photograph, seed)):\n")
    for ratio in RATIOS:
        if ratio != 1.0:
            other = {key(r): r["psnr_missing"] for r in sweep if r["ratio"] == ratio}
            out.append(f"- ×1 vs ×{ratio:g}: {_paired(at1, other)}")
    out.append("\nAllocation at the oracle budget, PSNR / SSIM on missing pixels:\n")
    out.append("| allocation | PSNR (dB) | SSIM | K_emp / K_oracle |")
    out.append("|---|---|---|---|")
    per = {alloc: [r for r in sweep if r["ratio"] == 1.0]}
    for study, label in (("allocation", a) for a in ALLOCATIONS):
        per[label] = [r for r in rows if r["study"] == study and r["allocation"] == label]
    per["unconstrained FFN (σ = 1)"] = [r for r in rows if r["study"] == "unconstrained"]
    for label, sel in per.items():
        if not sel:
            continue
        p, s = (np.array([r[m] for r in sel]) for m in ("psnr_missing", "ssim_missing"))
        u = _k_emp(sel)
        out.append(f"| {label} | {p.mean():.2f} ± {p.std(ddof=1):.2f} | {s.mean():.3f} ± {s.std(ddof=1):.3f} | "
                   f"{u.mean():.2f} |")
    out.append("")
    for label, sel in per.items():
        if label != alloc and sel:
            out.append(f"- {alloc} − {label}: {_paired(at1, {key(r): r['psnr_missing'] for r in sel})}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--observed", type=float, default=0.25)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--images", nargs="+", default=list(PHOTOS[:4]), choices=PHOTOS)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the rows here")
    ap.add_argument("--merge", nargs="+", default=None, help="only summarise these JSON row files")
    ap.add_argument("--gain-sweep", action="store_true",
                    help="only the sweep with K/K_oracle in the output stage's gain (pair with a main run)")
    args = ap.parse_args(argv)
    if args.merge:
        rows = [r for f in args.merge for r in json.loads(Path(f).read_text(encoding="utf-8"))]
        print(summarize(rows))
        return 0
    torch.set_num_threads(args.threads)
    cfg = InpaintingConfig(iterations=args.iterations, empirical_starts=4, empirical_steps=2)
    t0 = time.time()
    rows = run(args.images, args.size, args.observed, args.seeds, cfg, args.gain_sweep)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"\nwall {time.time() - t0:.0f} s ({args.threads} thread(s), shared 2-core machine)\n")
    print(summarize(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
