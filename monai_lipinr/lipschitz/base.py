"""The contract shared by every Lipschitz-aware component.

A *component* is one factor of the composition ``f = g_M ∘ … ∘ g_1`` whose Lipschitz constant the
budget pays for: a constrained linear map, an activation, a coordinate embedding, an SLL block.
Each component states a certified upper bound of its own Lipschitz constant (in the units of its own
input and output, Euclidean norms), and *budgetable* components accept a target ``K_i`` that they
then guarantee (``lipschitz_bound() <= K_i * (1 + CERTIFY_RTOL)``).

The ledger (:mod:`monai_lipinr.lipschitz.ledger`) discovers components by walking a module with
``named_modules()`` and multiplies their bounds, which is a valid end-to-end bound for a serial
composition (the only composition our networks use).
"""

from __future__ import annotations

import math

__all__ = ["CERTIFY_RTOL", "LipschitzComponent", "check_positive_finite"]

#: Relative slack allowed between a certified bound and its target (float rounding, not overshoot).
CERTIFY_RTOL = 1e-4


def check_positive_finite(name: str, value: float) -> float:
    """Validate a Lipschitz constant / budget argument.

    Args:
        name: argument name, used in the error message.
        value: the value to check.

    Returns:
        ``float(value)``.

    Raises:
        TypeError: when ``value`` is not a real number.
        ValueError: when ``value`` is not finite or not strictly positive.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r}).")
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return v


class LipschitzComponent:
    """Mixin for ``torch.nn.Module`` subclasses that are one billable factor of a Lipschitz budget.

    Subclasses set :attr:`lipschitz_kind` (e.g. ``"linear/bjorck"``, ``"activation/sine"``,
    ``"embedding/rff"``) and implement :meth:`lipschitz_bound`. Budgetable components also set
    ``budgetable = True`` and implement :meth:`set_lipschitz_target`.

    Attributes:
        lipschitz_kind: short machine-readable description, ``"<family>/<method>"``.
        budgetable: whether :meth:`set_lipschitz_target` is supported.
    """

    lipschitz_kind: str = "component"
    budgetable: bool = False

    def lipschitz_bound(self) -> float:
        """Certified upper bound of this component's Lipschitz constant with its current parameters.

        Must never be below the true constant (up to float64 rounding).
        """
        raise NotImplementedError

    @property
    def lipschitz_target(self) -> float | None:
        """The target ``K_i`` this component enforces, or ``None`` for a fixed-cost component."""
        return getattr(self, "_lipschitz_target", None)

    def set_lipschitz_target(self, target: float) -> None:
        """Set the Lipschitz constant this component must not exceed (budgetable components only).

        Raises:
            TypeError: for a fixed-cost component.
            ValueError: for a non-positive or non-finite target.
        """
        raise TypeError(f"{type(self).__name__} has a fixed Lipschitz constant; it cannot take a target.")

    def certify(self, rtol: float = CERTIFY_RTOL) -> bool:
        """Whether the certified bound respects the target (always ``True`` without a target)."""
        target = self.lipschitz_target
        return target is None or self.lipschitz_bound() <= target * (1.0 + rtol)
