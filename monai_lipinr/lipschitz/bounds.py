"""Closed-form Lipschitz constants of the components an INR is built from (DESIGN.md §2).

Every function returns a Python ``float``: the Lipschitz constant with respect to the Euclidean norm
on the component's input and output, in the units of its own input and output. Where the constant is
attained (``sin``, the Gaussian, both embeddings, the piecewise-linear activations) it is exact; the
tests compare each value with a measured maximum of the Jacobian norm.

=========================================  =================================================
component                                  Lipschitz constant
=========================================  =================================================
linear map ``x -> W x + b``                ``σ_max(W)``
``sin(ω x)``                               ``|ω|``
Gaussian ``exp(-x² / 2a²)``                ``1 / (|a| √e)`` (attained at ``|x| = |a|``)
positional encoding, ``L`` octaves         ``π √((4^L - 1) / 3)`` (``√(· + 1)`` with the input)
random Fourier ``[cos 2πBx, sin 2πBx]``    ``2π √λ_max(BᵀB) = 2π σ_max(B)``
=========================================  =================================================

:func:`activation_lipschitz` knows the standard ``torch.nn`` activations and every
:class:`~monai_lipinr.lipschitz.base.LipschitzComponent`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from monai_lipinr.lipschitz.base import LipschitzComponent
from monai_lipinr.lipschitz.spectral import spectral_norm_exact

__all__ = [
    "GELU_LIPSCHITZ",
    "GELU_TANH_LIPSCHITZ",
    "MISH_LIPSCHITZ",
    "SELU_LIPSCHITZ",
    "SILU_LIPSCHITZ",
    "activation_lipschitz",
    "fourier_features_lipschitz",
    "gaussian_lipschitz",
    "linear_lipschitz",
    "positional_encoding_lipschitz",
    "sine_lipschitz",
]

#: ``max_x d/dx [x σ(x)] = σ(x*)(1 + x*(1 - σ(x*)))`` where ``x* tanh(x*/2) = 2`` (``x* ≈ 2.3993572805``).
SILU_LIPSCHITZ = 1.0998393201288669
#: ``max_x d/dx [x Φ(x)] = Φ(√2) + √2 φ(√2) = (1 + erf(1)) / 2 + 1 / (e √π)`` (exact GELU).
GELU_LIPSCHITZ = 0.5 * (1.0 + math.erf(1.0)) + 1.0 / (math.e * math.sqrt(math.pi))
#: Maximum slope of the tanh-approximated GELU, attained at ``x ≈ 1.4185040088`` (solved to 40 digits).
GELU_TANH_LIPSCHITZ = 1.1289930686587718
#: Maximum slope of ``x tanh(softplus(x))`` (Mish), attained at ``x ≈ 1.4905711795``; the most negative
#: slope, ``≈ -0.1125`` at ``x ≈ -2.2564``, is smaller in magnitude.
MISH_LIPSCHITZ = 1.0884981612517279
#: ``scale * alpha`` of SELU: its slope for ``x < 0`` tends to ``scale * alpha`` as ``x -> 0⁻``.
SELU_LIPSCHITZ = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def _real(name: str, value: float) -> float:
    """``float(value)`` for a finite real number; ``TypeError`` / ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r}).")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return v


def sine_lipschitz(omega: float) -> float:
    """Lipschitz constant ``|ω|`` of ``x -> sin(ω x)`` (elementwise; attained where ``cos(ω x) = ±1``).

    Args:
        omega: frequency ``ω`` (radians per input unit), any finite real number.

    Returns:
        ``|ω|``.

    Raises:
        TypeError: when ``omega`` is not a real number.
        ValueError: when ``omega`` is not finite.
    """
    return abs(_real("omega", omega))


def gaussian_lipschitz(a: float) -> float:
    """Lipschitz constant ``1 / (|a| √e)`` of ``x -> exp(-x² / (2a²))`` (elementwise).

    The slope ``-x/a² · exp(-x²/2a²)`` is largest in magnitude at ``|x| = |a|``.

    Args:
        a: width ``a`` (input units), finite and non-zero.

    Returns:
        ``1 / (|a| √e)``.

    Raises:
        TypeError: when ``a`` is not a real number.
        ValueError: when ``a`` is zero or not finite.
    """
    a = _real("a", a)
    if a == 0.0:
        raise ValueError("a must be non-zero (the Gaussian width), got 0.")
    return 1.0 / (abs(a) * math.sqrt(math.e))


