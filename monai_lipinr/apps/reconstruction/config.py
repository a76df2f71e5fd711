"""Configuration of :class:`~monai_lipinr.apps.reconstruction.INRReconstruction` and its network builder."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from monai_lipinr.budget.shares import allocate_with_output_share, output_stage_share, stages_for_gain
from monai_lipinr.lipschitz.allocation import check_allocation
from monai_lipinr.networks.nets import SIREN, FourierFeatureINR, LipschitzINR, PositionalEncodingMLP
from monai_lipinr.networks.nets.presets import NETWORK_PRESETS as PRESETS
from monai_lipinr.ops.validation import check_option

__all__ = ["ReconstructionConfig", "PRESETS", "CONSTRAINTS", "WEIGHTINGS", "FORWARD_MODELS", "FIRST_SHARES",
           "VIEW_LIMIT_FACTOR", "DEFAULT_HIDDEN_STAGE_GAIN", "build_network", "first_stage_share", "MU_WATER_PER_MM",
           "network_depth", "output_share", "total_variation_strength", "learning_rate",
           "iteration_count", "DEFAULT_ITERATIONS", "MAX_ITERATION_FACTOR", "DEFAULT_LEARNING_RATE",
           "LEARNING_RATE_REFERENCE_DIAMETER", "CONSTRAINED_LEARNING_RATE_RANGE"]

CONSTRAINTS = ("bjorck", "spectral", "sll", "none")
WEIGHTINGS = ("none", "poisson")
FORWARD_MODELS = ("grid", "rays")
#: How the first stage's share ``k₁`` of ``first_heavy_output`` is set: ``"budget"`` keeps the whole ``K``;
#: ``"views"`` caps it at ``VIEW_LIMIT_FACTOR`` times the view-sampling limit (see ``ReconstructionConfig``).
FIRST_SHARES = ("views", "budget")

#: ``k₁ = min(K, VIEW_LIMIT_FACTOR · ω_c)`` with ``ω_c`` the Crowther limit of the views in rad per network unit
#: (``N`` for ``N`` parallel views over 180°). The factor 2 comes from a screen on POPI 70 (seed 0): at 128²,
#: 30 views, ``k₁ = 60`` gave 31.71 dB against 31.40 with ``k₁ = K = 127``; at 60 views ``k₁ = 60`` lost 0.25 dB.
#: It was then checked on seventeen cases (four slices, a second seed, 30 / 45 / 60 / 90 views, 64² / 128² / 256²;
#: only POPI 256² at 60 views had been in the screen, with ``k₁ = 60``): ``min(K, 2 ω_c)`` ranged from 0.05 dB
#: below ``k₁ = K`` (POPI 128², 60 views, within the 0.1–0.4 dB between seeds) to 1.04 dB above (4D-Lung 256²,
#: 30 views) (``benchmarks/README.md``, CT section).
VIEW_LIMIT_FACTOR = 2.0
PRECONDITIONERS = ("ramp", "none")

#: Linear attenuation coefficient of water at ~70 keV effective energy (NIST XCOM: μ/ρ = 0.193 cm²/g), 1/mm.
MU_WATER_PER_MM = 0.0193

#: Adam learning rates: Björck/spectral-scaled weights move by ~lr per step relative to their unit-norm
#: raw weights; the unconstrained SIREN at its usual rate (Sitzmann et al. 2020). Measured (POPI slice 70,
#: 60 views, 800 iterations): unconstrained 31.5 dB at 1e-4 vs 20.2 dB at 3e-3.
#: The constrained rate is the one at a field of view :data:`LEARNING_RATE_REFERENCE_DIAMETER` output pixels
#: across; :func:`learning_rate` scales it with the square of the field of view's diameter in output pixels.
DEFAULT_LEARNING_RATE = {"constrained": 6e-3, "none": 1e-4}

#: Field-of-view diameter (output pixels) at which the constrained rate is ``DEFAULT_LEARNING_RATE["constrained"]``.
LEARNING_RATE_REFERENCE_DIAMETER = 128.0

#: Range of the constrained rate the grid rule gives: its rates at the smallest and the largest grid measured
#: (48², 8e-4; 256², where 1.2e-2 was the best measured and 2.4e-2 lost 0.34 / 0.36 dB on POPI / 4D-Lung at
#: 3200 iterations). Grids outside that range are unmeasured, so the rule does not extrapolate.
CONSTRAINED_LEARNING_RATE_RANGE = (8e-4, 1.2e-2)

#: Network samples per output pixel along each axis. Measured (POPI slice 70, 60 views, I0 = 1e5): the
#: data misfit of the true slice under the forward model (ramp-weighted energy; the noise's is 1.32) is 3.84
#: on the 128² output grid, 0.54 on the grid refined 2x and 0.005 refined 4x (CIP crop: 1.73 / 0.44 / 0.33
#: against a noise energy of 0.15), so the grid's model error dominates the misfit. Yet the reconstruction
#: refined 2x scored 33.35 dB against 33.71 dB at 1x (800 iterations, default TV) and took 4.6x the time:
#: the finer samples add unknowns that the 60 views do not determine. Hence 1 by default.
DEFAULT_SUPERSAMPLING = 1

#: Rays per detector bin in the forward model. Measured (POPI slice 70, 60 views, bins that integrate over their
#: width, I0 = 1e5): the misfit of the true slice under the grid model (ramp-weighted energy, x1e-4) is 1.71 with
#: one ray per bin, 2.32 with 2 and 2.46 with 4, against 1.74 for the noise: the bilinear interpolant of the
#: area-averaged output pixels is already about as smooth as a bin's strip, so sub-rays blur it twice. The
#: reconstruction scored 33.04 / 33.01 dB with 1 / 2 (800 iterations). Hence 1.
DEFAULT_DETECTOR_SUBSAMPLES = 1

#: Hidden layers of the network. Measured at 60 views, bin detectors, 800 iterations (seed 0), 3 -> 4 layers:
#: POPI 70 33.04 -> 33.85 dB (seed 1: 33.15 -> 33.41), 4D-Lung 60 32.76 -> 33.24, CIP crop 33.42 -> 33.80, at
#: 1.3x the time; 5 layers gave 33.29 on POPI. With the first-heavy split the extra layer takes part of the
#: hidden stages' share (``1 / k_out``), so the budget is unchanged and only the depth of composition grows.
DEFAULT_NUM_LAYERS = 4

#: Target share of each hidden stage when ``num_layers=None`` (:func:`network_depth`): the hidden stages'
#: product ``P = K / (k₁ k_out)`` is spread over the number of Björck layers that puts each one's share nearest
#: this gain (log-space). ``P`` grows with the resolution (``K``) and the view sparsity (smaller ``k₁``); a fixed
#: depth piles it onto the same few layers. Measured with the SIREN preset on fifteen cases (POPI, 4D-Lung, CIP;
#: 128² and 256²; 30 / 45 / 60 / 90 views; P ≈ 6 to 24; 4 to 7 layers; ``benchmarks/README.md``, CT section):
#: the best share per hidden layer was 1.6–1.9 in every case, 2.0 and more lost in all but 256², 90 views, and
#: 1.57 tied at P ≈ 6. With 1.7 the rule's depth was the best measured in all but four cases (0.09–0.18 dB
#: below the best) and above the fixed 4 layers in all but 256², 90 views (−0.09 / −0.15 dB); e.g. 256², 60
#: views: POPI 31.12 -> 31.63 dB, 4D-Lung 30.21 -> 31.27 (6 layers); 128², 30 views: +0.13 to +0.85 dB.
DEFAULT_HIDDEN_STAGE_GAIN = 1.7

#: Adam steps. Measured at 60 views with the default TV (one run each): 800 -> 1600 iterations moved POPI 70
#: from 33.71 to 34.29 dB, 4D-Lung 60 from 33.40 to 33.86 dB and the CIP crop from 33.58 to 34.39 dB, at twice
#: the time (~47 -> ~90 s for 128² on one CPU thread).
#: Re-measured with 4 layers and bin detectors (POPI 70): 800 / 1600 / 3200 iterations gave 33.85 / 34.70 / 34.87 dB.
#: The budget slows the fit of the noise; it does not stop it (60 views, ``benchmarks/README.md``): from 1600 to
#: 3200 iterations ours changed by −0.05 to +0.75 dB on POPI / 4D-Lung at 128² and 256², while the unconstrained
#: twin (4 layers) lost 2.3 to 5.1 dB. Longer or wider fits of ours can still lose: 4D-Lung 256² fell 0.20 dB from
#: 3200 to 6400 iterations, and with 256 features 0.65 dB from 1600 to 3200; POPI 256² gained 0.61 / 0.66 dB from
#: 3200 to 6400 (seeds 0 / 1).
DEFAULT_ITERATIONS = 1600

#: Largest factor :func:`iteration_count` lengthens the default fit by: the 3200 iterations measured at 256²
#: (where the factor is 1.98); finer grids are unmeasured, so the rule does not extrapolate. Measured with the
#: grid's rate (60 views, seed 0 unless stated, ``benchmarks/README.md``, CT section): at 256², 3200 iterations
#: against 1600 gained +0.72 / +0.85 dB on POPI (seeds 0 / 1) and +0.71 dB on 4D-Lung (seed 0). Held out, with
#: the rule fixed before the runs: at 224² its 2428 iterations against 1600 gained +0.41 (POPI) / +0.16 dB
#: (4D-Lung), at 1.5x the time.
MAX_ITERATION_FACTOR = 2.0

#: Total-variation weight ``λ`` (``ReconstructionConfig.tv_weight``); the strength is ``c = λ √(N / M)``
#: (:func:`total_variation_strength`). The first screen (60 views, 128², 800 iterations, an earlier network)
#: set a constant ``c = 10``: with a fixed weight on the misfit the best PSNR fell at ``λ / D ≈ 8-15`` on POPI 70,
#: 4D-Lung 60 and the CIP crop at I0 = 1e5 photons and on POPI at I0 = 1e4, while the best fixed weight itself
#: moved 2-4x with the dose; ``c = 5 / 10 / 20`` gave 33.37 / 33.71 / 32.23 dB on POPI. Re-measured with the
#: 1600-iteration defaults (seed 0, ``benchmarks/README.md``, CT section), the best constant moves with the
#: pixels per measurement ``N / M``: at 90 views (128², ``N / M`` 1.1) ``c = 10`` beat 6.7 and 20 by 0.3-0.5 dB;
#: at 30 views (128², 3.3) and at 256², 60 views (3.3) ``c = 20`` beat 10 on all five cases (+0.07 to +0.93 dB)
#: and 40 lost 1.0 dB. ``√(N / M)`` is how the noise in the image grows with the unknowns per measurement, and a
#: total-variation denoiser's best weight is proportional to that noise's standard deviation. With ``λ = 11``
#: (``c`` 11.5 / 14.1 / 20.0 at ``N / M`` 1.1 / 1.65 / 3.3), on the eleven cases run at the rule's ``c`` after
#: λ was set (128² at 45 / 60 / 90 views and 60 fan views, 256² at 90 views), it scored -0.15 to +0.48 dB
#: against ``c = 10``, below it only on POPI 256², 90 views. It is not the optimum everywhere: pydicom's 64²
#: slice (``N / M`` 0.81, ``c`` 9.9) scored +0.61 dB with ``c = 20``, and a low-noise phantom (10⁶ photons,
#: 1-2 % contrasts) fits worse at its ``c``.
DEFAULT_TV_WEIGHT = 11.0


@dataclasses.dataclass
class ReconstructionConfig:
    """Settings of an INR CT reconstruction.

    The network represents the attenuation relative to water, ``f = μ / μ_water = 1 + HU / 1000``
    (air 0, water 1), on the network coordinates of the scan field of view (``x̃ = (x - c) / R``,
    ``c`` the rotation centre, ``R`` the field-of-view radius in mm). One output unit is 1000 HU.

    Attributes:
        preset, constraint, allocation, allocation_kwargs: network and budget split (see ``LipschitzINR``).
            The default ``"first_heavy_output"`` gives the first stage the whole budget ``K`` (its sine
            features must resolve the sharpest edge the prior allows), the output stage the share derived
            from ``output_amplitude_hu`` and the hidden stages the rest (``1/k_out``), evenly in log-space;
            an explicit ``k_out`` (or ``k_min`` for the decreasing ramps) in ``allocation_kwargs`` wins.
            Known limit, measured at 60 views on a 256² grid (POPI 70, 1.95 mm pixels): ours scored 30.70 dB
            against 32.63 dB for the unconstrained twin with the same TV (at 128² ours leads by 2.8 dB). Moving
            half the first stage's share into the hidden stages gave 31.18 dB; ``uniform`` and ``exponential``
            scored 20.65 and 19.95 dB (``benchmarks/README.md``, CT section). Widening the network to
            ``hidden_features=256`` raised ours on POPI to 32.16 dB (FBP + 5.1 dB; 2.8x the time per step), but not on
            4D-Lung 60 (30.18 dB); the unconstrained twin with 256 features scored 32.48 dB on POPI. With the
            depth from ``hidden_stage_gain`` (6 layers there) ours scores 31.63 (POPI) / 31.27 dB (4D-Lung), and
            with 256 features at that depth 32.74 / 31.29 dB (FBP + 5.7 / + 5.2 dB; about 2.5x the time).
        first_share: the first stage's share ``k₁`` under ``first_heavy_output``. ``"views"`` (default):
            ``k₁ = min(K, 2 ω_c)``, with ``ω_c`` the highest frequency the views determine over the field of
            view (Crowther's criterion, :meth:`~monai_lipinr.apps.reconstruction.geometry.ScanGeometry.angular_sampling_limit`;
            ``N`` rad per network unit for ``N`` parallel views over 180°); the hidden stages take the rest,
            so the product, and the certificate, stay ``K``. The prior's ``K`` grows with the resolution, the
            view limit does not: sine features faster than the data determine fit the noise between the
            views. ``"budget"``: ``k₁ = K`` (the earlier default). A ``k_first`` in ``allocation_kwargs`` wins.
            See :data:`VIEW_LIMIT_FACTOR` for the measurements.
        learnable_allocation: learn the split of ``K`` during the fit (``LipschitzINR``): the allocation gives the
            initial shares, the product stays ``K``, so the certificate is unchanged. Needs the Björck or spectral
            constraint; the unconstrained twin ignores it. Off by default: on the four 128² slices at 60 views it
            changed PSNR by -0.11 to +0.15 dB, at 256² (POPI, 4D-Lung) by +0.13 / +0.29 dB (``benchmarks/README.md``).
        learnable_amplitude: give every hidden sine unit a learned amplitude, ``a sin(ω z / a)``
            (``Sine(learnable_amplitude=True)``): its Lipschitz constant stays ``ω``, so the certificate is
            unchanged, while a unit may trade frequency for amplitude (the diagonal rescaling of the product
            bound). Needs ``preset="siren"``; the unconstrained twin ignores it. Off by default: at 256², 60
            views it changed PSNR by +0.13 (POPI) / +0.16 dB (4D-Lung), at 128² by -0.01 / 0.00 dB
            (``benchmarks/README.md``).
        output_amplitude_hu: largest plausible output swing ``A`` (HU): the air ↔ dense-bone range
            (-1000 … +1000 HU, 2 output units). The output layer sums ``hidden_features`` features of
            amplitude ≤ 1 coherently (``‖w‖₁ ≤ √H ‖w‖₂``), so its share is
            ``k_out = (A / 1000) / √hidden_features`` (:func:`~monai_lipinr.budget.output_stage_share`), and
            the hidden stages get ``1 / k_out``. Measured (POPI slice 70, 60 views, K x1): share 1 (plain
            first-heavy with the ceiling) 25.6 dB, 1/√H 28.6 dB, 2/√H 29.7 dB.
        output_ceiling: the output layer is a spectral *ceiling* ``σ ≤ k_out`` initialised to zero (the
            reconstruction starts from air and spends only the output gain the data ask for).
        max_hu_jump: largest plausible intensity change across an edge (HU), default 2000: air/lung
            (-1000 HU) against dense bone (+1000 HU), as where ribs and vertebrae meet the lung. The
            air ↔ soft-tissue jump (1000 HU) alone is violated by real chest slices: the area-averaged
            4D-Lung slice 60 at 3.9 mm pixels has gradients up to 347 HU/mm against the 256 HU/mm that
            1000 HU per pixel allows (POPI slice 70: 166 HU/mm, CIP crop at 2.0 mm: 422 vs 493 HU/mm).
        edge_width_mm: width of the sharpest edge (mm); ``None`` = the scanner's sampling resolution
            (detector pitch at the rotation centre, or the output pixel spacing if coarser).
        budget_scale: multiplies the prior's budget (1.0 = the prior; for budget sweeps).
        mu_water: μ of water in 1/mm (HU ↔ attenuation conversion).
        hidden_features, network_kwargs: network width and extra preset arguments.
        num_layers: hidden layers (the first layer and the hidden Björck layers); ``None`` (default): from
            ``hidden_stage_gain`` (:func:`network_depth`), so that every hidden stage's share is near it.
            The unconstrained twin gets the same depth (it is built from the same prior).
        hidden_stage_gain: the target share of each hidden stage for ``num_layers=None``
            (:data:`DEFAULT_HIDDEN_STAGE_GAIN`).
        omega_0, omega: SIREN frequencies; num_octaves: PE octaves; fourier_features: FFN features.
        forward_model: ``"grid"`` (default): the network is sampled at the output pixel centres and
            projected with the sparse :class:`GridProjector` — every ray in every step; ``"rays"``: the
            network is integrated along random ray batches by stratified quadrature (:class:`RayProjector`),
            mesh-free, slower to converge on a CPU.
        preconditioner: ``"ramp"`` (default, ``forward_model="grid"``): the data term is
            ``‖R^½ (Ax - y)‖²`` with ``R`` the FBP ramp filter along the detector, so that its gradient is a
            filtered back-projection (every frequency converges alike); ``"none"``: plain least squares.
        supersampling: network samples per output pixel along each axis. The forward model projects the
            network sampled on the output grid refined this many times (``ImageGeometry.refined``), and each
            output pixel is the mean of its sub-samples (its area average, as a CT pixel value is). See
            :data:`DEFAULT_SUPERSAMPLING`.
        detector_subsamples: rays per detector bin in the forward model, spread evenly across the bin width
            (:class:`RayProjector`): a bin measures the strip integral over its width (the detector aperture),
            not the pencil line through its centre. See :data:`DEFAULT_DETECTOR_SUBSAMPLES`.
        iterations, learning_rate: Adam optimisation (cosine-decayed learning rate); ``learning_rate=None``
            = 1e-4 unconstrained; for a constrained network a rate proportional to the output pixels in the
            field of view, 6e-3 at 128 pixels across, within 8e-4 … 1.2e-2 (:func:`learning_rate`).
            ``iterations=None`` = 1600, lengthened (at most 2x) where that rate is capped, on grids more
            than 181 output pixels across, when the rate is the default too (:func:`iteration_count`).
            The budget makes the fit far less sensitive to its length than the unconstrained twin
            (``constraint="none"``), which fits the noise after its best length; it does not make it immune
            (:data:`DEFAULT_ITERATIONS`).
        rays_per_batch, samples_per_ray: rays drawn per iteration and stratified samples per ray
            (``forward_model="rays"``; ``samples_per_ray`` also sets the quadrature of the data residual).
        weighting: data term ``"none"`` (least squares, default) or ``"poisson"`` (inverse-variance weights).
            Measured (POPI slice 70, 60 views, bin detectors, I0 = 1e5, 800 iterations, 3 layers): ``"poisson"``
            scored 24.5 / 25.2 dB at ``tv_weight`` 10 / 3 against 33.0 dB unweighted. The weakly attenuated
            rays (through air and the body's edge) carry the largest weights and much of the grid model's
            systematic misfit: the energy of the true slice's model error relative to the noise's is 0.88
            unweighted and 15.4 with the Poisson weights. Inverse-variance weights then fit the model error
            rather than suppress the noise; a pixel-grid TV reconstruction at its best weight showed the
            same order (33.0 vs 34.3 dB).
        tv_weight: weight ``λ`` of the isotropic total variation of the reconstruction on the output grid
            (:class:`~monai_lipinr.losses.TotalVariationLoss`: mean over the field of view of the gradient
            magnitude per pixel, in output units, 1 = 1000 HU); 0 switches it off. The Lipschitz budget caps
            the *largest* gradient, which noise and view-undersampling streaks never reach (their gradients
            are ~10 HU/mm against a budget of ~500 HU/mm); total variation acts on their *mean*. The loss is
            ``D + c · D̄ · TV`` with ``D`` the normalised data misfit and ``D̄`` its current value held
            constant: the gradient of the marginal likelihood of Gaussian data with an unknown noise
            variance (``∝ log D``) is the fixed-variance one with the variance re-estimated from the misfit,
            so the regulariser's weight follows the misfit the data leave (noise, and the model error of the
            discrete grid) instead of a dose-specific constant. The strength ``c = λ √(N / M)`` grows with the
            output pixels in the field of view per measured line integral (:func:`total_variation_strength`):
            the fewer the measurements per unknown, the noisier the image the data alone determine. The
            result's ``metrics`` give ``c`` and ``N / M``. See :data:`DEFAULT_TV_WEIGHT`; ``c = 10`` of the
            tables measured before 2026-12-07 is ``λ = 10 / √(N / M)``.
        validation_views: views held out of the fit (``0``, the default: none), spread evenly over the scan
            (:func:`~monai_lipinr.apps.reconstruction.validation.held_out_views`; at most half the views). The
            fit then returns the iterate with the lowest held-out misfit (the data term on those views; with
            the ramp preconditioner, an estimate of the image error between the fitted views, up to the
            noise's constant share): a length chosen by the data, not by a reference image. The result's
            ``metrics`` give the views, ``selected_iteration`` and ``validation_misfit``; the history logs the
            misfit as ``"validation"``. The held-out views are not fitted, so the fit has fewer measurements.
            Needs ``forward_model="grid"``. Off by default: it stops a fit that fits the noise, not one the budget
            holds. Measured at 128², 60 views, 6 held out, 3200-iteration runs (POPI / 4D-Lung / CIP, seed 0,
            ``benchmarks/README.md``, CT section): the unconstrained twin's selected iterate scored 0.19 / 0.35 /
            0.32 dB below the best iterate of its run and 3.8 / 6.5 / 2.2 dB above its last; ours' scored
            0.01 / 1.03 / 0.00 dB below its best, and on 4D-Lung 0.43 dB below its own last iterate (its held-out
            misfit turned up at ~300 iterations while the image improved until ~900).
        seed, device, chunk_size: reproducibility, device, points per evaluation chunk.
        empirical_starts, empirical_steps: effort of the empirical Lipschitz estimate.
        progress, log_every: progress bar and history interval.
    """

    preset: str = "siren"
    constraint: str = "bjorck"
    allocation: str = "first_heavy_output"
    allocation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    first_share: str = "views"
    learnable_allocation: bool = False
    learnable_amplitude: bool = False
    max_hu_jump: float = 2000.0
    output_amplitude_hu: float = 2000.0
    output_ceiling: bool = True
    edge_width_mm: float | None = None
    budget_scale: float = 1.0
    mu_water: float = MU_WATER_PER_MM
    hidden_features: int = 128
    num_layers: int | None = None
    hidden_stage_gain: float = DEFAULT_HIDDEN_STAGE_GAIN
    network_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    omega_0: float = 30.0
    omega: float = 30.0
    num_octaves: int = 8
    fourier_features: int = 128
    forward_model: str = "grid"
    preconditioner: str = "ramp"
    supersampling: int = DEFAULT_SUPERSAMPLING
    detector_subsamples: int = DEFAULT_DETECTOR_SUBSAMPLES
    iterations: int | None = None
    rays_per_batch: int = 512
    samples_per_ray: int = 128
    learning_rate: float | None = None
    weighting: str = "none"
    tv_weight: float = DEFAULT_TV_WEIGHT
    validation_views: int = 0
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
        self.first_share = check_option("first_share", self.first_share, FIRST_SHARES)
        for name in ("learnable_allocation", "learnable_amplitude"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if self.learnable_amplitude and self.preset != "siren":
            raise ValueError(f"learnable_amplitude=true needs preset='siren' (sine units), got preset={self.preset!r}.")
        check_allocation(self.allocation, self.allocation_kwargs)
        for name in ("max_hu_jump", "output_amplitude_hu", "budget_scale", "mu_water", "learning_rate",
                     "omega_0", "omega", "hidden_stage_gain"):
            v = getattr(self, name)
            if name == "learning_rate" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}.")
        if self.hidden_stage_gain <= 1:
            raise ValueError(f"hidden_stage_gain must be > 1 (a share per hidden stage), got {self.hidden_stage_gain!r}.")
        if isinstance(self.tv_weight, bool) or not isinstance(self.tv_weight, (int, float)) or not (
                math.isfinite(self.tv_weight) and self.tv_weight >= 0):
            raise ValueError(f"tv_weight must be a finite number >= 0, got {self.tv_weight!r}.")
        if isinstance(self.validation_views, bool) or not isinstance(self.validation_views, int) or (
                self.validation_views < 0):
            raise ValueError(f"validation_views must be an int >= 0 (views held out), got {self.validation_views!r}.")
        if self.validation_views and self.forward_model != "grid":
            raise ValueError(f"validation_views={self.validation_views} needs forward_model='grid' (the held-out "
                             f"misfit is the grid model's), got forward_model={self.forward_model!r}.")
        if self.edge_width_mm is not None and not (
                isinstance(self.edge_width_mm, (int, float)) and math.isfinite(self.edge_width_mm)
                and self.edge_width_mm > 0):
            raise ValueError(f"edge_width_mm must be a finite number > 0 (mm) or None, got {self.edge_width_mm!r}.")
        for name in ("iterations", "rays_per_batch", "samples_per_ray", "hidden_features", "num_layers",
                     "chunk_size", "log_every", "num_octaves", "fourier_features", "empirical_starts",
                     "supersampling", "detector_subsamples"):
            v = getattr(self, name)
            if name in ("num_layers", "iterations") and v is None:  # None: from the rules
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")


def total_variation_strength(cfg: ReconstructionConfig, pixels: int, measurements: int) -> float:
    """The strength ``c = λ √(N / M)`` of the total variation (see ``ReconstructionConfig.tv_weight``).

    Args:
        cfg: the configuration (``tv_weight`` = ``λ``).
        pixels: ``N``, output pixels inside the field of view (the unknowns).
        measurements: ``M``, measured line integrals (views x detector bins).

    Raises:
        ValueError: for a count that is not a positive integer.
    """
    for name, n in (("pixels", pixels), ("measurements", measurements)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be an int >= 1, got {n!r}.")
    return float(cfg.tv_weight) * math.sqrt(pixels / measurements)


def learning_rate(cfg: ReconstructionConfig, fov_diameter_pixels: float | None = None) -> float:
    """The configured learning rate, or the default for a constrained / unconstrained network.

    The default constrained rate grows with the output grid: ``lr = lr₀ · (D / D₀)²``, clipped to
    :data:`CONSTRAINED_LEARNING_RATE_RANGE`, with ``D`` the field of view's diameter in output pixels,
    ``lr₀ = DEFAULT_LEARNING_RATE["constrained"]`` and ``D₀ = LEARNING_RATE_REFERENCE_DIAMETER``: the rate is
    proportional to the unknowns, the output pixels in the field of view. Each Adam step moves a normalised
    weight by about ``lr`` of its norm. A finer grid asks for finer detail (the prior's budget ``K`` and the
    depth that spreads it, :func:`network_depth`, grow with ``D``) from a network of the same width, so it needs
    the longer steps to get there in the same number of iterations, while on a coarse grid, with more
    parameters per unknown, the short steps regularise. That reading is not proven; the rule is a measurement
    (60 views, ``benchmarks/README.md``, CT section):

    - the screen of 1.5e-3 … 2.4e-2 at seed 0: best at most 3e-3 on the 64² crops, 6e-3 to 1.2e-2 at 128²,
      1.2e-2 at 256²; a rate proportional to ``D`` then missed by 0.52 to 0.83 dB on the POPI and 4D-Lung
      64² crops (seeds 0 and 1), where half of it won;
    - held out against the rate proportional to ``D`` (POPI, 4D-Lung, CIP crops, seed 0): ``(D / D₀)²`` scored
      +0.24 to +1.33 dB at 48² and +0.02 to +0.50 dB at 80²; at 192² (POPI, 4D-Lung) its capped 1.2e-2 was the
      best of 3e-3 / 9e-3 / 1.2e-2; at 256², seed 1, 1.2e-2 beat 3e-3 by 0.66 / 0.58 dB.

    Args:
        cfg: the configuration (``learning_rate``, ``constraint``).
        fov_diameter_pixels: ``D``; ``None`` (unknown grid) gives the rate at ``D₀``.

    Raises:
        ValueError: for a ``fov_diameter_pixels`` that is not a finite number > 0.
    """
    if cfg.learning_rate is not None:
        return float(cfg.learning_rate)
    if cfg.constraint == "none":
        return DEFAULT_LEARNING_RATE["none"]
    if fov_diameter_pixels is None:
        return DEFAULT_LEARNING_RATE["constrained"]
    low, high = CONSTRAINED_LEARNING_RATE_RANGE
    return min(max(_grid_rate(fov_diameter_pixels), low), high)


def iteration_count(cfg: ReconstructionConfig, fov_diameter_pixels: float | None = None) -> int:
    """The configured number of Adam steps, or the default: :data:`DEFAULT_ITERATIONS`, longer on fine grids.

    Once the grid rule's rate ``lr₀ · (D / D₀)²`` (:func:`learning_rate`) passes the cap of
    :data:`CONSTRAINED_LEARNING_RATE_RANGE`, the fit is lengthened by the same factor instead, at most
    :data:`MAX_ITERATION_FACTOR`: the product of rate and length, the distance the weights can travel, keeps
    growing with the unknowns, the output pixels in the field of view, where a faster rate no longer helps
    (2.4e-2 lost to 1.2e-2 at 256²). Below the cap (``D`` < 181 output pixels) and for the unconstrained twin,
    whose rate does not follow the grid, the length stays :data:`DEFAULT_ITERATIONS`.

    Args:
        cfg: the configuration (``iterations``, ``learning_rate``, ``constraint``).
        fov_diameter_pixels: ``D``; ``None`` (unknown grid) gives :data:`DEFAULT_ITERATIONS`.

    Raises:
        ValueError: for a ``fov_diameter_pixels`` that is not a finite number > 0.
    """
    if cfg.iterations is not None:
        return int(cfg.iterations)
    if cfg.constraint == "none" or cfg.learning_rate is not None or fov_diameter_pixels is None:
        return DEFAULT_ITERATIONS
    factor = _grid_rate(fov_diameter_pixels) / CONSTRAINED_LEARNING_RATE_RANGE[1]
    return int(round(DEFAULT_ITERATIONS * min(max(factor, 1.0), MAX_ITERATION_FACTOR)))


def _grid_rate(fov_diameter_pixels: float) -> float:
    """The grid rule's constrained rate before clipping, ``lr₀ · (D / D₀)²``; checks ``D``."""
    d = fov_diameter_pixels
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) or d <= 0:
        raise ValueError(f"fov_diameter_pixels must be a finite number > 0, got {d!r}.")
    return DEFAULT_LEARNING_RATE["constrained"] * (float(d) / LEARNING_RATE_REFERENCE_DIAMETER) ** 2


