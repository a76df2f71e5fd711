"""Does the held-out-view misfit pick the best iterate? Its curve against the true PSNR along one fit.

One simulated scan per slice (as ``ct_reconstruction.py``: parallel beam, bin detectors, Poisson noise), one INR
fit with ``validation_views`` views held out (ours, or the unconstrained twin with ``--method twin``). Every
``--every`` iterations the script renders the network and scores it against the reference inside the body
(PSNR, dB), next to the held-out misfit the fit logs at that step. It prints the curve, the iterate the held-out
views selected (what the fit returns) and the best iterate of the run by PSNR (an oracle no user has)::

    python benchmarks/ct_held_out_views.py --threads 1 --slices popi 4dlung cip --method twin --iterations 3200

The PSNR probe renders the network in evaluation mode and puts it back in training mode; it does not change the
fit (the Björck layers' evaluation forward has no side effect).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from ct_reconstruction import SLICES, simulate_case, slices_on_grid
from ignite.engine import Events

from monai_lipinr.apps.reconstruction.engine import HU_PER_OUTPUT_UNIT, INRReconstruction, _fov_mask
from monai_lipinr.apps.reconstruction.quality import masked_psnr

__all__ = ["main", "PSNRProbe", "held_out_curve"]


class PSNRProbe:
    """Every ``every`` iterations, score the network being fitted against the reference (PSNR in the mask).

    Args:
        reconstruction: the :class:`INRReconstruction` doing the fit (its ``render``).
        coordinates: the fit's network coordinates.
        grid: the output grid; reference, mask: HU reference and scoring mask on it; inside: the field-of-view disk.
        every: iterations between probes.
    """

    def __init__(self, reconstruction, coordinates, grid, reference, mask, inside, every: int) -> None:
        self.rec, self.coordinates, self.grid = reconstruction, coordinates, grid
        self.reference, self.mask, self.inside, self.every = reference, mask, inside, every
        self.curve: list[tuple[int, float]] = []

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.every), self)

    def __call__(self, engine) -> None:
        engine.network.eval()
        rel = self.rec.render(engine.network, self.coordinates, self.grid)
        engine.network.train()
        hu = np.where(self.inside, HU_PER_OUTPUT_UNIT * (rel - 1.0), -1000.0)
        self.curve.append((int(engine.state.iteration), masked_psnr(hu, self.reference, self.mask)))


def held_out_curve(hu_full, geom_full, size, views, held, method="ours", iterations=None, every=100, seed=0,
                   photons=1e5, overrides=None) -> dict:
    """Fit one simulated scan with ``held`` views held out; the PSNR / held-out misfit curve and the selection.

    Returns:
        ``{"curve": [(steps done, PSNR, held-out misfit of that state)], "selected_iteration", "selected_psnr",
        "oracle_iteration", "oracle_psnr", "last_psnr", "iterations", "time_s"}``.
    """
    geom, grid, sino, ref, mask = simulate_case(hu_full, geom_full, size, views, photons, seed)
    inside = _fov_mask(grid, geom.centre, geom.field_of_view_radius())
    twin = {"constraint": "none", "num_layers": 4} if method == "twin" else {}
    rec = INRReconstruction(iterations=iterations, seed=seed, validation_views=held, log_every=every,
                            **{**twin, **(overrides or {})})
    probe = PSNRProbe(rec, rec.budget_estimate(geom, grid)[1], grid, ref, mask, inside, every)
    res = rec.fit(sino, geom, grid, photons=photons, handlers=[probe])
    misfit = {int(h["iteration"]): h["validation"] for h in res.history}  # logged at the state after i steps
    curve = [(i, p, misfit.get(i)) for i, p in probe.curve]
    oracle = max(probe.curve, key=lambda c: c[1])
    return {"curve": curve, "selected_iteration": res.metrics["selected_iteration"],
            "selected_psnr": masked_psnr(res.hu, ref, mask), "oracle_iteration": oracle[0], "oracle_psnr": oracle[1],
            "last_psnr": probe.curve[-1][1], "iterations": res.metrics["iterations"],
            "time_s": res.runtime_s["total"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--slices", nargs="+", choices=sorted(SLICES), default=["popi"])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--views", type=int, default=60)
    p.add_argument("--held", type=int, default=6, help="views held out (validation_views)")
    p.add_argument("--method", choices=("ours", "twin"), default="ours",
                   help="ours, or the unconstrained twin (4 layers, the same TV)")
    p.add_argument("--iterations", type=int, default=None, help="length of the fit (default: the config's rule)")
    p.add_argument("--every", type=int, default=100, help="iterations between PSNR probes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    results = {}
    for name, hu, g, size in slices_on_grid(a.slices, a.data, a.size):
        r = held_out_curve(hu, g, size, a.views, a.held, a.method, a.iterations, a.every, a.seed)
        results[name] = r
        for i, psnr, m in r["curve"]:
            print(f"{name:8s} {i:5d} it  PSNR {psnr:6.2f} dB  held-out misfit "
                  f"{'—' if m is None else f'{m:.5f}'}", flush=True)
        print(f"{name:8s} {size}px {a.views} views ({a.held} held out), {a.method}: held-out views chose "
              f"{r['selected_iteration']} it, PSNR {r['selected_psnr']:.2f} dB; best probed iterate "
              f"{r['oracle_iteration']} it, {r['oracle_psnr']:.2f} dB; last {r['last_psnr']:.2f} dB "
              f"({r['iterations']} it, {r['time_s']:.0f} s)", flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
