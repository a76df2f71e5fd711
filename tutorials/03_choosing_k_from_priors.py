# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Choosing K from priors — and what happens when K is wrong
#
# A Lipschitz budget is only useful when its number means something. `monai_lipinr.budget` turns four
# kinds of knowledge into a global budget `K` **in network units** (the isotropic map `x̃ = (x − c)/s`
# of `NetworkCoordinates`), each returning a `BudgetEstimate` with its value, units and a derivation
# with the numbers plugged in:
#
# | prior | knowledge | budget |
# |---|---|---|
# | `StrainPrior` | tissue strain (registration) | `K = max strain` (mm/mm, unit-free) |
# | `IntensityGradientPrior` | largest HU jump over the sharpest edge (CT) | `K = ΔHU / w · s / output_scale` |
# | `ImageGradientOracle` | reference images of the same kind (data) | `K = P99‖∇I‖ · s / output_scale` |
# | `BandwidthPrior` | a band limit `B` (signals) | `K = 2πB · ‖f‖∞ · s / output_scale` (Bernstein) |
#
# The last section fits a noisy signal with budgets from 1/4 to 4 times the prior's: too small a `K`
# cannot follow the signal, too large a `K` fits the noise.
#
# **Data source.** The bundled demo CT (`monai_lipinr.data.demo_sample_paths()`: POPI-model thorax CT
# at 3.5 mm, shipped with the package) for the CT priors; a band-limited signal generated here for the
# bandwidth prior and the sweep. Nothing from `../shared`.
#
# Headless fast mode (used by the test suite): `MONAI_LIPINR_FAST=1` (fewer budgets, a smaller network).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
import torch

from monai_lipinr.budget import (
    BandwidthPrior,
    ImageGradientOracle,
    IntensityGradientPrior,
    NetworkCoordinates,
    StrainPrior,
)
from monai_lipinr.data import demo_sample_paths
from monai_lipinr.networks import FourierFeatureINR

FAST = os.environ.get("MONAI_LIPINR_FAST", "0") == "1"
OUT = os.environ.get("MONAI_LIPINR_TUTORIAL_OUTPUT", "outputs")  # figures and files (git-ignored folder)
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 1. Strain: a physical bound that needs no conversion
#
# A registration network maps network coordinates to a displacement in the same units, so
# `∂ũ/∂x̃ = ∂u/∂x`: the budget is the strain bound itself, whatever the image size or spacing.
# Asking for a network that outputs millimetres instead multiplies it by `s`. `fold_free=True` caps it
# below 1, which certifies an invertible transform.

# %%
paths = demo_sample_paths()
ct = sitk.ReadImage(str(paths["fixed"]), sitk.sitkFloat32)
lung = sitk.ReadImage(str(paths["fixed_mask"]))
coords = NetworkCoordinates.from_sitk(ct)
print(f"demo CT {ct.GetSize()} voxels of {ct.GetSpacing()[0]} mm; network map: s = {coords.scale:.1f} mm")
for prior in (StrainPrior(2.0), StrainPrior(2.0, coordinates=coords, displacement_units="mm"),
              StrainPrior(2.0, fold_free=True)):
    est = prior.estimate()
    print(f"K = {est.value:8.4g} {est.units:24s} invertible certified: {est.certified_invertible}")
print(StrainPrior(2.0, fold_free=True).estimate().derivation)

# %% [markdown]
# ## 2. CT: a physical prior versus the data oracle
#
# An intensity INR of a CT image cannot change faster than the sharpest edge the scanner resolves:
# air (−1000 HU) to soft tissue (0 HU) over about one voxel. With one network output unit = 1000 HU
# (`output_scale=1000`) that is `K = 1000/w · s / 1000`.
#
# The **oracle** measures instead: a percentile of `‖∇I‖` over reference images (gradients in world
# units with the full index→world matrix, so anisotropic and rotated grids are exact). The maximum
# (percentile 100) is noise-sensitive; the 99th percentile is the usual robust choice. Measured on the
# demo CT, the physical prior sits above the high percentiles: it is a safe ceiling, while the oracle
# tells how much of it real images use.

# %%
physical = IntensityGradientPrior(max_hu_jump=1000.0, spacing=ct.GetSpacing(), coordinates=coords,
                                  output_scale=1000.0).estimate()
print(physical.derivation)
percentiles = [50, 75, 90, 95, 99, 99.9, 100]
k_body = [ImageGradientOracle(p, coordinates=coords, output_scale=1000.0).estimate(ct).value for p in percentiles]
k_lung = [ImageGradientOracle(p, coordinates=coords, output_scale=1000.0).estimate(ct, masks=lung).value
          for p in percentiles]
