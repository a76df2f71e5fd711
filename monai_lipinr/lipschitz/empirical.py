"""Empirical Lipschitz constant ``K_m``: a lower bound of ``Lip(f)`` over a domain.

Two estimators, both of which only ever report quantities that ``Lip(f)`` dominates:

(a) the local Jacobian spectral norm ``‖J_f(x)‖₂``, estimated at many points by power iteration
    (``‖J u‖`` for a unit ``u`` never exceeds ``‖J‖₂``) and maximised over ``x`` by projected gradient
    ascent. By Danskin's theorem the ascent direction is ``∇_x ⟨w, J(x) u⟩`` with the current singular
    pair ``(u, w)``: one Hessian-vector product per step. For scalar outputs this is ``‖∇f(x)‖``.
(b) difference quotients ``‖f(x) - f(y)‖ / ‖x - y‖`` for random pairs of domain points and for nearby
    pairs (``y = project(x + h d)`` for a random unit ``d`` and for the top singular direction).

``K_m = max((a), (b))``. Because every candidate value is attained by ``f`` (up to floating-point
rounding in ``f``'s dtype), ``K_m`` never exceeds the true Lipschitz constant, hence never the
certified bound; ``utilization = K_m / K_budget`` says how much of the budget the network uses.

``fn`` must treat the rows of its input independently (a point-wise network: no batch statistics)
and be differentiable twice for the ascent (a piecewise-linear network has a zero Hessian: the
ascent then stays put and the many starts and pairs do the searching). Call it on a module in
``eval()`` mode so that constraints do not update state during the search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.activations import _check_int
from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = ["EmpiricalLipschitz", "box_domain", "estimate_lipschitz"]


@dataclass(frozen=True)
class EmpiricalLipschitz:
    """Result of :func:`estimate_lipschitz`.

    Attributes:
        value: ``K_m = max(gradient_value, pairwise_value)`` (output per input unit).
        gradient_value: largest local Jacobian norm found by the ascent (``0.0`` when not run).
        pairwise_value: largest difference quotient (``0.0`` when no pairs were drawn).
        argmax: the input point ``(d,)`` of the winning estimate (for a pairwise winner: its first point).
        argmax_pair: the winning pair ``(x, y)`` when the pairwise estimate won, else ``None``.
    """

    value: float
    gradient_value: float
    pairwise_value: float
    argmax: torch.Tensor
    argmax_pair: tuple[torch.Tensor, torch.Tensor] | None = None

    def __float__(self) -> float:
        return self.value


def box_domain(
    lower: float | Sequence[float],
    upper: float | Sequence[float],
    in_features: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[Callable[[int], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """Uniform sampler and projection (clamp) of the box ``[lower, upper]^d``.

    Args:
        lower: lower corner (network units), a scalar or one value per coordinate.
        upper: upper corner, same form; ``upper > lower`` on every coordinate.
        in_features: dimension ``d``.
        generator: random generator used by the sampler (on ``device``).
        dtype: dtype of the points (default: torch's default dtype).
        device: device of the points.

    Returns:
        ``(sampler, project)``: ``sampler(n)`` returns ``(n, d)`` uniform points; ``project(x)`` clamps
        ``x`` of shape ``(..., d)`` into the box.

    Raises:
        ValueError: when the corners do not have ``d`` entries or ``upper <= lower`` somewhere.
    """
    in_features = _check_int("in_features", in_features, 1)
    dtype = dtype or torch.get_default_dtype()
    lo = torch.as_tensor(lower, dtype=dtype, device=device).expand(in_features).clone()
    hi = torch.as_tensor(upper, dtype=dtype, device=device).expand(in_features).clone()
    if not bool(torch.all(hi > lo)) or not bool(torch.isfinite(torch.cat([lo, hi])).all()):
        raise ValueError(
            f"box_domain needs finite upper > lower per coordinate, got lower={lower}, upper={upper}."
        )

    def sampler(n: int) -> torch.Tensor:
        u = torch.rand(n, in_features, generator=generator, dtype=dtype, device=lo.device)
        return lo + (hi - lo) * u

    def project(x: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(x, lo.to(x.dtype)), hi.to(x.dtype))

    return sampler, project


def _draw(sampler: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    x = sampler(n)
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] != n or not x.is_floating_point():
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"sampler({n}) must return a floating (n, d) tensor with n={n} rows, got {got}.")
    return x.detach()


def _evaluate(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    y = fn(x)
    if not isinstance(y, torch.Tensor) or y.ndim == 0 or y.shape[0] != x.shape[0]:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"fn must map (n, d) points to (n, ...) outputs, got {got} for input {tuple(x.shape)}."
        )
    return y.reshape(x.shape[0], -1)


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Row-wise normalisation; zero rows stay zero."""
    norm = v.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, v / norm.clamp_min(torch.finfo(v.dtype).tiny), torch.zeros_like(v))


