"""Weight constraints that deliver a target Lipschitz constant ``K_i`` on any ``nn.Linear``.

Both constraints are ``torch.nn.utils.parametrize`` parametrizations of a linear layer's ``weight``
(shape ``(out_features, in_features)``) and :class:`~monai_lipinr.lipschitz.base.LipschitzComponent`\\ s
(budgetable): :func:`constrain_linear` registers one, :func:`constraint_of` finds it again.

**Spectral normalisation** (:class:`SpectralNormConstraint`): ``W_eff = K · W / σ(W)``.

* Persistent power iteration: vectors ``u, v`` are buffers (saved in the ``state_dict``), primed with
  ``init_iterations`` iterations when the weight is first seen and advanced ``num_iterations`` per
  training forward. The gradient flows through ``uᵀ W v`` as in
  ``torch.nn.utils.parametrizations.spectral_norm``.
* The *value* of ``σ`` is the certified Gram bound
  :func:`~monai_lipinr.lipschitz.spectral.spectral_norm_upper_bound` (float64, never below the true
  ``σ``, cached until the raw weight changes), in training (default ``certified_training=True``) and in
  evaluation mode alike: the weight never overshoots ``K``, and the weight the network trained with is
  exactly the one it uses at inference. A power estimate alone is a *lower* bound; when the loss pushes
  several singular values to the cap (which is what a spectral constraint provokes) one iteration per
  step lags and ``W/σ̂`` exceeds ``K`` by a few percent (measured 2.5 % on a 30×20 layer fitting a
  steep map), which is the overshoot that compounds across layers. With ``certified_training=False``
  training divides by ``σ̂`` (classic, cheaper); inference is still certified, but then differs from
  the training weight by the lag.
* A final factor ``1 − √min(m, n)·eps`` absorbs the rounding of the scaling itself, so even the stored
  float32 weight satisfies ``σ_max ≤ K``.

**Björck orthogonalisation** (:class:`BjorckConstraint`): ``W_eff = K · B(W / c)`` where ``B`` is
order-1 Björck iteration ``W ← W (1.5 I − 0.5 WᵀW)`` (on the smaller Gram matrix; rectangular weights
become semi-orthogonal) and ``c`` is a scale chosen so that every singular value of ``W / c`` is at
most ``√3``. The map ``s ↦ 1.5 s − 0.5 s³`` sends ``[0, √3]`` into ``[0, 1]`` (and ``[0, 1]`` into
itself), so after the first iteration ``σ_max ≤ 1`` holds *whatever the convergence*; further
iterations only raise the small singular values towards 1. ``c = max(σ̂, ν / √3)`` combines the
power-iteration estimate ``σ̂ ≤ σ`` (puts the top singular value near 1, where convergence is
quadratic) with a certified bound ``ν ≥ σ`` from the Gram matrix ``A = WᵀW`` the first iteration
needs anyway (``ν² = min(‖A‖_F, ‖A‖_∞)``), which guarantees ``σ(W / c) ≤ √3``. Iterations stop when the
orthogonality residual of the result is certified below ``tol`` (``‖E'‖_F ≤ ‖E‖_F²`` for
``E = WᵀW − I`` before and ``E'`` after an iteration), or after ``max_iterations``. The result is
differentiated by autograd. In evaluation mode the float rounding of the result is removed as well:
``W_eff`` is divided by its certified float64 bound when that exceeds 1.

*Retraction* (optional, Björck): the raw parameter drifts away from orthogonal under the optimiser, and
the further it drifts the more iterations each forward needs. :func:`register_retraction` installs an
optimiser pre-step hook that replaces the raw parameter by its orthogonalised version from the last
forward (free: it was computed already) before the update is applied. The represented weight is
unchanged up to ``tol`` (``B`` fixes orthogonal matrices), and each forward then starts from
``orthogonal + one optimiser step``, which typically needs one or two iterations.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from monai.utils import look_up_option
from torch import nn
from torch.nn.utils import parametrize

from monai_lipinr.lipschitz.base import LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.spectral import (
    DEFAULT_GRAM_ITERATIONS,
    check_integer,
    check_weight_matrix,
    spectral_norm_upper_bound,
)

__all__ = [
    "CONSTRAINT_METHODS",
    "BjorckConstraint",
    "SpectralNormConstraint",
    "bjorck_orthogonalize",
    "constrain_linear",
    "constraint_of",
    "lipschitz_linear",
    "register_retraction",
    "retract_constraints",
]

#: Names accepted by :func:`constrain_linear` (``method``).
CONSTRAINT_METHODS = ("spectral", "bjorck")

_SQRT3 = math.sqrt(3.0)


def _rounding_margin(x: torch.Tensor) -> float:
    """``1 − √min(m, n)·eps``: multiplying a weight by a scale rounds each entry by up to ``eps/2``
    relative, which can raise ``σ_max`` by up to ``√min(m, n)·eps/2`` relative; this factor absorbs it."""
    return 1.0 - math.sqrt(min(x.shape)) * torch.finfo(x.dtype).eps


def _tensor_key(x: torch.Tensor) -> tuple:
    """Identity of a tensor's current contents: storage, in-place version, dtype, device."""
    return (x.data_ptr(), x._version, x.dtype, x.device, tuple(x.shape))


