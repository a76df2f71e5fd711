"""The Lipschitz ledger: what each component of a network costs and what the whole is certified to.

:meth:`LipschitzLedger.from_module` walks ``module.named_modules()`` (registration order, which is
the forward order of our serial networks) and bills

* every :class:`~monai_lipinr.lipschitz.base.LipschitzComponent` by its certified
  ``lipschitz_bound()`` (components nested inside another component, such as the internals of an SLL
  block, are covered by the outer one and skipped). Weight parametrizations registered with
  ``torch.nn.utils.parametrize`` appear as ``<layer>.parametrizations.weight.0`` and are shown as
  ``<layer> (weight)``;
* every ``nn.Linear`` not constrained by exactly one such parametrization by the exact ``σ_max`` of
  its effective weight, with no target: an unconstrained layer is billed honestly;
* every standard activation by :func:`~monai_lipinr.lipschitz.bounds.activation_lipschitz`.

The walk runs with the module in ``eval()`` mode (the deployed function is what is certified, and
constraints that take a power-iteration step on each weight access in training mode are not
advanced by building a ledger); the previous modes are restored afterwards.

Any other leaf module (one without children, e.g. a normalisation layer) cannot be billed: it is
listed in :attr:`LipschitzLedger.unaccounted` and the certified bound becomes ``inf``.

The certified end-to-end bound is the product of the rows. For a *serial composition*
``f = g_M ∘ … ∘ g_1`` this is an upper bound of ``Lip(f)`` (``Lip(g ∘ h) <= Lip(g) Lip(h)``); it is
not valid for networks with skip connections or branches whose internals are billed row by row, nor
for a module called more than once per forward (register it twice instead), nor for arithmetic done
in a ``forward`` outside submodules — the ledger sees modules, not the computation.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.base import CERTIFY_RTOL, LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.bounds import activation_lipschitz, linear_lipschitz

__all__ = ["LedgerRow", "LipschitzLedger"]

_PARAMETRIZATION = re.compile(r"^(?:(.*)\.)?parametrizations\.([^.]+)\.(\d+)$")


def _readable(name: str, root: nn.Module) -> str:
    """``layers.0.parametrizations.weight.0`` -> ``layers.0 (weight)``; ``""`` -> the root's class name."""
    root_name = type(root).__name__
    if parametrize.is_parametrized(root) and root_name.startswith("Parametrized"):
        root_name = root_name[len("Parametrized") :]  # torch renames the class of a parametrized module
    m = _PARAMETRIZATION.match(name)
    if m:
        owner, tensor, index = m.group(1) or root_name, m.group(2), m.group(3)
        return f"{owner} ({tensor})" if index == "0" else f"{owner} ({tensor}[{index}])"
    return name or root_name


