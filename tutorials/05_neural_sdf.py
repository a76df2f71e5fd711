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
# # A neural SDF with a certified bound, and sphere tracing
#
# A signed distance function (SDF) gives, at every point, the distance to a surface (negative inside).
# A true SDF is **exactly 1-Lipschitz** (`‖∇f‖ = 1` almost everywhere), so the natural budget of a neural
# SDF is `K = 1` — no prior needed. Enforcing it (Björck-orthogonal layers, gradient-norm-preserving
# MaxMin activations) buys a *certificate*: `|f(x)|/K` is a lower bound of the distance from `x` to the
# network's zero level set. That is exactly what sphere tracing needs to step safely along a ray: it
# can never jump over a surface, however thin.
#
# `monai_lipinr.apps.sdf` samples points with exact signed distances (winding-number sign, robust to
# slightly open scans), fits the budgeted network, extracts the surface by marching cubes, scores it
# (Chamfer, normal consistency) and sphere-traces it.
#
# **Data source.** A torus mesh generated with `trimesh.creation.torus` (trimesh is a dependency of the
# package), scaled to millimetres. Any OBJ/PLY/STL mesh — e.g. an organ surface from a segmentation —
# goes through the same `NeuralSDF.fit(path)`. Nothing from `../shared`.
#
# Headless fast mode (used by the test suite): `MONAI_LIPINR_FAST=1` (fewer points and iterations, a
# coarse image).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
import trimesh

from monai_lipinr.apps.sdf import NeuralSDF, SDFConfig, TriangleMesh, signed_distance, sphere_trace
from monai_lipinr.lipschitz import LipschitzLedger

FAST = os.environ.get("MONAI_LIPINR_FAST", "0") == "1"
OUT = os.environ.get("MONAI_LIPINR_TUTORIAL_OUTPUT", "outputs")  # figures and files (git-ignored folder)
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 1. A mesh and a certified 1-Lipschitz fit
#
# The network works in the isotropic network cube `[-1, 1]^3` around the mesh (`mesh_coordinates`), so
# distances in network units are world distances divided by `s`.

# %%
torus = trimesh.creation.torus(major_radius=30.0, minor_radius=10.0, major_sections=48, minor_sections=24)
mesh = TriangleMesh(np.asarray(torus.vertices), np.asarray(torus.faces))
print(f"torus: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, extent {np.ptp(mesh.vertices, 0)} mm")
config = SDFConfig(lipschitz=1.0, constraint="bjorck", activation="maxmin", allocation="uniform",
                   hidden_features=32 if FAST else 128, num_layers=3 if FAST else 4,
                   num_surface=1000 if FAST else 5000, num_near=3000 if FAST else 15000,
                   num_volume=1000 if FAST else 5000, iterations=600 if FAST else 1500,
                   learning_rate=3e-3,  # torus, full size: Chamfer/diagonal 0.007 at 3e-3 vs 0.018 at 1e-3
                   batch_size=1024 if FAST else 4096, resolution=32 if FAST else 96,
                   eval_points=2000 if FAST else 20000, empirical_starts=8 if FAST else 32,
                   empirical_steps=5 if FAST else 10)
result = NeuralSDF(config).fit(mesh)
net, coords = result.network, result.coordinates
print(LipschitzLedger.from_dict(result.ledger).to_markdown())
print({k: round(v, 4) for k, v in result.metrics.items() if isinstance(v, float)})
assert result.ledger["certified_bound"] <= 1.0 + 1e-6

# %% [markdown]
# ## 2. The field, next to the exact distance
#
# A slice through the torus (`z = 0`): the network's field and the exact signed distance of the mesh,
# both in network units, with their zero level sets.

# %%
n = 64 if FAST else 160
axis = np.linspace(-1, 1, n)
gx, gy = np.meshgrid(axis, axis, indexing="xy")
plane = np.stack([gx.ravel(), gy.ravel(), np.zeros(n * n)], 1)
with torch.no_grad():
    f_net = net(torch.as_tensor(plane, dtype=torch.float32)).reshape(n, n).numpy()
