"""Activations that know their Lipschitz constant.

* :class:`Sine` ``sin(ω x)`` (Lipschitz ``ω``) and :class:`Gaussian` ``exp(-x²/2a²)`` (``1/(a√e)``)
  carry their cost in a hyperparameter; when ``budgetable`` they take a target ``K`` and set
  ``ω = K`` or ``a = 1/(K√e)``.
* :class:`GroupSort`, :class:`MaxMin` and :class:`Householder` are *gradient-norm preserving* (GNP):
  their Jacobian is a permutation or an orthogonal reflection almost everywhere, so ``‖J v‖ = ‖v‖`` and
  the Lipschitz constant is exactly 1 — nothing of the budget is wasted.

The channel axis is ``dim`` (default 1, MONAI's channel-first layout: ``(N, C)`` or ``(N, C, *spatial)``);
pass ``dim=-1`` for INR batches shaped ``(..., C)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from monai_lipinr.lipschitz.base import LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.bounds import gaussian_lipschitz, sine_lipschitz

__all__ = ["Gaussian", "GroupSort", "Householder", "MaxMin", "Sine"]


class _PersistentHyperparameters:
    """Mixin saving the float hyperparameters named in ``_persistent`` with the module's ``state_dict``.

    ``set_lipschitz_target`` changes them after construction, so they must travel with the weights.
    """

    _persistent: tuple[str, ...] = ()

    def get_extra_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._persistent}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        for name in self._persistent:
            if name in state:
                setattr(self, name, state[name])


def _check_bool(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r}).")
    return value


class _TargetableActivation(_PersistentHyperparameters, nn.Module, LipschitzComponent):
    """Shared plumbing of :class:`Sine` and :class:`Gaussian`: optional budget, persisted hyperparameter."""

    def __init__(self, budgetable: bool) -> None:
        super().__init__()
        self.budgetable = _check_bool("budgetable", budgetable)
        self._lipschitz_target: float | None = None

    def _apply_target(self, target: float) -> None:
        raise NotImplementedError

    def set_lipschitz_target(self, target: float) -> None:
        """Set the hyperparameter so that the Lipschitz constant equals ``target``.

        Raises:
            TypeError: when the activation was built with ``budgetable=False``.
            ValueError: for a non-positive or non-finite target.
        """
        if not self.budgetable:
            super().set_lipschitz_target(target)  # raises TypeError
        target = check_positive_finite("target", target)
        self._apply_target(target)
        self._lipschitz_target = target


class Sine(_TargetableActivation):
    """``x -> sin(ω x)``, elementwise; Lipschitz constant ``ω`` (attained where ``cos(ω x) = ±1``).

    With ``learnable_amplitude`` every channel ``i`` has a trained amplitude ``a_i > 0`` and computes
    ``a_i sin(ω x_i / a_i)``: amplitude ``a_i``, frequency ``ω / a_i``. Its slope ``ω cos(ω x_i / a_i)``
    is still at most ``ω``, so the Lipschitz constant stays ``ω`` whatever the amplitudes. Between two
    linear layers this is the diagonal rescaling ``W₂ D W₁ = (W₂ A)(A⁻¹ D A)(A⁻¹ W₁)`` of the product
    bound: a channel may oscillate fast if it does so with a small amplitude, and slowly with a large
    one, at no cost to the certificate. ``log a`` starts at zero, the plain sine.

    Args:
        omega: frequency ``ω > 0`` (radians per input unit).
        budgetable: when true, :meth:`set_lipschitz_target` ``(K)`` sets ``ω = K``.
        features: number of channels ``C``; required with ``learnable_amplitude``.
        learnable_amplitude: learn one amplitude per channel (parameter ``log_amplitude``, shape ``(C,)``).
            The channel axis is 1 (``(N, C)`` or ``(N, C, *spatial)``).

    Raises:
        ValueError: when ``omega`` is not a finite positive number, or ``learnable_amplitude`` without
            ``features >= 1``.
        TypeError: when ``budgetable`` or ``learnable_amplitude`` is not a bool.
    """

    lipschitz_kind = "activation/sine"
    _persistent = ("omega", "_lipschitz_target")

    def __init__(self, omega: float = 1.0, budgetable: bool = False, features: int | None = None,
                 learnable_amplitude: bool = False) -> None:
        super().__init__(budgetable)
        self.omega = check_positive_finite("omega", omega)
        self.log_amplitude: nn.Parameter | None = None
        if _check_bool("learnable_amplitude", learnable_amplitude):
            if features is None:
                raise ValueError("learnable_amplitude=True needs features (the channel count), got None.")
            self.log_amplitude = nn.Parameter(torch.zeros(_check_int("features", features, 1)))

    def _apply_target(self, target: float) -> None:
        self.omega = target

    def amplitude(self, ndim: int = 2) -> torch.Tensor | None:
        """The channel amplitudes ``a`` shaped to broadcast over an input of ``ndim`` dims, or ``None``."""
        if self.log_amplitude is None:
            return None
        return torch.exp(self.log_amplitude).reshape(-1, *([1] * (ndim - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amplitude = self.amplitude(x.ndim)
        if amplitude is None:
            return torch.sin(self.omega * x)
        return amplitude * torch.sin(self.omega * x / amplitude)

    def lipschitz_bound(self) -> float:
        return sine_lipschitz(self.omega)

    def extra_repr(self) -> str:
        text = f"omega={self.omega:g}, budgetable={self.budgetable}"
        if self.log_amplitude is not None:
            text += f", learnable_amplitude=True, features={self.log_amplitude.numel()}"
        return text


class Gaussian(_TargetableActivation):
    """``x -> exp(-x² / (2a²))``, elementwise; Lipschitz constant ``1/(a√e)``, attained at ``|x| = a``.

    Args:
        a: width ``a > 0`` (input units).
        budgetable: when true, :meth:`set_lipschitz_target` ``(K)`` sets ``a = 1/(K√e)``.

    Raises:
        ValueError: when ``a`` is not a finite positive number.
        TypeError: when ``budgetable`` is not a bool.
    """

    lipschitz_kind = "activation/gaussian"
    _persistent = ("a", "_lipschitz_target")

    def __init__(self, a: float = 1.0, budgetable: bool = False) -> None:
        super().__init__(budgetable)
        self.a = check_positive_finite("a", a)

    def _apply_target(self, target: float) -> None:
        self.a = 1.0 / (target * math.sqrt(math.e))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (x / self.a) ** 2)

    def lipschitz_bound(self) -> float:
        return gaussian_lipschitz(self.a)

    def extra_repr(self) -> str:
        return f"a={self.a:g}, budgetable={self.budgetable}"


def _check_int(name: str, value: int, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r}).")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def _channel_axis(x: torch.Tensor, dim: int, owner: str) -> int:
    """Non-negative index of the channel axis ``dim`` of ``x``, with a clear error when it does not exist."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner} expects a torch.Tensor, got {type(x).__name__}.")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(
            f"{owner}: channel axis dim={dim} does not exist for an input of shape {tuple(x.shape)}."
        )
    return dim % x.ndim


