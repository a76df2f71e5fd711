"""``LipschitzINR``: a coordinate network whose Lipschitz budget is split across its components.

Architecture (forward order, which is also the ``named_modules()`` order the ledger reads)::

    embedding ─► linear_0 ─► act_0 ─► linear_1 ─► act_1 ─► … ─► linear_out [─► gain]

With ``constraint="sll"`` the hidden part is ``projection_in ─► SLL blocks ─► projection_out`` instead.

Budget: the global budget ``K_B`` is split by an allocation strategy over *stages*, input to output:
the embedding (when it has a budget) and one stage per linear layer / SLL block. A stage's target
includes the fixed cost of the activation that follows it, so the linear layer receives
``K_stage / Lip(activation)``; the certified end-to-end bound is then ``Π K_stage = K_B``. With
``budget_activations=True`` parametric activations (``Sine``, ``Gaussian``) become stages of their own
and the allocation sets their parameter.

Learned split (``learnable_allocation=True``): the allocation gives the initial shares ``s⁰``, and the
network learns offsets ``θ`` in log-space, ``log s_i = log s⁰_i + θ_i − mean θ`` over the stages whose
component is a constrained linear map (Björck or spectral), the others keep their share. The product
``Π s_i`` stays exactly ``K_B`` at every step, so the certificate is unchanged; training only moves
budget between the stages.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from monai_lipinr.lipschitz.activations import Gaussian as GaussianActivation
from monai_lipinr.lipschitz.activations import GroupSort, Householder, MaxMin, Sine
from monai_lipinr.lipschitz.allocation import allocate_budget
from monai_lipinr.lipschitz.base import LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.bounds import activation_lipschitz
from monai_lipinr.lipschitz.constraints import constrain_linear
from monai_lipinr.lipschitz.embeddings import PositionalEncoding, RandomFourierFeatures
from monai_lipinr.lipschitz.ledger import LipschitzLedger
from monai_lipinr.lipschitz.sll import SLLBlock, SLLProjection
from monai_lipinr.networks.blocks.output_gain import BoundedGain
from monai_lipinr.ops.forward_jacobian import sequential_forward_jacobian
from monai_lipinr.ops.fusion import fuse_stages
from monai_lipinr.ops.validation import check_option

__all__ = ["LipschitzINR", "EMBEDDINGS", "ACTIVATIONS", "CONSTRAINTS"]

EMBEDDINGS = ("none", "positional", "fourier")
ACTIVATIONS = ("relu", "sine", "gaussian", "maxmin", "groupsort", "householder")
CONSTRAINTS = ("none", "spectral", "bjorck", "sll")


def _make_activation(name: str, features: int, kwargs: dict[str, Any]) -> nn.Module:
    name = check_option("activation", name, ACTIVATIONS)
    if name == "relu":
        return nn.ReLU()
    if name == "sine":
        if kwargs.get("learnable_amplitude"):
            kwargs = {"features": features, **kwargs}
        return Sine(**kwargs)
    if name == "gaussian":
        return GaussianActivation(**kwargs)
    if name == "maxmin":
        return MaxMin(**kwargs)
    if name == "groupsort":
        return GroupSort(**kwargs)
    return Householder(features, **kwargs)


def _siren_init_(linear: nn.Linear, first: bool, omega: float) -> None:
    """SIREN initialisation (Sitzmann et al. 2020) for unconstrained sine networks."""
    fan_in = linear.weight.shape[1]
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / omega
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


class LipschitzINR(nn.Module):
    """Implicit neural representation ``R^spatial_dims -> R^out_channels`` with a Lipschitz budget.

    Args:
        spatial_dims: number of input coordinates ``D`` (2 or 3 for images; any ``>= 1``).
            Inputs are ``(N, D)`` points in *network units* (see ``monai_lipinr.budget``), axis order
            as produced by the caller's coordinate transform.
        out_channels: number of outputs (e.g. ``D`` displacement components, 1 intensity).
        hidden_features: width of the hidden layers.
        num_layers: number of hidden layers (linear + activation pairs, or SLL blocks).
        embedding: ``"none"``, ``"positional"`` or ``"fourier"``.
        embedding_kwargs: passed to ``PositionalEncoding`` (``num_octaves``, ``include_input``) or
            ``RandomFourierFeatures`` (``num_features``, ``sigma``, ``seed``).
        activation: ``"relu"``, ``"sine"``, ``"gaussian"``, ``"maxmin"``, ``"groupsort"``,
            ``"householder"`` (ignored for ``constraint="sll"``, whose blocks carry their own).
        activation_kwargs: passed to the activation (e.g. ``omega`` for sine, ``a`` for gaussian;
            ``learnable_amplitude=True`` for sine learns one amplitude per hidden unit at no cost to the
            certificate, see :class:`~monai_lipinr.lipschitz.activations.Sine`).
        first_activation_kwargs: overrides for the first activation (e.g. SIREN's ``omega_0``).
        constraint: ``"bjorck"``, ``"spectral"``, ``"sll"`` or ``"none"``/``None`` (unconstrained).
        constraint_kwargs: passed to the constraint (e.g. Björck tolerance).
        budget: global Lipschitz budget ``K_B`` (output units per network input unit); required with a
            constraint, must be ``None`` without one.
        allocation: allocation strategy name or callable (see ``allocate_budget``).
        allocation_kwargs: strategy parameters (e.g. ``k_min``).
        budget_activations: let the allocation set the parameter of ``Sine``/``Gaussian`` activations.
        learnable_allocation: learn the split of the budget (see the module docstring): the parameter
            ``allocation_offsets`` (``θ``, one per stage, zero at the start) trains with the
            network. Needs ``constraint="bjorck"`` or ``"spectral"``.
        output_gain: initial value of a trailing ``BoundedGain`` (``|g| < 1``, can only give budget
            back), or ``None`` for no gain. ``0.0`` makes the output start at exactly zero.
        output_ceiling: constrain the output layer with a spectral *ceiling* (``σ_max ≤ K_out``, not
            ``= K_out``) and initialise it to zero, so the network starts at exactly zero output and
            spends only the part of its last stage's budget that the data ask for (Björck/spectral
            normalisation would force every singular value / the largest one to equal the target).
            Ignored without a constraint and for ``constraint="sll"``.
        bias: whether linear layers have biases.

    Raises:
        ValueError: for inconsistent arguments (unknown names, budget without constraint, …).
    """

    def __init__(
        self,
        spatial_dims: int,
        out_channels: int,
        hidden_features: int = 256,
        num_layers: int = 3,
        embedding: str | None = "none",
        embedding_kwargs: dict[str, Any] | None = None,
        activation: str = "relu",
        activation_kwargs: dict[str, Any] | None = None,
        first_activation_kwargs: dict[str, Any] | None = None,
        constraint: str | None = "bjorck",
        constraint_kwargs: dict[str, Any] | None = None,
        budget: float | None = None,
        allocation: str = "uniform",
        allocation_kwargs: dict[str, Any] | None = None,
        budget_activations: bool = False,
        learnable_allocation: bool = False,
        output_gain: float | None = None,
        output_ceiling: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("spatial_dims", spatial_dims), ("out_channels", out_channels),
                            ("hidden_features", hidden_features), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        self.spatial_dims = spatial_dims
        self.out_channels = out_channels
        self.constraint = check_option("constraint", constraint or "none", CONSTRAINTS)
        self.activation_name = check_option("activation", activation, ACTIVATIONS)
        self.embedding_name = check_option("embedding", embedding or "none", EMBEDDINGS)
        self.budget_activations = bool(budget_activations)
        constraint_kwargs = dict(constraint_kwargs or {})
        activation_kwargs = dict(activation_kwargs or {})
        first_kwargs = {**activation_kwargs, **(first_activation_kwargs or {})}
        if self.constraint == "none" and budget is not None:
            raise ValueError(f"budget={budget!r} needs a constraint; got constraint={constraint!r}.")
        if self.constraint != "none" and budget is None:
            raise ValueError(f"constraint={constraint!r} needs a budget (a positive float), got None.")
        if not isinstance(learnable_allocation, bool):
            raise TypeError(f"learnable_allocation must be a bool, got {type(learnable_allocation).__name__}.")
        if learnable_allocation and self.constraint not in ("bjorck", "spectral"):
            raise ValueError(
                f"learnable_allocation=True needs constraint='bjorck' or 'spectral', got constraint={constraint!r}."
            )

        # -- embedding -------------------------------------------------------------------------
        emb_kwargs = dict(embedding_kwargs or {})
        if self.embedding_name == "positional":
            self.embedding: nn.Module = PositionalEncoding(spatial_dims, **emb_kwargs)
            in_features = self.embedding.out_features
        elif self.embedding_name == "fourier":
            self.embedding = RandomFourierFeatures(spatial_dims, **emb_kwargs)
            in_features = self.embedding.out_features
        else:
            self.embedding = nn.Identity()
            in_features = spatial_dims

        # -- body --------------------------------------------------------------------------------
        body: list[nn.Module] = []
        if self.constraint == "sll":
            body.append(SLLProjection(in_features, hidden_features, target=1.0))
            # inner width = half the block width: a block then costs the GEMMs of one plain linear layer
            # (two half-width products), the compute-matched setting of benchmarks/constraints.py
            inner = max(1, hidden_features // 2)
            body.extend(SLLBlock(hidden_features, target=1.0, inner_features=inner) for _ in range(num_layers))
            body.append(SLLProjection(hidden_features, out_channels, target=1.0))
        else:
            width = in_features
            for i in range(num_layers):
                linear = nn.Linear(width, hidden_features, bias=bias)
                act_kwargs = first_kwargs if i == 0 else activation_kwargs
                if self.budget_activations and self.activation_name in ("sine", "gaussian"):
                    act_kwargs = {**act_kwargs, "budgetable": True}
                act = _make_activation(activation, hidden_features, act_kwargs)
                if self.constraint == "none" and self.activation_name == "sine":
                    _siren_init_(linear, first=i == 0, omega=float(getattr(act, "omega", 1.0)))
                body += [linear, act]
                width = hidden_features
            out = nn.Linear(width, out_channels, bias=bias)
            if self.constraint == "none" and self.activation_name == "sine":
                _siren_init_(out, first=False, omega=float(activation_kwargs.get("omega", 1.0)))
            body.append(out)
            if self.constraint != "none":
                for m in body:
                    if not isinstance(m, nn.Linear):
                        continue
                    if m is out and output_ceiling:
                        nn.init.zeros_(m.weight)
                        if m.bias is not None:
                            nn.init.zeros_(m.bias)
                        constrain_linear(m, "spectral", target=1.0, ceiling=True)
                    else:
                        nn.init.orthogonal_(m.weight)
                        constrain_linear(m, self.constraint, target=1.0, **constraint_kwargs)
        if output_gain is not None:
            body.append(BoundedGain(output_gain))
        self.body = nn.Sequential(*body)

        self._budget: float | None = None
        self._allocation: str = allocation if isinstance(allocation, str) else "custom"
        self._allocation_fn = allocation
        self._allocation_kwargs: dict[str, Any] = dict(allocation_kwargs or {})
        self.learnable_allocation = learnable_allocation
        if learnable_allocation:
            # the stages whose weight constraint accepts a differentiable target (Björck, spectral)
            # Plain float64 CPU tensors, not buffers: ``net.float()``/``net.half()`` must not round them.
            free = [hasattr(self._component_of(c), "bind_target_tensor") for c, _ in self._stages()]
            self._learnable_stages = torch.tensor(free, dtype=torch.float64)
            self._initial_log_shares = torch.zeros(len(free), dtype=torch.float64)
            # the default dtype, so ``next(net.parameters())`` still tells the dtype inputs should have
            self.allocation_offsets = nn.Parameter(torch.zeros(len(free)))
        if budget is not None:
            self.set_budget(budget, allocation, **self._allocation_kwargs)

    # ------------------------------------------------------------------------------------------
    # budget
    # ------------------------------------------------------------------------------------------
    def _stages(self) -> list[tuple[nn.Module, float]]:
        """Budgeted stages in forward order: ``(component, fixed cost that follows it)``."""
        stages: list[tuple[nn.Module, float]] = []
        if isinstance(self.embedding, LipschitzComponent) and self.embedding.budgetable:
            stages.append((self.embedding, 1.0))
        modules = list(self.body)
        for i, m in enumerate(modules):
            if isinstance(m, (SLLBlock, SLLProjection)):
                stages.append((m, 1.0))
            elif isinstance(m, nn.Linear):
                follow = modules[i + 1] if i + 1 < len(modules) else None
                cost = 1.0
                if follow is not None and not isinstance(follow, (nn.Linear, BoundedGain)):
                    if self.budget_activations and getattr(follow, "budgetable", False):
                        cost = 1.0
                    else:
                        lip = activation_lipschitz(follow)
                        if lip is None:
                            raise ValueError(f"unknown Lipschitz constant for activation {follow!r}.")
                        cost = float(lip)
                stages.append((m, cost))
                if self.budget_activations and follow is not None and getattr(follow, "budgetable", False):
                    stages.append((follow, 1.0))
        return stages

    @property
    def num_stages(self) -> int:
        """Number of budgeted stages ``M`` the allocation splits the budget over."""
        return len(self._stages())

    @property
    def budget(self) -> float | None:
        """The global Lipschitz budget ``K_B`` (``None`` for an unconstrained network)."""
        return self._budget

    @property
    def allocation(self) -> str:
        return self._allocation

    def set_budget(self, total: float, allocation: str | None = None, **allocation_kwargs: Any) -> torch.Tensor:
        """Re-allocate the global budget in place (the *allocation hook*; valid mid-training).

        Args:
            total: new global budget ``K_B`` (> 0).
            allocation: strategy name or callable; ``None`` keeps the current one.
            allocation_kwargs: strategy parameters (replace the current ones when given).

        With ``learnable_allocation`` the strategy's targets become the initial shares ``s⁰`` and the
        learned offsets ``θ`` are kept, so the learned redistribution carries over to the new budget.

        Returns:
            the per-stage targets (float64), input to output (with the learned offsets applied).
        """
        if self.constraint == "none":
            raise ValueError("set_budget needs a constrained network; this one has constraint='none'.")
        total = check_positive_finite("total", total)
        if allocation is not None:
            self._allocation_fn = allocation
            self._allocation = allocation if isinstance(allocation, str) else "custom"
            self._allocation_kwargs = dict(allocation_kwargs)
        elif allocation_kwargs:
            self._allocation_kwargs = dict(allocation_kwargs)
        stages = self._stages()
        targets = allocate_budget(total, len(stages), self._allocation_fn, **self._allocation_kwargs)
        self._budget = total
        if self.learnable_allocation:
            self._initial_log_shares.copy_(torch.log(targets))
            return self._sync_learned_targets()
        for (component, cost), target in zip(stages, targets.tolist()):
            comp = self._component_of(component)
            comp.set_lipschitz_target(target / cost)
        return targets

    def stage_log_shares(self) -> torch.Tensor:
        """``log s_i`` of every stage, input to output (float64; differentiable in ``allocation_offsets``).

        Raises:
            ValueError: for a network without a budget.
        """
        if self._budget is None:
            raise ValueError("stage_log_shares needs a constrained network with a budget.")
        if not self.learnable_allocation:
            return torch.log(torch.tensor(self._stage_targets(), dtype=torch.float64))
        theta = self.allocation_offsets
        dtype = torch.float32 if theta.device.type == "mps" else torch.float64  # MPS has no float64
        free = self._learnable_stages.to(device=theta.device, dtype=dtype)
        offsets = theta.to(dtype) * free
        offsets = offsets - (offsets.sum() / free.sum().clamp_min(1.0)) * free
        return self._initial_log_shares.to(device=theta.device, dtype=dtype) + offsets

    def _stage_targets(self) -> list[float]:
        """Current stage shares ``K_stage`` (component target times the fixed cost that follows it)."""
        return [float(self._component_of(c).lipschitz_target) * cost for c, cost in self._stages()]

    @torch.no_grad()
    def _sync_learned_targets(self) -> torch.Tensor:
        """Set every component's float target from the learned shares; returns the shares (float64, CPU)."""
        shares = torch.exp(self.stage_log_shares()).cpu()
        for (component, cost), share in zip(self._stages(), shares.tolist()):
            comp = self._component_of(component)
            if comp.lipschitz_target != share / cost:
                comp.set_lipschitz_target(share / cost)
        return shares

    @contextlib.contextmanager
    def _learned_targets(self) -> Iterator[None]:
        """During one forward pass: float targets synced and, when the offsets train, tensor targets bound."""
        if not self.learnable_allocation or self._budget is None:
            yield
            return
        self._sync_learned_targets()
        bound: list[Any] = []
        if torch.is_grad_enabled() and self.allocation_offsets.requires_grad:
            shares = torch.exp(self.stage_log_shares())
            for (component, cost), share, free in zip(self._stages(), shares, self._learnable_stages.tolist()):
                comp = self._component_of(component)
                if free:
                    comp.bind_target_tensor(share / cost)
                    bound.append(comp)
        try:
            yield
        finally:
            for comp in bound:
                comp.bind_target_tensor(None)

    @staticmethod
    def _component_of(module: nn.Module) -> LipschitzComponent:
        if isinstance(module, LipschitzComponent):
            return module
        from monai_lipinr.lipschitz.constraints import constraint_of

        comp = constraint_of(module)
        if comp is None:
            raise ValueError(f"module {module!r} carries no Lipschitz constraint.")
        return comp

    def ledger(self, empirical: float | None = None) -> LipschitzLedger:
        """The per-component Lipschitz ledger (certified bounds, targets, optional empirical ``K_m``)."""
        if self.learnable_allocation and self._budget is not None:
            self._sync_learned_targets()  # the offsets may have moved since the last forward
        ledger = LipschitzLedger.from_module(self, empirical=empirical)
        if self._budget is not None:
            ledger.budget = self._budget
        return ledger

    # ------------------------------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {
            "budget": self._budget,
            "allocation": self._allocation,
            "allocation_kwargs": dict(self._allocation_kwargs),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("budget") is None:
            return
        allocation = state.get("allocation", "uniform")
        if allocation == "custom":
            allocation = self._allocation_fn  # a callable cannot be serialised: keep the live one
        self.set_budget(state["budget"], allocation, **state.get("allocation_kwargs", {}))

    # ------------------------------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------------------------------
    def _check_points(self, points: torch.Tensor) -> None:
        if not isinstance(points, torch.Tensor):
            raise TypeError(f"points must be a torch.Tensor, got {type(points).__name__}.")
        if points.ndim < 1 or points.shape[-1] != self.spatial_dims:
            raise ValueError(
                f"points must have shape (..., spatial_dims={self.spatial_dims}), got {tuple(points.shape)}."
            )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Evaluate the network at ``points`` ``(..., spatial_dims)`` (network units) → ``(..., out_channels)``."""
        self._check_points(points)
        lead = points.shape[:-1]
        h = points.reshape(-1, self.spatial_dims)
        with self._learned_targets():
            for step in self._forward_steps():
                h = step(h)
        return h.reshape(*lead, self.out_channels)

    def forward_with_jacobian(
        self, points: torch.Tensor, jacobian_points: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Value and exact Jacobian w.r.t. the input coordinates in one forward pass.

        Args:
            points: ``(N, spatial_dims)`` in network units.
            jacobian_points: compute the Jacobian only at the first ``m`` points (``None``: all). The
                values of all ``N`` points are still returned. Propagating the tangents costs about
                ``spatial_dims`` extra forward passes per point, so a regulariser estimated on a random
                subset of a random batch (a Monte-Carlo estimate of the same expectation) is much
                cheaper than one on every point.

        Returns:
            ``(values (N, out_channels), jacobian (m, out_channels, spatial_dims))`` with ``m = N`` when
            ``jacobian_points`` is ``None`` or ``>= N``.

        Raises:
            ValueError: for points that are not ``(N, spatial_dims)``, or ``jacobian_points < 1``.
        """
        self._check_points(points)
        if points.ndim != 2:
            raise ValueError(f"points must have shape (N, {self.spatial_dims}), got {tuple(points.shape)}.")
        if jacobian_points is not None and (
            isinstance(jacobian_points, bool) or not isinstance(jacobian_points, int) or jacobian_points < 1
        ):
            raise ValueError(f"jacobian_points must be an int >= 1 or None, got {jacobian_points!r}.")
        with self._learned_targets():
            if jacobian_points is None or jacobian_points >= points.shape[0]:
                return sequential_forward_jacobian(self._forward_steps(), points)
            values, jacobian = sequential_forward_jacobian(self._forward_steps(), points[:jacobian_points])
        return torch.cat((values, self(points[jacobian_points:]))), jacobian

    def _forward_steps(self) -> list:
        # forward order with every Linear -> Sine pair fused (ω folded into the weights, see ops.fusion)
        return fuse_stages([self.embedding, *self.body])
