"""2-D CT scan geometries in millimetres: parallel beam and fan beam (flat or arc detector).

World frame: the 2-D slice plane in LPS millimetres, points ``(x, y)`` (``x`` along the image columns,
``y`` along the rows, as ``SimpleITK`` indexes a 2-D slice). A view at angle ``θ`` (radians) has

* the detector axis ``e_t(θ) = (cos θ, -sin θ)`` and
* the beam direction ``e_s(θ) = (sin θ, cos θ)`` (source towards detector),

around the rotation centre ``c`` (mm). This is scikit-image's ``radon`` convention (``θ = 0`` integrates
along the rows, i.e. along ``y``; the detector runs along ``x``), so a parallel geometry with
``angles = np.deg2rad(theta)`` and unit detector spacing reproduces ``radon(image, theta, circle=True)``.

Sinograms are arrays of shape ``(num_views, num_detectors)`` (view-major; scikit-image stores the
transpose) holding line integrals of the attenuation ``∫ μ dl`` (dimensionless when ``μ`` is in 1/mm
and lengths in mm).

Detector bin ``k`` sits at ``u_k = (k - (num_detectors - 1) / 2) · detector_spacing + detector_offset``
(mm along the detector; for an arc detector, arc length at radius ``source_to_detector``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.utils import look_up_option

from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = ["ScanGeometry", "ParallelBeamGeometry", "FanBeamGeometry", "DETECTOR_SHAPES", "geometry_from_dict",
           "check_sinogram"]

DETECTOR_SHAPES = ("flat", "arc")


def _angles(angles: Any) -> np.ndarray:
    a = np.asarray(angles, dtype=np.float64).reshape(-1) if not isinstance(angles, torch.Tensor) else (
        angles.detach().cpu().double().numpy().reshape(-1))
    if a.size == 0:
        raise ValueError("angles must hold at least one view (radians); got zero views.")
    if not np.isfinite(a).all():
        raise ValueError(f"angles must be finite (radians), got {a.tolist()[:8]}….")
    return a


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    return int(value)


def _finite(name: str, value: Any) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number (mm), got {value!r}.")
    return v


def check_sinogram(sinogram: Any, geometry: ScanGeometry, name: str = "sinogram") -> torch.Tensor:
    """Validate a sinogram against a geometry and return it as a floating tensor.

    Args:
        sinogram: ``(num_views, num_detectors)`` line integrals (array or tensor).
        geometry: the scan geometry it was measured with.
        name: argument name for error messages.

    Raises:
        TypeError: for a non-numeric sinogram.
        ValueError: for a shape that does not match the geometry or non-finite values.
    """
    if not isinstance(sinogram, torch.Tensor):
        try:
            sinogram = torch.as_tensor(np.asarray(sinogram, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a numeric array or tensor, got {type(sinogram).__name__}.") from err
    if not sinogram.is_floating_point():
        sinogram = sinogram.double()
    if tuple(sinogram.shape) != geometry.shape:
        raise ValueError(
            f"{name} has shape {tuple(sinogram.shape)} but the geometry expects (num_views, num_detectors) = "
            f"{geometry.shape}."
        )
    if not bool(torch.isfinite(sinogram).all()):
        n = int((~torch.isfinite(sinogram)).sum())
        raise ValueError(f"{name} contains {n} non-finite values (NaN/inf); line integrals must be finite.")
    return sinogram


class ScanGeometry:
    """Common part of the 2-D geometries: views, detector bins and the rays they define.

    Args:
        angles: view angles ``θ`` in radians, shape ``(num_views,)`` (at least one view).
        num_detectors: detector bins per view.
        detector_spacing: bin pitch in mm (> 0).
        centre: rotation centre ``(x, y)`` in world mm.
        detector_offset: shift of the detector along ``e_t`` in mm.
    """

    kind = "base"

    def __init__(self, angles: Any, num_detectors: int, detector_spacing: float,
                 centre: Sequence[float] = (0.0, 0.0), detector_offset: float = 0.0) -> None:
        self.angles = _angles(angles)
        self.num_detectors = _count("num_detectors", num_detectors)
        self.detector_spacing = check_positive_finite("detector_spacing", detector_spacing)
        c = np.asarray(centre, dtype=np.float64).reshape(-1)
        if c.shape != (2,) or not np.isfinite(c).all():
            raise ValueError(f"centre must be 2 finite world coordinates (mm), got {centre!r}.")
        self.centre = c
        self.detector_offset = _finite("detector_offset", detector_offset)

    # ------------------------------------------------------------------ sizes
    @property
    def num_views(self) -> int:
        return int(self.angles.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """Sinogram shape ``(num_views, num_detectors)``."""
        return (self.num_views, self.num_detectors)

    @property
    def num_rays(self) -> int:
        return self.num_views * self.num_detectors

    def detector_positions(self) -> np.ndarray:
        """Bin centres ``u_k`` in mm along the detector, shape ``(num_detectors,)``."""
        k = np.arange(self.num_detectors, dtype=np.float64)
        return (k - (self.num_detectors - 1) / 2.0) * self.detector_spacing + self.detector_offset

    def field_of_view_radius(self) -> float:
        """Radius (mm) of the scan field of view: the disk around ``centre`` seen by every view."""
        raise NotImplementedError

    def resolution_mm(self) -> float:
        """Sampling pitch of the detector at the rotation centre (mm): the finest resolvable edge width."""
        raise NotImplementedError

    #: Period (radians) of the view angle after which a view measures the same lines again.
    angle_period = 2.0 * math.pi

    def view_angle_step(self) -> float:
        """Median step (radians) between the distinct view angles, taken around the period ``angle_period``.

        The median (not the largest gap) measures the sampling density of the views, so a limited-angle
        scan keeps the step of its views; a single view gives the whole period.
        """
        a = np.unique(np.round(np.mod(self.angles, self.angle_period), 12))
        if a.size == 1:
            return float(self.angle_period)
        gaps = np.diff(np.concatenate([a, a[:1] + self.angle_period]))
        return float(np.median(gaps))

    def angular_sampling_limit(self) -> float:
        """Highest spatial frequency (rad/mm) that the view sampling determines over the field of view.

        Fourier-slice argument (Crowther's criterion): each view measures the object's spectrum on lines
        through the origin, whose directions are ``Δ`` = :meth:`view_angle_step` apart (for a fan beam,
        the source step; a full 360° scan of ``N`` views counts as ``N / 2`` parallel views). At frequency
        ``ω`` the gap between lines is ``ω Δ``; an object inside the field-of-view disk of diameter
        ``D = 2R`` needs gaps of at most ``2π / D``, so ``ω_c = π / (Δ R)``, i.e. ``2N / D`` for ``N``
        parallel views over 180°. Multiply by ``R`` for network units (``ω_c R = π / Δ`` = ``N``).
        """
        return math.pi / (self.view_angle_step() * self.field_of_view_radius())

    def subdivided(self, factor: int) -> ScanGeometry:
        """The same scan with every detector bin split into ``factor`` equal sub-bins.

        Sub-bins ``k·factor … k·factor + factor - 1`` tile bin ``k`` (pitch ``detector_spacing / factor``,
        same offset): averaging their line integrals gives the bin's strip integral over its width.

        Raises:
            ValueError: for ``factor`` not an int >= 1.
        """
        factor = _count("factor", factor)
        d = self.to_dict()
        d.update(num_detectors=self.num_detectors * factor, detector_spacing_mm=self.detector_spacing / factor)
        return geometry_from_dict(d)

    # ------------------------------------------------------------------ rays
    def _frames(self) -> tuple[np.ndarray, np.ndarray]:
        th = self.angles
        e_t = np.stack([np.cos(th), -np.sin(th)], -1)
        e_s = np.stack([np.sin(th), np.cos(th)], -1)
        return e_t, e_s

    def _rays_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def rays(self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """All rays in sinogram order (view-major).

        Returns:
            ``(origins, directions)``, each ``(num_views * num_detectors, 2)`` world mm; directions are unit
            vectors pointing from the source side to the detector.
        """
        o, d = self._rays_numpy()
        return (torch.as_tensor(o, dtype=dtype, device=device), torch.as_tensor(d, dtype=dtype, device=device))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (angles in radians, lengths in mm)."""
        return {
            "kind": self.kind,
            "angles_rad": self.angles.tolist(),
            "num_detectors": self.num_detectors,
            "detector_spacing_mm": self.detector_spacing,
            "centre_mm": self.centre.tolist(),
            "detector_offset_mm": self.detector_offset,
        }

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_views={self.num_views}, num_detectors={self.num_detectors}, "
                f"detector_spacing={self.detector_spacing:g} mm)")


