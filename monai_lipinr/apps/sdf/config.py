"""Configuration of a neural SDF fit (:class:`~monai_lipinr.apps.sdf.NeuralSDF`) and its network builder."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from monai.utils import look_up_option

from monai_lipinr.lipschitz.allocation import check_allocation
from monai_lipinr.networks.nets import LipschitzINR

__all__ = ["SDFConfig", "SDF_ACTIVATIONS", "SDF_CONSTRAINTS", "build_sdf_network"]

SDF_ACTIVATIONS = ("maxmin", "groupsort", "relu", "householder")
SDF_CONSTRAINTS = ("bjorck", "sll", "spectral")


@dataclasses.dataclass
class SDFConfig:
    """Settings of a neural signed distance field.

    Attributes:
        lipschitz: global budget ``K`` of the network (network output units per network input unit).
            A true SDF is exactly 1-Lipschitz, hence the default 1 (and then ``|f(x)|`` is a certified
            lower bound of the distance to the zero level set: safe sphere tracing).
        constraint: ``bjorck`` (default; orthogonal layers), ``sll`` or ``spectral``.
        activation: ``maxmin`` (default), ``groupsort``, ``relu`` or ``householder`` (ignored by ``sll``,
            whose residual blocks carry their own ReLU). Björck + MaxMin is gradient-norm preserving,
            so the network can reach ``‖∇f‖ = 1`` like a distance function.
        allocation: budget allocation strategy; allocation_kwargs: its parameters (e.g. ``k_min``).
        hidden_features, num_layers: network size.
        padding: margin of the network cube around the mesh (see ``mesh_coordinates``).
        num_surface, num_near, num_volume: training points (see ``sample_sdf_points``);
        near_sigma: near-surface noise levels (network units).
        iterations, batch_size, learning_rate: Adam optimisation.
        eikonal_weight: weight of ``mean((‖∇f‖ - 1)²)`` on the batch (0 disables it).
        resolution: marching-cubes grid points per axis over ``[-1, 1]^3``.
        eval_points: surface points per mesh for Chamfer / normal consistency.
        empirical_starts, empirical_steps: effort of the empirical Lipschitz estimate.
        seed: random seed; device: ``"cpu"``, ``"cuda"``, …; chunk_size: points per network call.
    """

    lipschitz: float = 1.0
    constraint: str = "bjorck"
    activation: str = "maxmin"
    allocation: str = "uniform"
    allocation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    hidden_features: int = 128
    num_layers: int = 4
    padding: float = 0.1
    num_surface: int = 5000
    num_near: int = 15000
    num_volume: int = 5000
    near_sigma: tuple[float, ...] = (0.01, 0.05)
    iterations: int = 1500
    batch_size: int = 4096
    learning_rate: float = 1e-3
    eikonal_weight: float = 0.1
    resolution: int = 96
    eval_points: int = 20000
    empirical_starts: int = 32
    empirical_steps: int = 10
    seed: int = 0
    device: str | None = None
    chunk_size: int = 65536

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        self.constraint = look_up_option(self.constraint, SDF_CONSTRAINTS)
        self.activation = look_up_option(self.activation, SDF_ACTIVATIONS)
        check_allocation(self.allocation, self.allocation_kwargs)
        for name in ("lipschitz", "learning_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}.")
        for name in ("iterations", "batch_size", "hidden_features", "num_layers", "eval_points", "chunk_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, int) or self.resolution < 8:
            raise ValueError(f"resolution must be an int >= 8, got {self.resolution!r}.")
        if not math.isfinite(self.eikonal_weight) or self.eikonal_weight < 0:
            raise ValueError(f"eikonal_weight must be finite and >= 0, got {self.eikonal_weight!r}.")
        if self.activation in ("maxmin", "groupsort", "householder") and self.hidden_features % 2:
            raise ValueError(f"hidden_features must be even for activation={self.activation!r}, "
                             f"got {self.hidden_features}.")


def build_sdf_network(config: SDFConfig) -> LipschitzINR:
    """The ``R³ -> R`` budgeted network of a config (``LipschitzINR``, no embedding)."""
    act_kwargs = {"group_size": 4} if config.activation == "groupsort" else None
    return LipschitzINR(
        spatial_dims=3,
        out_channels=1,
        hidden_features=config.hidden_features,
        num_layers=config.num_layers,
        activation=config.activation,
        activation_kwargs=act_kwargs,
        constraint=config.constraint,
        budget=float(config.lipschitz),
        allocation=config.allocation,
        allocation_kwargs=dict(config.allocation_kwargs),
    )
