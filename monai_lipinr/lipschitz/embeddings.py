"""Coordinate embeddings whose Lipschitz constant equals a requested target exactly.

Both embeddings have a Jacobian with ``JᵀJ`` constant in ``x`` (``sin² + cos² = 1``): their Lipschitz
constant is attained at every point, so a target is a statement about every point, not a loose bound.

* :class:`PositionalEncoding`: ``L`` octaves alone quantise the constant to ``π √((4^L - 1)/3)``; an
  input scale ``s`` makes it equal to any target.
* :class:`RandomFourierFeatures`: ``B ~ N(0, σ²)`` has a random spectral norm; ``B`` is rescaled so that
  ``2π ‖B‖₂`` equals the target.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from monai_lipinr.lipschitz.activations import _check_int, _PersistentHyperparameters
from monai_lipinr.lipschitz.base import LipschitzComponent, check_positive_finite
from monai_lipinr.lipschitz.bounds import fourier_features_lipschitz, positional_encoding_lipschitz

__all__ = ["PositionalEncoding", "RandomFourierFeatures"]


class _Embedding(_PersistentHyperparameters, nn.Module, LipschitzComponent):
    """Shared plumbing: ``in_features`` check on ``(..., in_features)`` inputs, target bookkeeping."""

    budgetable = True

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self._lipschitz_target: float | None = None

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}.")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}: expected input shape (..., {self.in_features}) (in_features="
                f"{self.in_features}), got {tuple(x.shape)}."
            )

    def _rescale(self, factor: float) -> None:
        raise NotImplementedError

    def set_lipschitz_target(self, target: float) -> None:
        """Rescale the embedding so that its Lipschitz constant equals ``target`` (at every point).

        Raises:
            ValueError: for a non-positive or non-finite target.
        """
        target = check_positive_finite("target", target)
        self._rescale(target / self.lipschitz_bound())
        self._lipschitz_target = target


class PositionalEncoding(_Embedding):
    """``γ(x) = [s x]? ⊕ [sin(2^k π s x_j)]_{k,j} ⊕ [cos(2^k π s x_j)]_{k,j}``, ``k < L``, ``j < d``.

    The input scale ``s`` is chosen so that the Lipschitz constant, ``s · π √((4^L - 1)/3)`` (with
    ``include_input``: ``s · √(π² (4^L - 1)/3 + 1)``, the *scaled* input ``s x`` being concatenated),
    equals ``target`` exactly; ``L`` only sets the frequency content. Without a target ``s = 1``.

    Args:
        in_features: number of input coordinates ``d``.
        num_octaves: number of octaves ``L >= 1``.
        target: Lipschitz constant to deliver (output per input unit), or ``None`` for ``s = 1``.
        include_input: prepend ``s x`` to the encoding.

    Input ``(..., d)`` coordinates in network units; output ``(..., out_features)`` with
    ``out_features = d (2L + include_input)``, ordered ``[s x, sin (octave-major), cos (octave-major)]``.

    Raises:
        TypeError / ValueError: for non-int or non-positive ``in_features`` / ``num_octaves``, a
            non-positive or non-finite ``target``; in ``forward``, for an input whose last axis is not
            ``in_features``.
    """

    lipschitz_kind = "embedding/positional_encoding"
    _persistent = ("scale", "_lipschitz_target")

    def __init__(
        self, in_features: int, num_octaves: int, target: float | None = None, include_input: bool = False
    ) -> None:
        in_features = _check_int("in_features", in_features, 1)
        num_octaves = _check_int("num_octaves", num_octaves, 1)
        if not isinstance(include_input, bool):
            raise TypeError(f"include_input must be a bool, got {type(include_input).__name__}.")
        super().__init__(in_features, in_features * (2 * num_octaves + int(include_input)))
        self.num_octaves = num_octaves
        self.include_input = include_input
        self.scale = 1.0
        # powers of two are exact in every float dtype: 2^k (π s x) has no extra rounding
        self.register_buffer("octaves", torch.exp2(torch.arange(num_octaves, dtype=torch.float64)), False)
        if target is not None:
            self.set_lipschitz_target(target)

    def _rescale(self, factor: float) -> None:
        self.scale *= factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        sx = x * self.scale
        phase = (sx * math.pi).unsqueeze(-2) * self.octaves.to(dtype=x.dtype).unsqueeze(-1)  # (..., L, d)
        phase = phase.flatten(-2)
        parts = [sx] if self.include_input else []
        return torch.cat([*parts, torch.sin(phase), torch.cos(phase)], dim=-1)

    def lipschitz_bound(self) -> float:
        return self.scale * positional_encoding_lipschitz(self.num_octaves, self.include_input)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_octaves={self.num_octaves}, scale={self.scale:.6g}, "
            f"include_input={self.include_input}, out_features={self.out_features}"
        )


class RandomFourierFeatures(_Embedding):
    """``γ(x) = [cos 2πBx, sin 2πBx]`` with ``B ~ N(0, σ²)``, rescaled so that ``2π ‖B‖₂ = target``.

    ``B`` (shape ``(num_features, in_features)``, cycles per input unit) is a buffer drawn once in
    float64 and stored in the default dtype. A raw Gaussian ``B`` has a random Lipschitz constant
    ``2π σ_max(B)`` (roughly ``2πσ(√m + √d)``); with a target only the *shape* of the spectrum comes
    from the draw and ``σ`` is irrelevant.

    Args:
        in_features: number of input coordinates ``d``.
        num_features: number of frequencies ``m`` (``out_features = 2m``).
        sigma: standard deviation of the entries of ``B`` (cycles per input unit) before rescaling.
        target: Lipschitz constant to deliver, or ``None`` to keep the raw draw.
        generator: random generator for ``B`` (CPU).
        seed: seed for a fresh generator (alternative to ``generator``).

    Input ``(..., d)`` coordinates in network units; output ``(..., 2m)`` ordered ``[cos, sin]``.

    Raises:
        TypeError / ValueError: for invalid sizes, ``sigma``, ``target``, or both ``generator`` and
            ``seed``; in ``forward``, for an input whose last axis is not ``in_features``.
    """

    lipschitz_kind = "embedding/random_fourier_features"
    _persistent = ("_lipschitz_target",)

    def __init__(
        self,
        in_features: int,
        num_features: int,
        sigma: float = 1.0,
        target: float | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        in_features = _check_int("in_features", in_features, 1)
        num_features = _check_int("num_features", num_features, 1)
        sigma = check_positive_finite("sigma", sigma)
        if generator is not None and seed is not None:
            raise ValueError(f"pass either generator or seed, not both (seed={seed!r}).")
        if seed is not None:
            generator = torch.Generator().manual_seed(_check_int("seed", seed))
        elif generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}.")
        super().__init__(in_features, 2 * num_features)
        self.num_features = num_features
        self.sigma = sigma
        b = torch.randn(num_features, in_features, generator=generator, dtype=torch.float64) * sigma
        if target is not None:
            target = check_positive_finite("target", target)
            b = b * (target / fourier_features_lipschitz(b))
        self.register_buffer("b_matrix", b.to(torch.get_default_dtype()))
        if target is not None:
            self.set_lipschitz_target(target)  # corrects the rounding of the dtype cast

    def _rescale(self, factor: float) -> None:
        with torch.no_grad():
            self.b_matrix.mul_(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        phase = (2.0 * math.pi) * (x @ self.b_matrix.to(dtype=x.dtype).T)
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)

    def lipschitz_bound(self) -> float:
        return fourier_features_lipschitz(self.b_matrix)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_features={self.num_features}, sigma={self.sigma:g}, "
            f"lipschitz={self.lipschitz_bound():.6g}"
        )
