"""SDP-based Lipschitz Layers (SLL; Araujo et al., ICLR 2023, "A unified algebraic perspective on
Lipschitz neural networks"), scaled to a target Lipschitz constant, plus a rectangular projection.

:class:`SLLBlock` is the residual layer

    ``h(x) = K · (x − 2 W T⁻¹ σ(Wᵀ x + b))``,  ``T = diag_i( Σ_j |WᵀW|_ij q_j / q_i )``,  ``q = exp(q̃)``

with ``W`` of shape ``(features, inner_features)`` and ``σ`` a monotone activation with slopes in
``[0, 1]`` (ReLU, tanh). Since ``T − WᵀW ⪰ 0`` for every positive ``q`` (a scaled Gershgorin bound),
``x − 2 W T⁻¹ σ(Wᵀx + b)`` is 1-Lipschitz (Araujo et al., Thm. 3), so ``h`` is ``K``-Lipschitz exactly,
for any parameter values: the bound needs no iteration and no certification step. Two details matter:

* ``q = exp(q̃)`` keeps ``q`` strictly positive and the same ``q`` in both places of ``q_j / q_i``. The
  reference implementation uses ``|q_j|`` in the numerator but ``1 / (|q_i| + ε)`` for the inverse; that
  makes ``T`` smaller than the proof requires when some ``|q_i|`` is comparable to ``ε``, and the layer is
  then not 1-Lipschitz. (``q̃`` is softly limited to ``±20`` so that the ratios stay inside the float32
  range; any positive ``q`` is valid, so this loses nothing.)
* ``T_ii = 0`` exactly when column ``i`` of ``W`` is zero; that column then contributes nothing and its
  inverse is taken as 0 (``1/T`` would be ``inf`` and its gradient ``nan``).

An SLL block maps ``features → features``. Changing width needs an explicit, budget-correct map:
:class:`SLLProjection` is an ``nn.Linear`` whose weight is Björck-orthogonalised and scaled to its
target (:class:`~monai_lipinr.lipschitz.constraints.BjorckConstraint`): a ``K``-scaled isometry when
widening (``out ≥ in``: ``‖Px‖ = K‖x‖``) and a ``K``-scaled co-isometry (orthogonal projection followed
by an isometry) when narrowing. Its Lipschitz constant is ``σ_max = K`` — the budget is spent exactly, not
wasted — and is certified by the constraint (``projection.constraint.lipschitz_bound()``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from monai.utils import look_up_option
from torch import nn
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.base import LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.constraints import BjorckConstraint, constraint_of
from monai_lipinr.lipschitz.spectral import check_integer

__all__ = ["Q_LOG_RANGE", "SLL_ACTIVATIONS", "SLLBlock", "SLLProjection", "sll_diagonal"]

#: ``q̃`` enters as ``Q_LOG_RANGE · tanh(q̃ / Q_LOG_RANGE)`` (identity for small ``q̃``, ratios ≤ e^40).
Q_LOG_RANGE = 20.0

#: Activations allowed inside an SLL block (monotone, slopes in [0, 1]).
SLL_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


def sll_diagonal(weight: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """The SLL diagonal ``T_i = Σ_j |WᵀW|_ij q_j / q_i`` with ``q = exp(q̃)`` (differentiable).

    Args:
        weight: ``W`` of shape ``(features, inner_features)``.
        q_log: ``q̃`` of shape ``(inner_features,)`` (softly limited to ``±Q_LOG_RANGE``).

    Returns:
        ``T`` of shape ``(inner_features,)`` (non-negative; zero exactly for zero columns of ``W``).
    """
    gram = (weight.T @ weight).abs()
    # smooth range limit |q̃| < Q_LOG_RANGE keeps every ratio q_j / q_i = exp(q̃_j - q̃_i) inside the float32
    # range (any positive q is valid, so this costs no generality), then subtract max(q̃) (ratios unchanged)
    q_log = Q_LOG_RANGE * torch.tanh(q_log / Q_LOG_RANGE)
    q = torch.exp(q_log - q_log.max())
    return (gram @ q) / q


class SLLBlock(nn.Module, LipschitzComponent):
    """SDP-based Lipschitz residual layer scaled to a target (see the module docstring).

    Args:
        features: input = output size (>= 1); inputs have shape ``(..., features)``.
        target: the Lipschitz constant ``K`` of the block (> 0, finite).
        inner_features: columns of ``W`` (>= 1; default ``features``). Cost per sample is
            ``2 · features · inner_features`` multiply-adds.
        activation: ``"relu"`` (default) or ``"tanh"``.
        bias: whether ``b`` is learnt.

    Raises:
        TypeError / ValueError: for bad sizes, target or activation.
    """

    lipschitz_kind = "residual/sll"
    budgetable = True

    def __init__(
        self,
        features: int,
        target: float = 1.0,
        inner_features: int | None = None,
        activation: str = "relu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.features = check_integer("features", features, 1)
        self.inner_features = check_integer(
            "inner_features", features if inner_features is None else inner_features, 1
        )
        self._lipschitz_target = check_positive_finite("target", target)
        self.activation = look_up_option(activation, SLL_ACTIVATIONS)
        self.activation_name = activation
        self.weight = nn.Parameter(torch.empty(self.features, self.inner_features))
        self.q_log = nn.Parameter(torch.zeros(self.inner_features))
        self.bias = nn.Parameter(torch.empty(self.inner_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Orthogonal ``W`` (the block starts gradient-norm-preserving), ``q = 1``, small uniform bias."""
        nn.init.orthogonal_(self.weight)
        nn.init.zeros_(self.q_log)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.features)
            nn.init.uniform_(self.bias, -bound, bound)

    # -- LipschitzComponent ---------------------------------------------------------------------
    def set_lipschitz_target(self, target: float) -> None:
        """Set the block's Lipschitz constant ``K`` (> 0, finite)."""
        self._lipschitz_target = check_positive_finite("target", target)

    def lipschitz_bound(self) -> float:
        """``K``: exact by construction (Araujo et al., Thm. 3), for any parameter values."""
        return self._lipschitz_target

    @torch.no_grad()
    def sdp_margin(self) -> float:
        """Relative margin ``λ_min(T − WᵀW) / max(T)`` in float64 (>= 0 up to rounding: the SDP condition).

        Useful as a numerical audit of the construction; 0.0 for an all-zero weight.
        """
        w = self.weight.detach().to(torch.float64)
        t = sll_diagonal(w, self.q_log.detach().to(torch.float64))
        tmax = float(t.max())
        if tmax == 0.0:
            return 0.0
        return float(torch.linalg.eigvalsh(torch.diag(t) - w.T @ w).min()) / tmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: tensor of shape ``(..., features)``.

        Returns:
            tensor of shape ``(..., features)``.

        Raises:
            ValueError: when the last dimension of ``x`` is not ``features``.
        """
        if x.ndim < 1 or x.shape[-1] != self.features:
            raise ValueError(f"SLLBlock expects input of shape (..., {self.features}), got {tuple(x.shape)}.")
        t = sll_diagonal(self.weight, self.q_log)
        positive = t > 0
        inv_t = torch.where(positive, 1.0 / torch.where(positive, t, torch.ones_like(t)), torch.zeros_like(t))
        k = self._lipschitz_target
        flat = x.reshape(-1, self.features)
        z = flat @ self.weight if self.bias is None else torch.addmm(self.bias, flat, self.weight)
        # K·x − 2K·σ(z)·(W T⁻¹)ᵀ in one fused GEMM (no separate residual / scaling passes)
        out = torch.addmm(flat, self.activation(z), (self.weight * inv_t).T, beta=k, alpha=-2.0 * k)
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        return (
            f"features={self.features}, inner_features={self.inner_features}, "
            f"target={self._lipschitz_target:.6g}, activation={self.activation_name}"
        )


class SLLProjection(nn.Linear):
    """A ``K``-scaled semi-orthogonal linear map between widths (see the module docstring).

    The Lipschitz component is the :class:`~monai_lipinr.lipschitz.constraints.BjorckConstraint` on
    ``weight`` (``self.constraint``), so a ledger walking the module counts it once.

    Args:
        in_features: input size (>= 1).
        out_features: output size (>= 1).
        target: Lipschitz constant ``K`` (> 0, finite).
        bias: whether the layer has a bias.
        constraint_kwargs: passed to :class:`BjorckConstraint` (``tol``, ``max_iterations``, …).

    Raises:
        TypeError / ValueError: for bad sizes or target.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        target: float = 1.0,
        bias: bool = True,
        **constraint_kwargs: Any,
    ) -> None:
        check_integer("in_features", in_features, 1)
        check_integer("out_features", out_features, 1)
        super().__init__(in_features, out_features, bias=bias)
        nn.init.orthogonal_(self.weight)
        parametrize.register_parametrization(self, "weight", BjorckConstraint(target, **constraint_kwargs))

    @property
    def constraint(self) -> BjorckConstraint:
        """The Björck constraint carrying this projection's target and certified bound."""
        return constraint_of(self)  # type: ignore[return-value]

    def lipschitz_bound(self) -> float:
        """Certified bound of ``σ_max`` of the inference weight (delegates to :attr:`constraint`)."""
        return self.constraint.lipschitz_bound()

    def set_lipschitz_target(self, target: float) -> None:
        """Set ``K`` (delegates to :attr:`constraint`)."""
        self.constraint.set_lipschitz_target(target)
