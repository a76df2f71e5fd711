"""Benchmark: training-step cost and tightness of Lipschitz constraints, ours vs reference libraries.

One run measures, side by side on the same machine and data, a 4-layer, 256-wide INR
(3 → 256 → 256 → 256 → 1, sine activations; SLL variants: projection → 2 SLL blocks → projection)
fitted to 10k random points:

* the median training-step time (Adam, MSE) of each constraint divided by the unconstrained step
  measured in the same repeat (ratios are robust to the machine's load drifting between repeats),
* Björck iterations per forward (ours),
* tightness after training: ``σ_max / K_i`` of every constrained layer (exact float64 SVD of the
  inference weight) and, for ours, ``certified bound / σ_max``,
* end to end: the certified product bound and the empirical Lipschitz constant (max gradient norm
  over the points, a lower bound) relative to the budget ``K_B``,
* whether deel-torchlip's ``Sequential(k_coef_lip=K)`` delivers its nominal ``K``.

References (skipped with a note when not installed): deel-torchlip ``SpectralLinear`` and
orthogonium ``OrthoLinear`` (1-Lipschitz; scaled to ``K_i`` by an extra weight parametrization).
Run it in the benchmark environment: ``make bench-env && .venv-bench/bin/python benchmarks/constraints.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from monai.utils import optional_import
from torch import nn
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.allocation import allocate_budget
from monai_lipinr.lipschitz.base import LipschitzComponent
from monai_lipinr.lipschitz.constraints import constraint_of, lipschitz_linear, register_retraction
from monai_lipinr.lipschitz.sll import SLLBlock, SLLProjection
from monai_lipinr.lipschitz.spectral import spectral_norm_exact

__all__ = ["main", "run_benchmark"]

torchlip, HAS_DEEL = optional_import("deel.torchlip")
ortho_linear, HAS_ORTHO = optional_import("orthogonium.layers.linear")


class _Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


class _Scale(nn.Module):
    """Weight parametrization ``W ↦ K W`` (turns a 1-Lipschitz reference layer into a K-Lipschitz one)."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.k


