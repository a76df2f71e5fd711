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
# # Lipschitz budgets in five minutes
#
# A coordinate network's Lipschitz constant is bounded by the product of its components' constants:
# `K ≤ Π_i Lip(φ_i) · Lip(W_i)`. `monai_lipinr` treats that product as a **budget**: choose a global
# `K_B` from a physical prior, split it across the components, enforce every share, and measure how
# much of it the trained network actually uses.
#
# **Data source.** None needed: every signal here is generated in the notebook (a synthetic 2-D target),
# so it runs on a fresh install.
#
# Open `tutorials/01_lipschitz_budgets.ipynb` in Jupyter, or run the script headless; fast mode (used by
# the test suite): `MONAI_LIPINR_FAST=1 python tutorials/01_lipschitz_budgets.py`.

# %%
import os

import matplotlib.pyplot as plt
import torch

from monai_lipinr.budget import StrainPrior
from monai_lipinr.lipschitz import ALLOCATION_STRATEGIES, allocate_budget, estimate_lipschitz
from monai_lipinr.networks import SIREN, GroupSortMLP

FAST = os.environ.get("MONAI_LIPINR_FAST", "0") == "1"
OUT = os.environ.get("MONAI_LIPINR_TUTORIAL_OUTPUT", "outputs")  # figures and files (git-ignored folder)
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 1. A budget from a physical prior
#
# For lung registration the network maps isotropic *network coordinates* to a displacement in the same
# units, so its Lipschitz constant is the bound on the displacement gradient (mm/mm). Tissue strain near
# 2 is a failure threshold, hence `K_B = 2`; `fold_free=True` caps it below 1, which certifies that
# `x + u(x)` is invertible.

# %%
prior = StrainPrior(max_strain=2.0).estimate()
print(prior.value, prior.units)
print(prior.derivation)
print(StrainPrior(fold_free=True).estimate().derivation)

# %% [markdown]
# ## 2. Splitting the budget in log-space
#
# Every strategy returns targets whose product is exactly the budget (`Σ log K_i = log K_B`).
# Non-uniform strategies give early layers more room ("flexible features") and later ones less.

# %%
total, m = 8.0, 6
fig, ax = plt.subplots(figsize=(6, 3.5))
for name in ALLOCATION_STRATEGIES:
    k = allocate_budget(total, m, name)
    assert abs(float(k.prod()) / total - 1) < 1e-9
    ax.plot(range(1, m + 1), k.numpy(), marker="o", label=name)
ax.set_xlabel("component (input → output)")
ax.set_ylabel("target K_i")
ax.set_title(f"allocations of K_B = {total:g} over {m} components")
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tutorial01_allocations.png"), dpi=80)

# %% [markdown]
# ## 3. A budgeted network and its ledger
#
# The ledger lists every component with its target and a *certified* bound (never below the truth);
# their product certifies the whole network.

# %%
width = 32 if FAST else 128
net = SIREN(3, 3, hidden_features=width, num_layers=3, budget=2.0, allocation="exponential")
print(net.ledger().to_markdown())

# %% [markdown]
# ## 4. Certified versus empirical
#
# Fit a gradient-norm-preserving network (Björck layers + GroupSort) to a steep target, then estimate
# its empirical constant `K_m` (a lower bound found by gradient ascent over the domain). The ratio
# `K_m / K_B` says how much of the budget training used; the certified bound caps it.

# %%
gnp = GroupSortMLP(2, 1, hidden_features=width, num_layers=3, budget=4.0)
opt = torch.optim.Adam(gnp.parameters(), lr=5e-3)
x = torch.rand(1024 if FAST else 4096, 2) * 2 - 1
target = torch.sin(6.0 * x[:, :1]) * torch.cos(3.0 * x[:, 1:])  # steepest slope ≈ 6.7 > budget 4
for _ in range(60 if FAST else 600):
    loss = (gnp(x) - target).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
gnp.eval()
est = estimate_lipschitz(gnp, lambda n: torch.rand(n, 2) * 2 - 1, num_starts=8 if FAST else 32, num_steps=20)
ledger = gnp.ledger(empirical=est.value)
print(f"loss {loss.item():.4f}; certified {ledger.certified_bound:.4f}; empirical K_m {est.value:.4f}; "
      f"utilisation {ledger.utilization:.2f}")
assert est.value <= ledger.certified_bound * (1 + 1e-4)

# %% [markdown]
# ## 5. The allocation hook
#
# `set_budget` re-allocates in place, also in the middle of training (e.g. a budget schedule).

# %%
gnp.set_budget(2.0, "uniform")
print(gnp.ledger().to_markdown())