oracle = ImageGradientOracle(99, coordinates=coords, output_scale=1000.0).estimate(ct)
print(oracle.derivation)

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(percentiles, k_body, "o-", label="oracle, whole image")
ax.plot(percentiles, k_lung, "s-", label="oracle, inside the lung mask")
ax.axhline(physical.value, color="k", ls="--", label="IntensityGradientPrior (1000 HU / voxel)")
ax.set_xlabel("percentile of ‖∇I‖")
ax.set_ylabel("K (output units per network unit)")
ax.set_yscale("log")
ax.set_title("CT budgets on the demo image")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tutorial03_ct_budgets.png"), dpi=80)
assert all(np.diff(k_body) >= 0), "a percentile of the same gradient field cannot decrease"

# %% [markdown]
# ## 3. Bandwidth: Bernstein's inequality
#
# With no physics and no reference data, a band limit still bounds the slope: a signal whose spectrum
# lies in `|ξ| ≤ B` cycles per unit has `‖f′‖∞ ≤ 2πB‖f‖∞`. We generate a signal on `t ∈ [0, 2]` s from
# sinusoids below `B = 3` Hz, normalised to `‖f‖∞ = 1`, map `t` to network units with `s = 1` s per
# unit (`x̃ = t − 1`), and check that its steepest slope is below the prior's `K`.

# %%
rng = np.random.default_rng(0)
band = 3.0
freqs, phases, amps = rng.uniform(0.3, band, 6), rng.uniform(0, 2 * np.pi, 6), rng.uniform(0.3, 1.0, 6)

def signal(t):
    return sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in zip(amps, freqs, phases))

t_dense = np.linspace(0.0, 2.0, 2001)
peak = np.abs(signal(t_dense)).max()
clean = signal(t_dense) / peak
bandwidth = BandwidthPrior(bandwidth=band, amplitude=1.0, scale=1.0).estimate()
slope = np.abs(np.gradient(clean, t_dense)).max()
print(bandwidth.derivation)
print(f"steepest slope of the signal {slope:.2f} <= K = {bandwidth.value:.2f}")
assert slope <= bandwidth.value

# %% [markdown]
# ## 4. When K is wrong: a sweep
#
# Sixty noisy samples (σ = 0.2) of the signal; a Fourier-feature network (random Fourier embedding +
# Björck-constrained ReLU layers, the embedding holding the budget: `first_heavy` allocation) fitted
# with budgets `K = ratio · K_prior`. We score the RMSE against the *clean* signal on a dense grid:
#
# * `ratio < 1`: the network cannot be as steep as the signal — it underfits (high training error);
# * `ratio > 1`: the network can be steeper than any band-limited signal — it starts fitting the noise
#   (training error keeps falling, the error to the clean signal rises).

# %%
n_obs, sigma = 60, 0.2
t_obs = np.sort(rng.uniform(0.0, 2.0, n_obs))
y_obs = signal(t_obs) / peak + sigma * rng.standard_normal(n_obs)
x = torch.tensor(t_obs - 1.0, dtype=torch.float32)[:, None]
y = torch.tensor(y_obs, dtype=torch.float32)[:, None]
x_dense = torch.tensor(t_dense - 1.0, dtype=torch.float32)[:, None]
ratios = [0.25, 1.0, 4.0] if FAST else [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
width, steps = (32, 300) if FAST else (64, 800)
rows, curves = [], {}
for ratio in ratios:
    torch.manual_seed(0)
    net = FourierFeatureINR(1, 1, hidden_features=width, num_layers=3, budget=ratio * bandwidth.value,
                            allocation="first_heavy")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = (net(x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(x_dense)[:, 0].numpy()
    rmse = float(np.sqrt(np.mean((pred - clean) ** 2)))
    rows.append((ratio, loss.item(), rmse, net.ledger().certified_bound))
    curves[ratio] = pred
print("| K / K_prior | training MSE | RMSE to the clean signal | certified bound |")
print("|---|---|---|---|")
for ratio, mse, rmse, cert in rows:
    print(f"| {ratio:g} | {mse:.4f} | {rmse:.4f} | {cert:.3g} |")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].plot([r[0] for r in rows], [r[2] for r in rows], "o-", label="RMSE to the clean signal")
axes[0].plot([r[0] for r in rows], [np.sqrt(r[1]) for r in rows], "s--", label="training RMSE (noisy samples)")
axes[0].axvline(1.0, color="grey", lw=1, ls=":")
axes[0].set_xscale("log", base=2)
axes[0].set_xlabel("K / K_prior")
axes[0].legend(fontsize=8)
axes[0].set_title("budget sweep")
axes[1].plot(t_dense, clean, "k", lw=2, label="clean signal")
axes[1].plot(t_obs, y_obs, ".", color="grey", label="noisy samples")
for ratio in (min(ratios), 1.0, max(ratios)):
    axes[1].plot(t_dense, curves[ratio], lw=1, label=f"K = {ratio:g} K_prior")
axes[1].set_xlabel("t (s)")
axes[1].legend(fontsize=7, ncol=2)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tutorial03_budget_sweep.png"), dpi=80)
train = {r[0]: r[1] for r in rows}
assert train[min(ratios)] > train[max(ratios)], "a larger budget must fit the samples at least as well"