def _local_norms(fn, x, u, power_iterations):
    """Per-point ``(‖J u‖, u, J u)`` (detached) with ``u`` the estimated top right singular vector.

    For ``d <= 2 * power_iterations`` inputs (INR coordinates) the ``(m, d)`` Jacobian is assembled
    from ``d`` Jacobian-vector products and ``u`` is the exact top eigenvector of ``JᵀJ``; otherwise
    ``power_iterations`` steps of power iteration on ``JᵀJ`` are taken from the warm start ``u``.
    Either way ``‖J u‖ <= ‖J‖₂`` for the unit vector ``u``.
    """
    x = x.detach().requires_grad_(True)
    y = _evaluate(fn, x)
    zeros = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    if not y.requires_grad:  # fn does not depend on x
        return zeros, u, torch.zeros_like(y)
    # J u by the double-backward trick: g(w) = Jᵀ w is linear in w, so d⟨g(w), u⟩/dw = J u
    w0 = torch.zeros_like(y, requires_grad=True)
    (jt_w0,) = torch.autograd.grad(y, x, w0, create_graph=True, allow_unused=True)
    if jt_w0 is None or not jt_w0.requires_grad:
        return zeros, u, torch.zeros_like(y)

    def jvp(v: torch.Tensor) -> torch.Tensor:
        (out,) = torch.autograd.grad(jt_w0, w0, v, retain_graph=True)
        return out

    d = x.shape[1]
    if d <= 2 * power_iterations:
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        jac = torch.stack([jvp(eye[k].expand_as(x)) for k in range(d)], dim=-1)  # (n, m, d)
        u = torch.linalg.eigh(jac.transpose(1, 2) @ jac).eigenvectors[..., -1]
        ju = (jac @ u.unsqueeze(-1)).squeeze(-1)
    else:
        for _ in range(power_iterations):
            ju = jvp(u)
            (jtju,) = torch.autograd.grad(y, x, ju, retain_graph=True)
            u = torch.where(jtju.norm(dim=1, keepdim=True) > 0, _unit(jtju), u)
        ju = jvp(u)
    return ju.norm(dim=1).detach(), u.detach(), ju.detach()


def _ascent_direction(fn, x, u, w):
    """``∇_x ⟨w, J(x) u⟩`` per point (Danskin: the gradient of ``‖J(x)‖₂`` at a simple top pair)."""
    x = x.detach().requires_grad_(True)
    y = _evaluate(fn, x)
    if not y.requires_grad:
        return torch.zeros_like(x)
    (jt_w,) = torch.autograd.grad(y, x, w, create_graph=True)
    objective = (jt_w * u).sum()
    if not objective.requires_grad:  # Jacobian does not depend on x (e.g. an affine map)
        return torch.zeros_like(x)
    (direction,) = torch.autograd.grad(objective, x, allow_unused=True)
    return torch.zeros_like(x) if direction is None else direction.detach()


def _quotients(fn, x, y):
    keep = (x - y).norm(dim=1) > 0
    x, y = x[keep], y[keep]
    if x.shape[0] == 0:
        return torch.zeros(0, dtype=x.dtype, device=x.device), x, y
    with torch.no_grad():
        q = (_evaluate(fn, x) - _evaluate(fn, y)).norm(dim=1) / (x - y).norm(dim=1)
    return q, x, y