def output_share(cfg: ReconstructionConfig, budget: float, num_stages: int, output_scale_hu: float = 1000.0
                 ) -> float:
    """Output stage's share ``min(1, (A / output_scale_hu) / √hidden_features, K^(1/M))``.

    Args:
        cfg: the configuration (``output_amplitude_hu`` = ``A``, ``hidden_features``).
        budget: the global budget ``K`` (output units per network unit).
        num_stages: number of budgeted stages ``M`` of the network.
        output_scale_hu: HU per network output unit (1000: the output is ``μ / μ_water``).
    """
    return output_stage_share(cfg.output_amplitude_hu / output_scale_hu, budget, num_stages,
                              features=cfg.hidden_features)


def first_stage_share(cfg: ReconstructionConfig, budget: float, view_limit: float | None) -> float | None:
    """The first stage's share ``k₁`` to pass as ``k_first``, or ``None`` to keep the allocation's own.

    Args:
        cfg: the configuration (``first_share``, ``allocation``, ``allocation_kwargs``).
        budget: global budget ``K`` (output units per network unit).
        view_limit: the views' sampling limit ``ω_c`` in rad per network unit, or ``None`` when unknown.

    Returns:
        ``VIEW_LIMIT_FACTOR · ω_c`` when ``first_share == "views"``, the allocation is ``first_heavy_output``
        without an explicit ``k_first``, and that is below ``K``; otherwise ``None``.
    """
    if (cfg.first_share != "views" or view_limit is None or cfg.allocation != "first_heavy_output"
            or "k_first" in cfg.allocation_kwargs):
        return None
    k_first = VIEW_LIMIT_FACTOR * float(view_limit)
    return k_first if k_first < budget else None


