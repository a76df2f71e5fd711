"""SART, the classical iterative baseline, for any scan geometry (parallel or fan beam).

The simultaneous algebraic reconstruction technique (Andersen & Kak, *Ultrasonic Imaging* 6, 1984) updates the
image view by view: for the rays ``i`` of one view, with ``a_ij`` the length of ray ``i`` in pixel ``j``,

``x_j ← x_j + λ · Σ_i a_ij (b_i − a_i·x) / Σ_j' a_ij'  /  Σ_i a_ij``.

One *iteration* is one sweep over all views, in an order that spreads consecutive views over the rotation
(golden-ratio steps, as scikit-image's ``iradon_sart`` orders its parallel views). The system matrix is
:func:`~monai_lipinr.apps.reconstruction.projector.grid_system_matrix` (bilinear interpolant, optionally several
rays per detector bin), so SART sees the same forward model as the INR's grid data term. scikit-image's
``iradon_sart`` reconstructs parallel-beam sinograms only; this one takes fan beams too.

Units: a sinogram of dimensionless line integrals of ``μ`` with lengths in mm gives ``μ`` in 1/mm. Images are
``(H, W)`` arrays indexed ``[j, i]`` (row-major, as :class:`~monai_lipinr.budget.geometry.ImageGeometry`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from monai_lipinr.apps.reconstruction.geometry import ScanGeometry, check_sinogram
from monai_lipinr.apps.reconstruction.projector import grid_system_matrix
from monai_lipinr.budget.geometry import ImageGeometry

__all__ = ["SART", "golden_ratio_view_order"]

#: The textbook SART step (Andersen & Kak 1984); the sweep converges for any relaxation in (0, 2).
DEFAULT_RELAXATION = 1.0
_GOLDEN_FRACTION = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618…


def golden_ratio_view_order(angles: Any, period: float) -> np.ndarray:
    """An order of the views in which each next view is about a golden-ratio fraction of ``period`` on.

    Starting from the smallest angle (modulo ``period``), each step aims ``0.618 · period`` past the last view
    taken and takes the remaining view nearest that aim on the circle. Consecutive SART updates then see
    nearly independent directions, which speeds up the sweep's convergence.

    Args:
        angles: view angles (rad).
        period: angular period of the scan (rad): ``ScanGeometry.angle_period``, ``π`` for parallel beams and
            ``2π`` for fan beams.

    Returns:
        a permutation of ``range(len(angles))``.
    """
    a = np.mod(np.asarray(angles, dtype=np.float64).ravel(), period)
    remaining = list(np.argsort(a, kind="stable"))
    order = [remaining.pop(0)]
    while remaining:
        aim = a[order[-1]] + _GOLDEN_FRACTION * period
        gap = np.abs(np.mod(a[remaining] - aim + period / 2, period) - period / 2)
        order.append(remaining.pop(int(np.argmin(gap))))
    return np.asarray(order, dtype=np.int64)


class SART:
    """SART on a 2-D grid for a parallel- or fan-beam scan.

    The system matrix and its per-view normalisations are built once; :meth:`sweep` and :meth:`__call__` run
    on any number of sinograms of the geometry.

    Args:
        scan_geometry: the scan (:class:`ParallelBeamGeometry` or :class:`FanBeamGeometry`).
        image_geometry: the 2-D output grid (LPS mm, ``size = (W, H)``).
        relaxation: step ``λ`` in ``(0, 2)``; default 1, the textbook step (scikit-image uses 0.15 with a
            different, larger row normalisation: the squared weights).
        detector_subsamples: rays per detector bin in the system matrix (1 = a pencil ray through the bin
            centre; see :class:`~monai_lipinr.apps.reconstruction.projector.RayProjector`).
        oversampling: quadrature points per pixel spacing along each ray.
        non_negative: clip the image at 0 after each view (attenuation cannot be negative); off by default,
            as scikit-image's.
        device: where the matrices and images live.

    Raises:
        ValueError: for a relaxation outside ``(0, 2)`` or a grid that is not 2-D.
    """

    def __init__(self, scan_geometry: ScanGeometry, image_geometry: ImageGeometry,
                 relaxation: float = DEFAULT_RELAXATION, detector_subsamples: int = 1, oversampling: float = 2.0,
                 non_negative: bool = False, device: torch.device | str | None = None) -> None:
        relaxation = float(relaxation)
        if not 0.0 < relaxation < 2.0:
            raise ValueError(f"relaxation must be in (0, 2), got {relaxation!r}.")
        if not isinstance(image_geometry, ImageGeometry) or image_geometry.spatial_dims != 2:
            raise ValueError(f"image_geometry must be a 2-D ImageGeometry, got {image_geometry!r}.")
        self.scan_geometry = scan_geometry
        self.image_geometry = image_geometry
        self.relaxation = relaxation
        self.non_negative = bool(non_negative)
        self.view_order = golden_ratio_view_order(scan_geometry.angles, scan_geometry.angle_period)
        a = grid_system_matrix(scan_geometry, image_geometry, oversampling, dtype=torch.float64,
                               detector_subsamples=detector_subsamples).to(device)
        v, d = scan_geometry.shape
        rows, cols = a.indices()
        vals = a.values()
        # the coalesced rows are sorted, so each view's entries are one contiguous slice
        bounds = torch.searchsorted(rows, torch.arange(v + 1, device=rows.device) * d).tolist()
        self._views = []  # per view: (A_v CSR (D, P), A_v^T CSR (P, D), 1 / row sums (D,), 1 / column sums (P,))
        num_pixels = a.shape[1]
        for view in range(v):
            sel = slice(bounds[view], bounds[view + 1])
            r, c, w = rows[sel] - view * d, cols[sel], vals[sel]
            block = torch.sparse_coo_tensor(torch.stack([r, c]), w, (d, num_pixels)).coalesce()
            row_sum = torch.zeros(d, dtype=torch.float64, device=w.device).index_add_(0, r, w)
            col_sum = torch.zeros(num_pixels, dtype=torch.float64, device=w.device).index_add_(0, c, w)
            self._views.append((block.to_sparse_csr(), block.t().coalesce().to_sparse_csr(),
                                _safe_reciprocal(row_sum), _safe_reciprocal(col_sum)))

    def sweep(self, sinogram: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """One SART iteration: a view-by-view update of the flattened ``image`` ``(H*W,)`` (returns a new tensor)."""
        x = image.clone()
        for view in self.view_order:
            a_v, a_v_t, inv_row, inv_col = self._views[int(view)]
            residual = (sinogram[int(view)] - a_v @ x) * inv_row
            x += self.relaxation * inv_col * (a_v_t @ residual)
            if self.non_negative:
                x.clamp_(min=0.0)
        return x

    def __call__(self, sinogram: Any, iterations: int = 1, image: Any = None) -> np.ndarray:
        """Reconstruct from ``sinogram`` with ``iterations`` sweeps.

        Args:
            sinogram: ``(num_views, num_detectors)`` line integrals (array or tensor).
            iterations: sweeps over all views (≥ 1).
            image: optional ``(H, W)`` starting image (not modified); zeros by default.

        Returns:
            ``(H, W)`` float64 array in the units of the integrand (e.g. 1/mm).

        Raises:
            ValueError: for a sinogram that does not match the geometry, non-finite values, fewer than one
                iteration or a starting image of the wrong shape.
        """
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}.")
        device = self._views[0][2].device
        b = check_sinogram(sinogram, self.scan_geometry).to(device=device, dtype=torch.float64)
        w, h = self.image_geometry.size
        if image is None:
            x = torch.zeros(w * h, dtype=torch.float64, device=device)
        else:
            x = torch.as_tensor(np.asarray(image, dtype=np.float64), device=device)
            if tuple(x.shape) != (h, w):
                raise ValueError(f"image must have shape (H, W) = {(h, w)}, got {tuple(x.shape)}.")
            x = x.reshape(-1)
        for _ in range(int(iterations)):
            x = self.sweep(b, x)
        return x.reshape(h, w).cpu().numpy()


def _safe_reciprocal(values: torch.Tensor) -> torch.Tensor:
    """``1 / values`` where positive, 0 elsewhere (rays that miss the grid, pixels a view does not see)."""
    out = torch.zeros_like(values)
    positive = values > 0
    out[positive] = 1.0 / values[positive]
    return out
