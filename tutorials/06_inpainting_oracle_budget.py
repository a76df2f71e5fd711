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
# # Inpainting and the oracle budget
#
# Fit an INR to the observed pixels of an image and read the missing ones off the network. Nothing in
# the data term says what happens between observed pixels: an unconstrained network may interpolate
# wildly. A Lipschitz budget says how fast the image may change — and the **oracle** measures that on
# *reference* images of the same kind: `K = P99‖∇I‖` (intensity per pixel) of the references, resampled
# to the target's pixel grid, times `s` (pixels per network unit of the target's isotropic map).
#
# Then we sweep `K / K_oracle` from 1/4 to 4: quality on the missing pixels is expected to peak near
# the oracle (the paper's finding on face images); the sweep measures where it peaks here.
#
# **Data source.** The bundled demo CT (`monai_lipinr.data.demo_sample_paths()`: POPI-model thorax CT at
# 3.5 mm, shipped with the package): the target is one axial slice, the references are *other* axial
# slices of the same volume (at least 8 slices away — another part of the thorax, not the answer).
# Nothing from `../shared`. (Resampling the references uses scikit-image, installed with the `test`
# extra.)
#
# Headless fast mode (used by the test suite): `MONAI_LIPINR_FAST=1` (fewer iterations, three budgets,
# one seed).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
import torch

from monai_lipinr.apps.inpainting import (
    InpaintingConfig,
    INRInpainting,
    budget_sweep,
    oracle_budget,
    plot_budget_sweep,
    random_observed_mask,
    sweep_table,
)
from monai_lipinr.data import demo_sample_paths
from monai_lipinr.lipschitz import LipschitzLedger

FAST = os.environ.get("MONAI_LIPINR_FAST", "0") == "1"
OUT = os.environ.get("MONAI_LIPINR_TUTORIAL_OUTPUT", "outputs")  # figures and files (git-ignored folder)
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 1. Target, references and the observed pixels
#
# CT values are windowed from [−1000, 400] HU to [0, 1]. A quarter of the target's pixels are observed,
# at random.

# %%
volume = sitk.GetArrayFromImage(sitk.ReadImage(str(demo_sample_paths()["fixed"]))).astype(np.float64)  # (k, j, i)
window = np.clip((volume + 1000.0) / 1400.0, 0.0, 1.0)
k0 = volume.shape[0] // 2
image = window[k0]
references = [window[k] for k in range(4, volume.shape[0] - 4, 4) if abs(k - k0) >= 8]
mask = random_observed_mask(image.shape, fraction=0.25, seed=0)
print(f"target slice {k0}: {image.shape} pixels; {len(references)} reference slices; "
      f"{mask.mean():.0%} of the pixels observed")

# %% [markdown]
# ## 2. The oracle budget
#
# `oracle_budget` resamples each reference to the target's shape, takes the 99th percentile of its
# gradient norm, reduces over references (median: robust to one unusually sharp slice) and converts to
# network units.

# %%
k_oracle = oracle_budget(references, image.shape)
print(k_oracle.derivation)

# %% [markdown]
# ## 3. Inpaint at the oracle budget
#
# The default network is a random-Fourier-feature INR with SLL layers (as in the paper). We pass the
# sizes explicitly; everything else is `InpaintingConfig`'s default.

# %%
settings = dict(hidden_features=32 if FAST else 128, num_features=32 if FAST else 128, num_layers=3,
                iterations=300 if FAST else 1000, empirical_starts=4 if FAST else 16,
                empirical_steps=5 if FAST else 10)
config = InpaintingConfig(**settings)
print(f"preset {config.preset}, constraint {config.constraint}, allocation {config.allocation}")
result = INRInpainting(config).fit(image, mask, budget=k_oracle)
print(LipschitzLedger.from_dict(result.ledger).to_markdown())
print({k: round(v, 4) for k, v in result.metrics.items()})
assert result.ledger["empirical"] <= result.ledger["certified_bound"] * (1 + 1e-4)

fig, axes = plt.subplots(1, 4, figsize=(13, 3.3))
gray = plt.get_cmap("gray").with_extremes(bad="tab:blue")  # masked pixels in blue
panels = [("target", image), ("observed (25 %; blue: missing)", np.ma.masked_where(~mask, image)),
          ("inpainted", result.inpainted),
          ("|error| on missing pixels", np.ma.masked_where(mask, np.abs(result.prediction - image)))]
for ax, (title, img) in zip(axes, panels):
    ax.imshow(img, cmap=gray, vmin=0, vmax=0.3 if "error" in title else 1)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tutorial06_inpainting.png"), dpi=80)

# %% [markdown]
# ## 4. What if K is not the oracle's? A sweep
#
# `budget_sweep` refits at `K = ratio · K_oracle` for every ratio and seed and reports the metrics on the
# missing pixels together with the certified and empirical constants; `sweep_table` averages over seeds.

# %%
ratios = (0.25, 1.0, 4.0) if FAST else (0.25, 0.5, 1.0, 2.0, 4.0)
seeds = (0,) if FAST else (0, 1)
rows = budget_sweep(image, mask, k_oracle, ratios=ratios, seeds=seeds, config=config)
print("| K / K_oracle | K | PSNR missing (dB) | sd | runs |")
print("|---|---|---|---|---|")
for row in sweep_table(rows, "psnr_missing"):
    print(f"| {row['ratio']:g} | {row['budget']:.3g} | {row['mean']:.2f} | {row['sd']:.2f} | {row['n']} |")
best = max(sweep_table(rows, "psnr_missing"), key=lambda row: row["mean"])
print(f"best PSNR on the missing pixels at K = {best['ratio']:g} K_oracle (oracle: K = {k_oracle.value:.3g})")
utilisation = {r["ratio"]: r["utilization"] for r in rows if r["seed"] == seeds[0]}
print("utilisation K_m / K per ratio:", {k: round(v, 3) for k, v in utilisation.items()})
path = plot_budget_sweep(rows, os.path.join(OUT, "tutorial06_budget_sweep.png"))
try:  # show the saved figure inline in a notebook
    from IPython.display import Image, display

    display(Image(filename=str(path)))
except ImportError:
    print(f"sweep figure saved to {path}")
assert all(r["empirical"] <= r["certified"] * (1 + 1e-4) for r in rows)