def estimate_lipschitz(
    fn: Callable[[torch.Tensor], torch.Tensor],
    sampler: Callable[[int], torch.Tensor],
    num_starts: int = 64,
    num_steps: int = 50,
    step_size: float | None = None,
    pairs: int = 1024,
    generator: torch.Generator | None = None,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
    power_iterations: int = 6,
) -> EmpiricalLipschitz:
    """Lower bound ``K_m`` of ``Lip(fn)`` over the domain described by ``sampler`` and ``project``.

    Args:
        fn: point-wise map from ``(n, d)`` inputs (network units) to ``(n, ...)`` outputs; flattened to
            ``(n, m)``. Must support double backward for the ascent (``num_steps > 0``).
        sampler: ``sampler(n)`` returns ``(n, d)`` points of the domain (its dtype/device is used).
        num_starts: number of ascent starting points.
        num_steps: projected gradient-ascent steps per start (``0``: evaluate the starts only).
        step_size: initial step length in input units, adapted per point (×1.5 after a gain, ×0.5 after
            a loss, capped at 50× the initial value); ``None`` picks 5% of the spread of the start points.
        pairs: number of random pairs, and of nearby pairs, for the difference quotients.
        generator: random generator for the power-iteration starts and the pair directions (on the
            sampler's device).
        project: maps points back into the domain (e.g. a clamp to the box); ``None`` = identity.
        power_iterations: power-iteration steps on ``JᵀJ`` per evaluation (warm-started); inputs with
            ``d <= 2 * power_iterations`` coordinates use the exact Jacobian instead.

    Returns:
        :class:`EmpiricalLipschitz` with ``value = max(gradient_value, pairwise_value)``.

    Raises:
        TypeError / ValueError: for invalid counts or step size, when ``sampler`` does not return
            ``(n, d)`` floating points, or ``fn`` does not return ``n`` rows.
    """
    num_starts = _check_int("num_starts", num_starts, 1)
    num_steps = _check_int("num_steps", num_steps, 0)
    pairs = _check_int("pairs", pairs, 0)
    power_iterations = _check_int("power_iterations", power_iterations, 1)
    if step_size is not None:
        step_size = check_positive_finite("step_size", step_size)
    project = project or (lambda z: z)

    # parametrized weights (constraints) are fixed during the search: compute them once, not per pass
    with torch.enable_grad(), parametrize.cached():
        x = project(_draw(sampler, num_starts))
        randn = lambda shape: torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)  # noqa: E731
        spread = float(x.std(dim=0, unbiased=False).norm()) if num_starts > 1 else 0.0
        spread = spread if spread > 0 else 1.0
        step_size = 0.05 * spread if step_size is None else step_size
        sigma, u, ju = _local_norms(fn, x, _unit(randn(x.shape)), power_iterations)
        eta = torch.full((num_starts, 1), step_size, dtype=x.dtype, device=x.device)
        for _ in range(num_steps):
            # projected ascent with a per-point step: grow it after a gain, halve it and retry after a loss
            direction = _unit(_ascent_direction(fn, x, u, _unit(ju)))
            # piecewise-linear fn (zero Hessian): explore a random direction, kept only if it gains
            flat = direction.norm(dim=1, keepdim=True) == 0
            direction = torch.where(flat, _unit(randn(x.shape)), direction)
            x_try = project(x + eta * direction).detach()
            s_try, u_try, ju_try = _local_norms(fn, x_try, u, power_iterations)
            gain = (s_try >= sigma).unsqueeze(1)
            x, u, ju = torch.where(gain, x_try, x), torch.where(gain, u_try, u), torch.where(gain, ju_try, ju)
            sigma = torch.where(gain.squeeze(1), s_try, sigma)
            eta = torch.where(gain, (eta * 1.5).clamp_max(50.0 * step_size), eta * 0.5)
        i_best = int(torch.argmax(sigma))  # sigma never decreases along a point's path
        gradient_value = float(sigma[i_best])
        argmax, pair, pairwise_value = x[i_best], None, 0.0

        if pairs > 0:
            h = 1e-2 * spread  # small enough to see local slopes, large enough to beat rounding in fn
            a, b = project(_draw(sampler, pairs)), project(_draw(sampler, pairs))
            near = project(a + h * _unit(randn(a.shape)))
            top = project(x + h * u)  # along the top singular direction of the ascended points
            candidates = [_quotients(fn, a, b), _quotients(fn, a, near), _quotients(fn, x, top)]
            for q, qa, qb in candidates:
                if q.numel() and float(q.max()) > pairwise_value:
                    j = int(torch.argmax(q))
                    pairwise_value, pair = float(q[j]), (qa[j], qb[j])
        if pair is not None and pairwise_value > gradient_value:
            argmax = pair[0]
        else:
            pair = None
    return EmpiricalLipschitz(
        value=max(gradient_value, pairwise_value),
        gradient_value=gradient_value,
        pairwise_value=pairwise_value,
        argmax=argmax.detach(),
        argmax_pair=pair,
    )
