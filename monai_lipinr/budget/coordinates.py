"""The one isotropic map between world coordinates (LPS mm) and network coordinates.

A Lipschitz constant carries units (output units per input unit). :class:`NetworkCoordinates` is the
single affine ``x̃ = (x - c) / s`` applied to every network input, where

* ``c`` is the centre of the fixed image's field of view (world LPS mm) and
* ``s`` is half of its largest physical extent (mm; extent = ``size * spacing``, edge to edge),

so, measured along the image axes, every voxel of the fixed image lies within ``±1`` of the origin and the
longest axis reaches ``±1`` at its outer voxel edges (axis-aligned image: the FOV is inside ``[-1, 1]^D``;
with a rotated direction matrix the FOV box is rotated with it, ``‖x̃‖ ≤ √D``). The map itself is never
rotated: network coordinates keep the LPS world axes. A displacement network ``ũ(x̃)`` outputs displacement in the same network units
(``u_mm = s · ũ``). Because the map is a *uniform* scaling,

    ∇_x u_mm(x) = s · ∇ũ(x̃) · (1/s) = ∇ũ(x̃),

i.e. the Jacobian (and hence the Lipschitz constant) of the displacement in network units equals the
physical, unit-free strain ``‖∂u/∂x‖`` (mm/mm). A per-axis ``[-1, 1]`` normalisation (IDIR) would
scale each column of the Jacobian by a different ratio of extents and break this identity — it is
deliberately not offered.

For an intensity field ``I`` (e.g. HU) represented by a network ``f(x̃) = I(x) / output_scale``:
``Lip(f) = Lip(I) [HU/mm] · s [mm / network unit] / output_scale [HU / output unit]``
(:meth:`NetworkCoordinates.gradient_to_network`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monai_lipinr.budget.geometry import ImageGeometry, apply_affine_to_points, as_points
from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = ["NetworkCoordinates"]


class NetworkCoordinates:
    """Isotropic world (LPS mm) <-> network coordinate map ``x̃ = (x - c) / s``.

    Args:
        centre: world position ``c`` (LPS mm) mapped to the network origin, length ``spatial_dims``.
        scale: ``s`` in mm per network unit (> 0).

    Raises:
        ValueError: for a non-finite centre, ``spatial_dims`` other than 2/3, or a non-positive scale.

    Examples:
        >>> nc = NetworkCoordinates.from_image(fixed_sitk_image)
        >>> xt = nc.world_to_network(points_mm)       # (N, 3) network units
        >>> u_mm = nc.displacement_to_world(net(xt))  # (N, 3) mm, LPS
    """

    def __init__(self, centre: Sequence[float], scale: float):
        c = np.asarray(centre, dtype=np.float64).reshape(-1)
        if c.shape[0] not in (2, 3) or not np.isfinite(c).all():
            raise ValueError(f"centre must be 2 or 3 finite world coordinates (mm), got {centre!r}.")
        self.centre = c
        self.scale = check_positive_finite("scale", scale)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_geometry(cls, geometry: ImageGeometry) -> NetworkCoordinates:
        """Map for a fixed image geometry: ``c`` = FOV centre, ``s`` = half the largest ``size * spacing``."""
        return cls(geometry.centre, 0.5 * float(np.max(geometry.physical_extent)))

    @classmethod
    def from_image(cls, image, spatial_dims: int | None = None) -> NetworkCoordinates:
        """Map for a fixed image: a ``SimpleITK.Image``, a channel-first MONAI ``MetaTensor`` (its RAS affine
        is converted to LPS explicitly) or an :class:`ImageGeometry`."""
        return cls.from_geometry(ImageGeometry.from_image(image, spatial_dims))

    @classmethod
    def from_sitk(cls, image) -> NetworkCoordinates:
        """Map for a fixed ``SimpleITK.Image`` (LPS header geometry)."""
        return cls.from_geometry(ImageGeometry.from_sitk(image))

    @classmethod
    def from_metatensor(cls, image, spatial_dims: int | None = None) -> NetworkCoordinates:
        """Map for a fixed channel-first MONAI ``MetaTensor``; ``meta["space"]`` (default RAS) is honoured."""
        return cls.from_geometry(ImageGeometry.from_metatensor(image, spatial_dims))

    @classmethod
    def from_parameters(cls, size, spacing, origin=None, direction=None) -> NetworkCoordinates:
        """Map from ``size`` (array-axis order), ``spacing`` (mm), ``origin`` (LPS mm) and ``direction``."""
        return cls.from_geometry(ImageGeometry(size, spacing, origin, direction))

    @classmethod
    def from_dict(cls, d: dict) -> NetworkCoordinates:
        """Inverse of :meth:`to_dict`."""
        return cls(d["centre"], d["scale"])

    # ------------------------------------------------------------------ properties
    @property
    def spatial_dims(self) -> int:
        return int(self.centre.shape[0])

    def to_dict(self) -> dict:
        """JSON-serialisable state ``{"centre": [...] (LPS mm), "scale": s (mm per network unit)}``."""
        return {"centre": self.centre.tolist(), "scale": self.scale}

    # ------------------------------------------------------------------ points
    def world_to_network(self, points):
        """World points ``(N, D)`` (LPS mm) -> network coordinates ``(N, D)`` (torch or numpy, type kept).

        Raises:
            ValueError: for a wrong shape / ``spatial_dims`` or non-finite coordinates.
        """
        points = as_points(points, self.spatial_dims, "points")
        inv = 1.0 / self.scale
        return apply_affine_to_points(points, np.eye(self.spatial_dims) * inv, -self.centre * inv)

    def network_to_world(self, points):
        """Network coordinates ``(N, D)`` -> world points ``(N, D)`` (LPS mm)."""
        points = as_points(points, self.spatial_dims, "points")
        return apply_affine_to_points(points, np.eye(self.spatial_dims) * self.scale, self.centre)

    # ------------------------------------------------------------------ vectors and constants
    def displacement_to_network(self, displacement_mm):
        """Displacement vectors ``(N, D)`` in LPS mm -> network units (``/ s``)."""
        d = as_points(displacement_mm, self.spatial_dims, "displacement_mm")
        return d / self.scale

    def displacement_to_world(self, displacement):
        """Displacement vectors ``(N, D)`` in network units -> LPS mm (``· s``)."""
        d = as_points(displacement, self.spatial_dims, "displacement")
        return d * self.scale

    def gradient_to_network(self, gradient_per_mm: float, output_scale: float = 1.0) -> float:
        """Lipschitz constant of a scalar/vector field from ``value units / mm`` to network units.

        ``f(x̃) = I(c + s x̃) / output_scale`` has ``Lip(f) = Lip(I) · s / output_scale``.

        Args:
            gradient_per_mm: ``Lip(I)`` in value units per mm.
            output_scale: value units per network output unit (e.g. 1000 HU when the INR outputs HU/1000).
        """
        g = check_positive_finite("gradient_per_mm", gradient_per_mm)
        return g * self.scale / check_positive_finite("output_scale", output_scale)

    def gradient_to_world(self, gradient_network: float, output_scale: float = 1.0) -> float:
        """Inverse of :meth:`gradient_to_network`: network-unit Lipschitz constant -> value units per mm."""
        g = check_positive_finite("gradient_network", gradient_network)
        return g * check_positive_finite("output_scale", output_scale) / self.scale

    @staticmethod
    def strain_to_network(strain: float) -> float:
        """Lipschitz bound of a displacement network in network units for a physical strain bound.

        Identity: displacement and coordinates are both divided by ``s``, so ``‖∇ũ‖ = ‖∂u/∂x‖`` (mm/mm).
        """
        return check_positive_finite("strain", strain)

    def __repr__(self) -> str:
        return (
            f"NetworkCoordinates(centre={tuple(np.round(self.centre, 6).tolist())}, scale={self.scale:.6g})"
        )
