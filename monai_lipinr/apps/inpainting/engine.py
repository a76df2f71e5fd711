"""``INRInpainting``: fit a Lipschitz-budgeted INR to the observed pixels of an image.

The budget is data-driven (the paper's oracle): ``ImageGradientOracle`` on *reference* images — natural
images of the same kind, resampled to the target's pixel grid so that gradients are per target pixel —
converted to network units with the target's isotropic pixel map (``K = P99‖∇I‖ [intensity/pixel] · s
[pixels per network unit]``). ``budget_ratio`` scales it (``K = ratio · K_oracle``) for sweeps.

Where the budget goes (default ``allocation="amplitude"``, :func:`amplitude_matched`): the stages after
the embedding are given the shares their *amplitudes* ask for, and the embedding — whose budget is its
frequency content — receives the rest. A Fourier embedding ``γ(x) = [cos 2πBx, sin 2πBx]`` has
``‖γ(x)‖ = √m`` at every ``x``, and two pixels with unrelated phases sit ``≈ √(2m)`` apart in feature space;
the first stage after it scales by ``1/√(2m)`` so that hidden features vary by ~1, hidden stages keep
amplitude (share 1), and the output stage maps unit feature variation to the image's intensity range
``R`` (share ``R`` from the shared :func:`~monai_lipinr.budget.output_stage_share`, the rule the
registration app uses for its output share ``D/s``). Any other split
leaves the product at ``K`` but moves budget from the embedding's frequencies into amplitude the image
cannot use: with ``first_heavy`` (embedding ``K``, every other stage 1) the features vary ``√(2m)/R ≈ 16×``
more than the output can show, so the embedding's frequencies are ``≈ 16×`` too low (measured: the
network used 6 % of its budget and reached ~20 dB on a smooth image it should fit exactly).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.utils import look_up_option

from monai_lipinr.apps.inpainting.data import as_image, check_mask, pixel_coordinates, pixel_grid, resize_to
from monai_lipinr.apps.inpainting.metrics import compute_masked_psnr, compute_masked_ssim
from monai_lipinr.budget.priors import BudgetEstimate, ImageGradientOracle
from monai_lipinr.budget.shares import output_stage_share
from monai_lipinr.lipschitz.allocation import ALLOCATION_STRATEGIES, check_allocation, register_allocation
from monai_lipinr.lipschitz.constraints import register_retraction
from monai_lipinr.lipschitz.empirical import box_domain, estimate_lipschitz
from monai_lipinr.networks.nets import SIREN, FourierFeatureINR, GaussianINR, LipschitzINR

__all__ = [
    "InpaintingConfig",
    "InpaintingResult",
    "INRInpainting",
    "oracle_budget",
    "INPAINTING_PRESETS",
    "AMPLITUDE_ALLOCATION",
    "amplitude_matched",
    "feature_spread",
    "output_amplitude",
]

INPAINTING_PRESETS = ("ffn", "siren", "gaussian")

#: name under which :func:`amplitude_matched` is registered with ``allocate_budget``.
AMPLITUDE_ALLOCATION = "amplitude"


def amplitude_matched(total: float, num_components: int, feature_spread: float = 1.0,
                      k_out: float = 1.0) -> np.ndarray:
    """Allocation whose post-embedding shares follow the signal amplitudes; the first stage gets the rest.

    Stage targets, input to output: ``[K · spread / k_out, 1 / spread, 1, …, 1, k_out]`` (product ``K``),
    where ``spread`` is the typical feature-space distance between two unrelated points of the embedding
    (``√(2m)`` for ``m`` Fourier features, 1 without an embedding), so the first stage after the embedding
    hands unit-amplitude features on, and ``k_out`` is the output stage's share from the output amplitude
    (:func:`monai_lipinr.budget.output_stage_share`). Registered as ``allocate_budget(..., "amplitude")``.

    Args:
        total: global budget ``K`` (> 0).
        num_components: number of stages ``M`` (>= 3: embedding, at least one hidden stage, output).
        feature_spread: ``spread`` (> 0), in feature units.
        k_out: output stage's share (> 0), output units per unit-amplitude feature.

    Raises:
        ValueError: for ``M < 3`` or a non-positive spread / share.
    """
    if num_components < 3:
        raise ValueError(f"the 'amplitude' allocation needs >= 3 stages (embedding, hidden, output), got "
                         f"num_components={num_components}.")
    for name, v in (("feature_spread", feature_spread), ("k_out", k_out)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}.")
    targets = np.ones(num_components)
    targets[1] = 1.0 / feature_spread
    targets[-1] = k_out
    targets[0] = total * feature_spread / k_out
    return targets


if AMPLITUDE_ALLOCATION not in ALLOCATION_STRATEGIES:
    register_allocation(AMPLITUDE_ALLOCATION, amplitude_matched)


def feature_spread(network: LipschitzINR) -> float:
    """Typical feature-space distance between two unrelated points after the network's embedding.

    ``√(out_features)`` for a Fourier or positional embedding (``‖γ(x) − γ(y)‖² = Σ 2 − 2 cos Δφ_i ≈ 2m``
    for ``m`` sine/cosine pairs of unrelated phases), 1 without an embedding (the first stage then acts on
    the coordinates, which span ~1 network unit).
    """
    emb = network.embedding
    return math.sqrt(float(emb.out_features)) if hasattr(emb, "out_features") else 1.0


def output_amplitude(values: np.ndarray) -> float:
    """Intensity range of the observed pixels (largest over channels), floored at one 8-bit grey level."""
    v = np.asarray(values, dtype=np.float64).reshape(values.shape[0], -1)
    return float(max(np.max(v.max(0) - v.min(0)), 1.0 / 255.0))


@dataclasses.dataclass
class InpaintingConfig:
    """Settings of an inpainting fit.

    Attributes:
        preset: ``ffn`` (random Fourier features + ReLU; default, as in the paper), ``siren``, ``gaussian``.
        constraint: ``sll`` (default), ``bjorck``, ``spectral`` or ``none`` (the unconstrained network for
            comparison: no budget is enforced, the oracle budget is only reported).
        sigma: standard deviation of the Fourier frequencies (cycles per network unit) of the unconstrained
            ``ffn``; a constrained embedding is rescaled to its budget share, so it only shapes the spectrum.
        allocation: budget allocation strategy. Default ``amplitude`` (:func:`amplitude_matched`;
            ``feature_spread`` and ``k_out`` are derived from the network and the observed pixels unless given
            in ``allocation_kwargs``). The ramps (``exponential`` …), ``uniform`` and ``first_heavy`` are kept
            for comparison; see ``benchmarks/inpainting.py`` for the measurements across photographs.
        allocation_kwargs: parameters of the allocation strategy.
        output_amplitude: intensity amplitude ``A`` of the output stage; ``None`` = range of the observed
            pixels (:func:`output_amplitude`).
        budget_ratio: ``K = budget_ratio · K_oracle``.
        percentile: percentile of ``‖∇I‖`` used by the oracle.
        hidden_features: width of the hidden layers.
        num_layers: number of hidden layers (SLL blocks).
        num_features: number of Fourier features ``m`` (``ffn``).
        iterations: full-batch Adam steps on the observed pixels.
        learning_rate: Adam learning rate.
        seed: random seed (network init).
        device: ``cpu``/``cuda``/…
        empirical_starts: starts of the empirical Lipschitz estimate.
        empirical_steps: ascent steps per start of the empirical Lipschitz estimate.
    """

    preset: str = "ffn"
    constraint: str = "sll"
    sigma: float = 1.0
    allocation: str = AMPLITUDE_ALLOCATION
    allocation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    output_amplitude: float | None = None
    budget_ratio: float = 1.0
    percentile: float = 99.0
    hidden_features: int = 128
    num_layers: int = 3
    num_features: int = 128
    iterations: int = 1000
    learning_rate: float = 2e-3
    seed: int = 0
    device: str | None = None
    empirical_starts: int = 16
    empirical_steps: int = 10

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        self.preset = look_up_option(self.preset, INPAINTING_PRESETS)
        self.constraint = look_up_option(self.constraint, ("sll", "bjorck", "spectral", "none"))
        check_allocation(self.allocation, {})
        for name in ("budget_ratio", "learning_rate", "percentile", "output_amplitude", "sigma"):
            v = getattr(self, name)
            if v is None and name == "output_amplitude":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}.")
        for name in ("iterations", "hidden_features", "num_layers", "num_features"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")


def oracle_budget(
    references: Sequence[Any], shape: tuple[int, int], percentile: float = 99.0, reduction: str = "median"
) -> BudgetEstimate:
    """Budget ``K`` (intensity per network unit) of an INR of an ``(H, W)`` image from reference images.

    Each reference is converted to ``[0, 1]`` and resampled to ``shape`` (same field of view, same pixels),
    its ``percentile`` of ``‖∇I‖`` is measured with 1-pixel spacing, the per-image values are reduced
    (``median`` by default: robust to one unusually sharp reference), and converted with the target's
    isotropic map (``s`` = half the largest extent in pixels).

    Raises:
        ValueError: for no references or constant references.
    """
    if isinstance(references, np.ndarray) or not isinstance(references, (list, tuple)) or len(references) == 0:
        raise ValueError("references must be a non-empty list of images (H, W) or (H, W, 3).")
    refs = [resize_to(as_image(r, f"references[{i}]"), shape) for i, r in enumerate(references)]
    channel_dims = {r.ndim for r in refs}
    if len(channel_dims) != 1:
        refs = [r if r.ndim == 3 else np.repeat(r[..., None], 3, axis=2) for r in refs]
    channel_dim = -1 if refs[0].ndim == 3 else None
    oracle = ImageGradientOracle(percentile, coordinates=pixel_coordinates(shape), reduction=reduction)
    return oracle.estimate(refs, spacing=(1.0, 1.0), channel_dim=channel_dim)


@dataclasses.dataclass
class InpaintingResult:
    """What :meth:`INRInpainting.fit` hands back.

    Attributes:
        prediction: the network's image ``(H, W)`` / ``(H, W, C)`` in ``[0, 1]`` (clipped).
        inpainted: observed pixels kept, missing pixels from the network.
        mask: the observed-pixel mask ``(H, W)`` (bool).
        metrics: PSNR/SSIM on the missing pixels (and PSNR on the observed ones).
        budget: the budget used (``value``, derivation, oracle value and ratio).
        ledger: the Lipschitz ledger dict with the empirical constant.
        network: the trained network; runtime_s: wall times.
    """

    prediction: np.ndarray
    inpainted: np.ndarray
    mask: np.ndarray
    metrics: dict[str, float]
    budget: dict[str, Any]
    ledger: dict[str, Any]
    network: torch.nn.Module
    runtime_s: dict[str, float]

    def report(self) -> dict[str, Any]:
        """JSON-serialisable summary."""
        return {"metrics": self.metrics, "budget": self.budget, "ledger": self.ledger, "runtime_s": self.runtime_s,
                "observed_fraction": float(self.mask.mean())}


def _build_network(cfg: InpaintingConfig, channels: int, budget: float, amplitude: float = 1.0) -> LipschitzINR:
    common = dict(hidden_features=cfg.hidden_features, num_layers=cfg.num_layers, constraint=cfg.constraint,
                  budget=budget, allocation=cfg.allocation, allocation_kwargs=dict(cfg.allocation_kwargs))
    if cfg.constraint == "none":
        common = dict(hidden_features=cfg.hidden_features, num_layers=cfg.num_layers, constraint=None)
    if cfg.preset == "ffn":
        net = FourierFeatureINR(2, channels, num_features=cfg.num_features, seed=cfg.seed, sigma=cfg.sigma, **common)
    elif cfg.preset == "siren":
        net = SIREN(2, channels, **common)
    else:
        net = GaussianINR(2, channels, **common)
    if cfg.allocation == AMPLITUDE_ALLOCATION and cfg.constraint != "none":
        k_out = output_stage_share(amplitude, budget, net.num_stages)
        kwargs = {"feature_spread": feature_spread(net), "k_out": k_out, **cfg.allocation_kwargs}
        net.set_budget(budget, AMPLITUDE_ALLOCATION, **kwargs)
    return net


class INRInpainting:
    """Inpaint an image with a Lipschitz-budgeted INR.

    Args:
        config: an :class:`InpaintingConfig`; keyword arguments override its fields.

    Example:
        >>> k = oracle_budget(reference_images, image.shape[:2])
        >>> result = INRInpainting(iterations=500).fit(image, mask, budget=k)
        >>> result.metrics["psnr_missing"]
    """

    def __init__(self, config: InpaintingConfig | None = None, **overrides: Any) -> None:
        base = config or InpaintingConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.config.validate()

    def fit(self, image: Any, mask: Any, budget: BudgetEstimate | float | None = None,
            references: Sequence[Any] | None = None) -> InpaintingResult:
        """Fit the observed pixels and fill in the missing ones.

        Args:
            image: ``(H, W)`` or ``(H, W, 3)`` image (uint8 or float in ``[0, 1]``); its missing pixels are only
                used for the metrics.
            mask: ``(H, W)``, nonzero = observed.
            budget: the oracle budget (a :class:`BudgetEstimate` or a number, intensity per network unit);
                ``None`` derives it from ``references``.
            references: reference images for :func:`oracle_budget` when ``budget`` is ``None``.

        Returns:
            :class:`InpaintingResult`.

        Raises:
            ValueError: for a bad image or mask (wrong shape, all missing, none missing) or no budget source.
        """
        cfg = self.config
        t0 = time.perf_counter()
        img = as_image(image)
        shape = img.shape[:2]
        obs = check_mask(mask, shape)
        if budget is None:
            if references is None:
                raise ValueError("give budget=<K or BudgetEstimate> or references=[images] for the oracle.")
            budget = oracle_budget(references, shape, cfg.percentile)
        if isinstance(budget, BudgetEstimate):
            k_oracle, budget_info = float(budget.value), budget.to_ledger_entry()
        else:
            k_oracle = float(budget)
            if not math.isfinite(k_oracle) or k_oracle <= 0:
                raise ValueError(f"budget must be a finite number > 0, got {budget!r}.")
            budget_info = {"kind": "budget/given", "value": k_oracle}
        k = cfg.budget_ratio * k_oracle
        budget_info = {**budget_info, "oracle_value": k_oracle, "ratio": cfg.budget_ratio, "value": k}

        device = torch.device(cfg.device) if cfg.device else torch.device("cpu")
        torch.manual_seed(cfg.seed)
        channels = 1 if img.ndim == 2 else img.shape[2]
        coords = pixel_coordinates(shape)
        grid = torch.as_tensor(pixel_grid(shape, coords), dtype=torch.float32, device=device)
        target = torch.as_tensor(img.reshape(-1, channels), dtype=torch.float32, device=device)
        flat_obs = torch.as_tensor(obs.reshape(-1), device=device)
        x_obs, y_obs = grid[flat_obs], target[flat_obs]

        amplitude = cfg.output_amplitude or output_amplitude(img.reshape(-1, channels)[obs.reshape(-1)])
        budget_info["output_amplitude"] = amplitude
        net = _build_network(cfg, channels, k, amplitude).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
        if cfg.constraint == "bjorck":
            register_retraction(optimizer, net)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.iterations, eta_min=0.05 * cfg.learning_rate)
        net.train()
        t_opt = time.perf_counter()
        for _ in range(cfg.iterations):
            loss = ((net(x_obs) - y_obs) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sched.step()
        t_opt = time.perf_counter() - t_opt
        net.eval()
        with torch.no_grad():
            pred = net(grid).clamp(0.0, 1.0).reshape(*shape, channels).cpu().double().numpy()
        pred = pred[..., 0] if img.ndim == 2 else pred
        inpainted = np.where(obs[..., None] if img.ndim == 3 else obs, img, pred)
        metrics = self.score(pred, img, obs)
        metrics["train_mse"] = float(loss.detach())
        sampler, project = box_domain(grid.min(0).values.tolist(), grid.max(0).values.tolist(), 2,
                                      generator=torch.Generator(device=device).manual_seed(cfg.seed), device=device)
        est = estimate_lipschitz(net, sampler, num_starts=cfg.empirical_starts, num_steps=cfg.empirical_steps,
                                 project=project)
        ledger = net.ledger(empirical=est.value).to_dict()
        return InpaintingResult(pred, inpainted, obs, metrics, budget_info, ledger, net,
                                {"optimisation": t_opt, "total": time.perf_counter() - t0})

    @staticmethod
    def score(prediction: np.ndarray, image: np.ndarray, observed: np.ndarray) -> dict[str, float]:
        """PSNR/SSIM of ``prediction`` against ``image`` on the missing pixels (and PSNR on the observed)."""
        def chw(a):
            t = torch.as_tensor(a, dtype=torch.float64)
            return t[None] if t.ndim == 2 else t.permute(2, 0, 1)

        p, t = chw(prediction), chw(image)
        missing = torch.as_tensor(~observed)
        return {
            "psnr_missing": float(compute_masked_psnr(p, t, missing)),
            "ssim_missing": float(compute_masked_ssim(p, t, missing)),
            "psnr_observed": float(compute_masked_psnr(p, t, torch.as_tensor(observed))),
        }
