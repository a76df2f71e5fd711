"""Neural SDF benchmark on ../shared/data/meshes: Chamfer distance by constraint, activation and allocation at K = 1.

Variants (all K = 1, same training and held-out points per mesh and seed, width 64 × 3 hidden layers):

* constraint: spectral vs Björck vs SLL (MaxMin for the non-SLL ones; SLL blocks carry their own ReLU);
* activation: ReLU vs MaxMin vs GroupSort (Björck);
* allocation: uniform vs exponential (Björck + MaxMin). At K = 1 the default exponential ramp
  (``k_min = min(1, K^(1/M)) = 1``) *is* the uniform split, so the ramp is run with ``k_min`` = 0.5 and 0.2
  (early layers > 1, late layers < 1, product 1).

Prints mean ± sd over seeds of the relative Chamfer distance (÷ bounding-box diagonal of the input mesh),
normal consistency and held-out sign accuracy, and paired tests (Wilcoxon signed-rank and paired t, scipy)
of each variant against Björck + MaxMin + uniform over (mesh, seed) pairs. One torch thread. Long runs can be
split over meshes / variants and merged:

    python benchmarks/sdf.py --mesh bunny_lowres.obj --seeds 3 --json a.json
    python benchmarks/sdf.py --merge a.json b.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from monai_lipinr.apps.sdf import NeuralSDF, SDFConfig, load_mesh, mesh_coordinates

__all__ = ["VARIANTS", "REFERENCE", "main"]

REFERENCE = "bjorck+maxmin"
VARIANTS = {
    "bjorck+maxmin": dict(constraint="bjorck", activation="maxmin"),
    "spectral+maxmin": dict(constraint="spectral", activation="maxmin"),
    "sll": dict(constraint="sll", activation="relu"),
    "bjorck+relu": dict(constraint="bjorck", activation="relu"),
    "bjorck+groupsort": dict(constraint="bjorck", activation="groupsort"),
    "bjorck+maxmin+exponential(k_min=0.5)": dict(constraint="bjorck", activation="maxmin", allocation="exponential",
                                                 allocation_kwargs={"k_min": 0.5}),
    "bjorck+maxmin+exponential(k_min=0.2)": dict(constraint="bjorck", activation="maxmin", allocation="exponential",
                                                 allocation_kwargs={"k_min": 0.2}),
}


def _sd(v: np.ndarray) -> float:
    return float(v.std(ddof=1)) if v.size > 1 else 0.0


def summarize(rows: list[dict]) -> str:
    out = []
    r0 = rows[0]
    seeds = sorted({r["seed"] for r in rows})
    out.append(f"SDF benchmark, K = 1, seeds {seeds}, {r0['iterations']} Adam steps, width {r0['width']} × "
               f"{r0['layers']}, marching cubes {r0['resolution']}³\n")
    out.append("| mesh | variant | Chamfer / diag (×1e-3) | normal consistency | held-out sign acc. | K_emp (cert. ≤ 1) |")
    out.append("|---|---|---|---|---|---|")
    meshes = sorted({r["mesh"] for r in rows})
    names = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    for mesh in meshes:
        for name in names:
            sel = [r for r in rows if r["mesh"] == mesh and r["variant"] == name]
            if not sel:
                continue
            c, n, s, k = (np.array([r[m] for r in sel]) for m in ("chamfer_relative", "normal_consistency",
                                                                  "sign_accuracy", "empirical"))
            c = c * 1e3
            out.append(f"| {mesh} | {name} | {c.mean():.2f} ± {_sd(c):.2f} | {n.mean():.4f} ± {_sd(n):.4f} | "
                       f"{s.mean():.4f} | {k.mean():.3f} |")
    out.append(f"\nPaired over (mesh, seed), relative Chamfer (×1e-3), variant − {REFERENCE} (negative = better):\n")
    ref = {(r["mesh"], r["seed"]): r["chamfer_relative"] * 1e3 for r in rows if r["variant"] == REFERENCE}
    for name in names:
        if name == REFERENCE:
            continue
        oth = {(r["mesh"], r["seed"]): r["chamfer_relative"] * 1e3 for r in rows if r["variant"] == name}
        ks = sorted(set(ref) & set(oth))
        if len(ks) < 2:
            continue
        d = np.array([oth[k] - ref[k] for k in ks])
        t = stats.ttest_rel([oth[k] for k in ks], [ref[k] for k in ks])
        w = stats.wilcoxon(d) if np.any(d != 0) else None
        rel = d / np.array([ref[k] for k in ks]) * 100
        out.append(f"- {name}: Δ = {d.mean():+.3f} ± {_sd(d):.3f} ({rel.mean():+.1f} % of {REFERENCE}), n = {len(ks)}, "
                   f"Wilcoxon p = {w.pvalue if w else float('nan'):.3g}, paired t p = {t.pvalue:.3g}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meshes", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/meshes"))
    ap.add_argument("--mesh", nargs="+", default=None, help="only these file names from --meshes")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--merge", nargs="+", default=None, help="only summarise these JSON row files")
    args = ap.parse_args(argv)
    if args.merge:
        print(summarize([r for f in args.merge for r in json.loads(Path(f).read_text(encoding="utf-8"))]))
        return 0
    folder = Path(args.meshes)
    if not folder.is_dir():
        print(f"mesh folder {folder} not found (../shared/data/meshes); nothing to benchmark")
        return 2
    torch.set_num_threads(args.threads)
    base = SDFConfig(hidden_features=64, num_layers=3, iterations=args.iterations, batch_size=2048,
                     num_surface=1500, num_near=4000, num_volume=1500, resolution=64, eval_points=4000,
                     empirical_starts=8, empirical_steps=3)
    meshes = sorted(p for p in folder.iterdir() if p.suffix in (".obj", ".ply")
                    and (args.mesh is None or p.name in args.mesh))
    rows = []
    t0 = time.time()
    for path in meshes:
        mesh = load_mesh(path)
        coords = mesh_coordinates(mesh, base.padding)
        for seed in range(args.seeds):
            engine = NeuralSDF(base, seed=seed)
            samples, heldout = engine.samples(mesh, coords, seed), engine.heldout_samples(mesh, coords)
            for name in args.variants:
                t = time.perf_counter()
                res = NeuralSDF(base, seed=seed, **VARIANTS[name]).fit(mesh, samples=samples, heldout=heldout)
                m = res.metrics
                rows.append({"mesh": path.name, "variant": name, "seed": seed, "iterations": base.iterations,
                             "width": base.hidden_features, "layers": base.num_layers, "resolution": base.resolution,
                             "chamfer_relative": m.get("chamfer_relative", float("nan")),
                             "normal_consistency": m.get("normal_consistency", float("nan")),
                             "sign_accuracy": m["heldout_sign_accuracy"], "heldout_l1": m["heldout_l1"],
                             "certified": res.ledger["certified_bound"], "empirical": res.ledger["empirical"],
                             "wall_s": time.perf_counter() - t})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"\nwall {time.time() - t0:.0f} s ({args.threads} thread(s), shared 2-core machine)\n")
    print(summarize(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