def network_depth(cfg: ReconstructionConfig, budget: float | None, view_limit: float | None = None) -> int:
    """The network's number of hidden layers: ``cfg.num_layers``, or the one the hidden stages' product asks for.

    With ``num_layers=None`` and the ``first_heavy_output`` split, the hidden stages share
    ``P = K / (k₁ k_out)`` (``k₁`` the first stage's share, :func:`first_stage_share`, ``k_out`` the output's,
    :func:`output_share`). The depth is one first layer plus the number of hidden Björck layers whose
    shares ``P^(1/n)`` are nearest ``cfg.hidden_stage_gain`` (:func:`~monai_lipinr.budget.stages_for_gain`).
    ``K`` here is the prior's budget (``budget / cfg.budget_scale``), so a budget sweep keeps one architecture.
    Without a budget, with another allocation or another preset than ``"siren"`` (the rule was measured on
    sine networks only), :data:`DEFAULT_NUM_LAYERS`.

    Args:
        cfg: the configuration.
        budget: the applied global budget ``K · budget_scale`` (output units per network unit), or ``None``.
        view_limit: the views' sampling limit ``ω_c`` (rad per network unit), or ``None`` when unknown.
    """
    if cfg.num_layers is not None:
        return cfg.num_layers
    if budget is None or cfg.allocation != "first_heavy_output" or PRESETS[cfg.preset] is not SIREN:
        return DEFAULT_NUM_LAYERS
    prior = budget / cfg.budget_scale
    k_first = cfg.allocation_kwargs.get("k_first", first_stage_share(cfg, prior, view_limit) or prior)
    depth = DEFAULT_NUM_LAYERS
    for _ in range(4):  # k_out depends (weakly, through its K^(1/M) cap) on the number of stages
        k_out = cfg.allocation_kwargs.get("k_out", output_share(cfg, prior, depth + 1))
        depth = 1 + stages_for_gain(prior / (k_first * k_out), cfg.hidden_stage_gain)
    return depth


