"""Where a global budget goes: the output stage's share from the output's physical amplitude.

A Lipschitz INR ends in a linear map from hidden features of amplitude ≤ 1 (sines, bounded activations) to
the output. That *output stage* only needs enough gain to reach the largest plausible output amplitude
``A`` (in output units); every unit of budget it gets beyond that is taken from the stages before it,
whose features then cannot vary fast enough (measured in registration and CT reconstruction: networks
that give the output stage a share of 1 use a small fraction of their certified budget). The helpers
here turn an amplitude prior into that share and re-allocate a network's budget with it:

* :func:`output_stage_share` — ``k_out = min(cap, A / √H, K_B^(1/M))`` (``H`` = number of features
  summed coherently, 1 for the plain amplitude rule).
* ``"first_heavy_output"`` (registered allocation strategy) — the first stage keeps the whole budget
  ``K_B`` (its features must resolve the sharpest variation the prior allows), the output stage gets
  ``k_out`` and the hidden stages share ``1 / k_out`` evenly in log-space, so ``Π K_i = K_B`` exactly.
  ``k_first`` gives the first stage a smaller share; the hidden stages then share ``K_B / (k_first k_out)``.
* :func:`allocate_with_output_share` — apply a derived share to a network whose allocation takes one.
* :func:`stages_for_gain` — how many equal stages spread a product so that each stage's gain is nearest a
  target gain (the depth that keeps every hidden stage near a chosen share).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monai_lipinr.lipschitz.allocation import register_allocation
from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = ["DECREASING_RAMPS", "OUTPUT_SHARE_PARAMETERS", "allocate_with_output_share", "first_heavy_output",
           "output_stage_share", "stages_for_gain"]

#: Allocation strategies whose last (output) stage is set by ``k_min``.
DECREASING_RAMPS = ("linear", "exponential", "cosine")

#: Strategy name -> the keyword that sets the output stage's share.
OUTPUT_SHARE_PARAMETERS: dict[str, str] = {**{name: "k_min" for name in DECREASING_RAMPS},
                                           "first_heavy_output": "k_out"}


def output_stage_share(amplitude: float, budget: float, num_stages: int, features: int = 1,
                       cap: float = 1.0) -> float:
    """Budget share of the output stage from the output's largest plausible amplitude.

    ``k_out = min(cap, amplitude / √features, budget^(1/num_stages))``: the output is a linear map of
    features of amplitude ≤ 1; with ``features = H`` features adding up coherently (``‖w‖₁ ≤ √H ‖w‖₂``) an
    output gain of ``A / √H`` reaches the amplitude ``A``; ``features = 1`` is the plain rule (gain ``A``).
    The last term keeps a non-increasing split feasible; ``cap`` (default 1) keeps the output stage from
    ever amplifying.

    Args:
        amplitude: largest plausible output amplitude ``A`` in output units (e.g. a displacement in network
            units, ``D / s``; an attenuation half-range).
        budget: the global budget ``K_B`` (output units per network unit).
        num_stages: number of budgeted stages ``M``.
        features: number of features ``H`` the output sums (``1`` for no coherent-sum factor).
        cap: upper bound of the share.

    Returns:
        the share ``k_out`` (output units per feature unit).

    Raises:
        ValueError: for non-positive or non-finite numbers, or ``num_stages``/``features`` < 1.
    """
    amplitude = check_positive_finite("amplitude", amplitude)
    budget = check_positive_finite("budget", budget)
    cap = check_positive_finite("cap", cap)
    for name, value in (("num_stages", num_stages), ("features", features)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    return min(cap, amplitude / math.sqrt(features), budget ** (1.0 / num_stages))


@register_allocation("first_heavy_output", overwrite=True)
def first_heavy_output(total: float, num_components: int, k_out: float | None = None,
                       k_first: float | None = None) -> np.ndarray:
    """``K_1 = k_first``, ``K_M = k_out``, hidden stages ``(K_B / (k_first k_out))^(1/(M-2))`` each.

    ``k_out=None`` means 1 (plain ``first_heavy``), ``k_first=None`` means ``K_B`` (the first stage keeps the
    whole budget, the hidden stages get ``k_out^(-1/(M-2))``). The product is ``K_B`` in every case. With two
    stages the first gets ``K_B / k_out`` (``k_first`` is ignored); with one, ``K_B``.

    Raises:
        ValueError: for a non-positive or non-finite ``k_out`` or ``k_first``.
    """
    k_out = 1.0 if k_out is None else check_positive_finite("k_out", k_out)
    k_first = total if k_first is None else check_positive_finite("k_first", k_first)
    out = np.ones(num_components)
    if num_components == 1:
        return np.array([total])
    out[-1] = k_out
    if num_components == 2:
        out[0] = total / k_out
        return out
    out[0] = k_first
    out[1:-1] = math.exp(math.log(total / (k_first * k_out)) / (num_components - 2))
    return out


def allocate_with_output_share(network: Any, budget: float, allocation: str, allocation_kwargs: dict[str, Any],
                               share: float) -> bool:
    """Re-allocate ``network``'s budget with the output stage's share, unless the caller set it.

    Args:
        network: a constrained ``LipschitzINR`` (anything with ``set_budget(total, allocation, **kwargs)``).
        budget: the global budget ``K_B``.
        allocation: the strategy name; only those in :data:`OUTPUT_SHARE_PARAMETERS` take a share.
        allocation_kwargs: the user's strategy parameters; an explicit ``k_min``/``k_out`` wins.
        share: the derived output share (see :func:`output_stage_share`).

    Returns:
        whether the budget was re-allocated.
    """
    key = OUTPUT_SHARE_PARAMETERS.get(allocation) if isinstance(allocation, str) else None
    if key is None or key in allocation_kwargs:
        return False
    network.set_budget(budget, allocation, **{**allocation_kwargs, key: share})
    return True



def stages_for_gain(product: float, gain: float, minimum: int = 1) -> int:
    """Number of equal stages ``n`` whose shares ``product^(1/n)`` are nearest ``gain`` in log-space.

    Splitting ``product`` evenly over ``n`` stages gives each the gain ``product^(1/n)``; the ``n >= minimum``
    returned minimises ``|log product / n - log gain|`` (one of the two counts around ``log product / log gain``;
    on a tie, the fewer stages).

    Args:
        product: the product the stages share (e.g. the hidden stages' ``K_B / (k_first k_out)``), > 0.
        gain: the target gain per stage, > 1.
        minimum: the fewest stages returned (>= 1).

    Returns:
        the number of stages.

    Raises:
        ValueError: for a non-positive or non-finite ``product``, a ``gain`` not above 1, or ``minimum`` < 1.
    """
    product = check_positive_finite("product", product)
    gain = check_positive_finite("gain", gain)
    if gain <= 1.0:
        raise ValueError(f"gain must be > 1 (a gain per stage), got {gain!r}.")
    if isinstance(minimum, bool) or not isinstance(minimum, (int, np.integer)) or minimum < 1:
        raise ValueError(f"minimum must be an int >= 1, got {minimum!r}.")
    log_product, log_gain = math.log(product), math.log(gain)
    ideal = log_product / log_gain
    candidates = {max(int(minimum), n) for n in (math.floor(ideal), math.ceil(ideal))}
    return min(sorted(candidates), key=lambda n: abs(log_product / n - log_gain))