class _ResidualBlock(nn.Module):
    """Unconstrained counterpart of an SLL block (same shapes and FLOPs, no Lipschitz control)."""

    def __init__(self, features: int, inner: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.empty(features, inner))
        nn.init.orthogonal_(self.w)
        self.b = nn.Parameter(torch.zeros(inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 2.0 * torch.relu(x @ self.w + self.b) @ self.w.T


def _mlp(
    make_linear: Callable[[int, int, float], nn.Module], width: int, targets: list[float]
) -> nn.Sequential:
    sizes = [3, width, width, width, 1]
    layers: list[nn.Module] = []
    for i in range(4):
        layers.append(make_linear(sizes[i], sizes[i + 1], targets[i]))
        if i < 3:
            layers.append(_Sin())
    return nn.Sequential(*layers)


@dataclass
class Config:
    name: str
    build: Callable[[], nn.Module]
    retraction: bool = False
    family: str = "ours"
    model: nn.Module | None = None
    opt: torch.optim.Optimizer | None = None
    ratios: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


def _configs(width: int, targets: list[float], lr: float) -> list[Config]:
    def ours(method: str, **kw):
        return lambda: _mlp(
            lambda i, o, k: lipschitz_linear(i, o, method=method, target=k, **kw), width, targets
        )

    def sll(inner: int | None):
        return lambda: nn.Sequential(
            SLLProjection(3, width, target=targets[0]),
            SLLBlock(width, target=targets[1], inner_features=inner),
            SLLBlock(width, target=targets[2], inner_features=inner),
            SLLProjection(width, 1, target=targets[3]),
        )

    def plain_linear(i: int, o: int, k: float) -> nn.Module:
        lin = nn.Linear(i, o)
        nn.init.orthogonal_(lin.weight)
        return lin

    configs = [
        Config("unconstrained MLP", lambda: _mlp(plain_linear, width, targets), family="baseline"),
        Config("ours: spectral (certified training)", ours("spectral")),
        Config("ours: spectral (power-iteration training)", ours("spectral", certified_training=False)),
        Config("ours: bjorck", ours("bjorck")),
        Config("ours: bjorck + retraction", ours("bjorck"), retraction=True),
        Config(
            "unconstrained residual (inner=256)",
            lambda: nn.Sequential(
                plain_linear(3, width, 1.0),
                _ResidualBlock(width, width),
                _ResidualBlock(width, width),
                plain_linear(width, 1, 1.0),
            ),
            family="baseline",
        ),
        Config("ours: SLL (inner=256)", sll(None)),
        Config("ours: SLL (inner=128, FLOP-matched)", sll(width // 2)),
    ]
    if HAS_DEEL:

        def deel_linear(i: int, o: int, k: float) -> nn.Module:
            return torchlip.SpectralLinear(i, o, k_coef_lip=k)

        configs.append(
            Config("deel-torchlip: SpectralLinear", lambda: _mlp(deel_linear, width, targets), family="ref")
        )
    if HAS_ORTHO:

        def ortho(i: int, o: int, k: float) -> nn.Module:
            layer = ortho_linear.OrthoLinear(i, o)
            parametrize.register_parametrization(layer, "weight", _Scale(k))
            return layer

        configs.append(Config("orthogonium: OrthoLinear", lambda: _mlp(ortho, width, targets), family="ref"))
    return configs


#: ``wall``: elapsed time (what a user waits on an idle machine); ``cpu``: this process's CPU time, far less
#: sensitive to other jobs on a shared machine (use with ``--threads 1`` so no spin-waiting is counted).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _step(
    cfg: Config, x: torch.Tensor, y: torch.Tensor, clock: Callable[[], float] = time.perf_counter
) -> float:
    t0 = clock()
    cfg.opt.zero_grad(set_to_none=True)
    loss = (cfg.model(x) - y).square().mean()
    loss.backward()
    cfg.opt.step()
    return clock() - t0


def _constrained_layers(model: nn.Module) -> list[nn.Module]:
    return [
        m for m in model.modules() if isinstance(m, nn.Linear) and parametrize.is_parametrized(m, "weight")
    ]


def _tightness(cfg: Config, targets: list[float], budget: float, x: torch.Tensor) -> dict:
    model = cfg.model.eval()
    out: dict = {}
    linears = _constrained_layers(model)
    if linears:
        k_of = {}
        if cfg.family == "ours":
            for lin in linears:
                k_of[id(lin)] = constraint_of(lin).lipschitz_target
        else:  # references: the i-th constrained linear carries targets[i]
            for lin, k in zip(linears, targets):
                k_of[id(lin)] = k
        with torch.no_grad():
            sig = [spectral_norm_exact(lin.weight) for lin in linears]
        rel = [s / k_of[id(lin)] for s, lin in zip(sig, linears)]
        out["sigma_over_k_max"] = max(rel)
        out["sigma_over_k_min"] = min(rel)
        if cfg.family == "ours":
            cert = [constraint_of(lin).lipschitz_bound() / s for lin, s in zip(linears, sig)]
            out["certified_over_sigma_max"] = max(cert)
    comps = [m for m in model.modules() if isinstance(m, LipschitzComponent)]
    if cfg.family == "ours" and comps:
        out["certified_end_to_end_over_budget"] = math.prod(c.lipschitz_bound() for c in comps) / budget
    xs = x[:2000].clone().requires_grad_(True)
    grad = torch.autograd.grad(model(xs).sum(), xs)[0]
    out["empirical_over_budget"] = float(grad.norm(dim=1).max()) / budget
    iters = [getattr(constraint_of(lin), "last_iterations", None) for lin in linears]
    iters = [i for i in iters if i is not None]
    if iters:
        out["bjorck_iterations"] = iters
    model.train()
    return out


def _deel_sequential_check(width: int, budget: float, x: torch.Tensor) -> dict | None:
    """Does ``deel.torchlip.Sequential(k_coef_lip=K)`` deliver K? (product of layer σ and max |∇f|)."""
    if not HAS_DEEL:
        return None
    net = torchlip.Sequential(
        torchlip.SpectralLinear(3, width),
        torchlip.GroupSort2(),
        torchlip.SpectralLinear(width, width),
        torchlip.GroupSort2(),
        torchlip.SpectralLinear(width, width),
        torchlip.GroupSort2(),
        torchlip.SpectralLinear(width, 1),
        k_coef_lip=budget,
    ).eval()
    with torch.no_grad():
        prod = math.prod(spectral_norm_exact(m.weight) for m in net.modules() if isinstance(m, nn.Linear))
    # deel's activations multiply their output by their share of k_coef_lip (the linear layers do not)
    act = math.prod(float(m._coefficient_lip) for m in net.modules() if isinstance(m, torchlip.GroupSort2))
    xs = x[:2000].clone().requires_grad_(True)
    grad = torch.autograd.grad(net(xs).sum(), xs)[0]
    return {
        "nominal_k": budget,
        "product_of_sigma": prod,
        "activation_factor": act,
        "certified_k": prod * act,
        "max_grad_norm": float(grad.norm(dim=1).max()),
    }


def run_benchmark(
    points: int = 10_000,
    width: int = 256,
    steps: int = 10,
    repeats: int = 7,
    warmup: int = 5,
    lr: float = 1e-3,
    budget: float = 4.0,
    seed: int = 0,
    clock: str = "wall",
) -> dict:
    """Run the benchmark and return the raw results (see the module docstring)."""
    tick = CLOCKS[clock]
    torch.manual_seed(seed)
    x = torch.rand(points, 3) * 2 - 1
    y = torch.sin(3 * x).prod(dim=1, keepdim=True) + 0.5 * torch.cos(5 * x[:, :1])
    targets = allocate_budget(budget, 4, "uniform").tolist()
    configs = _configs(width, targets, lr)
    for cfg in configs:
        torch.manual_seed(seed)
        cfg.model = cfg.build()
        cfg.opt = torch.optim.Adam(cfg.model.parameters(), lr=lr)
        if cfg.retraction:
            register_retraction(cfg.opt, cfg.model)
        for _ in range(warmup):
            _step(cfg, x, y)
    base = configs[0]
    for rep in range(repeats):
        order = configs[rep % len(configs) :] + configs[: rep % len(configs)]  # rotate the order
        rep_times = {}
        for cfg in order:
            rep_times[cfg.name] = statistics.median(_step(cfg, x, y, tick) for _ in range(steps))
        for cfg in configs:
            cfg.times.append(rep_times[cfg.name])
            cfg.ratios.append(rep_times[cfg.name] / rep_times[base.name])
    results = {
        "setup": {
            "points": points,
            "width": width,
            "steps": steps,
            "repeats": repeats,
            "lr": lr,
            "budget": budget,
            "per_layer_targets": targets,
            "threads": torch.get_num_threads(),
            "clock": clock,
            "torch": torch.__version__,
            "deel_torchlip": HAS_DEEL,
            "orthogonium": HAS_ORTHO,
        },
        "rows": [],
    }
    for cfg in configs:
        row = {
            "name": cfg.name,
            "family": cfg.family,
            "ratio_median": statistics.median(cfg.ratios),
            "ratio_min": min(cfg.ratios),
            "ratio_max": max(cfg.ratios),
            "step_ms_median": 1e3 * statistics.median(cfg.times),
        }
        row.update(_tightness(cfg, targets, budget, x))
        results["rows"].append(row)
    results["deel_sequential"] = _deel_sequential_check(width, budget, x)
    return results


def _fmt(v, spec: str = ".4f") -> str:
    return "–" if v is None else format(v, spec)


def to_markdown(results: dict) -> str:
    """The results as a markdown table (plus the setup and the reference notes)."""
    s = results["setup"]
    lines = [
        f"Setup: {s['points']} points, MLP 3→{s['width']}→{s['width']}→{s['width']}→1, Adam lr={s['lr']}, "
        f"budget K_B={s['budget']} (uniform, K_i={s['per_layer_targets'][0]:.4f}), median of {s['steps']} steps × "
        f"{s['repeats']} interleaved repeats, {s['threads']} threads, {s['clock']} clock, torch {s['torch']}.",
        "",
        "| method | step / unconstrained (median [min, max]) | step ms | Björck its | max σ/K_i | min σ/K_i "
        "| certified/σ | certified end-to-end / K_B | empirical K_m / K_B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        its = r.get("bjorck_iterations")
        lines.append(
            f"| {r['name']} | {r['ratio_median']:.3f} [{r['ratio_min']:.3f}, {r['ratio_max']:.3f}] "
            f"| {r['step_ms_median']:.1f} | {','.join(map(str, its)) if its else '–'} "
            f"| {_fmt(r.get('sigma_over_k_max'), '.6f')} | {_fmt(r.get('sigma_over_k_min'), '.6f')} "
            f"| {_fmt(r.get('certified_over_sigma_max'), '.6f')} | {_fmt(r.get('certified_end_to_end_over_budget'))} "
            f"| {_fmt(r.get('empirical_over_budget'))} |"
        )
    missing = [
        n for n, ok in (("deel-torchlip", s["deel_torchlip"]), ("orthogonium", s["orthogonium"])) if not ok
    ]
    if missing:
        lines += [
            "",
            f"Skipped (not installed): {', '.join(missing)} — run in .venv-bench (`make bench-env`).",
        ]
    d = results.get("deel_sequential")
    if d:
        lines += [
            "",
            f"deel-torchlip `Sequential(k_coef_lip={d['nominal_k']:g})` (4 SpectralLinear + GroupSort2, untrained): "
            f"product of layer σ_max = {d['product_of_sigma']:.4f}, activation factors = {d['activation_factor']:.4f}, "
            f"so its Lipschitz constant is at most {d['certified_k']:.4f} (max ‖∇f‖ over 2000 points = "
            f"{d['max_grad_norm']:.4f}) against the nominal {d['nominal_k']:g}.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat and method")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--budget", type=float, default=4.0)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall or process CPU time")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", type=str, default=None, help="also write the raw results here")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test of the script)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    kw = dict(
        clock=args.clock,
        points=args.points,
        width=args.width,
        steps=args.steps,
        repeats=args.repeats,
        warmup=args.warmup,
        lr=args.lr,
        budget=args.budget,
    )
    if args.quick:
        kw.update(points=500, width=32, steps=2, repeats=2, warmup=1)
    results = run_benchmark(**kw)
    print(to_markdown(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
