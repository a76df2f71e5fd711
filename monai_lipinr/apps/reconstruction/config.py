"""Configuration of :class:`~monai_lipinr.apps.reconstruction.INRReconstruction` and its network builder."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from monai_lipinr.lipschitz.allocation import ALLOCATION_STRATEGIES
from monai_lipinr.networks.nets import SIREN, FourierFeatureINR, LipschitzINR, PositionalEncodingMLP
from monai_lipinr.networks.nets.presets import NETWORK_PRESETS as PRESETS
from monai_lipinr.ops.validation import check_option

__all__ = ["ReconstructionConfig", "PRESETS", "CONSTRAINTS", "WEIGHTINGS", "FORWARD_MODELS", "build_network", "MU_WATER_PER_MM"]

CONSTRAINTS = ("bjorck", "spectral", "sll", "none")
WEIGHTINGS = ("none", "poisson")
FORWARD_MODELS = ("grid", "rays")
PRECONDITIONERS = ("ramp", "none")

#: Linear attenuation coefficient of water at ~70 keV effective energy (NIST XCOM: μ/ρ = 0.193 cm²/g), 1/mm.
MU_WATER_PER_MM = 0.0193


@dataclasses.dataclass
class ReconstructionConfig:
    """Settings of an INR CT reconstruction.

    The network represents the attenuation relative to water, ``f = μ / μ_water = 1 + HU / 1000``
    (air 0, water 1), on the network coordinates of the scan field of view (``x̃ = (x - c) / R``,
    ``c`` the rotation centre, ``R`` the field-of-view radius in mm). One output unit is 1000 HU.

    Attributes:
        preset, constraint, allocation, allocation_kwargs: network and budget split (see ``LipschitzINR``).
        max_hu_jump: largest plausible intensity change across an edge (HU), default 1000 (air ↔ soft
            tissue, the lung and body boundaries).
        edge_width_mm: width of the sharpest edge (mm); ``None`` = the scanner's sampling resolution
            (detector pitch at the rotation centre, or the output pixel spacing if coarser).
        budget_scale: multiplies the prior's budget (1.0 = the prior; for budget sweeps).
        mu_water: μ of water in 1/mm (HU ↔ attenuation conversion).
        hidden_features, num_layers, network_kwargs: network size and extra preset arguments.
        omega_0, omega: SIREN frequencies; num_octaves: PE octaves; fourier_features: FFN features.
        forward_model: ``"grid"`` (default): the network is sampled at the output pixel centres and
            projected with the sparse :class:`GridProjector` — every ray in every step; ``"rays"``: the
            network is integrated along random ray batches by stratified quadrature (:class:`RayProjector`),
            mesh-free, slower to converge on a CPU.
        preconditioner: ``"ramp"`` (default, ``forward_model="grid"``): the data term is
            ``‖R^½ (Ax - y)‖²`` with ``R`` the FBP ramp filter along the detector, so that its gradient is a
            filtered back-projection (every frequency converges alike); ``"none"``: plain least squares.
        iterations, learning_rate: Adam optimisation (cosine-decayed learning rate).
        rays_per_batch, samples_per_ray: rays drawn per iteration and stratified samples per ray
            (``forward_model="rays"``; ``samples_per_ray`` also sets the quadrature of the data residual).
        weighting: data term ``"none"`` (least squares) or ``"poisson"`` (inverse-variance weights).
        seed, device, chunk_size: reproducibility, device, points per evaluation chunk.
        empirical_starts, empirical_steps: effort of the empirical Lipschitz estimate.
        progress, log_every: progress bar and history interval.
    """

    preset: str = "siren"
    constraint: str = "bjorck"
    allocation: str = "first_heavy"
    allocation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_hu_jump: float = 1000.0
    edge_width_mm: float | None = None
    budget_scale: float = 1.0
    mu_water: float = MU_WATER_PER_MM
    hidden_features: int = 128
    num_layers: int = 3
    network_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    omega_0: float = 30.0
    omega: float = 30.0
    num_octaves: int = 8
    fourier_features: int = 128
    forward_model: str = "grid"
    preconditioner: str = "ramp"
    iterations: int = 800
    rays_per_batch: int = 512
    samples_per_ray: int = 128
    learning_rate: float = 3e-3
    weighting: str = "none"
    seed: int = 0
    device: str | None = None
    chunk_size: int = 65536
    empirical_starts: int = 32
    empirical_steps: int = 20
    progress: bool = False
    log_every: int = 50

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        self.preset = check_option("preset", self.preset, tuple(PRESETS))
        self.constraint = check_option("constraint", self.constraint, CONSTRAINTS)
        self.weighting = check_option("weighting", self.weighting, WEIGHTINGS)
        self.forward_model = check_option("forward_model", self.forward_model, FORWARD_MODELS)
        self.preconditioner = check_option("preconditioner", self.preconditioner, PRECONDITIONERS)
        if self.allocation not in ALLOCATION_STRATEGIES:
            raise ValueError(f"allocation must be one of {sorted(ALLOCATION_STRATEGIES)}, got {self.allocation!r}.")
        for name in ("max_hu_jump", "budget_scale", "mu_water", "learning_rate", "omega_0", "omega"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}.")
        if self.edge_width_mm is not None and not (
                isinstance(self.edge_width_mm, (int, float)) and math.isfinite(self.edge_width_mm)
                and self.edge_width_mm > 0):
            raise ValueError(f"edge_width_mm must be a finite number > 0 (mm) or None, got {self.edge_width_mm!r}.")
        for name in ("iterations", "rays_per_batch", "samples_per_ray", "hidden_features", "num_layers",
                     "chunk_size", "log_every", "num_octaves", "fourier_features", "empirical_starts"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")


def build_network(cfg: ReconstructionConfig, budget: float | None) -> LipschitzINR:
    """The attenuation network ``R^2 -> R`` (network units in, ``μ / μ_water`` out) of a configuration.

    Args:
        cfg: the configuration (``cfg.constraint == "none"`` builds the unconstrained twin).
        budget: global budget ``K`` (output units per network unit); ignored when unconstrained.
    """
    cls = PRESETS[cfg.preset]
    kwargs: dict[str, Any] = {"hidden_features": cfg.hidden_features, "num_layers": cfg.num_layers}
    if cls is SIREN:
        kwargs.update(omega_0=cfg.omega_0, omega=cfg.omega)
    elif cls is PositionalEncodingMLP:
        kwargs.update(num_octaves=cfg.num_octaves)
    elif cls is FourierFeatureINR:
        kwargs.update(num_features=cfg.fourier_features, seed=cfg.seed)
    kwargs.update(cfg.network_kwargs)
    if cfg.constraint == "none":
        return cls(2, 1, constraint=None, **kwargs)
    return cls(2, 1, constraint=cfg.constraint, budget=budget, allocation=cfg.allocation,
               allocation_kwargs=dict(cfg.allocation_kwargs), **kwargs)
