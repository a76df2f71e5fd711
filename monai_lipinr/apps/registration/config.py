"""Configuration of :class:`~monai_lipinr.apps.registration.INRRegistration` and its builders."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from torch import nn

from monai_lipinr.budget.shares import DECREASING_RAMPS, allocate_with_output_share
from monai_lipinr.budget.shares import output_stage_share as _output_stage_share
from monai_lipinr.lipschitz.allocation import check_allocation
from monai_lipinr.losses.deformation import HyperelasticLoss, JacobianFoldingLoss, JacobianVolumeLoss
from monai_lipinr.networks.nets import SIREN, LipschitzINR
from monai_lipinr.networks.nets.presets import NETWORK_PRESETS as PRESETS
from monai_lipinr.ops.validation import check_option

__all__ = ["RegistrationConfig", "PRESETS", "REGULARIZERS", "build_network", "build_regularizer", "output_stage_share"]

REGULARIZERS = ("folding", "volume", "hyperelastic", "none")
CONSTRAINTS = ("bjorck", "spectral", "sll", "none")


@dataclasses.dataclass
class RegistrationConfig:
    """Settings of an INR registration.

    Attributes:
        preset: network preset (``siren``, ``ffn``, ``gaussian``, ``pe``, ``groupsort``, ``maxmin``,
            ``householder``, ``relu``).
        constraint: ``bjorck``, ``spectral``, ``sll`` or ``none`` (unconstrained, budget only reported).
        allocation: budget allocation strategy (see ``allocate_budget``).
        allocation_kwargs: its parameters (e.g. ``{"k_min": 0.2}``). For the decreasing ramps
            (``linear``, ``exponential``, ``cosine``) an absent ``k_min`` — the output stage's share — is
            derived from ``max_displacement_mm`` (see :func:`output_stage_share`).
        max_displacement_mm: prior on the largest lung displacement (mm). The output layer maps hidden
            features of amplitude ≤ 1 to the displacement, so its share of the budget only needs to reach
            the largest plausible displacement in network units, ``D / s``; every unit of budget above
            that is taken from the hidden layers, whose features then cannot vary fast enough. 40 mm
            covers the largest landmark motions reported for DIR-Lab (≈ 25–30 mm) with margin.
        max_strain: tissue-strain prior (mm/mm): the budget of the displacement network.
        fold_free: use a certified fold-free budget ``< 1`` instead (``StrainPrior(fold_free=True)``).
        hidden_features, num_layers: network size.
        omega_0, omega: SIREN frequencies (first / hidden layers).
        network_kwargs: extra keyword arguments of the preset.
        output_ceiling: output layer with a spectral ceiling (``σ ≤ K_out``) initialised to zero: the
            registration starts from the identity transform and spends only the budget the images ask for.
        output_gain: initial bounded output gain (``|g| < 1``), ``None`` for none (an alternative way to
            start from the identity; it caps the whole network's constant at ``|g| K`` from the start).
        gain_learning_rate: learning rate of the gain (a single global amplitude, adapted fast).
        iterations, batch_size, learning_rate: optimisation (Adam) settings; points per iteration;
            ``learning_rate`` is the rate of the hidden layers. Adam moves every raw parameter by about
            ``lr`` per step; the orthogonal (Björck) hidden weights are scale-free, and 1e-3 moves them
            by ~1.6 % of an entry per step at width 256.
        output_learning_rate: learning rate of the output layer (weight and bias); ``None``:
            ``learning_rate``. Its bias is a displacement in network units, so Adam moves the whole
            field by up to ``lr · s`` mm per step (``s`` the coordinate scale, ~250 mm for a thorax):
            1e-3 everywhere diverged on the full-size lung benchmark (TRE 229 mm after 1000 steps)
            while 1e-3 hidden / 1e-4 output gave 0.237 mm on lung_popi (6.19 mm before), 0.351 mm on
            lung_popi_large (11.89 mm before; 1000 steps, 0 folds each) and 0.433 mm on the demo sample
            (300 steps; 0.446 mm with 1e-4 everywhere).
        regularizer: ``folding`` (``relu(margin - det)^2``), ``volume`` (``|det - 1|``),
            ``hyperelastic`` or ``none``.
        regularizer_weight: its weight; folding_margin: the folding loss margin.
        regularizer_points: points of each batch at which the Jacobian and the regulariser are
            evaluated (a random subset, a Monte-Carlo estimate of the same penalty); ``None``: all.
            The Jacobian costs about three extra forward passes per point: at 1000 of 10k points a
            step costs 1.34x a plain one, at all points 4.4x (benchmarks/jacobian.py, one thread). The
            folding penalty is a safety net that is non-zero only near folds, which the strain budget
            already keeps away: on the demo sample (300 its) 250, 1000 and all 4096 points gave the same
            TRE (0.446 mm) and 0 folded voxels, with 0.43x / 0.29x the optimisation time of all points.
        intensity_window: HU clamp applied to both images before similarity (``(None, None)``: none).
        seed: random seed (network init and point sampling); device: ``"cpu"``, ``"cuda"``, …
        chunk_size: points per network call when evaluating dense fields.
        empirical_starts, empirical_steps: effort of the empirical Lipschitz estimate.
        progress: show a progress bar; log_every: history interval; checkpoint_every: checkpoint interval.
    """

    preset: str = "siren"
    constraint: str = "bjorck"
    allocation: str = "exponential"
    allocation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_strain: float = 2.0
    max_displacement_mm: float = 40.0
    fold_free: bool = False
    hidden_features: int = 256
    num_layers: int = 3
    omega_0: float = 30.0
    omega: float = 30.0
    network_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    output_ceiling: bool = True
    output_gain: float | None = None
    gain_learning_rate: float = 1e-2
    iterations: int = 2500
    batch_size: int = 10000
    learning_rate: float = 1e-3
    output_learning_rate: float | None = 1e-4
    regularizer: str = "folding"
    regularizer_weight: float = 1.0
    folding_margin: float = 0.1
    regularizer_points: int | None = 1000
    intensity_window: tuple[float | None, float | None] = (-1000.0, 200.0)
    seed: int = 0
    device: str | None = None
    chunk_size: int = 65536
    empirical_starts: int = 32
    empirical_steps: int = 20
    progress: bool = True
    log_every: int = 50
    checkpoint_every: int = 500

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        self.preset = check_option("preset", self.preset, tuple(PRESETS))
        self.constraint = check_option("constraint", self.constraint, CONSTRAINTS)
        self.regularizer = check_option("regularizer", self.regularizer, REGULARIZERS)
        check_allocation(self.allocation, self.allocation_kwargs)
        for name in ("max_strain", "max_displacement_mm", "learning_rate", "gain_learning_rate", "omega_0", "omega"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}.")
        for name in ("iterations", "batch_size", "hidden_features", "num_layers", "chunk_size", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")
        v = self.output_learning_rate
        if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
            raise ValueError(f"output_learning_rate must be a finite number > 0 or None, got {v!r}.")
        v = self.regularizer_points
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"regularizer_points must be an int >= 1 or None, got {v!r}.")
        if self.regularizer_weight < 0 or not math.isfinite(self.regularizer_weight):
            raise ValueError(f"regularizer_weight must be finite and >= 0, got {self.regularizer_weight!r}.")
        lo, hi = self.intensity_window
        if (lo is None) != (hi is None) or (lo is not None and not lo < hi):
            raise ValueError(f"intensity_window must be (low, high) with low < high or (None, None), got "
                             f"{self.intensity_window!r}.")


RAMPS = DECREASING_RAMPS


def output_stage_share(cfg: RegistrationConfig, scale_mm: float, budget: float, num_stages: int) -> float:
    """Budget share of the output stage: the largest plausible displacement in network units.

    ``k_out = min(1, max_displacement_mm / s, K_B^(1/M))`` (the last term keeps the ramp feasible); see
    :func:`monai_lipinr.budget.shares.output_stage_share`.

    Args:
        cfg: the configuration (``max_displacement_mm``).
        scale_mm: ``s`` of the network coordinate map (mm per network unit).
        budget: the global budget ``K_B``.
        num_stages: number of budgeted stages ``M``.
    """
    return _output_stage_share(cfg.max_displacement_mm / scale_mm, budget, num_stages)


def build_network(cfg: RegistrationConfig, budget: float, scale_mm: float | None = None) -> LipschitzINR:
    """The displacement network ``R^3 -> R^3`` (network units) of a configuration.

    Args:
        cfg: the configuration.
        budget: global budget ``K_B`` (network units, = the strain bound).
        scale_mm: ``s`` of the network coordinate map; needed to derive the output stage's share for the
            decreasing ramps when ``allocation_kwargs`` has no ``k_min``.
    """
    cls = PRESETS[cfg.preset]
    kwargs: dict[str, Any] = {
        "hidden_features": cfg.hidden_features,
        "num_layers": cfg.num_layers,
        "output_gain": cfg.output_gain if cfg.constraint != "none" else None,
        "output_ceiling": cfg.output_ceiling and cfg.constraint not in ("none", "sll"),
        **cfg.network_kwargs,
    }
    if cls is SIREN:
        kwargs.update(omega_0=cfg.omega_0, omega=cfg.omega)
    if cfg.constraint == "none":
        return cls(3, 3, constraint=None, **kwargs)
    net = cls(3, 3, constraint=cfg.constraint, budget=budget, allocation=cfg.allocation,
              allocation_kwargs=dict(cfg.allocation_kwargs), **kwargs)
    if cfg.allocation in RAMPS and scale_mm is not None:
        allocate_with_output_share(net, budget, cfg.allocation, cfg.allocation_kwargs,
                                   output_stage_share(cfg, scale_mm, budget, net.num_stages))
    return net


def build_regularizer(cfg: RegistrationConfig) -> nn.Module | None:
    """The Jacobian regulariser (acting on displacement Jacobians ``(N, 3, 3)``), or ``None``."""
    if cfg.regularizer == "none" or cfg.regularizer_weight == 0:
        return None
    if cfg.regularizer == "folding":
        return JacobianFoldingLoss(margin=cfg.folding_margin)
    if cfg.regularizer == "volume":
        return JacobianVolumeLoss()
    return HyperelasticLoss()