def _number(value: float | None) -> float | str | None:
    """JSON-safe float: non-finite values become strings (``float()`` reads them back)."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class LedgerRow:
    """One billed component.

    Attributes:
        name: readable module path (``layers.0 (weight)`` for a weight parametrization).
        kind: ``"<family>/<method>"``, e.g. ``linear/bjorck``, ``activation/relu``, ``linear/unconstrained``.
        target: the Lipschitz constant the component enforces, ``None`` for a fixed-cost component.
        lipschitz: certified Lipschitz constant of the component (``inf`` when it is not Lipschitz).
        within_target: ``lipschitz <= target (1 + CERTIFY_RTOL)``; ``True`` without a target.
    """

    name: str
    kind: str
    target: float | None
    lipschitz: float
    within_target: bool


def _row(name: str, kind: str, target: float | None, lipschitz: float) -> LedgerRow:
    within = target is None or lipschitz <= target * (1.0 + CERTIFY_RTOL)
    return LedgerRow(name, kind, _as_float(target), float(lipschitz), bool(within))


def _weight_component(module: nn.Module) -> bool:
    """Whether ``module.weight`` is produced by exactly one LipschitzComponent parametrization."""
    if not parametrize.is_parametrized(module, "weight"):
        return False
    chain = module.parametrizations["weight"]
    return len(chain) == 1 and isinstance(chain[0], LipschitzComponent)


def _bill(module: nn.Module) -> tuple[list[LedgerRow], list[str]]:
    """Rows and unaccounted leaf modules of ``module`` (see the module docstring for the rules)."""
    rows: list[LedgerRow] = []
    unaccounted: list[str] = []
    covered: list[str] = []  # prefixes whose descendants are already billed
    for name, sub in module.named_modules(remove_duplicate=False):
        if any(name.startswith(prefix) for prefix in covered):
            continue
        readable = _readable(name, module)
        if isinstance(sub, LipschitzComponent):
            rows.append(_row(readable, sub.lipschitz_kind, sub.lipschitz_target, sub.lipschitz_bound()))
        elif isinstance(sub, nn.Linear):
            if _weight_component(sub):
                continue  # billed by its parametrization, the next rows of the walk
            kind = "linear/parametrized" if parametrize.is_parametrized(sub) else "linear/unconstrained"
            rows.append(_row(readable, kind, None, linear_lipschitz(sub.weight)))
        else:
            value = activation_lipschitz(sub)
            if value is not None:
                rows.append(_row(readable, f"activation/{type(sub).__name__.lower()}", None, value))
            elif next(sub.children(), None) is None:
                unaccounted.append(f"{readable} ({type(sub).__name__})")
            continue
        covered.append(f"{name}." if name else "")
    return rows, unaccounted


@dataclass
class LipschitzLedger:
    """Per-component Lipschitz table of a network with its certified end-to-end bound.

    Build it with :meth:`from_module`. The end-to-end bound (:attr:`certified_bound`) is the product
    of the rows, an upper bound of the network's Lipschitz constant for a serial composition (see the
    module docstring for what that excludes).

    Attributes:
        rows: billed components in forward (registration) order.
        budget: the total budget ``K_B`` the network was built for, if known.
        empirical: measured lower bound ``K_m`` (see :func:`~monai_lipinr.lipschitz.empirical.estimate_lipschitz`).
        unaccounted: leaf modules the ledger could not bill (their presence voids the certificate).
    """

    rows: list[LedgerRow] = field(default_factory=list)
    budget: float | None = None
    empirical: float | None = None
    unaccounted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.budget is not None:
            self.budget = check_positive_finite("budget", self.budget)
        if self.empirical is not None:
            value = getattr(self.empirical, "value", self.empirical)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"empirical must be a number >= 0 (K_m), got {self.empirical!r}.")
            self.empirical = float(value)

    @classmethod
    def from_module(
        cls, module: nn.Module, empirical: Any = None, budget: float | None = None
    ) -> LipschitzLedger:
        """Bill every component of ``module`` (see the module docstring for the rules).

        Args:
            module: the network (or a single component).
            empirical: ``K_m`` as a float or an :class:`~monai_lipinr.lipschitz.empirical.EmpiricalLipschitz`.
            budget: the total budget ``K_B``; defaults to ``module.lipschitz_budget`` when that exists.

        Returns:
            the ledger.

        Raises:
            TypeError: when ``module`` is not an ``nn.Module``.
            ValueError: for a non-positive budget or a negative ``empirical``.
        """
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
        if budget is None:
            budget = getattr(module, "lipschitz_budget", None)
        modes = [(sub, sub.training) for sub in module.modules()]
        module.eval()  # bill the deployed function; constraints must not take training-mode steps here
        try:
            rows, unaccounted = _bill(module)
        finally:
            for sub, training in modes:
                sub.training = training
        return cls(rows=rows, budget=budget, empirical=empirical, unaccounted=unaccounted)

    @property
    def complete(self) -> bool:
        """Whether every leaf module was billed (otherwise :attr:`certified_bound` is ``inf``)."""
        return not self.unaccounted

    @property
    def certified_bound(self) -> float:
        """Product of the certified rows (``inf`` when some module is unaccounted for)."""
        if not self.complete:
            return math.inf
        return math.prod(row.lipschitz for row in self.rows)

    @property
    def target_product(self) -> float:
        """The planned end-to-end constant: product of the targets, fixed-cost rows at their bound."""
        return math.prod(row.lipschitz if row.target is None else row.target for row in self.rows)

    @property
    def within_targets(self) -> bool:
        """Whether every row respects its target."""
        return all(row.within_target for row in self.rows)

    @property
    def within_budget(self) -> bool | None:
        """``certified_bound <= budget (1 + CERTIFY_RTOL)``, or ``None`` without a budget."""
        if self.budget is None:
            return None
        return self.certified_bound <= self.budget * (1.0 + CERTIFY_RTOL)

    @property
    def utilization(self) -> float | None:
        """``K_m / K_B`` (``K_m / certified_bound`` without a budget), or ``None`` without ``K_m``."""
        if self.empirical is None:
            return None
        reference = self.budget if self.budget is not None else self.certified_bound
        return self.empirical / reference if reference > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (non-finite numbers as strings such as ``"inf"``).

        :meth:`from_dict` rebuilds the ledger; derived values are included for readers of the JSON.
        """
        rows = [{**asdict(row), "lipschitz": _number(row.lipschitz)} for row in self.rows]
        return {
            "rows": rows,
            "budget": self.budget,
            "empirical": self.empirical,
            "unaccounted": list(self.unaccounted),
            "certified_bound": _number(self.certified_bound),
            "target_product": _number(self.target_product),
            "utilization": _number(self.utilization),
            "within_targets": self.within_targets,
            "within_budget": self.within_budget,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LipschitzLedger:
        """Rebuild a ledger from :meth:`to_dict` output (derived values are recomputed)."""
        try:
            rows = [
                LedgerRow(
                    name=str(r["name"]),
                    kind=str(r["kind"]),
                    target=_as_float(r["target"]),
                    lipschitz=float(r["lipschitz"]),
                    within_target=bool(r["within_target"]),
                )
                for r in data["rows"]
            ]
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a LipschitzLedger dict (missing or malformed field {err}).") from err
        return cls(
            rows=rows,
            budget=_as_float(data.get("budget")),
            empirical=_as_float(data.get("empirical")),
            unaccounted=list(data.get("unaccounted", [])),
        )

    def to_markdown(self) -> str:
        """A Markdown table of the rows followed by the end-to-end summary."""

        def fmt(value: float | None) -> str:
            return "—" if value is None else f"{value:.6g}"

        lines = [
            "| # | component | kind | target | certified Lipschitz | within target |",
            "|---|---|---|---|---|---|",
        ]
        for i, row in enumerate(self.rows):
            ok = "yes" if row.within_target else "**NO**"
            lines.append(
                f"| {i} | {row.name} | {row.kind} | {fmt(row.target)} | {fmt(row.lipschitz)} | {ok} |"
            )
        lines += [
            "",
            f"- certified end-to-end bound (product, serial composition): {fmt(self.certified_bound)}",
            f"- planned product of targets: {fmt(self.target_product)}",
            f"- budget K_B: {fmt(self.budget)}",
            f"- empirical K_m (lower bound): {fmt(self.empirical)}",
            f"- utilization K_m / {'K_B' if self.budget is not None else 'bound'}: {fmt(self.utilization)}",
        ]
        if self.unaccounted:
            lines.append(
                f"- NOT CERTIFIED — modules without a known Lipschitz constant: {', '.join(self.unaccounted)}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()