@torch.no_grad()
def _power_step(weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor, num_iterations: int) -> None:
    """``num_iterations`` in-place power iterations on the buffers ``u`` (left) and ``v`` (right)."""
    w = weight.detach()
    for _ in range(num_iterations):
        v.copy_(nn.functional.normalize(w.T @ u, dim=0, eps=1e-30))
        u.copy_(nn.functional.normalize(w @ v, dim=0, eps=1e-30))


def bjorck_orthogonalize(
    weight: torch.Tensor,
    tol: float = 1e-3,
    max_iterations: int = 30,
    sigma_estimate: float | None = None,
) -> tuple[torch.Tensor, int, float]:
    """Differentiable order-1 Björck orthogonalisation with a certified start scale and early exit.

    Args:
        weight: matrix of shape ``(out_features, in_features)`` (any float dtype; autograd-aware).
        tol: stop once the orthogonality residual ``‖WᵀW − I‖_F`` of the result (on the smaller Gram
            matrix) is certified ``≤ tol``.
        max_iterations: iteration cap (>= 1; at least one iteration always runs).
        sigma_estimate: optional lower estimate of ``σ_max(weight)`` (e.g. power iteration); it sets
            the start scale so that the top singular value starts near 1. Without it the certified
            Gram-matrix bound alone is used.

    Returns:
        ``(W, iterations, residual_bound)``: the orthogonalised matrix (same shape/dtype; every singular
        value in ``[0, 1]`` up to float rounding), the number of iterations run, and the certified
        bound of ``‖WᵀW − I‖_F`` of the result.

    Raises:
        TypeError / ValueError: for a malformed weight or arguments.
    """
    check_weight_matrix(weight)
    tol = check_positive_finite("tol", tol)
    check_integer("max_iterations", max_iterations, 1)
    tall = weight.shape[0] >= weight.shape[1]
    w = weight
    gram = w.T @ w if tall else w @ w.T
    g = gram.detach()
    # certified λ_max(A) ≤ min(‖A‖_F, ‖A‖_∞) (A symmetric PSD); float rounding is far inside the √3 margin
    lam_bound = min(float(torch.linalg.matrix_norm(g, ord="fro")), float(g.abs().sum(dim=1).max()))
    if lam_bound == 0.0:
        return w * 0.0, 0, float(min(weight.shape)) ** 0.5
    c = math.sqrt(lam_bound) / _SQRT3
    if sigma_estimate is not None and math.isfinite(sigma_estimate):
        c = max(c, float(sigma_estimate))
    eye = torch.eye(g.shape[0], dtype=g.dtype, device=g.device)
    w = w / c
    gram = gram / (c * c)
    residual = float("inf")
    it = 0
    while True:
        pre = float(torch.linalg.matrix_norm(gram.detach() - eye, ord="fro"))
        w = 1.5 * w - 0.5 * (w @ gram if tall else gram @ w)
        it += 1
        residual = pre * pre
        if residual <= tol or it >= max_iterations:
            break
        gram = w.T @ w if tall else w @ w.T
    return w, it, residual