f_true = (signed_distance(coords.network_to_world(plane), mesh) / coords.scale).reshape(n, n)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
lim = float(np.abs(f_true).max())
for ax, (title, f) in zip(axes, [("neural SDF", f_net), ("exact SDF", f_true), ("difference", f_net - f_true)]):
    im = ax.imshow(f, extent=(-1, 1, -1, 1), origin="lower", cmap="RdBu",
                   vmin=-lim if title != "difference" else -0.1, vmax=lim if title != "difference" else 0.1)
    if title != "difference":
        ax.contour(axis, axis, f, levels=[0.0], colors="k", linewidths=1)
    ax.set_title(title + " (z = 0, network units)")
    fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tutorial05_sdf_slice.png"), dpi=80)

# %% [markdown]
# ## 3. The certificate in numbers
#
# The exact Jacobian (one forward pass) gives `‖∇f‖` at random points: never above the certified bound,
# and close to 1 near the surface when the fit is good (a distance function has unit gradient).

# %%
x = torch.rand(4096, 3) * 2 - 1
with torch.no_grad():
    _, jac = net.forward_with_jacobian(x)
grad_norm = jac.reshape(-1, 3).norm(dim=1).numpy()
print(f"||grad f||: median {np.median(grad_norm):.3f}, max {grad_norm.max():.4f} "
      f"<= certified {result.ledger['certified_bound']:.4f}")
assert grad_norm.max() <= result.ledger["certified_bound"] * (1 + 1e-4)

# %% [markdown]
# ## 4. Sphere tracing with certified steps
#
# From a camera, march each ray by `|f|/K` until `|f| ≤ ε`. With the certified `K` (taken from the
# network's ledger when `lipschitz=None`) no step can cross the surface. Shading uses the exact normal
# `∇f` at the hit points. We also trace with a *wrong* constant: `K` too large only costs steps;
# `K` too small takes steps longer than the distance allows: rays jump over the surface they should
# have stopped at (they miss the object or stop on a surface behind it).

# %%
res = 48 if FAST else 160
u = np.linspace(-1, 1, res)
pu, pv = np.meshgrid(u, -u, indexing="xy")
eye = np.array([0.0, -2.2, 1.2])
forward = -eye / np.linalg.norm(eye)
right = np.cross(forward, [0.0, 0.0, 1.0])
right /= np.linalg.norm(right)
up = np.cross(right, forward)
dirs = forward + 0.55 * (pu.reshape(-1, 1) * right + pv.reshape(-1, 1) * up)
origins = torch.as_tensor(np.repeat(eye[None], res * res, 0), dtype=torch.float32)
directions = torch.as_tensor(dirs, dtype=torch.float32)
traces = {name: sphere_trace(net, origins, directions, lipschitz=k, epsilon=1e-3, t_max=5.0)
          for name, k in [("certified", None), ("K x 4 (too large)", 4.0 * result.ledger["certified_bound"]),
                          ("K / 2 (too small)", 0.5 * result.ledger["certified_bound"])]}
certified = traces["certified"]
for name, tr in traces.items():
    # a ray "skips" the surface when it misses or stops farther than the first surface the certified trace found
    skipped = certified.hit & (~tr.hit | (tr.t > certified.t + 0.02))
    print(f"{name:18s} K = {tr.lipschitz:.3f}: {int(tr.hit.sum())} hits, mean steps {tr.steps.float().mean():.1f}, "
          f"rays that skipped the first surface: {int(skipped.sum())}")
with torch.no_grad():
    _, jac = net.forward_with_jacobian(certified.points)
normal = torch.nn.functional.normalize(jac.reshape(-1, 3), dim=1)
light = torch.tensor([0.4, -0.6, 0.7])
shade = (normal @ (light / light.norm())).clamp(min=0.0) * 0.85 + 0.15
shade = torch.where(certified.hit, shade, torch.zeros_like(shade)).reshape(res, res).numpy()
fig, axes = plt.subplots(1, 2, figsize=(8.5, 4))
axes[0].imshow(shade, cmap="gray", vmin=0, vmax=1)
axes[0].set_title("sphere-traced, certified K")
im = axes[1].imshow(certified.steps.reshape(res, res).numpy(), cmap="viridis")
axes[1].set_title("steps per ray")
fig.colorbar(im, ax=axes[1], fraction=0.046)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tutorial05_sphere_trace.png"), dpi=80)
assert certified.hit.any()