class GroupSort(nn.Module, LipschitzComponent):
    """Sort the channels within contiguous groups of ``group_size`` (descending); 1-Lipschitz, GNP.

    Channels ``[g·j, …, g·j + g - 1]`` form group ``j``; the output has the same shape as the input. The
    Jacobian is a permutation matrix almost everywhere. ``group_size=2`` is :class:`MaxMin`
    (the pair ``(x_{2i}, x_{2i+1})`` becomes ``(max, min)``); ``group_size=C`` is a full sort.

    Args:
        group_size: channels per group, ``>= 1``; must divide the channel count.
        dim: channel axis of the input.

    Raises:
        TypeError / ValueError: for a non-int or non-positive ``group_size``, a non-int ``dim``; in
            ``forward``, when ``dim`` does not exist or ``group_size`` does not divide the channel count.
    """

    lipschitz_kind = "activation/groupsort"

    def __init__(self, group_size: int = 2, dim: int = 1) -> None:
        super().__init__()
        self.group_size = _check_int("group_size", group_size, 1)
        self.dim = _check_int("dim", dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = _channel_axis(x, self.dim, type(self).__name__)
        channels, g = x.shape[axis], self.group_size
        if channels % g:
            raise ValueError(
                f"{type(self).__name__}: group_size={g} must divide the channel count, got {channels} "
                f"channels (dim={self.dim}, input shape {tuple(x.shape)})."
            )
        groups = x.unflatten(axis, (channels // g, g))
        if g == 2:  # pairwise fast path: (max, min)
            first, second = groups.unbind(axis + 1)
            out = torch.stack((torch.maximum(first, second), torch.minimum(first, second)), axis + 1)
        else:
            out = torch.sort(groups, dim=axis + 1, descending=True).values
        return out.flatten(axis, axis + 1)

    def lipschitz_bound(self) -> float:
        return 1.0

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, dim={self.dim}"


class MaxMin(GroupSort):
    """True pairwise max/min: channels ``(x_{2i}, x_{2i+1}) -> (max, min)``; channel count unchanged.

    (Unlike CReLU-style "MaxMin" layers that concatenate ``max(x, 0)`` and ``min(x, 0)`` and double the
    channels.) 1-Lipschitz and gradient-norm preserving. Same as ``GroupSort(group_size=2)``.

    Args:
        dim: channel axis of the input.

    Raises:
        ValueError: in ``forward``, for an odd channel count or a missing axis ``dim``.
    """

    lipschitz_kind = "activation/maxmin"

    def __init__(self, dim: int = 1) -> None:
        super().__init__(group_size=2, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Householder(nn.Module, LipschitzComponent):
    """Householder activation (Singla, Singla & Feizi, 2022; Mhammedi et al.): 1-Lipschitz and GNP.

    The channels are split into contiguous groups ``z`` of ``group_size``; each group has a learnable
    vector ``v`` and is mapped to

        ``z``                          if ``⟨v, z⟩ > 0``,
        ``z - 2 ⟨v, z⟩ v / ‖v‖²``       otherwise (reflection through the hyperplane ``v^⊥``).

    Both pieces agree on ``⟨v, z⟩ = 0`` (continuity), and each is an orthogonal map, so the Jacobian is
    orthogonal almost everywhere: the Lipschitz constant is exactly 1 (no ``√2`` is lost, no rescaling is
    applied) and ``‖J u‖ = ‖u‖``. ``group_size=2`` (default) is the pairwise form; each ``v`` starts at
    ``(1, -1, 0, …)/√2``, which on a pair is exactly :class:`MaxMin`. ``group_size=features`` reflects
    the full channel vector. A zero ``v`` makes the group the identity (still 1-Lipschitz).

    Args:
        features: number of channels ``C`` of the input.
        dim: channel axis of the input (``(N, C)``, ``(N, C, *spatial)``, or ``dim=-1`` for ``(..., C)``).
        group_size: channels per reflection, ``>= 2``, dividing ``features``.

    Raises:
        TypeError / ValueError: for non-int or invalid ``features``, ``group_size``, ``dim``; in
            ``forward``, when the input does not have ``features`` channels along ``dim``.
    """

    lipschitz_kind = "activation/householder"

    def __init__(self, features: int, dim: int = 1, group_size: int = 2) -> None:
        super().__init__()
        self.features = _check_int("features", features, 2)
        self.group_size = _check_int("group_size", group_size, 2)
        self.dim = _check_int("dim", dim)
        if features % group_size:
            raise ValueError(f"group_size={group_size} must divide features={features}.")
        v = torch.zeros(features // group_size, group_size)
        v[:, 0], v[:, 1] = 1.0 / math.sqrt(2.0), -1.0 / math.sqrt(2.0)
        self.v = nn.Parameter(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = _channel_axis(x, self.dim, "Householder")
        if x.shape[axis] != self.features:
            raise ValueError(
                f"Householder: expected {self.features} channels along dim={self.dim}, got input shape "
                f"{tuple(x.shape)}."
            )
        z = x.movedim(axis, -1).unflatten(-1, self.v.shape)  # (..., groups, group_size)
        v = self.v.to(dtype=z.dtype)
        coef = (z * v).sum(-1, keepdim=True) / (v * v).sum(-1, keepdim=True).clamp_min(
            torch.finfo(z.dtype).tiny
        )
        out = torch.where(coef > 0, z, z - 2.0 * coef * v)
        return out.flatten(-2).movedim(-1, axis)

    def lipschitz_bound(self) -> float:
        return 1.0

    def extra_repr(self) -> str:
        return f"features={self.features}, dim={self.dim}, group_size={self.group_size}"