class _WeightConstraint(nn.Module, LipschitzComponent):
    """Shared machinery of the linear-weight parametrizations (target, raw-weight reference, caches)."""

    budgetable = True

    def __init__(self, target: float, certify_iterations: int = DEFAULT_GRAM_ITERATIONS) -> None:
        super().__init__()
        self._lipschitz_target = check_positive_finite("target", target)
        self.certify_iterations = check_integer("certify_iterations", certify_iterations, 1)
        self.register_buffer("_u", None)
        self.register_buffer("_v", None)
        self.__dict__["_raw_weight"] = None  # plain reference (not a registered parameter)
        self.__dict__["_target_tensor"] = None  # a bound differentiable target (see bind_target_tensor)
        self._eval_cache: tuple[tuple, Any] | None = None

    # -- LipschitzComponent ---------------------------------------------------------------------
    def set_lipschitz_target(self, target: float) -> None:
        """Set the Lipschitz constant ``K_i`` the constrained weight must not exceed.

        Raises:
            TypeError / ValueError: for a non-real, non-finite or non-positive target.
        """
        self._lipschitz_target = check_positive_finite("target", target)
        self._eval_cache = None

    def bind_target_tensor(self, target: torch.Tensor | None) -> None:
        """Scale the weight by a differentiable target (a trainable budget share) until unbound.

        The owner of a learned split binds the 0-dim tensor ``exp(log share)`` before a forward pass so that
        the loss reaches the share, and unbinds it (``None``) after: a bound tensor belongs to one graph.
        The float target (:meth:`set_lipschitz_target`) must hold the same value; it is the one the
        certificate, the ledger and the evaluation weight use.

        Args:
            target: a positive 0-dim tensor, or ``None`` to unbind.

        Raises:
            ValueError: for a tensor that is not 0-dim.
        """
        if target is not None and (not isinstance(target, torch.Tensor) or target.ndim != 0):
            raise ValueError(f"target must be a 0-dim tensor or None, got {target!r}.")
        self.__dict__["_target_tensor"] = target

    def _target(self) -> float | torch.Tensor:
        """The target the constrained weight is scaled to: the bound tensor if any, else the float."""
        bound = self.__dict__.get("_target_tensor")
        return self._lipschitz_target if bound is None else bound

    def lipschitz_bound(self) -> float:
        """Certified upper bound (float64 Gram iteration) of ``σ_max`` of the inference weight.

        The inference weight is the one the layer uses in evaluation mode (see the module docstring).

        Raises:
            RuntimeError: when the constraint has not seen its weight yet (not registered on a layer).
        """
        with torch.no_grad():
            w = self.effective_weight()
        return spectral_norm_upper_bound(w, self.certify_iterations)

    def effective_weight(self) -> torch.Tensor:
        """The constrained weight used at inference (evaluation mode), detached.

        Raises:
            RuntimeError: when the constraint has not seen its weight yet.
        """
        raw = self.__dict__.get("_raw_weight")
        if raw is None:
            raise RuntimeError(
                f"{type(self).__name__} has no weight yet: register it on a layer with constrain_linear()."
            )
        with torch.no_grad():
            return self._constrained(raw.detach(), certified=True)

    # -- parametrization --------------------------------------------------------------------------
    def _remember(self, x: torch.Tensor) -> None:
        self.__dict__["_raw_weight"] = x if isinstance(x, nn.Parameter) else x.detach()

    def _ensure_vectors(self, x: torch.Tensor, init_iterations: int) -> None:
        out_f, in_f = x.shape
        if self._u is None or self._u.shape != (out_f,) or self._v.shape != (in_f,):
            with torch.no_grad():
                gen = torch.Generator(device="cpu").manual_seed(out_f * 7919 + in_f)
                u = torch.randn(out_f, generator=gen, dtype=torch.float64).to(device=x.device, dtype=x.dtype)
                self._u = nn.functional.normalize(u, dim=0)
                self._v = torch.zeros(in_f, dtype=x.dtype, device=x.device)
                _power_step(x, self._u, self._v, init_iterations)
        elif self._u.dtype != x.dtype or self._u.device != x.device:
            self._u = self._u.to(device=x.device, dtype=x.dtype)
            self._v = self._v.to(device=x.device, dtype=x.dtype)

    def right_inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Called at registration (and on ``layer.weight = value``): keeps the raw weight, primes ``u, v``."""
        check_weight_matrix(x, "weight")
        if isinstance(x, nn.Parameter) or self.__dict__.get("_raw_weight") is None:
            self._remember(x)  # (on `layer.weight = value`, x is the value, not the raw parameter)
        self._ensure_vectors(x.detach(), self.init_iterations)
        self._eval_cache = None
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects a 2-D weight, got shape {tuple(x.shape)}.")
        self._remember(x)
        self._ensure_vectors(x.detach(), self.init_iterations)
        if self.training:
            return self._constrained(x, certified=False)
        return self._constrained(x, certified=True)

    def _constrained(self, x: torch.Tensor, certified: bool) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"target={self._lipschitz_target:.6g}"


class SpectralNormConstraint(_WeightConstraint):
    """Spectral normalisation to a target: ``W_eff = K · W / σ(W)`` (see the module docstring).

    Args:
        target: the Lipschitz constant ``K`` of the constrained linear map (> 0, finite).
        num_iterations: power iterations per training forward (>= 1), warm-started from the buffers.
        init_iterations: power iterations the first time the weight is seen (>= 1).
        certify_iterations: Gram iterations of the certified bound (>= 1).
        certified_training: when true (default), the training weight is divided by the certified bound as
            well (its value; the gradient flows through the power estimate ``uᵀWv``), so training and
            inference use the same weight and neither overshoots; costs one float64 Gram bound per
            training forward. When false, training divides by the power estimate (classic spectral
            normalisation: cheaper, may overshoot while training; inference is certified either way).
        bound_rtol: the Gram iteration stops once the certified bound is within this relative distance of
            the power estimate (a lower bound), so the normaliser is tight to ``bound_rtol`` whenever the
            power iteration has converged, in fewer than ``certify_iterations`` iterations.
        ceiling: when true, ``K`` is a ceiling rather than a value: ``W_eff = W`` while the certified
            ``σ(W) ≤ K`` and ``K · W / σ(W)`` beyond, so a small (or zero) weight stays small and the layer
            spends only the part of its budget that training asks for. Still certified: ``σ(W_eff) ≤ K``.

    Raises:
        TypeError / ValueError: for bad arguments (naming the argument and value).
    """

    lipschitz_kind = "linear/spectral"

    def __init__(
        self,
        target: float = 1.0,
        num_iterations: int = 1,
        init_iterations: int = 50,
        certify_iterations: int = DEFAULT_GRAM_ITERATIONS,
        certified_training: bool = True,
        bound_rtol: float = 1e-6,
        ceiling: bool = False,
    ) -> None:
        super().__init__(target, certify_iterations)
        if not isinstance(ceiling, bool):
            raise TypeError(f"ceiling must be a bool, got {type(ceiling).__name__}.")
        self.ceiling = ceiling
        if ceiling:
            self.lipschitz_kind = "linear/spectral-ceiling"
        if not isinstance(bound_rtol, (int, float)) or not math.isfinite(bound_rtol) or bound_rtol < 0:
            raise ValueError(f"bound_rtol must be a finite number >= 0, got {bound_rtol!r}.")
        self.bound_rtol = float(bound_rtol)
        self.num_iterations = check_integer("num_iterations", num_iterations, 1)
        self.init_iterations = check_integer("init_iterations", init_iterations, 1)
        if not isinstance(certified_training, bool):
            raise TypeError(f"certified_training must be a bool, got {type(certified_training).__name__}.")
        self.certified_training = certified_training

    def _certified_sigma(self, x: torch.Tensor) -> float:
        key = _tensor_key(x)
        if self._eval_cache is not None and self._eval_cache[0] == key:
            return self._eval_cache[1]
        xd = x.detach()
        lower = None
        if self._v is not None:  # power estimate ‖W v‖ ≤ σ: lets the Gram iteration stop once tight
            lower = float(torch.linalg.vector_norm(xd.to(torch.float64) @ self._v.to(torch.float64)))
        sigma = spectral_norm_upper_bound(
            xd, self.certify_iterations, lower_bound=lower, rtol=self.bound_rtol
        )
        self._eval_cache = (key, sigma)
        return sigma

    def _constrained(self, x: torch.Tensor, certified: bool) -> torch.Tensor:
        target = self._target()
        if self.ceiling and self._certified_sigma(x) <= target * _rounding_margin(x):
            if self.training:
                _power_step(x, self._u, self._v, self.num_iterations)  # keep the vectors warm for later
            return x
        if certified:
            sigma = self._certified_sigma(x)
            return x * (target * _rounding_margin(x) / sigma) if sigma > 0.0 else x * 0.0
        _power_step(x, self._u, self._v, self.num_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma_t = torch.dot(u, x @ v)
        if not self.certified_training:
            if float(sigma_t.detach()) <= 0.0:
                return x * 0.0
            return x * (target / sigma_t)
        sigma = self._certified_sigma(x)
        if sigma <= 0.0:
            return x * 0.0
        # value: the certified bound (as at inference); gradient: that of the power estimate uᵀWv
        sigma_t = sigma_t + (sigma - sigma_t.detach())
        return x * (target * _rounding_margin(x) / sigma_t)

    @property
    def power_estimate(self) -> float | None:
        """Current power-iteration estimate ``‖W v‖`` of the raw weight (``None`` before first use)."""
        raw = self.__dict__.get("_raw_weight")
        if raw is None or self._v is None:
            return None
        with torch.no_grad():
            return float(torch.linalg.vector_norm(raw.detach() @ self._v))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_iterations={self.num_iterations}, "
            f"certified_training={self.certified_training}, ceiling={self.ceiling}"
        )


class BjorckConstraint(_WeightConstraint):
    """Björck orthogonalisation to a target: ``W_eff = K · B(W / c)`` (see the module docstring).

    Args:
        target: the Lipschitz constant ``K`` of the constrained linear map (> 0, finite).
        tol: orthogonality tolerance, on the certified residual ``‖W_bᵀW_b − I‖_F`` of the
            orthogonalised weight (on the smaller Gram matrix).
        max_iterations: Björck iterations cap per forward (>= 1).
        power_iterations: power iterations per training forward for the start scale (>= 1).
        init_iterations: power iterations the first time the weight is seen (>= 1).
        certify_iterations: Gram iterations of the certified bound (>= 1).

    Attributes:
        last_iterations: Björck iterations run by the last forward.
        last_residual: certified orthogonality residual of the last forward.

    Raises:
        TypeError / ValueError: for bad arguments (naming the argument and value).
    """

    lipschitz_kind = "linear/bjorck"

    def __init__(
        self,
        target: float = 1.0,
        tol: float = 1e-3,
        max_iterations: int = 30,
        power_iterations: int = 1,
        init_iterations: int = 30,
        certify_iterations: int = DEFAULT_GRAM_ITERATIONS,
    ) -> None:
        super().__init__(target, certify_iterations)
        self.tol = check_positive_finite("tol", tol)
        self.max_iterations = check_integer("max_iterations", max_iterations, 1)
        self.power_iterations = check_integer("power_iterations", power_iterations, 1)
        self.init_iterations = check_integer("init_iterations", init_iterations, 1)
        self.last_iterations = 0
        self.last_residual = float("nan")
        self._stash: tuple[tuple, torch.Tensor] | None = None

    def _orthogonalize(self, x: torch.Tensor, update_vectors: bool) -> torch.Tensor:
        if update_vectors:
            _power_step(x, self._u, self._v, self.power_iterations)
        with torch.no_grad():
            sigma_hat = float(torch.linalg.vector_norm(x.detach() @ self._v))
        w, self.last_iterations, self.last_residual = bjorck_orthogonalize(
            x, self.tol, self.max_iterations, sigma_estimate=sigma_hat
        )
        return w

    def _constrained(self, x: torch.Tensor, certified: bool) -> torch.Tensor:
        target = self._target()
        if not certified:
            w = self._orthogonalize(x, update_vectors=True)
            self._stash = (_tensor_key(x), w.detach())
            return w * target
        needs_graph = torch.is_grad_enabled() and x.requires_grad
        key = _tensor_key(x)
        if not needs_graph and self._eval_cache is not None and self._eval_cache[0] == key:
            return self._eval_cache[1]
        w = self._orthogonalize(x, update_vectors=False)
        bound = spectral_norm_upper_bound(w.detach(), self.certify_iterations)
        scale = target * _rounding_margin(w) / max(bound, 1.0)
        out = w * scale
        if not needs_graph:
            self._eval_cache = (key, out.detach())
        return out

    @torch.no_grad()
    def retract(self) -> bool:
        """Replace the raw weight by its orthogonalised version (represented weight unchanged up to ``tol``).

        Uses the result of the last training forward when it was computed from the current raw weight
        (free), otherwise orthogonalises anew.

        Returns:
            ``True`` when the raw weight was replaced; ``False`` when there is no raw weight or it is not
            a leaf parameter (e.g. another parametrization precedes this one).
        """
        raw = self.__dict__.get("_raw_weight")
        if not isinstance(raw, nn.Parameter):
            return False
        if self._stash is not None and self._stash[0] == _tensor_key(raw):
            w = self._stash[1]
        else:
            w = self._orthogonalize(raw.detach(), update_vectors=False)
        raw.copy_(w)
        self._stash = None
        self._eval_cache = None
        return True

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tol={self.tol:g}, max_iterations={self.max_iterations}"


_CONSTRAINT_CLASSES: dict[str, type[_WeightConstraint]] = {
    "spectral": SpectralNormConstraint,
    "bjorck": BjorckConstraint,
}


def constraint_of(linear: nn.Module) -> LipschitzComponent | None:
    """The Lipschitz constraint registered on ``linear.weight``, or ``None``.

    Args:
        linear: any module (typically an ``nn.Linear``).

    Returns:
        The first :class:`~monai_lipinr.lipschitz.base.LipschitzComponent` among the parametrizations of
        ``linear.weight``, or ``None`` when there is none.
    """
    if not isinstance(linear, nn.Module) or not parametrize.is_parametrized(linear, "weight"):
        return None
    for p in linear.parametrizations["weight"]:
        if isinstance(p, LipschitzComponent):
            return p
    return None


def constrain_linear(linear: nn.Linear, method: str, target: float, **kwargs: Any) -> nn.Linear:
    """Register a Lipschitz constraint on ``linear.weight`` (in place) and return the layer.

    Args:
        linear: the layer; its current weight is kept as the raw parameter.
        method: ``"spectral"`` or ``"bjorck"``.
        target: Lipschitz constant ``K`` of the constrained map ``x ↦ W x + b`` (> 0, finite).
        kwargs: passed to the constraint class (e.g. ``tol``, ``num_iterations``).

    Returns:
        ``linear`` (now parametrized; :func:`constraint_of` returns the constraint).

    Raises:
        TypeError: when ``linear`` is not an ``nn.Linear`` or ``target`` is not a real number.
        ValueError: for an unknown method, a bad target, or a layer that already carries a constraint.
    """
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}.")
    method = look_up_option(method, CONSTRAINT_METHODS)
    if constraint_of(linear) is not None:
        raise ValueError(f"linear already carries a Lipschitz constraint ({constraint_of(linear)!r}).")
    constraint = _CONSTRAINT_CLASSES[method](target, **kwargs)
    parametrize.register_parametrization(linear, "weight", constraint)
    return linear


def lipschitz_linear(
    in_features: int,
    out_features: int,
    method: str = "bjorck",
    target: float = 1.0,
    bias: bool = True,
    **kwargs: Any,
) -> nn.Linear:
    """A new ``nn.Linear`` with orthogonal initialisation and a Lipschitz constraint.

    Args:
        in_features: input size (>= 1).
        out_features: output size (>= 1).
        method: ``"bjorck"`` (default) or ``"spectral"``.
        target: Lipschitz constant ``K`` of the layer (> 0, finite).
        bias: whether the layer has a bias (the bias does not affect the Lipschitz constant).
        kwargs: passed to the constraint class.

    Returns:
        The constrained layer.

    Raises:
        TypeError / ValueError: for bad sizes, method or target.
    """
    check_integer("in_features", in_features, 1)
    check_integer("out_features", out_features, 1)
    linear = nn.Linear(in_features, out_features, bias=bias)
    nn.init.orthogonal_(linear.weight)
    return constrain_linear(linear, method, target, **kwargs)


def retract_constraints(module: nn.Module) -> int:
    """Call ``retract()`` on every constraint in ``module`` that supports it (Björck).

    Args:
        module: any module tree.

    Returns:
        The number of raw weights replaced.
    """
    count = 0
    for m in module.modules():
        retract = getattr(m, "retract", None)
        if isinstance(m, LipschitzComponent) and callable(retract):
            count += int(bool(retract()))
    return count


def register_retraction(optimizer: torch.optim.Optimizer, module: nn.Module):
    """Retract ``module``'s Björck raw weights before every ``optimizer.step()`` (see module docstring).

    Args:
        optimizer: the optimiser that updates ``module``'s parameters.
        module: the model carrying the constraints.

    Returns:
        The hook handle (``handle.remove()`` uninstalls it).

    Raises:
        TypeError: for a non-optimiser or non-module argument.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")

    def _hook(opt, args, kwargs):
        retract_constraints(module)

    return optimizer.register_step_pre_hook(_hook)
