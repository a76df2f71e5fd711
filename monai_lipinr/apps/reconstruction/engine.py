"""``INRReconstruction``: CT reconstruction from (sparse) projections with an HU-gradient Lipschitz budget.

Model: the network ``f(x̃)`` represents the attenuation relative to water, ``μ(x) = μ_water · f((x - c)/R)``
(``HU = 1000 (f - 1)``), on the isotropic network coordinates of the scan field of view (centre ``c`` = the
rotation centre, ``R`` = field-of-view radius in mm, so the measured disk is ``‖x̃‖ ≤ 1``). Its line
integrals along the measured rays are computed by stratified quadrature (:class:`RayProjector`) and fitted
to the sinogram by (optionally Poisson-weighted) least squares on random ray batches (or, by default,
on every ray through the sparse grid projector), plus a total-variation term weighted by the current misfit.

Budget: :class:`~monai_lipinr.budget.IntensityGradientPrior` — an edge of ``max_hu_jump`` HU (air ↔ dense
bone, 2000 HU) cannot be sharper than the scanner resolves (``edge_width_mm``, by default the detector
pitch at the rotation centre), so ``Lip(HU) ≤ max_hu_jump / edge_width`` HU/mm; in network units, with one
output unit = 1000 HU and ``s = R`` mm per network unit, ``K = (max_hu_jump / edge_width) · R / 1000``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from monai_lipinr.apps.reconstruction.config import (
    ReconstructionConfig,
    build_network,
    first_stage_share,
    iteration_count,
    learning_rate,
    network_depth,
    total_variation_strength,
)
from monai_lipinr.apps.reconstruction.geometry import ScanGeometry, check_sinogram
from monai_lipinr.apps.reconstruction.noise import poisson_weights
from monai_lipinr.apps.reconstruction.projector import GridProjector, INRField, RayProjector
from monai_lipinr.apps.reconstruction.validation import BestIterate, held_out_views
from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import ImageGeometry
from monai_lipinr.budget.priors import IntensityGradientPrior
from monai_lipinr.engines import INRTrainer, PointBatchSampler
from monai_lipinr.lipschitz.constraints import register_retraction
from monai_lipinr.lipschitz.empirical import estimate_lipschitz
from monai_lipinr.losses.total_variation import TotalVariationLoss

__all__ = ["INRReconstruction", "ReconstructionResult", "reconstruction_grid", "HU_PER_OUTPUT_UNIT",
           "hu_to_attenuation", "attenuation_to_hu"]

#: One network output unit (attenuation relative to water) is 1000 HU.
HU_PER_OUTPUT_UNIT = 1000.0

#: Smoothing of the total-variation norm (HU per pixel): differences well above 1 HU count with their size.
TV_EPS_HU = 1.0


def hu_to_attenuation(hu: Any, mu_water: float) -> np.ndarray:
    """``μ = μ_water (1 + HU/1000)`` in 1/mm, floored at 0 (nothing attenuates less than vacuum)."""
    return np.clip(mu_water * (1.0 + np.asarray(hu, dtype=np.float64) / HU_PER_OUTPUT_UNIT), 0.0, None)


def attenuation_to_hu(mu: Any, mu_water: float) -> np.ndarray:
    """``HU = 1000 (μ / μ_water - 1)`` for ``μ`` in 1/mm."""
    return HU_PER_OUTPUT_UNIT * (np.asarray(mu, dtype=np.float64) / mu_water - 1.0)


def reconstruction_grid(geometry: ScanGeometry, size: int | None = None, spacing: float | None = None
                        ) -> ImageGeometry:
    """Square 2-D grid covering the scan field of view, centred on the rotation centre.

    Args:
        geometry: the scan geometry.
        size: pixels per side; ``None`` = enough pixels of ``spacing`` to cover the field-of-view disk.
        spacing: pixel spacing (mm); ``None`` = ``2R / size`` when ``size`` is given, else the detector pitch
            at the rotation centre (``geometry.resolution_mm()``).

    Returns:
        :class:`ImageGeometry` (identity direction, LPS mm).
    """
    radius = geometry.field_of_view_radius()
    if spacing is None:
        spacing = 2.0 * radius / size if size is not None else geometry.resolution_mm()
    spacing = float(spacing)
    if not (math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"spacing must be a positive number of mm, got {spacing!r}.")
    if size is None:
        size = int(math.ceil(2.0 * radius / spacing))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an int >= 1, got {size!r}.")
    origin = geometry.centre - 0.5 * (size - 1) * spacing
    return ImageGeometry((size, size), (spacing, spacing), origin)


@dataclasses.dataclass
class ReconstructionResult:
    """Everything a reconstruction hands back.

    Attributes:
        network: the trained attenuation network (network units in, ``μ/μ_water`` out).
        coordinates: the network coordinate map (centre = rotation centre, scale = FOV radius, mm).
        image: reconstruction in HU on ``image_geometry`` (``SimpleITK`` 2-D image, LPS mm); pixels outside
            the measured field-of-view disk are set to air (-1000 HU).
        attenuation: the same in 1/mm, ``(H, W)`` array indexed ``[j, i]``.
        image_geometry: the output grid.
        budget: the budget estimate (value, units, derivation) and the scale applied.
        ledger: the Lipschitz ledger as a dict, with the empirical constant and its utilisation.
        metrics: data-consistency numbers (relative residual of the sinogram) and the fit's settings derived
            from the data: the total variation's strength, the pixels per measurement, the learning rate, the
            number of iterations run and the field of view's diameter in output pixels that set both; with
            held-out views (``validation_views``), the views, the iterate they selected and its held-out misfit.
        runtime_s: wall time of the optimisation and of the whole call.
        history: loss per logged iteration.
    """

    network: torch.nn.Module
    coordinates: NetworkCoordinates
    image: sitk.Image
    attenuation: np.ndarray
    image_geometry: ImageGeometry
    budget: dict[str, Any]
    ledger: dict[str, Any]
    metrics: dict[str, Any]
    runtime_s: dict[str, float]
    history: list[dict[str, float]]

    @property
    def hu(self) -> np.ndarray:
        """The reconstruction in HU, ``(H, W)`` indexed ``[j, i]``."""
        return sitk.GetArrayFromImage(self.image).astype(np.float64)

    def report(self) -> dict[str, Any]:
        """JSON-serialisable summary (no arrays)."""
        return {
            "metrics": self.metrics,
            "ledger": self.ledger,
            "budget": self.budget,
            "runtime_s": self.runtime_s,
            "coordinates": self.coordinates.to_dict(),
            "image_geometry": self.image_geometry.to_dict(),
            "history": self.history,
        }


def sqrt_ramp(residual: torch.Tensor) -> torch.Tensor:
    """Apply ``|ω|^½`` along the detector axis of a ``(V, D)`` sinogram residual (zero-padded FFT).

    ``‖sqrt_ramp(Ax - y)‖² = ⟨Ax - y, R (Ax - y)⟩`` with ``R`` the FBP ramp filter: since ``AᵀRA ≈ c·I`` for a
    full set of views, the gradient of this data term is a filtered back-projection of the residual —
    a preconditioner that makes all spatial frequencies converge at the same rate (plain least squares
    converges like ``1/|ω|``). The DC term is kept at the lowest non-zero frequency's weight.
    """
    d = residual.shape[-1]
    size = 1 << int(math.ceil(math.log2(2 * d)))
    freq = torch.fft.rfftfreq(size, device=residual.device).to(residual.dtype)
    freq[0] = freq[1] / 2
    spec = torch.fft.rfft(residual, n=size, dim=-1) * torch.sqrt(freq)
    return torch.fft.irfft(spec, n=size, dim=-1)[..., :d]


def _pixel_centres(image_geometry: ImageGeometry) -> np.ndarray:
    """World positions (mm) of the pixel centres, ``(H*W, 2)`` in row-major ``[j, i]`` order."""
    w, h = image_geometry.size
    jj, ii = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return image_geometry.index_to_world(np.stack([ii.ravel(), jj.ravel()], -1).astype(np.float64))


def _fov_mask(image_geometry: ImageGeometry, centre: np.ndarray, radius: float) -> np.ndarray:
    w, h = image_geometry.size
    pts = _pixel_centres(image_geometry)
    return (np.linalg.norm(pts - centre, axis=1) <= radius).reshape(h, w)


class INRReconstruction:
    """Reconstruct a CT slice as a Lipschitz-budgeted INR from its sinogram.

    Args:
        config: a :class:`ReconstructionConfig`; keyword arguments override its fields
            (e.g. ``INRReconstruction(iterations=300, constraint="none")``).

    Examples:
        >>> geom = ParallelBeamGeometry(np.linspace(0, np.pi, 60, endpoint=False), 256, 1.0)
        >>> result = INRReconstruction().fit(sinogram, geom)
        >>> result.hu.shape, result.ledger["utilization"]
    """

    def __init__(self, config: ReconstructionConfig | None = None, **overrides: Any) -> None:
        base = config or ReconstructionConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.config.validate()

    def budget_estimate(self, geometry: ScanGeometry, image_geometry: ImageGeometry | None = None):
        """The prior's budget for a geometry: ``(BudgetEstimate, coordinates, edge width mm)``."""
        cfg = self.config
        coords = NetworkCoordinates(geometry.centre, geometry.field_of_view_radius())
        edge = cfg.edge_width_mm
        if edge is None:
            edge = geometry.resolution_mm()
            if image_geometry is not None:
                edge = max(edge, float(np.min(image_geometry.spacing)))
        prior = IntensityGradientPrior(cfg.max_hu_jump, edge_width_mm=edge, coordinates=coords,
                                       output_scale=HU_PER_OUTPUT_UNIT)
        return prior.estimate(), coords, edge

    def fit(self, sinogram: Any, geometry: ScanGeometry, image_geometry: ImageGeometry | None = None,
            photons: float | None = None, handlers: Sequence | None = None) -> ReconstructionResult:
        """Fit the INR to a sinogram.

        Args:
            sinogram: ``(num_views, num_detectors)`` line integrals ``∫ μ dl`` (μ in 1/mm, lengths in mm:
                dimensionless), array or tensor.
            geometry: the :class:`ScanGeometry` of the sinogram (mm).
            image_geometry: output grid (2-D, LPS mm); ``None`` = :func:`reconstruction_grid` of ``geometry``.
            photons: ``I0`` of the Poisson model, needed for ``weighting="poisson"``.
            handlers: MONAI/ignite handlers attached to the optimisation engine
                (:class:`~monai_lipinr.engines.INRTrainer`: one iteration = one optimiser step,
                ``state.output = [{"loss": ...}]``), e.g. ``StatsHandler``, ``EarlyStopHandler``.

        Returns:
            :class:`ReconstructionResult`.

        Raises:
            TypeError: for a geometry that is not a ``ScanGeometry``.
            ValueError: for a sinogram that does not match the geometry, non-finite or all-zero data, or
                ``weighting="poisson"`` without ``photons``.
        """
        cfg = self.config
        t_start = time.perf_counter()
        if not isinstance(geometry, ScanGeometry):
            raise TypeError(f"geometry must be a ParallelBeamGeometry or FanBeamGeometry, got "
                            f"{type(geometry).__name__}.")
        device = torch.device(cfg.device) if cfg.device else torch.device("cpu")
        target = check_sinogram(sinogram, geometry).to(device=device, dtype=torch.float32).reshape(-1)
        if not bool((target != 0).any()):
            raise ValueError("sinogram is all zeros: nothing was measured (an empty field of view).")
        if image_geometry is None:
            image_geometry = reconstruction_grid(geometry)
        if not isinstance(image_geometry, ImageGeometry) or image_geometry.spatial_dims != 2:
            raise ValueError(f"image_geometry must be a 2-D ImageGeometry, got {image_geometry!r}.")
        held_views = held_out_views(geometry.shape[0], cfg.validation_views)
        fit_views = torch.ones(geometry.shape[0], dtype=torch.bool, device=device)
        fit_views[torch.as_tensor(held_views, device=device)] = False
        if cfg.weighting == "poisson":
            if photons is None:
                raise ValueError("weighting='poisson' needs photons (I0 of the measurement), got None.")
            weights = poisson_weights(target, photons)
        else:
            weights = torch.ones_like(target)

        torch.manual_seed(cfg.seed)
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        estimate, coords, edge = self.budget_estimate(geometry, image_geometry)
        budget = estimate.value * cfg.budget_scale
        view_limit = geometry.angular_sampling_limit() * coords.scale  # rad per network unit
        net = build_network(cfg, budget, view_limit).to(device)
        field = INRField(net, coords, output_scale=cfg.mu_water)
        if cfg.forward_model == "rays":
            projector = RayProjector(geometry, num_samples=cfg.samples_per_ray,
                                     chunk_size=max(1, cfg.chunk_size // cfg.samples_per_ray),
                                     detector_subsamples=cfg.detector_subsamples).to(device)

        fov_diameter_pixels = 2.0 * geometry.field_of_view_radius() / float(np.min(image_geometry.spacing))
        lr = learning_rate(cfg, fov_diameter_pixels)
        steps = iteration_count(cfg, fov_diameter_pixels)
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=0.05 * lr)
        if cfg.constraint == "bjorck":
            register_retraction(optimizer, net)
        # loss normalisation: 1 = predicting zero everywhere (on the views fitted; the held-out ones alike)
        reference = target.reshape(geometry.shape)
        if cfg.preconditioner == "ramp" and cfg.forward_model == "grid":
            reference = sqrt_ramp(reference)
        scale = float((reference[fit_views] ** 2).mean())
        held_scale = float((reference[~fit_views] ** 2).mean()) if held_views.size else None
        n_rays = target.shape[0]
        n_fitted = int(fit_views.sum()) * geometry.shape[1]  # the measurements the fit sees
        # the network is sampled on the output grid refined ``supersampling`` times per axis: the projector
        # then sees detail finer than an output pixel (which the measured line integrals contain)
        samples = image_geometry.refined(cfg.supersampling)
        if cfg.forward_model == "grid":
            grid_projector = GridProjector(geometry, samples, detector_subsamples=cfg.detector_subsamples).to(device)
        pixels = torch.as_tensor(coords.world_to_network(_pixel_centres(samples)), dtype=torch.float32,
                                 device=device)

        w_px, h_px = samples.size
        fov_pixels = torch.as_tensor(_fov_mask(samples, geometry.centre, geometry.field_of_view_radius()),
                                     device=device)
        total_variation = TotalVariationLoss(spatial_dims=2, eps=TV_EPS_HU / HU_PER_OUTPUT_UNIT)
        fov_output_pixels = int(_fov_mask(image_geometry, geometry.centre, geometry.field_of_view_radius()).sum())
        tv_strength = total_variation_strength(cfg, max(fov_output_pixels, 1), n_fitted)

        # the grid model's line integrals see only the projector's support pixels: evaluate the network there
        # (and everywhere when the rays model needs the image for total variation only)
        support = grid_projector.support if cfg.forward_model == "grid" else None

        def network_image() -> torch.Tensor:
            if support is None:
                return net(pixels).reshape(-1)
            values = net(pixels[support]).reshape(-1)
            return values.new_zeros(pixels.shape[0]).masked_scatter(support, values)

        def view_residuals(image: torch.Tensor) -> torch.Tensor:
            """The grid model's weighted (and ramp-filtered) residual of an image, ``(V, D)``."""
            pred = grid_projector(image * cfg.mu_water).reshape(-1)
            res = (weights.sqrt() * (pred - target)).reshape(geometry.shape)
            return sqrt_ramp(res) if cfg.preconditioner == "ramp" else res

        def held_out_misfit(res: torch.Tensor) -> float:
            return float((res.detach()[~fit_views] ** 2).mean()) / held_scale

        best = BestIterate(net) if held_views.size else None

        def loss_function(batch: dict[str, Any]) -> torch.Tensor | dict[str, torch.Tensor]:
            image = network_image() if cfg.forward_model == "grid" or cfg.tv_weight > 0 else None
            terms = {}
            if cfg.forward_model == "grid":
                res = view_residuals(image)
                loss = ((res[fit_views] if best is not None else res) ** 2).mean() / scale
                if best is not None:  # the state the optimiser is about to change: engine.state.iteration - 1 steps
                    terms["validation"] = held_out_misfit(res)
                    best.observe(engine.state.iteration - 1, terms["validation"])
            else:
                idx = batch["index"]
                pred = projector(field, idx, stratified=True, generator=generator)
                loss = (weights[idx] * (pred - target[idx]) ** 2).mean() / scale
            if cfg.tv_weight > 0:  # weight proportional to the current misfit (see ReconstructionConfig.tv_weight)
                tv = total_variation(image.reshape(1, 1, h_px, w_px), fov_pixels)
                loss = loss + tv_strength * loss.detach() * tv
            return {"loss": loss, **terms} if terms else loss

        # one engine iteration = one step (rays: a random ray batch; grid: the full image)
        sampler = PointBatchSampler(n_rays, cfg.rays_per_batch if cfg.forward_model == "rays" else None,
                                    generator=generator, device=device)
        engine = INRTrainer(net, optimizer, loss_function, sampler, steps, lr_scheduler=scheduler,
                            device=device, handlers=handlers, log_every=cfg.log_every, progress=cfg.progress,
                            desc="reconstruct")
        t_opt = time.perf_counter()
        engine.run()
        history = engine.state.history
        t_opt = time.perf_counter() - t_opt
        net.eval()
        if best is not None:  # the final state competes too; then the network is the best one seen
            with torch.no_grad():
                best.observe(steps, held_out_misfit(view_residuals(network_image())))
            best.restore()
        with torch.no_grad():
            if cfg.forward_model == "grid":
                pred = grid_projector(network_image() * cfg.mu_water).reshape(-1)
            else:
                pred = projector(field).reshape(-1)
        residual = float(torch.linalg.vector_norm(pred - target) / torch.linalg.vector_norm(target))
        result = self._finish(net, coords, residual, geometry, image_geometry, estimate, edge, history)
        k_first = first_stage_share(cfg, budget, view_limit)  # None: the allocation's own (``K`` by default)
        result.budget.update(view_sampling_limit_per_network_unit=view_limit, first_share=cfg.first_share,
                             view_limited_first_stage_share=k_first,
                             num_layers=network_depth(cfg, budget, view_limit))
        result.metrics.update(total_variation_strength=tv_strength,
                              pixels_per_measurement=fov_output_pixels / n_fitted, learning_rate=lr, iterations=steps,
                              fov_diameter_pixels=fov_diameter_pixels)
        if best is not None:
            result.metrics.update(validation_views=held_views.tolist(), selected_iteration=best.iteration,
                                  validation_misfit=best.misfit)
        result.runtime_s = {"optimisation": t_opt, "total": time.perf_counter() - t_start}
        return result

    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, network: torch.nn.Module, coordinates: NetworkCoordinates, image_geometry: ImageGeometry
               ) -> np.ndarray:
        """A network's ``μ/μ_water`` on a 2-D grid → ``(H, W)`` indexed ``[j, i]``.

        Each pixel is the mean of the network at ``supersampling²`` sub-pixel centres (its area average; the
        pixel centre when ``supersampling = 1``).
        """
        w, h = image_geometry.size
        f = self.config.supersampling
        pts = _pixel_centres(image_geometry.refined(f))
        param = next(network.parameters())
        x = torch.as_tensor(coordinates.world_to_network(pts), dtype=param.dtype, device=param.device)
        out = torch.cat([network(x[a:a + self.config.chunk_size]) for a in range(0, x.shape[0],
                                                                                  self.config.chunk_size)])
        return out.reshape(h, f, w, f).mean(dim=(1, 3)).double().cpu().numpy()

    def _finish(self, net, coords, residual, geometry, image_geometry, estimate, edge, history
                ) -> ReconstructionResult:
        cfg = self.config
        rel = self.render(net, coords, image_geometry)
        inside = _fov_mask(image_geometry, geometry.centre, geometry.field_of_view_radius())
        rel = np.where(inside, rel, 0.0)
        mu = cfg.mu_water * rel
        hu = HU_PER_OUTPUT_UNIT * (rel - 1.0)
        image = sitk.GetImageFromArray(hu.astype(np.float32))
        image_geometry.apply_to_sitk(image)

        # empirical Lipschitz constant over the measured disk ‖x̃‖ ≤ 1 (network units)
        param = next(net.parameters())
        gen = torch.Generator(device=param.device).manual_seed(cfg.seed)

        def sampler(n: int) -> torch.Tensor:
            r = torch.sqrt(torch.rand(n, 1, generator=gen, device=param.device, dtype=param.dtype))
            a = 2 * math.pi * torch.rand(n, 1, generator=gen, device=param.device, dtype=param.dtype)
            return torch.cat([r * torch.cos(a), r * torch.sin(a)], 1)

        def project(p: torch.Tensor) -> torch.Tensor:
            return p / torch.clamp(torch.linalg.vector_norm(p, dim=1, keepdim=True), min=1.0)

        est = estimate_lipschitz(net, sampler, num_starts=cfg.empirical_starts, num_steps=cfg.empirical_steps,
                                 project=project)
        if cfg.constraint == "none":
            ledger = {"budget": None, "certified_bound": None, "empirical": est.value,
                      "note": "unconstrained network: the budget is not enforced, only reported",
                      "prior_budget": estimate.value * cfg.budget_scale,
                      "utilization": est.value / (estimate.value * cfg.budget_scale)}
        else:
            ledger = net.ledger(empirical=est.value).to_dict()
        budget = estimate.to_ledger_entry()
        budget.update(budget_scale=cfg.budget_scale, applied_value=estimate.value * cfg.budget_scale,
                      edge_width_mm=edge, hu_gradient_per_mm_applied=estimate.value * cfg.budget_scale
                      * HU_PER_OUTPUT_UNIT / coords.scale)
        metrics = {"relative_sinogram_residual": residual,
                   "empirical_hu_gradient_per_mm": est.value * HU_PER_OUTPUT_UNIT / coords.scale}
        return ReconstructionResult(network=net, coordinates=coords, image=image, attenuation=mu,
                                    image_geometry=image_geometry, budget=budget, ledger=ledger, metrics=metrics,
                                    runtime_s={}, history=history)