class ParallelBeamGeometry(ScanGeometry):
    """Parallel-beam geometry: ray ``k`` of view ``θ`` is ``{c + u_k e_t(θ) + λ e_s(θ)}``.

    Args: as :class:`ScanGeometry`.

    Examples:
        >>> geom = ParallelBeamGeometry(np.linspace(0, np.pi, 60, endpoint=False), 256, 1.0)
    """

    kind = "parallel"
    angle_period = math.pi  # the views at θ and θ + π measure the same lines

    def field_of_view_radius(self) -> float:
        u = self.detector_positions()
        return float(min(abs(u[0]), abs(u[-1])) + 0.5 * self.detector_spacing)

    def resolution_mm(self) -> float:
        return self.detector_spacing

    def _rays_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        e_t, e_s = self._frames()
        u = self.detector_positions()
        origins = self.centre + u[None, :, None] * e_t[:, None, :]  # (V, D, 2)
        directions = np.broadcast_to(e_s[:, None, :], origins.shape)
        return origins.reshape(-1, 2), np.ascontiguousarray(directions).reshape(-1, 2)


class FanBeamGeometry(ScanGeometry):
    """Fan-beam geometry: source at ``c - D_so e_s(θ)``, detector centred at ``c + (D_sd - D_so) e_s(θ)``.

    Args:
        angles: as :class:`ScanGeometry`.
        num_detectors: as :class:`ScanGeometry`.
        detector_spacing: as :class:`ScanGeometry`, measured on the detector itself (mm).
        centre: as :class:`ScanGeometry`.
        detector_offset: as :class:`ScanGeometry`, measured on the detector itself (mm).
        source_to_isocentre: ``D_so``, source to rotation centre distance in mm.
        source_to_detector: ``D_sd``, source to detector distance in mm (``> D_so``).
        detector_shape: ``"flat"`` (bins equally spaced on a line) or ``"arc"`` (equiangular bins on a
            circle of radius ``D_sd`` around the source, as in clinical scanners).

    Raises:
        ValueError: for non-positive distances, ``D_sd <= D_so`` or a fan wider than 180 degrees.
    """

    kind = "fan"

    def __init__(self, angles: Any, num_detectors: int, detector_spacing: float, source_to_isocentre: float,
                 source_to_detector: float, centre: Sequence[float] = (0.0, 0.0), detector_offset: float = 0.0,
                 detector_shape: str = "flat") -> None:
        super().__init__(angles, num_detectors, detector_spacing, centre, detector_offset)
        self.source_to_isocentre = check_positive_finite("source_to_isocentre", source_to_isocentre)
        self.source_to_detector = check_positive_finite("source_to_detector", source_to_detector)
        if not self.source_to_detector > self.source_to_isocentre:
            raise ValueError(
                f"source_to_detector ({self.source_to_detector:g} mm) must exceed source_to_isocentre "
                f"({self.source_to_isocentre:g} mm)."
            )
        self.detector_shape = look_up_option(detector_shape, DETECTOR_SHAPES)
        gammas = self.fan_angles()
        if np.abs(gammas).max() >= math.pi / 2:
            raise ValueError(f"the fan is wider than 180 degrees (max |fan angle| {np.abs(gammas).max():.3f} rad).")

    @property
    def magnification(self) -> float:
        """``D_sd / D_so``: detector size over size at the rotation centre."""
        return self.source_to_detector / self.source_to_isocentre

    def fan_angles(self) -> np.ndarray:
        """Angle ``γ_k`` (radians) of each bin's ray with the central ray, shape ``(num_detectors,)``."""
        u = self.detector_positions()
        if self.detector_shape == "arc":
            return u / self.source_to_detector
        return np.arctan(u / self.source_to_detector)

    def field_of_view_radius(self) -> float:
        u = self.detector_positions()
        edges = np.array([u[0], u[-1]]) + np.array([-0.5, 0.5]) * self.detector_spacing
        g = edges / self.source_to_detector if self.detector_shape == "arc" else np.arctan(
            edges / self.source_to_detector)
        return float(self.source_to_isocentre * math.sin(min(abs(g[0]), abs(g[1]))))

    def resolution_mm(self) -> float:
        return self.detector_spacing / self.magnification

    def _rays_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        e_t, e_s = self._frames()
        g = self.fan_angles()
        source = self.centre - self.source_to_isocentre * e_s  # (V, 2)
        d = np.cos(g)[None, :, None] * e_s[:, None, :] + np.sin(g)[None, :, None] * e_t[:, None, :]
        origins = np.broadcast_to(source[:, None, :], d.shape)
        return np.ascontiguousarray(origins).reshape(-1, 2), d.reshape(-1, 2)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(source_to_isocentre_mm=self.source_to_isocentre, source_to_detector_mm=self.source_to_detector,
                 detector_shape=self.detector_shape)
        return d

    def __repr__(self) -> str:
        return (f"FanBeamGeometry(num_views={self.num_views}, num_detectors={self.num_detectors}, "
                f"detector_spacing={self.detector_spacing:g} mm, D_so={self.source_to_isocentre:g} mm, "
                f"D_sd={self.source_to_detector:g} mm, {self.detector_shape})")


def geometry_from_dict(d: dict[str, Any]) -> ScanGeometry:
    """Inverse of :meth:`ScanGeometry.to_dict` (e.g. a ``geometry.json`` next to a sinogram file).

    Raises:
        ValueError: for an unknown ``kind`` or missing keys.
    """
    if not isinstance(d, dict):
        raise TypeError(f"geometry description must be a dict, got {type(d).__name__}.")
    kind = d.get("kind")
    try:
        common = dict(angles=d["angles_rad"], num_detectors=d["num_detectors"],
                      detector_spacing=d["detector_spacing_mm"], centre=d.get("centre_mm", (0.0, 0.0)),
                      detector_offset=d.get("detector_offset_mm", 0.0))
        if kind == "parallel":
            return ParallelBeamGeometry(**common)
        if kind == "fan":
            return FanBeamGeometry(**common, source_to_isocentre=d["source_to_isocentre_mm"],
                                   source_to_detector=d["source_to_detector_mm"],
                                   detector_shape=d.get("detector_shape", "flat"))
    except KeyError as err:
        raise ValueError(f"geometry description is missing the key {err.args[0]!r}.") from err
    raise ValueError(f"geometry kind must be 'parallel' or 'fan', got {kind!r}.")
