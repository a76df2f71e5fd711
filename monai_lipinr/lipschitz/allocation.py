"""Splitting a global Lipschitz budget ``K_B`` across ``M`` components in log-space.

Every strategy returns targets ``K_1 … K_M`` (float64) with ``Σ log K_i = log K_B`` to 1e-9
relative, so that the product bound ``Π K_i`` equals the budget. Strategies (component ``i`` sits at
``t_i = i / (M - 1)``, ``i = 0 … M-1``; ``t = 0`` is the component nearest the input):

* ``uniform``: ``K_i = K_B^(1/M)``.
* ``first_heavy``: ``K_1 = K_B``, all others 1.
* ``linear``: ``K_i = s0 + (k_min - s0) t_i``, decreasing from ``s0`` (solved) to ``k_min``.
* ``exponential``: ``log K_i = log k_min + (log K_B - M log k_min) (1 - t_i) / Σ_j (1 - t_j)``.
* ``cosine``: ``K_i = k_min (1 + α g(t_i))``, ``g(t) = (1 + cos πt) / 2``, ``α ≥ 0`` solved.

The monotone ramps (``linear``, ``exponential``, ``cosine``) need ``k_min^M <= K_B`` (otherwise the
ramp would have to increase); violating it raises ``ValueError`` with the numbers. Their default
``k_min=None`` means ``min(1, K_B^(1/M))``: the last component is 1-Lipschitz whenever the budget
allows it, and for budgets below 1 the ramp degenerates to the uniform split (the only feasible
non-increasing ramp with ``k_min = K_B^(1/M)``). Custom strategies
are added with :func:`register_allocation`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = [
    "ALLOCATION_STRATEGIES",
    "allocate_budget",
    "register_allocation",
    "allocation_positions",
    "check_allocation",
]

AllocationFn = Callable[..., np.ndarray]

#: name -> function(total, num_components, **params) -> np.ndarray of float64 targets.
ALLOCATION_STRATEGIES: dict[str, AllocationFn] = {}

_REL_TOL = 1e-9


def register_allocation(name: str, fn: AllocationFn | None = None, *, overwrite: bool = False):
    """Register a custom allocation strategy (usable as a decorator).

    The function receives ``(total: float, num_components: int, **params)`` and returns ``M`` positive
    targets; :func:`allocate_budget` checks that their product equals ``total`` to 1e-9 relative.

    Args:
        name: strategy name used in ``allocate_budget(..., strategy=name)``.
        fn: the strategy function; omit to use as a decorator.
        overwrite: allow replacing an existing strategy of the same name.

    Raises:
        ValueError: when ``name`` is already registered and ``overwrite`` is false.
    """

    def _register(f: AllocationFn) -> AllocationFn:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}.")
        if name in ALLOCATION_STRATEGIES and not overwrite:
            raise ValueError(f"allocation strategy {name!r} is already registered (pass overwrite=True).")
        ALLOCATION_STRATEGIES[name] = f
        return f

    return _register(fn) if fn is not None else _register


def check_allocation(strategy: str, params: object, strategy_name: str = "allocation",
                     params_name: str = "allocation_kwargs") -> str:
    """Check a registered strategy name and a mapping of its parameters, before any budget is split.

    Args:
        strategy: the strategy name; it must be registered in :data:`ALLOCATION_STRATEGIES`.
        params: the strategy's parameters, a mapping from parameter names to values (e.g. ``{"k_first": 60}``).
        strategy_name, params_name: the argument names used in error messages.

    Returns:
        the strategy name.

    Raises:
        ValueError: for an unknown strategy, parameters that are not a mapping with string keys, or a
            parameter name the strategy does not take (the message lists the ones it takes).
    """
    if not isinstance(strategy, str) or strategy not in ALLOCATION_STRATEGIES:
        raise ValueError(f"{strategy_name} must be one of {sorted(ALLOCATION_STRATEGIES)}, got {strategy!r}.")
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise ValueError(f"{params_name} must be a mapping of parameter names to values for allocation "
                         f"{strategy!r} (e.g. {{\"k_out\": 0.1}}), got {params!r}.")
    signature = inspect.signature(ALLOCATION_STRATEGIES[strategy])
    taken = list(signature.parameters.values())[2:]  # after (total, num_components)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken):
        names = [p.name for p in taken]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"{params_name} has {unknown}, which allocation {strategy!r} does not take; "
                             f"it takes {names or 'no parameters'}.")
    return strategy


def allocation_positions(num_components: int) -> np.ndarray:
    """Relative depth ``t_i = i / (M - 1)`` of each component (``[0.0]`` when ``M == 1``)."""
    if num_components == 1:
        return np.zeros(1)
    return np.arange(num_components, dtype=np.float64) / (num_components - 1)


def _check_k_min(total: float, num_components: int, k_min: float | None, strategy: str) -> float:
    if k_min is None:
        return min(1.0, math.exp(math.log(total) / num_components))
    k_min = check_positive_finite("k_min", k_min)
    log_floor = num_components * math.log(k_min)
    log_total = math.log(total)
    if log_floor > log_total + 1e-12 * max(1.0, abs(log_total)):  # relative slack, either sign of log K_B
        raise ValueError(
            f"strategy {strategy!r} is infeasible: k_min^M = {k_min}^{num_components} = "
            f"{math.exp(log_floor):.6g} exceeds the budget total = {total:.6g}; "
            f"choose k_min <= total^(1/M) = {total ** (1.0 / num_components):.6g}."
        )
    return k_min


def _bisect_increasing(fn: Callable[[float], float], lo: float, hi: float, target: float) -> float:
    """Root of ``fn(x) = target`` for an increasing ``fn``, bracketing upward from ``[lo, hi]``."""
    while fn(hi) < target:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            raise ValueError("allocation solver diverged (budget too large?).")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if fn(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, abs(hi)):
            break
    return 0.5 * (lo + hi)


@register_allocation("uniform")
def _uniform(total: float, num_components: int) -> np.ndarray:
    return np.full(num_components, math.exp(math.log(total) / num_components))


@register_allocation("first_heavy")
def _first_heavy(total: float, num_components: int) -> np.ndarray:
    out = np.ones(num_components)
    out[0] = total
    return out


@register_allocation("linear")
def _linear(total: float, num_components: int, k_min: float | None = None) -> np.ndarray:
    k_min = _check_k_min(total, num_components, k_min, "linear")
    t = allocation_positions(num_components)
    if num_components == 1:
        return np.array([total])

    def log_prod(s0: float) -> float:
        return float(np.sum(np.log(s0 + (k_min - s0) * t)))

    s0 = _bisect_increasing(log_prod, k_min, 2.0 * k_min + total, math.log(total))
    return s0 + (k_min - s0) * t


@register_allocation("exponential")
def _exponential(total: float, num_components: int, k_min: float | None = None) -> np.ndarray:
    k_min = _check_k_min(total, num_components, k_min, "exponential")
    if num_components == 1:
        return np.array([total])
    w = 1.0 - allocation_positions(num_components)
    slope = (math.log(total) - num_components * math.log(k_min)) / w.sum()
    return np.exp(math.log(k_min) + slope * w)


@register_allocation("cosine")
def _cosine(total: float, num_components: int, k_min: float | None = None) -> np.ndarray:
    k_min = _check_k_min(total, num_components, k_min, "cosine")
    if num_components == 1:
        return np.array([total])
    g = 0.5 * (1.0 + np.cos(np.pi * allocation_positions(num_components)))

    def log_prod(alpha: float) -> float:
        return float(np.sum(np.log(k_min * (1.0 + alpha * g))))

    alpha = _bisect_increasing(log_prod, 0.0, 1.0, math.log(total))
    return k_min * (1.0 + alpha * g)


def allocate_budget(
    total: float, num_components: int, strategy: str | AllocationFn = "uniform", **params
) -> torch.Tensor:
    """Split a global Lipschitz budget into per-component targets whose product is the budget.

    Args:
        total: global budget ``K_B`` (> 0, finite), in the network's output units per input unit.
        num_components: number of budgeted components ``M`` (>= 1), ordered input → output.
        strategy: a registered name (``uniform``, ``first_heavy``, ``linear``, ``exponential``,
            ``cosine`` or a custom one) or a callable with the same signature.
        params: strategy parameters, e.g. ``k_min`` (smallest per-component target, default
            ``min(1, total^(1/M))``) for the monotone ramps.

    Returns:
        float64 tensor of shape ``(M,)`` with ``prod == total`` to 1e-9 relative.

    Raises:
        ValueError: for a non-positive / non-finite total, ``M < 1``, an unknown strategy, infeasible
            parameters (e.g. ``k_min^M > total``), or a custom strategy whose product misses the budget.
        TypeError: for a non-integer ``num_components`` or unexpected strategy parameters.
    """
    total = check_positive_finite("total", total)
    if isinstance(num_components, bool) or not isinstance(num_components, (int, np.integer)):
        raise TypeError(f"num_components must be an int, got {type(num_components).__name__}.")
    if num_components < 1:
        raise ValueError(f"num_components must be >= 1, got {num_components}.")
    if callable(strategy):
        fn, name = strategy, getattr(strategy, "__name__", "custom")
    else:
        if strategy not in ALLOCATION_STRATEGIES:
            raise ValueError(
                f"strategy must be one of {sorted(ALLOCATION_STRATEGIES)}, got {strategy!r}."
            )
        fn, name = ALLOCATION_STRATEGIES[strategy], strategy
    try:
        targets = np.asarray(fn(total, int(num_components), **params), dtype=np.float64)
    except TypeError as err:
        raise TypeError(f"invalid parameters {sorted(params)} for allocation strategy {name!r}: {err}") from err
    if targets.shape != (num_components,):
        raise ValueError(f"strategy {name!r} returned shape {targets.shape}, expected ({num_components},).")
    if not np.all(np.isfinite(targets)) or np.any(targets <= 0):
        raise ValueError(f"strategy {name!r} returned non-positive or non-finite targets {targets.tolist()}.")
    log_sum = float(np.sum(np.log(targets)))
    if abs(log_sum - math.log(total)) > _REL_TOL:
        # Exact log-space renormalisation for rounding; a gross miss is a strategy error.
        if abs(log_sum - math.log(total)) > 1e-6:
            raise ValueError(
                f"strategy {name!r} returned targets with product {math.exp(log_sum):.12g}, "
                f"expected the budget {total:.12g}."
            )
    targets = targets * math.exp((math.log(total) - log_sum) / num_components)
    return torch.as_tensor(targets, dtype=torch.float64)
