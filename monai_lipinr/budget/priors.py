"""Task priors -> global Lipschitz budget ``K`` in network units.

Every prior's :meth:`estimate` returns a :class:`BudgetEstimate` carrying the number (``value``), its
units, a human-readable derivation with the numbers plugged in, and :meth:`BudgetEstimate.to_ledger_entry`
for the Lipschitz ledger. Network units are those of :class:`~monai_lipinr.budget.NetworkCoordinates`
(``x̃ = (x - c) / s``; ``s`` in mm — or seconds, pixels, … — per network unit).

Priors:

* :class:`StrainPrior` — registration: a physical bound on the displacement gradient (strain).
* :class:`IntensityGradientPrior` — CT: largest plausible intensity jump over a physical edge width.
* :class:`ImageGradientOracle` — data-driven: a robust high percentile of ``‖∇I‖`` of reference images.
* :class:`BandwidthPrior` — signal theory: Bernstein's inequality ``‖f'‖∞ ≤ 2πB‖f‖∞``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import ImageGeometry, is_sitk_image, sitk_to_channel_first
from monai_lipinr.lipschitz.base import CERTIFY_RTOL, check_positive_finite
from monai_lipinr.ops.validation import check_option

__all__ = [
    "BudgetEstimate",
    "BudgetPrior",
    "StrainPrior",
    "IntensityGradientPrior",
    "ImageGradientOracle",
    "BandwidthPrior",
]


@dataclass(frozen=True)
class BudgetEstimate:
    """A global Lipschitz budget derived from a prior.

    Attributes:
        prior: name of the prior that produced it (e.g. ``"StrainPrior"``).
        value: the budget ``K`` (> 0) in :attr:`units`.
        units: units of ``K`` (output units per input unit).
        derivation: human-readable derivation with the numbers used.
        parameters: the inputs of the derivation (JSON-serialisable).
        certified_invertible: for displacement budgets, whether ``K < 1`` certifies that ``x + u(x)`` is
            invertible (``None`` when not applicable).
    """

    prior: str
    value: float
    units: str
    derivation: str
    parameters: dict = field(default_factory=dict)
    certified_invertible: bool | None = None

    def __float__(self) -> float:
        return float(self.value)

    def to_ledger_entry(self) -> dict:
        """Dictionary for the ledger / a JSON report (``kind = "budget/<prior>"``)."""
        entry = {
            "kind": f"budget/{self.prior}",
            "value": float(self.value),
            "units": self.units,
            "derivation": self.derivation,
            "parameters": dict(self.parameters),
        }
        if self.certified_invertible is not None:
            entry["certified_invertible"] = bool(self.certified_invertible)
        return entry


class BudgetPrior:
    """Base class: a prior turns domain knowledge into a :class:`BudgetEstimate` (``prior()`` == ``prior.estimate()``)."""

    def estimate(self, *args, **kwargs) -> BudgetEstimate:
        raise NotImplementedError

    def __call__(self, *args, **kwargs) -> BudgetEstimate:
        return self.estimate(*args, **kwargs)


def _scale_of(
    coordinates: NetworkCoordinates | None, scale: float | None, unit: str = "mm"
) -> tuple[float, str]:
    """Input scale ``s`` (physical units per network unit) from a coordinate map or an explicit number."""
    if coordinates is not None and scale is not None:
        raise ValueError("give either coordinates or scale, not both.")
    if coordinates is not None:
        if not isinstance(coordinates, NetworkCoordinates):
            raise TypeError(f"coordinates must be a NetworkCoordinates, got {type(coordinates).__name__}.")
        return (
            coordinates.scale,
            f"s = {coordinates.scale:.6g} {unit} per network unit (half the largest FOV extent)",
        )
    if scale is None:
        raise ValueError(
            "the input scale is needed: pass coordinates=NetworkCoordinates(...) or scale=<physical units per "
            "network unit>."
        )
    s = check_positive_finite("scale", scale)
    return s, f"s = {s:.6g} {unit} per network unit (given)"


class StrainPrior(BudgetPrior):
    """Budget of a displacement network from a physical tissue-strain limit (lung registration).

    With the isotropic coordinate map of :class:`NetworkCoordinates` (``x̃ = (x - c)/s``) and a network
    that outputs displacement in the same network units (``u_mm = s · ũ``), ``∇ũ = ∂u/∂x`` exactly, so the
    Lipschitz budget of ``ũ`` in network units *is* the physical bound on ``‖∂u/∂x‖₂`` (mm/mm), for any
    image geometry. ``displacement_units="mm"`` gives the budget of a network that outputs millimetres from
    network coordinates instead (``K · s`` mm per network unit).

    Source of the default ``max_strain = 2.0``: the paper (ICLR 2026, "Beyond Uniformity: Regularizing
    Implicit Neural Representations through a Lipschitz Lens", registration experiment) sets ``K_B = 2``
    because tissue strain near 2.0 is a failure threshold. Lung mechanics supports that order of magnitude:
    Protti et al., "Lung stress and strain during mechanical ventilation: any safe threshold?",
    Am J Respir Crit Care Med 183(10):1354-1362, 2011 (doi:10.1164/rccm.201010-1757OC) found
    ventilator-induced lung damage in healthy pigs only when the global strain (tidal volume / FRC)
    reached 1.5-2 (injured group 2.16 ± 0.58, uninjured 1.29 ± 0.57); Gattinoni, Carlesso & Caironi,
    "Stress and strain within the lung", Curr Opin Crit Care 18(1):42-47, 2012, place the injurious limit at
    total lung capacity, reached when the resting volume grows two- to three-fold. The prior uses that
    (global, volumetric) strain as a bound of the local displacement-gradient norm ``‖∂u/∂x‖₂``; that is a
    modelling choice, not an identity — regional strain can exceed global strain.

    **Folding.** ``Lip(u) ≤ 2`` does not prevent folding. With ``fold_free=True`` the budget is
    ``K = min(max_strain, 1 - margin) < 1``, which *certifies* that ``φ(x) = x + u(x)`` is invertible:
    ``φ(x) = φ(y)`` gives ``‖x - y‖ = ‖u(x) - u(y)‖ ≤ K‖x - y‖`` hence ``x = y``; every singular value of
    ``I + ∇u`` lies in ``[1 - K, 1 + K]``, so ``det(I + ∇u) ≥ (1 - K)^D > 0`` and ``Lip(φ⁻¹) ≤ 1/(1 - K)``.
    ``margin`` keeps ``K (1 + CERTIFY_RTOL) < 1`` so that the certified network bound stays below 1.

    Args:
        max_strain: physical bound on ``‖∂u/∂x‖₂`` (mm/mm, > 0). Default 2.0.
        fold_free: cap the budget below 1 (certified invertible transform).
        margin: distance of the fold-free budget below 1 (``0 < margin < 1``). Default 0.05.
        spatial_dims: 2 or 3, for the determinant bound ``(1 - K)^D``.
        coordinates: the coordinate map (needed only for ``displacement_units="mm"``; reported otherwise).
        displacement_units: ``"network"`` (default, ``K`` unit-free) or ``"mm"``.

    Raises:
        ValueError: for a non-positive/non-finite strain, a margin outside ``(CERTIFY_RTOL, 1)``, or
            ``displacement_units="mm"`` without ``coordinates``.
    """

    def __init__(
        self,
        max_strain: float = 2.0,
        fold_free: bool = False,
        margin: float = 0.05,
        spatial_dims: int = 3,
        coordinates: NetworkCoordinates | None = None,
        displacement_units: str = "network",
    ):
        self.max_strain = check_positive_finite("max_strain", max_strain)
        m = check_positive_finite("margin", margin)
        if m >= 1.0 or not (1.0 - m) * (1.0 + CERTIFY_RTOL) < 1.0:
            raise ValueError(
                f"margin must satisfy (1 - margin)(1 + {CERTIFY_RTOL}) < 1 and margin < 1, got {margin!r}."
            )
        self.margin = m
        self.fold_free = bool(fold_free)
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        self.spatial_dims = spatial_dims
        self.displacement_units = check_option("displacement_units", displacement_units, ("network", "mm"))
        if self.displacement_units == "mm" and coordinates is None:
            raise ValueError("displacement_units='mm' needs coordinates=NetworkCoordinates(...) to know s.")
        if coordinates is not None and not isinstance(coordinates, NetworkCoordinates):
            raise TypeError(f"coordinates must be a NetworkCoordinates, got {type(coordinates).__name__}.")
        self.coordinates = coordinates

    def estimate(self) -> BudgetEstimate:
        """The budget ``K`` of the displacement network (see the class docstring)."""
        k = self.max_strain
        lines = [f"physical strain bound ||du/dx||_2 <= {self.max_strain:g} (mm/mm)"]
        if self.fold_free:
            k = min(self.max_strain, 1.0 - self.margin)
            lines.append(f"fold-free: K = min({self.max_strain:g}, 1 - margin {self.margin:g}) = {k:g} < 1")
        invertible = k * (1.0 + CERTIFY_RTOL) < 1.0
        if invertible:
            det_lb = (1.0 - k) ** self.spatial_dims
            lines.append(
                f"K < 1 certifies x + u(x) invertible: det(I + grad u) >= (1 - K)^{self.spatial_dims} = {det_lb:.6g}, "
                f"Lip(inverse) <= 1/(1 - K) = {1.0 / (1.0 - k):.6g}"
            )
        else:
            lines.append("K >= 1: invertibility is NOT certified; measure folding (det J <= 0) in the mask")
        params = {"max_strain": self.max_strain, "fold_free": self.fold_free, "margin": self.margin}
        if self.coordinates is not None:
            params["scale_mm"] = self.coordinates.scale
        if self.displacement_units == "network":
            lines.append("isotropic map x~ = (x - c)/s, u~ = u/s: K in network units equals the strain bound")
            units = "network units per network unit (dimensionless, = mm/mm)"
        else:
            s = self.coordinates.scale
            lines.append(
                f"network outputs mm from network coordinates: K = {k:g} * s ({s:.6g} mm) = {k * s:.6g}"
            )
            k = k * s
            units = "mm per network unit"
        return BudgetEstimate("StrainPrior", k, units, "; ".join(lines), params, invertible)


class IntensityGradientPrior(BudgetPrior):
    """Budget of an intensity INR (CT, HU) from the largest plausible intensity jump over an edge width.

    ``Lip(I) ≈ max_hu_jump / edge_width_mm`` (HU/mm). The INR ``f(x̃) = I(c + s x̃) / output_scale`` then has

        K = (max_hu_jump / edge_width_mm) · s / output_scale   [output units per network unit]

    (HU/mm × mm per network unit ÷ HU per output unit). Default jump 1000 HU (air -1000 HU to soft tissue
    0 HU, the lung boundary); bone edges need more (~2000 HU).

    Args:
        max_hu_jump: largest plausible intensity change across an edge, in HU (> 0).
        edge_width_mm: physical width of the sharpest edge (mm). If ``None``, the smallest voxel ``spacing``
            is used (an edge resolved over one voxel).
        spacing: voxel spacing (mm), used only when ``edge_width_mm`` is ``None``.
        coordinates: :class:`NetworkCoordinates` of the image (gives ``s``); or pass ``scale``.
        scale: ``s`` in mm per network unit (alternative to ``coordinates``).
        output_scale: HU per network output unit (e.g. 1000 when the INR outputs HU/1000). Default 1.

    Raises:
        ValueError: for non-positive inputs, or neither ``edge_width_mm`` nor ``spacing`` given.
    """

    def __init__(
        self,
        max_hu_jump: float = 1000.0,
        edge_width_mm: float | None = None,
        spacing: Sequence[float] | None = None,
        coordinates: NetworkCoordinates | None = None,
        scale: float | None = None,
        output_scale: float = 1.0,
    ):
        self.max_hu_jump = check_positive_finite("max_hu_jump", max_hu_jump)
        if edge_width_mm is None:
            if spacing is None:
                raise ValueError("give edge_width_mm (mm) or the voxel spacing (mm) to derive it.")
            sp = np.asarray(spacing, dtype=np.float64).reshape(-1)
            if sp.size == 0 or not np.isfinite(sp).all() or (sp <= 0).any():
                raise ValueError(f"spacing must be positive finite numbers (mm), got {spacing!r}.")
            self.edge_width_mm = float(sp.min())
            self._edge_note = f"edge width = smallest voxel spacing {self.edge_width_mm:g} mm"
        else:
            self.edge_width_mm = check_positive_finite("edge_width_mm", edge_width_mm)
            self._edge_note = f"edge width {self.edge_width_mm:g} mm"
        self.scale, self._scale_note = _scale_of(coordinates, scale)
        self.output_scale = check_positive_finite("output_scale", output_scale)

    def estimate(self) -> BudgetEstimate:
        """The budget ``K`` of the intensity INR in output units per network unit."""
        g = self.max_hu_jump / self.edge_width_mm
        k = g * self.scale / self.output_scale
        derivation = (
            f"max jump {self.max_hu_jump:g} HU over {self._edge_note}: {g:.6g} HU/mm; {self._scale_note}; "
            f"output scale {self.output_scale:g} HU per output unit; "
            f"K = {g:.6g} * {self.scale:.6g} / {self.output_scale:g} = {k:.6g}"
        )
        params = {
            "max_hu_jump": self.max_hu_jump,
            "edge_width_mm": self.edge_width_mm,
            "scale_mm": self.scale,
            "output_scale": self.output_scale,
            "gradient_hu_per_mm": g,
        }
        return BudgetEstimate(
            "IntensityGradientPrior", k, "output units per network unit", derivation, params
        )


def _image_and_geometry(image, spacing, channel_dim):
    """(array (C, *spatial) float64, ImageGeometry) of one reference image."""
    if is_sitk_image(image):
        return sitk_to_channel_first(image).astype(np.float64), ImageGeometry.from_sitk(image)
    if isinstance(image, torch.Tensor) and hasattr(image, "affine"):
        geom = ImageGeometry.from_metatensor(image)
        return image.detach().cpu().double().numpy(), geom
    arr = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float64)
    if channel_dim is None:
        arr = arr[None]
    else:
        arr = np.moveaxis(arr, channel_dim, 0)
    d = arr.ndim - 1
    if d not in (2, 3):
        raise ValueError(
            f"image must have 2 or 3 spatial axes (plus channel_dim={channel_dim}), got shape {np.shape(image)}."
        )
    if spacing is None:
        raise ValueError(
            "a plain array carries no spacing: pass spacing=(mm per voxel along each array axis)."
        )
    return arr, ImageGeometry(arr.shape[1:], spacing)


def _gradient_norm(arr: np.ndarray, geom: ImageGeometry) -> np.ndarray:
    """Per-voxel ``‖∇I‖`` in value units per mm (Frobenius over channels), exact for any affine.

    Index-space central differences ``∂I/∂p`` (one-sided at borders), then ``∇_x I = A^{-T} ∂I/∂p``.
    """
    a_inv = geom.world_to_index_matrix  # (D, D)
    sq = np.zeros(arr.shape[1:])
    for ch in arr:
        grads = [np.gradient(ch, axis=a) if ch.shape[a] > 1 else np.zeros_like(ch) for a in range(ch.ndim)]
        gp = np.stack(grads, axis=-1)  # (*spatial, D): dI/dp per voxel-index step
        sq += ((gp @ a_inv) ** 2).sum(axis=-1)  # row form of A^{-T} dI/dp
    return np.sqrt(sq)


class ImageGradientOracle(BudgetPrior):
    """Data-driven budget: a robust high percentile of ``‖∇I‖`` over reference images (correct spacing).

    The gradient is computed with central differences in voxel-index space and mapped to world units with
    the image's full index->world matrix (``∇_x I = A^{-T} ∂I/∂p``), so anisotropic spacing and rotated
    directions are handled exactly; multi-channel images use the Frobenius norm over channels (an upper
    bound of the spectral norm of the Jacobian). The ``percentile`` of ``‖∇I‖`` (inside ``masks`` when
    given) is computed per image and reduced over images (``"max"``, ``"median"`` or ``"mean"``), then
    converted to network units: ``K = g · s / output_scale``.

    Args:
        percentile: in ``(0, 100]``; 100 is the (noise-sensitive) maximum. Default 99.
        coordinates: :class:`NetworkCoordinates` (gives ``s``); or pass ``scale``.
        scale: ``s`` in physical units per network unit.
        output_scale: intensity units per network output unit. Default 1.
        reduction: how per-image percentiles are combined: ``"max"`` (default), ``"median"``, ``"mean"``.

    Raises:
        ValueError: for a percentile outside ``(0, 100]`` or a constant image set (zero gradient).
    """

    def __init__(
        self,
        percentile: float = 99.0,
        coordinates: NetworkCoordinates | None = None,
        scale: float | None = None,
        output_scale: float = 1.0,
        reduction: str = "max",
    ):
        p = check_positive_finite("percentile", percentile)
        if p > 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}.")
        self.percentile = p
        self.scale, self._scale_note = _scale_of(coordinates, scale, "physical units")
        self.output_scale = check_positive_finite("output_scale", output_scale)
        self.reduction = check_option("reduction", reduction, ("max", "median", "mean"))

    def gradient_statistics(
        self, images, masks=None, spacing=None, channel_dim: int | None = None
    ) -> np.ndarray:
        """Per-image percentile of ``‖∇I‖`` in intensity per physical unit (float64 array, one per image).

        Args:
            images: one image or a list of: ``SimpleITK.Image``, channel-first ``MetaTensor``, or a plain
                array/tensor (then ``spacing`` is required and ``channel_dim`` says where channels are).
            masks: optional matching masks (same spatial shape, array-axis order; nonzero = inside).
            spacing: physical spacing per array axis for plain arrays.
            channel_dim: channel axis of plain arrays (``None``: single channel).
        """
        if not isinstance(images, (list, tuple)):
            images = [images]
        if len(images) == 0:
            raise ValueError("images must contain at least one reference image.")
        if masks is not None and not isinstance(masks, (list, tuple)):
            masks = [masks]
        if masks is not None and len(masks) != len(images):
            raise ValueError(f"got {len(masks)} masks for {len(images)} images.")
        stats = []
        for n, image in enumerate(images):
            arr, geom = _image_and_geometry(image, spacing, channel_dim)
            gnorm = _gradient_norm(arr, geom)
            if masks is not None and masks[n] is not None:
                m = masks[n]
                if is_sitk_image(m):
                    m = sitk_to_channel_first(m)
                m = np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m)
                m = m.reshape(m.shape[-geom.spatial_dims :]) if m.ndim > geom.spatial_dims else m
                if m.shape != gnorm.shape:
                    raise ValueError(f"mask {n} has spatial shape {m.shape}, expected {gnorm.shape}.")
                values = gnorm[m > 0]
                if values.size == 0:
                    raise ValueError(f"mask {n} is empty (no voxel > 0).")
            else:
                values = gnorm.reshape(-1)
            stats.append(float(np.percentile(values, self.percentile)))
        return np.asarray(stats)

    def estimate(self, images, masks=None, spacing=None, channel_dim: int | None = None) -> BudgetEstimate:
        """Budget ``K`` (intensity per network unit) from reference ``images`` (see :meth:`gradient_statistics`)."""
        stats = self.gradient_statistics(images, masks, spacing, channel_dim)
        g = float({"max": np.max, "median": np.median, "mean": np.mean}[self.reduction](stats))
        if not g > 0:
            raise ValueError(
                "the reference images have zero gradient at that percentile; cannot derive a budget."
            )
        k = g * self.scale / self.output_scale
        per_image = ", ".join(f"{v:.6g}" for v in stats)
        derivation = (
            f"P{self.percentile:g} of ||grad I|| per image = [{per_image}] intensity per physical unit; "
            f"{self.reduction} = {g:.6g}; {self._scale_note}; output scale {self.output_scale:g}; "
            f"K = {g:.6g} * {self.scale:.6g} / {self.output_scale:g} = {k:.6g}"
        )
        params = {
            "percentile": self.percentile,
            "reduction": self.reduction,
            "per_image_gradient": stats.tolist(),
            "gradient_per_unit": g,
            "scale": self.scale,
            "output_scale": self.output_scale,
        }
        return BudgetEstimate("ImageGradientOracle", k, "intensity per network unit", derivation, params)


class BandwidthPrior(BudgetPrior):
    """Budget from a band limit (Bernstein's inequality ``‖f'‖∞ ≤ 2πB‖f‖∞``).

    A signal with amplitude ``‖f‖∞ ≤ amplitude`` whose spectrum lies in ``|ξ| ≤ B`` cycles per physical
    unit has ``Lip(f) ≤ 2πB · amplitude`` (in several dimensions, for a band limit in the ball ``|ξ| ≤ B``,
    apply the 1-D inequality along every direction; a box limit ``|ξ_d| ≤ B`` gives ``B√D`` instead). In
    network units ``K = 2πB · amplitude · s / output_scale``.

    Args:
        bandwidth: ``B`` in cycles per physical unit (Hz for time in seconds). Give this or ``sampling_rate``.
        sampling_rate: samples per physical unit; then ``B = sampling_rate / 2`` (Nyquist), a conservative bound.
        amplitude: ``‖f‖∞`` in signal units. Default 1.
        coordinates: :class:`NetworkCoordinates` (gives ``s``); or ``scale``.
        scale: physical units per network unit; default 1 (``B`` already in cycles per network unit).
        output_scale: signal units per network output unit. Default 1.

    Raises:
        ValueError: for non-positive inputs or both/neither of ``bandwidth`` and ``sampling_rate``.
    """

    def __init__(
        self,
        bandwidth: float | None = None,
        sampling_rate: float | None = None,
        amplitude: float = 1.0,
        coordinates: NetworkCoordinates | None = None,
        scale: float | None = None,
        output_scale: float = 1.0,
    ):
        if (bandwidth is None) == (sampling_rate is None):
            raise ValueError(
                f"give exactly one of bandwidth and sampling_rate, got bandwidth={bandwidth!r}, "
                f"sampling_rate={sampling_rate!r}."
            )
        if bandwidth is not None:
            self.bandwidth = check_positive_finite("bandwidth", bandwidth)
            self._band_note = f"B = {self.bandwidth:g} cycles per unit"
        else:
            fs = check_positive_finite("sampling_rate", sampling_rate)
            self.bandwidth = fs / 2.0
            self._band_note = f"B = sampling_rate {fs:g} / 2 = {self.bandwidth:g} cycles per unit (Nyquist)"
        self.amplitude = check_positive_finite("amplitude", amplitude)
        if coordinates is None and scale is None:
            scale = 1.0
        self.scale, self._scale_note = _scale_of(coordinates, scale, "physical units")
        self.output_scale = check_positive_finite("output_scale", output_scale)

    def estimate(self) -> BudgetEstimate:
        """Budget ``K = 2πB · amplitude · s / output_scale`` (output units per network unit)."""
        g = 2.0 * math.pi * self.bandwidth * self.amplitude
        k = g * self.scale / self.output_scale
        derivation = (
            f"Bernstein: ||f'|| <= 2*pi*B*||f||; {self._band_note}; amplitude {self.amplitude:g}: "
            f"{g:.6g} per physical unit; {self._scale_note}; output scale {self.output_scale:g}; K = {k:.6g}"
        )
        params = {
            "bandwidth": self.bandwidth,
            "amplitude": self.amplitude,
            "scale": self.scale,
            "output_scale": self.output_scale,
        }
        return BudgetEstimate("BandwidthPrior", k, "output units per network unit", derivation, params)
