"""Cost of a Jacobian-regularised INR training step, side by side in one run.

Measures, for a SIREN 3 → 256 → 256 → 256 → 3 on 10k points (the registration setting):

* ``plain``: forward + backward of a point loss (no Jacobian);
* ``fast``: value and exact 3×3 Jacobian in one stacked forward pass
  (:func:`monai_lipinr.ops.forward_jacobian.sequential_forward_jacobian`) + a folding penalty;
* ``subset``: the same, with the Jacobian (and the penalty) on ``--jacobian-points`` of the points
  (the registration engine's ``regularizer_points``): a Monte-Carlo estimate of the same penalty;
* ``autograd``: the same Jacobian by three ``torch.autograd.grad(create_graph=True)`` passes
  (the reference implementations' way) + the same penalty;
* a GEMM of the plain step's dominant shape, to express the plain step's achieved FLOP/s as a
  fraction of what the BLAS delivers on this machine in the same run.

Repeats are interleaved (each repeat times every variant once), and ratios are taken within a repeat,
so load drifting over the run cancels; the table reports the median and range of the ratios.

Usage::

    .venv/bin/python benchmarks/jacobian.py [--points 10000] [--jacobian-points 1000] [--width 256]
        [--repeats 7] [--constraint none] [--threads 1] [--clock cpu]

``--clock cpu`` times with the process CPU clock (robust on a shared machine with one thread).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from monai_lipinr.losses.deformation import JacobianFoldingLoss
from monai_lipinr.networks.nets import SIREN


def _timed(fn, inner: int, clock) -> float:
    fn()
    t = clock()
    for _ in range(inner):
        fn()
    return (clock() - t) / inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=3)
    parser.add_argument("--constraint", default="none", help="none | bjorck | spectral")
    parser.add_argument("--jacobian-points", type=int, default=1000,
                        help="points carrying the Jacobian in the 'subset' variant")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    torch.manual_seed(0)
    kwargs = {"constraint": None} if args.constraint == "none" else {"constraint": args.constraint, "budget": 2.0}
    net = SIREN(3, 3, hidden_features=args.width, num_layers=args.layers, omega_0=32.0, omega=32.0, **kwargs)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(args.points, 3) * 2 - 1
    target = torch.rand(args.points, 3) * 0.01
    fold = JacobianFoldingLoss(margin=0.1)

    def plain():
        loss = (net(x) - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def fast():
        u, jac = net.forward_with_jacobian(x)
        loss = (u - target).square().mean() + fold(jac) + 1e-3 * jac.square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def subset():
        u, jac = net.forward_with_jacobian(x, jacobian_points=args.jacobian_points)
        loss = (u - target).square().mean() + fold(jac) + 1e-3 * jac.square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def autograd():
        xr = x.clone().requires_grad_(True)
        u = net(xr)
        rows = [torch.autograd.grad(u[:, i].sum(), xr, create_graph=True)[0] for i in range(3)]
        jac = torch.stack(rows, 1)
        loss = (u - target).square().mean() + fold(jac) + 1e-3 * jac.square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # fast and autograd compute the same Jacobian
    u_f, j_f = net.forward_with_jacobian(x[:256])
    xr = x[:256].clone().requires_grad_(True)
    u_a = net(xr)
    j_a = torch.stack([torch.autograd.grad(u_a[:, i].sum(), xr, retain_graph=True)[0] for i in range(3)], 1)
    err = float((j_f - j_a).abs().max())

    a = torch.randn(args.points, args.width)
    w = torch.randn(args.width, args.width)

    def gemm():
        a @ w

    widths = [3] + [args.width] * args.layers + [3]
    macs = sum(i * o for i, o in zip(widths[:-1], widths[1:])) * args.points
    step_flops = 3 * 2 * macs  # forward + backward (input and weight gradients)
    gemm_flops = 2 * args.points * args.width * args.width

    ratios = {"fast": [], "subset": [], "autograd": [], "efficiency": []}
    for _ in range(args.repeats):
        t = {name: _timed(fn, args.inner, clock) for name, fn in (
            ("plain", plain), ("fast", fast), ("subset", subset), ("autograd", autograd), ("gemm", gemm))}
        ratios["fast"].append(t["fast"] / t["plain"])
        ratios["subset"].append(t["subset"] / t["plain"])
        ratios["autograd"].append(t["autograd"] / t["plain"])
        ratios["efficiency"].append((step_flops / t["plain"]) / (gemm_flops / t["gemm"]))

    def fmt(v):
        return f"{statistics.median(v):.2f} [{min(v):.2f}, {max(v):.2f}]"

    print(f"SIREN 3→{args.width}×{args.layers}→3, constraint={args.constraint}, {args.points} points, "
          f"torch threads={torch.get_num_threads()}, clock={args.clock}, max |J_fast − J_autograd| = {err:.2e}")
    print("| measure | median [min, max] over repeats | target |")
    print("|---|---|---|")
    print(f"| Jacobian step / plain step, fast path, Jacobian at all {args.points} points | {fmt(ratios['fast'])} | |")
    print(f"| Jacobian step / plain step, fast path, Jacobian at {args.jacobian_points} of the points "
          f"(registration default) | {fmt(ratios['subset'])} | ≤ 1.6 |")
    print(f"| Jacobian step / plain step, autograd | {fmt(ratios['autograd'])} | (reference) |")
    print(f"| fast / autograd | {fmt([f / a for f, a in zip(ratios['fast'], ratios['autograd'])])} | < 1 |")
    print(f"| plain step FLOP/s / GEMM FLOP/s | {fmt(ratios['efficiency'])} | ≥ 0.5 |")


if __name__ == "__main__":
    main()
