"""Presets of :class:`LipschitzINR` with the defaults of the architectures they are named after.

Every preset accepts all ``LipschitzINR`` keyword arguments; ``constraint=None`` builds the
unconstrained variant (with the architecture's usual initialisation) for comparison.
"""

from __future__ import annotations

from typing import Any

from monai_lipinr.networks.nets.lipschitz_inr import LipschitzINR

__all__ = [
    "NETWORK_PRESETS",
    "SIREN",
    "FourierFeatureINR",
    "GaussianINR",
    "PositionalEncodingMLP",
    "GroupSortMLP",
    "MaxMinMLP",
    "HouseholderMLP",
]


class SIREN(LipschitzINR):
    """Sine network (Sitzmann et al. 2020): ``sin(ω_0 (W_0 x + b_0))``, then ``sin(ω (W h + b))``.

    The sine frequencies are fixed costs of the budget (``Lip = ω``); the linear layers receive
    ``K_stage / ω``. Args as :class:`LipschitzINR`, plus ``omega_0`` (first layer) and ``omega``.
    """

    def __init__(self, spatial_dims: int, out_channels: int, omega_0: float = 30.0, omega: float = 30.0,
                 constraint: str | None = "bjorck", **kwargs: Any) -> None:
        kwargs.setdefault("activation_kwargs", {"omega": omega})
        kwargs.setdefault("first_activation_kwargs", {"omega": omega_0})
        super().__init__(spatial_dims, out_channels, activation="sine", constraint=constraint, **kwargs)


class FourierFeatureINR(LipschitzINR):
    """ReLU MLP on random Fourier features (Tancik et al. 2020); default spectral normalisation.

    ``num_features`` and ``sigma`` set the embedding (``B ~ N(0, σ²)``); under a budget the embedding is
    rescaled to its allocated target, so ``sigma`` only matters for the unconstrained variant.
    """

    def __init__(self, spatial_dims: int, out_channels: int, num_features: int = 128, sigma: float = 10.0,
                 seed: int = 0, constraint: str | None = "spectral", **kwargs: Any) -> None:
        kwargs.setdefault("embedding_kwargs", {"num_features": num_features, "sigma": sigma, "seed": seed})
        super().__init__(spatial_dims, out_channels, embedding="fourier", activation="relu",
                         constraint=constraint, **kwargs)


class GaussianINR(LipschitzINR):
    """Gaussian-activation INR (Ramasinghe & Lucey 2022): ``exp(−z²/2a²)``, ``Lip = 1/(a√e)``."""

    def __init__(self, spatial_dims: int, out_channels: int, a: float = 0.1,
                 constraint: str | None = "bjorck", **kwargs: Any) -> None:
        kwargs.setdefault("activation_kwargs", {"a": a})
        super().__init__(spatial_dims, out_channels, activation="gaussian", constraint=constraint, **kwargs)


class PositionalEncodingMLP(LipschitzINR):
    """ReLU MLP on NeRF positional encoding with ``num_octaves`` octaves (budget hit exactly by an input scale)."""

    def __init__(self, spatial_dims: int, out_channels: int, num_octaves: int = 6,
                 constraint: str | None = "bjorck", **kwargs: Any) -> None:
        kwargs.setdefault("embedding_kwargs", {"num_octaves": num_octaves})
        super().__init__(spatial_dims, out_channels, embedding="positional", activation="relu",
                         constraint=constraint, **kwargs)


class GroupSortMLP(LipschitzINR):
    """Gradient-norm-preserving MLP (Anil et al. 2019): Björck-orthogonal layers + GroupSort."""

    def __init__(self, spatial_dims: int, out_channels: int, group_size: int = 4,
                 constraint: str | None = "bjorck", **kwargs: Any) -> None:
        kwargs.setdefault("activation_kwargs", {"group_size": group_size})
        super().__init__(spatial_dims, out_channels, activation="groupsort", constraint=constraint, **kwargs)


class MaxMinMLP(LipschitzINR):
    """Björck-orthogonal layers + MaxMin (GroupSort with groups of 2)."""

    def __init__(self, spatial_dims: int, out_channels: int, constraint: str | None = "bjorck",
                 **kwargs: Any) -> None:
        super().__init__(spatial_dims, out_channels, activation="maxmin", constraint=constraint, **kwargs)


class HouseholderMLP(LipschitzINR):
    """Björck-orthogonal layers + Householder activations (Singla et al. 2022)."""

    def __init__(self, spatial_dims: int, out_channels: int, constraint: str | None = "bjorck",
                 **kwargs: Any) -> None:
        super().__init__(spatial_dims, out_channels, activation="householder", constraint=constraint, **kwargs)


#: Preset name -> class, for configuration files and command lines (``relu`` is the plain ``LipschitzINR``).
NETWORK_PRESETS: dict[str, type[LipschitzINR]] = {
    "siren": SIREN,
    "ffn": FourierFeatureINR,
    "gaussian": GaussianINR,
    "pe": PositionalEncodingMLP,
    "groupsort": GroupSortMLP,
    "maxmin": MaxMinMLP,
    "householder": HouseholderMLP,
    "relu": LipschitzINR,
}
