"""Draw ``docs/figures/budget_idea.png``: the Lipschitz-budget idea in one picture (README, docs home).

Three panels, all computed with the package (no data needed, ~20 s on one CPU core):

1. a prior gives the budget — ``BandwidthPrior`` of a band-limited signal; Fourier-feature INRs fitted to
   noisy samples of it with ``K = ratio · K_prior`` (too small underfits, too large fits the noise);
2. the budget is split in log-space — ``allocate_budget`` for every strategy (``Π K_i = K_B``);
3. it is enforced and certified — the ledger's certified bound versus the empirical ``K_m`` of the
   fitted networks.

Usage: ``python docs/make_budget_figure.py [--output docs/figures/budget_idea.png]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from monai_lipinr.budget import BandwidthPrior  # noqa: E402
from monai_lipinr.lipschitz import ALLOCATION_STRATEGIES, allocate_budget, estimate_lipschitz  # noqa: E402
from monai_lipinr.networks import FourierFeatureINR  # noqa: E402

RATIOS = (0.25, 1.0, 4.0)


def fit_signal(seed: int = 0):
    """Noisy samples of a band-limited signal and budgeted fits at ``RATIOS × K_prior``."""
    rng = np.random.default_rng(seed)
    band = 3.0  # Hz, on t in [0, 2] s
    freqs, phases, amps = rng.uniform(0.3, band, 6), rng.uniform(0, 2 * np.pi, 6), rng.uniform(0.3, 1.0, 6)

    def signal(t):
        return sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in zip(amps, freqs, phases))

    t = np.linspace(0.0, 2.0, 1001)
    peak = np.abs(signal(t)).max()
    t_obs = np.sort(rng.uniform(0.0, 2.0, 60))
    y_obs = signal(t_obs) / peak + 0.2 * rng.standard_normal(t_obs.size)
    prior = BandwidthPrior(bandwidth=band, amplitude=1.0, scale=1.0).estimate()
    x = torch.tensor(t_obs - 1.0, dtype=torch.float32)[:, None]
    y = torch.tensor(y_obs, dtype=torch.float32)[:, None]
    fits = {}
    for ratio in RATIOS:
        torch.manual_seed(seed)
        net = FourierFeatureINR(1, 1, hidden_features=64, num_layers=3, budget=ratio * prior.value,
                                allocation="first_heavy")
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(800):
            loss = (net(x) - y).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            pred = net(torch.tensor(t - 1.0, dtype=torch.float32)[:, None])[:, 0].numpy()
        est = estimate_lipschitz(net, lambda n: torch.rand(n, 1) * 2 - 1, num_starts=32, num_steps=30)
        ledger = net.ledger(empirical=est.value)
        fits[ratio] = (pred, ledger.certified_bound, est.value)
    return t, signal(t) / peak, t_obs, y_obs, prior, fits


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "figures" / "budget_idea.png"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t, clean, t_obs, y_obs, prior, fits = fit_signal()

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), gridspec_kw={"width_ratios": [1.35, 1, 1]})
    ax = axes[0]
    ax.plot(t_obs, y_obs, ".", color="grey", label="noisy samples")
    ax.plot(t, clean, "k", lw=2, label="band-limited signal (B = 3 Hz)")
    colours = {0.25: "tab:blue", 1.0: "tab:orange", 4.0: "tab:green"}
    for ratio, (pred, _, _) in fits.items():
        ax.plot(t, pred, lw=1.2, color=colours[ratio], label=f"INR, K = {ratio:g} K_prior")
    ax.set_title(f"1. a prior gives the budget: K_prior = 2πB = {prior.value:.1f}")
    ax.set_xlabel("t (s)")
    ax.legend(fontsize=7, ncol=2, loc="lower left")

    ax = axes[1]
    total, m = 8.0, 6
    for name in ALLOCATION_STRATEGIES:
        k = allocate_budget(total, m, name).numpy()
        ax.plot(range(1, m + 1), k, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("component i (input → output)")
    ax.set_ylabel("K_i")
    ax.set_title(f"2. split in log-space: Π K_i = K_B = {total:g}")
    ax.legend(fontsize=7)

    ax = axes[2]
    pos = np.arange(len(RATIOS))
    budgets = [r * prior.value for r in RATIOS]
    ax.bar(pos - 0.27, budgets, 0.27, color="lightgrey", label="budget K_B")
    ax.bar(pos, [fits[r][1] for r in RATIOS], 0.27, color="tab:red", label="certified bound (ledger)")
    ax.bar(pos + 0.27, [fits[r][2] for r in RATIOS], 0.27, color="tab:purple", label="empirical K_m")
    ax.set_xticks(pos, [f"{r:g} K_prior" for r in RATIOS])
    ax.set_yscale("log")
    ax.set_title("3. enforce, certify, measure")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    for ratio in RATIOS:
        _, cert, emp = fits[ratio]
        print(f"K = {ratio:g} K_prior = {ratio * prior.value:.3f}: certified {cert:.3f}, empirical {emp:.3f}")
        assert emp <= cert * (1 + 1e-4) and cert <= ratio * prior.value * (1 + 1e-4)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