def build_network(cfg: ReconstructionConfig, budget: float | None, view_limit: float | None = None
                  ) -> LipschitzINR:
    """The attenuation network ``R^2 -> R`` (network units in, ``μ / μ_water`` out) of a configuration.

    Args:
        cfg: the configuration (``cfg.constraint == "none"`` builds the unconstrained twin).
        budget: global budget ``K`` (output units per network unit); ignored when unconstrained.
            The output stage's share is derived from ``cfg.output_amplitude_hu`` (:func:`output_share`) for
            the allocations that take one, unless ``cfg.allocation_kwargs`` sets it.
        view_limit: the views' sampling limit ``ω_c`` (rad per network unit) for ``cfg.first_share="views"``
            (:func:`first_stage_share`); ``None`` keeps the allocation's first share.
    """
    cls = PRESETS[cfg.preset]
    kwargs: dict[str, Any] = {"hidden_features": cfg.hidden_features,
                              "num_layers": network_depth(cfg, budget, view_limit)}
    if cls is SIREN:
        kwargs.update(omega_0=cfg.omega_0, omega=cfg.omega)
    elif cls is PositionalEncodingMLP:
        kwargs.update(num_octaves=cfg.num_octaves)
    elif cls is FourierFeatureINR:
        kwargs.update(num_features=cfg.fourier_features, seed=cfg.seed)
    kwargs.update(cfg.network_kwargs)
    if cfg.constraint == "none":
        return cls(2, 1, constraint=None, **kwargs)
    kwargs.setdefault("output_ceiling", cfg.output_ceiling and cfg.constraint != "sll")
    kwargs.setdefault("learnable_allocation", cfg.learnable_allocation)
    if cfg.learnable_amplitude and cls is SIREN:
        # hidden units only: the first layer's frequencies are the view-limited first share's
        kwargs.setdefault("activation_kwargs", {"omega": cfg.omega, "learnable_amplitude": True})
        kwargs.setdefault("first_activation_kwargs", {"omega": cfg.omega_0, "learnable_amplitude": False})
    allocation_kwargs = dict(cfg.allocation_kwargs)
    k_first = first_stage_share(cfg, budget, view_limit)
    if k_first is not None:
        allocation_kwargs["k_first"] = k_first
    net = cls(2, 1, constraint=cfg.constraint, budget=budget, allocation=cfg.allocation,
              allocation_kwargs=dict(allocation_kwargs), **kwargs)
    allocate_with_output_share(net, budget, cfg.allocation, allocation_kwargs,
                               output_share(cfg, budget, net.num_stages))
    return net
