"""Ellipse phantoms with exact line integrals (chord lengths), an independent reference for projectors.

An ellipse ``k`` (centre ``x_k`` mm, semi-axes ``a_k, b_k`` mm, rotation ``φ_k`` rad, value ``ρ_k``) adds
``ρ_k`` inside it. Along a ray ``o + λ d`` (``|d| = 1``, ``λ`` in mm) the integral is ``Σ ρ_k · chord_k``,
with the chord from the quadratic ``|A⁻¹ R_kᵀ (o + λ d - x_k)|² = 1`` (``A = diag(a, b)``): no sampling, no
grid — exact to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from monai_lipinr.budget.geometry import ImageGeometry

__all__ = ["EllipsePhantom", "shepp_logan_ellipses"]

# modified Shepp-Logan (Toft 1996): value, a, b, x0, y0, phi (degrees); unit disk coordinates, y up
_SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)


def shepp_logan_ellipses(radius_mm: float, value_scale: float = 1.0,
                         centre: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Modified Shepp-Logan ellipses scaled to a disk of ``radius_mm``.

    Returns:
        ``(10, 6)`` rows ``(value, a mm, b mm, x0 mm, y0 mm, phi rad)``; values times ``value_scale``
        (e.g. ``0.02`` for attenuation in 1/mm of the order of water).
    """
    e = np.array(_SHEPP_LOGAN, dtype=np.float64)
    out = np.empty_like(e)
    out[:, 0] = e[:, 0] * value_scale
    out[:, 1:5] = e[:, 1:5] * radius_mm
    out[:, 3] += centre[0]
    out[:, 4] = -out[:, 4] + centre[1]  # y axis of world points along the image rows (downwards)
    out[:, 5] = -np.deg2rad(e[:, 5])
    return out


class EllipsePhantom:
    """Sum of constant ellipses with exact rasterisation (supersampled) and exact line integrals.

    Args:
        ellipses: ``(K, 6)`` rows ``(value, a mm, b mm, x0 mm, y0 mm, phi rad)``.
    """

    def __init__(self, ellipses: Any) -> None:
        e = np.asarray(ellipses, dtype=np.float64)
        if e.ndim != 2 or e.shape[1] != 6 or e.shape[0] == 0:
            raise ValueError(f"ellipses must have shape (K >= 1, 6), got {e.shape}.")
        if not np.isfinite(e).all() or (e[:, 1:3] <= 0).any():
            raise ValueError("ellipses must be finite with positive semi-axes (mm).")
        self.ellipses = e

    def _local(self, points: np.ndarray, k: int) -> np.ndarray:
        rho, a, b, x0, y0, phi = self.ellipses[k]
        c, s = np.cos(phi), np.sin(phi)
        p = points - np.array([x0, y0])
        return np.stack([(c * p[..., 0] + s * p[..., 1]) / a, (-s * p[..., 0] + c * p[..., 1]) / b], -1)

    def values(self, points: Any) -> np.ndarray:
        """Phantom value at ``(N, 2)`` world points (mm)."""
        p = np.asarray(points, dtype=np.float64)
        out = np.zeros(p.shape[:-1])
        for k in range(self.ellipses.shape[0]):
            q = self._local(p, k)
            out += self.ellipses[k, 0] * ((q ** 2).sum(-1) <= 1.0)
        return out

    def rasterize(self, geometry: ImageGeometry, supersample: int = 4) -> np.ndarray:
        """Pixel averages on a 2-D grid (``supersample²`` points per pixel), array ``(H, W)`` indexed ``[j, i]``."""
        w, h = geometry.size
        off = (np.arange(supersample) + 0.5) / supersample - 0.5
        jj, ii = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        acc = np.zeros((h, w))
        for dj in off:
            for di in off:
                idx = np.stack([(ii + di).ravel(), (jj + dj).ravel()], -1)
                acc += self.values(geometry.index_to_world(idx)).reshape(h, w)
        return acc / supersample ** 2

    def line_integrals(self, origins: Any, directions: Any) -> np.ndarray:
        """Exact ``∫ f dl`` (value × mm) along rays ``o + λ d``, ``λ ∈ ℝ``; inputs ``(R, 2)`` mm, unit ``d``."""
        o = origins.detach().cpu().double().numpy() if isinstance(origins, torch.Tensor) else np.asarray(
            origins, dtype=np.float64)
        d = directions.detach().cpu().double().numpy() if isinstance(directions, torch.Tensor) else np.asarray(
            directions, dtype=np.float64)
        out = np.zeros(o.shape[0])
        for k in range(self.ellipses.shape[0]):
            rho, a, b, _, _, phi = self.ellipses[k]
            c, s = np.cos(phi), np.sin(phi)
            oq = self._local(o, k)
            dq = np.stack([(c * d[:, 0] + s * d[:, 1]) / a, (-s * d[:, 0] + c * d[:, 1]) / b], -1)
            aa = (dq ** 2).sum(-1)
            bb = (oq * dq).sum(-1)
            cc = (oq ** 2).sum(-1) - 1.0
            disc = np.clip(bb ** 2 - aa * cc, 0.0, None)
            out += rho * 2.0 * np.sqrt(disc) / aa
        return out