def _check_octaves(num_octaves: int) -> int:
    if isinstance(num_octaves, bool) or not isinstance(num_octaves, (int, np.integer)):
        raise TypeError(f"num_octaves must be an int, got {type(num_octaves).__name__} ({num_octaves!r}).")
    if num_octaves < 0:
        raise ValueError(f"num_octaves must be >= 0, got {num_octaves}.")
    return int(num_octaves)


def positional_encoding_lipschitz(num_octaves: int, include_input: bool = False) -> float:
    """Lipschitz constant of the positional encoding ``γ(x) = [sin(2^k π x), cos(2^k π x)]_{k<L}``.

    Applied to each coordinate of ``x``, the Jacobian satisfies ``JᵀJ = π² Σ_k 4^k · I =
    π² (4^L - 1)/3 · I`` everywhere (``sin² + cos² = 1``), so the constant is ``π √((4^L - 1)/3)``,
    attained at every point and in every direction. With ``include_input`` the identity is
    concatenated, adding ``1`` to ``JᵀJ``: ``√(π² (4^L - 1)/3 + 1)``.

    Args:
        num_octaves: number of octaves ``L >= 0``.
        include_input: whether ``x`` itself is concatenated to the encoding.

    Returns:
        the Lipschitz constant (output per input unit).

    Raises:
        TypeError: when ``num_octaves`` is not an int.
        ValueError: when ``num_octaves`` is negative.
    """
    num_octaves = _check_octaves(num_octaves)
    squared = math.pi**2 * ((4**num_octaves - 1) // 3)  # exact integer sum of 4^k
    return math.sqrt(squared + (1.0 if include_input else 0.0))


def linear_lipschitz(weight: torch.Tensor | np.ndarray) -> float:
    """Lipschitz constant ``σ_max(W)`` of ``x -> W x + b``, by an exact SVD in float64.

    Args:
        weight: the matrix ``W``, shape ``(out_features, in_features)`` (tensor or numpy array).

    Returns:
        the largest singular value of ``W``.

    Raises:
        TypeError: when ``weight`` is not a floating-point tensor or array.
        ValueError: when ``weight`` is not a non-empty finite 2-D matrix.
    """
    if isinstance(weight, np.ndarray):
        weight = torch.from_numpy(weight)
    return spectral_norm_exact(weight)


def fourier_features_lipschitz(b_matrix: torch.Tensor | np.ndarray) -> float:
    """Lipschitz constant ``2π √λ_max(BᵀB)`` of ``γ(x) = [cos 2πBx, sin 2πBx]``.

    The Jacobian is ``2π [-diag(sin 2πBx) B; diag(cos 2πBx) B]``, so ``JᵀJ = 4π² BᵀB`` at every ``x``:
    the constant ``2π σ_max(B)`` is attained everywhere along the top right singular vector of ``B``.

    Args:
        b_matrix: frequency matrix ``B`` (cycles per input unit), shape ``(num_features, in_features)``.

    Returns:
        ``2π σ_max(B)``.

    Raises:
        TypeError: when ``b_matrix`` is not a tensor or array.
        ValueError: when ``b_matrix`` is not a non-empty finite 2-D matrix.
    """
    return 2.0 * math.pi * linear_lipschitz(b_matrix)


def _elu_like(module: nn.Module) -> float:
    return max(1.0, abs(float(module.alpha)))


def _continuous_or_inf(continuous: bool) -> float:
    return 1.0 if continuous else math.inf


def _dropout(module: nn.Module) -> float:
    # training: x -> mask * x / (1 - p) with a fixed mask per call; evaluation: identity
    if not module.training:
        return 1.0
    return 0.0 if module.p >= 1.0 else 1.0 / (1.0 - module.p)


#: exact class -> Lipschitz constant of the module (checked with ``type(module) is cls`` first, then
#: ``isinstance`` so that subclasses that only add state are covered).
_TORCH_RULES: dict[type, object] = {
    nn.Identity: 1.0,
    nn.Flatten: 1.0,
    nn.Unflatten: 1.0,
    nn.ReLU: 1.0,
    nn.ReLU6: 1.0,
    nn.Hardtanh: 1.0,
    nn.Tanh: 1.0,
    nn.Softsign: 1.0,
    nn.Tanhshrink: 1.0,
    nn.Softshrink: 1.0,
    nn.LogSigmoid: 1.0,
    nn.Softplus: 1.0,
    nn.CELU: 1.0,
    nn.Sigmoid: 0.25,
    nn.Hardsigmoid: 1.0 / 6.0,
    nn.Hardswish: 1.5,
    nn.SiLU: SILU_LIPSCHITZ,
    nn.Mish: MISH_LIPSCHITZ,
    nn.SELU: SELU_LIPSCHITZ,
    nn.GELU: lambda m: GELU_TANH_LIPSCHITZ if m.approximate == "tanh" else GELU_LIPSCHITZ,
    nn.LeakyReLU: lambda m: max(1.0, abs(float(m.negative_slope))),
    nn.RReLU: lambda m: max(1.0, abs(float(m.lower)), abs(float(m.upper))),
    nn.PReLU: lambda m: max(1.0, float(m.weight.detach().abs().max())),
    nn.ELU: _elu_like,
    nn.Hardshrink: lambda m: _continuous_or_inf(float(m.lambd) == 0.0),
    nn.Threshold: lambda m: _continuous_or_inf(float(m.threshold) == float(m.value)),
    nn.Dropout: _dropout,
    nn.Dropout1d: _dropout,
    nn.Dropout2d: _dropout,
    nn.Dropout3d: _dropout,
    nn.AlphaDropout: lambda m: None,  # affine renormalisation depends on the mask statistics
}


def activation_lipschitz(module: nn.Module) -> float | None:
    """Lipschitz constant of an activation module, or ``None`` when it is not known.

    Covers every :class:`~monai_lipinr.lipschitz.base.LipschitzComponent` (its certified
    :meth:`lipschitz_bound`) and the standard ``torch.nn`` activations, elementwise maps with
    ``sup |f'|``: ReLU, ReLU6, Hardtanh, Tanh, Softsign, Tanhshrink, Softshrink, LogSigmoid,
    Softplus (any ``beta``), CELU: 1; LeakyReLU: ``max(1, |slope|)``; RReLU: ``max(1, |lower|, |upper|)``;
    PReLU: ``max(1, max|w|)`` for its current weights; ELU: ``max(1, |alpha|)``; Sigmoid: 1/4;
    Hardsigmoid: 1/6; Hardswish: 3/2; SiLU: :data:`SILU_LIPSCHITZ` ``≈ 1.09984``; Mish:
    :data:`MISH_LIPSCHITZ` ``≈ 1.08850``; GELU: :data:`GELU_LIPSCHITZ` ``≈ 1.12890`` (``approximate="tanh"``:
    :data:`GELU_TANH_LIPSCHITZ` ``≈ 1.12899``); SELU: ``scale·alpha ≈ 1.75810``. Discontinuous maps
    (Hardshrink with ``lambd > 0``, Threshold with ``value != threshold``) are not Lipschitz: ``inf``.
    Shape-only modules (Identity, Flatten, Unflatten) are isometries: 1; Dropout in training mode scales
    by ``1 / (1 - p)``, in evaluation mode it is the identity.

    Args:
        module: the activation module.

    Returns:
        the Lipschitz constant (Euclidean norms), ``math.inf`` for a discontinuous map, ``None`` for a
        module this function does not know (including ``nn.Linear``: see :func:`linear_lipschitz`).

    Raises:
        TypeError: when ``module`` is not an ``nn.Module``.
    """
    if isinstance(module, LipschitzComponent):
        return float(module.lipschitz_bound())
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    rule = _TORCH_RULES.get(type(module))
    if rule is None:
        rule = next((r for cls, r in _TORCH_RULES.items() if isinstance(module, cls)), None)
    if rule is None:
        return None
    value = rule(module) if callable(rule) else rule
    return None if value is None else float(value)
