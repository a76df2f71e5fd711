"""Sphere tracing of a Lipschitz SDF with steps that are safe by certificate.

If ``f`` is ``K``-Lipschitz and ``f(x) = v``, then ``f`` has no zero inside the ball of radius ``|v|/K``
around ``x`` (``|f(y)| ≥ |v| - K‖y - x‖ > 0``). Marching a ray by ``|f(x)|/K`` therefore never steps over
the surface, however thin it is: with the *certified* bound of a budgeted network (its ledger), the
tracer cannot tunnel. Using a smaller ``K`` than the true constant (e.g. assuming 1 for a network
that is not 1-Lipschitz) can.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = ["SphereTraceResult", "sphere_trace"]


@dataclasses.dataclass
class SphereTraceResult:
    """Per-ray result of :func:`sphere_trace`.

    Attributes:
        t: ``(R,)`` distance travelled along each (unit) direction, in input units.
        points: ``(R, 3)`` final positions ``origin + t · direction``.
        hit: ``(R,)`` bool, ``|f| <= epsilon`` reached before ``t_max`` / ``max_steps``.
        steps: ``(R,)`` number of steps taken.
        lipschitz: the constant ``K`` the steps were divided by.
    """

    t: torch.Tensor
    points: torch.Tensor
    hit: torch.Tensor
    steps: torch.Tensor
    lipschitz: float


def _certified_bound(net) -> float:
    ledger = getattr(net, "ledger", None)
    if not callable(ledger):
        raise ValueError(
            "lipschitz=None needs a network with a certified Lipschitz ledger (LipschitzINR); pass lipschitz=K."
        )
    k = float(ledger().certified_bound)
    if not k > 0 or k == float("inf"):
        raise ValueError(f"the network's certified Lipschitz bound is {k!r}; cannot step safely.")
    return k


@torch.no_grad()
def sphere_trace(
    net: Callable[[torch.Tensor], torch.Tensor],
    origins: torch.Tensor,
    directions: torch.Tensor,
    lipschitz: float | None = None,
    epsilon: float = 1e-4,
    t_max: float = 4.0,
    max_steps: int = 512,
) -> SphereTraceResult:
    """March rays ``origin + t · direction`` by ``|f|/K`` until ``|f| <= epsilon``.

    Args:
        net: scalar field ``(N, 3) -> (N,)`` or ``(N, 1)`` (network units), e.g. a trained neural SDF.
        origins: ``(R, 3)`` ray origins (network units).
        directions: ``(R, 3)`` ray directions (normalised here; zero vectors are rejected).
        lipschitz: ``K``, a Lipschitz bound of ``net``; ``None`` uses ``net.ledger().certified_bound``.
        epsilon: hit tolerance on ``|f|`` (output units).
        t_max: give up beyond this distance (input units).
        max_steps: give up after this many steps.

    Returns:
        :class:`SphereTraceResult`. Rays that start inside the surface (``f < 0``) march until ``f``
        reaches ``-epsilon`` from below the same way (the step uses ``|f|``).

    Raises:
        ValueError: for mismatched/zero directions, non-positive ``lipschitz``/``epsilon``/``t_max``.
    """
    if not isinstance(origins, torch.Tensor) or not isinstance(directions, torch.Tensor):
        raise TypeError("origins and directions must be torch.Tensors of shape (R, 3).")
    if origins.ndim != 2 or origins.shape[1] != 3 or directions.shape != origins.shape:
        raise ValueError(
            f"origins and directions must both have shape (R, 3), got {tuple(origins.shape)} and "
            f"{tuple(directions.shape)}."
        )
    norm = directions.norm(dim=1, keepdim=True)
    if bool((norm == 0).any()):
        raise ValueError(f"directions must be non-zero, got {int((norm == 0).sum())} zero vector(s).")
    k = _certified_bound(net) if lipschitz is None else check_positive_finite("lipschitz", lipschitz)
    epsilon = check_positive_finite("epsilon", epsilon)
    t_max = check_positive_finite("t_max", t_max)
    d = directions / norm
    t = torch.zeros(origins.shape[0], dtype=origins.dtype, device=origins.device)
    hit = torch.zeros_like(t, dtype=torch.bool)
    steps = torch.zeros_like(t, dtype=torch.long)
    active = torch.ones_like(hit)
    for _ in range(int(max_steps)):
        idx = active.nonzero(as_tuple=True)[0]
        if idx.numel() == 0:
            break
        f = net(origins[idx] + t[idx, None] * d[idx]).reshape(-1).to(t.dtype)
        done = f.abs() <= epsilon
        hit[idx[done]] = True
        step = f.abs() / k
        t[idx] = torch.where(done, t[idx], t[idx] + step)
        steps[idx] += (~done).long()
        active[idx] = ~done & (t[idx] <= t_max)
    return SphereTraceResult(t, origins + t[:, None] * d, hit, steps, k)
