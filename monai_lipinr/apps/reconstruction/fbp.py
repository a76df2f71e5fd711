"""Filtered back-projection (FBP), the classical baseline: ramp filter + back-projection, parallel and fan beam.

Formulas (Kak & Slaney, *Principles of Computerized Tomographic Imaging*, 1988, ch. 3):

* parallel beam: ``f(x) = Σ_θ Δθ · q_θ(r · e_t)``, ``q_θ = Δt · (p_θ * h)``, ``Δθ = π / V`` (views uniform
  on ``[0, π)`` or on ``[0, 2π)``, where every line is seen twice and half weighted);
* fan beam, flat detector (virtual detector through the centre, ``s = u D_so / D_sd``):
  ``f(x) = Σ_β Δβ U⁻² Q_β(s')``, ``Q_β = Δs · ((R_β · D_so / √(D_so² + s²)) * h/2)``, ``U = (D_so + r·e_s)/D_so``;
* fan beam, arc detector (fan angle ``γ``): ``f(x) = Σ_β Δβ L⁻² Q_β(γ')``,
  ``Q_β = Δγ · ((R_β · D_so cos γ) * g)``, ``g(nΔγ) = ½ (nΔγ / sin nΔγ)² h(nΔγ)``, ``L`` = source-to-point distance;
  fan beam assumes a full rotation of uniformly spaced views (``Δβ = 2π / V``).

``h`` is the band-limited ramp in its exact discrete form (``h(0) = 1/4Δ²``, ``h(odd n) = -1/(nπΔ)²``,
``h(even n) = 0``), applied by zero-padded FFT and optionally apodised (``shepp-logan``, ``cosine``,
``hamming``, ``hann``). Units: a sinogram of dimensionless line integrals of ``μ`` with lengths in mm gives
``μ`` in 1/mm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from monai.utils import look_up_option

from monai_lipinr.apps.reconstruction.geometry import (
    FanBeamGeometry,
    ParallelBeamGeometry,
    ScanGeometry,
    check_sinogram,
)
from monai_lipinr.budget.geometry import ImageGeometry

__all__ = ["FBP_FILTERS", "ramp_kernel", "filter_projections", "filtered_back_projection"]

FBP_FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")


def ramp_kernel(num: int, spacing: float) -> np.ndarray:
    """Discrete band-limited ramp ``h(nΔ)`` for ``n = -(num-1) … num-1`` (Kak & Slaney eq. 3.61)."""
    n = np.arange(-(num - 1), num)
    h = np.zeros(n.shape, dtype=np.float64)
    h[n == 0] = 1.0 / (4.0 * spacing ** 2)
    odd = n % 2 == 1
    h[odd] = -1.0 / (n[odd] * math.pi * spacing) ** 2
    return h


def filter_projections(projections: torch.Tensor, kernel: np.ndarray, spacing: float, window: str = "ramp"
                       ) -> torch.Tensor:
    """Convolve each row of ``projections`` ``(V, D)`` with ``kernel`` (length ``2D - 1``, centred) times ``spacing``.

    The linear convolution is done by FFT with zero padding to a power of two ``>= 4D`` (no wrap-around);
    ``window`` apodises the kernel's spectrum.
    """
    window = look_up_option(window, FBP_FILTERS)
    v, d = projections.shape
    size = 1 << int(math.ceil(math.log2(4 * d)))
    k = torch.zeros(size, dtype=torch.float64)
    kern = torch.as_tensor(kernel, dtype=torch.float64)
    k[: d] = kern[d - 1:]  # n = 0 … D-1
    k[size - (d - 1):] = kern[: d - 1]  # n = -(D-1) … -1
    kf = torch.fft.rfft(k)
    freq = torch.fft.rfftfreq(size)  # cycles per sample, 0 … 0.5
    w = {
        "ramp": torch.ones_like(freq),
        "shepp-logan": torch.sinc(freq),  # sin(πf)/(πf), f in cycles/sample normalised to Nyquist 0.5
        "cosine": torch.cos(math.pi * freq),
        "hamming": 0.54 + 0.46 * torch.cos(2 * math.pi * freq),
        "hann": 0.5 + 0.5 * torch.cos(2 * math.pi * freq),
    }[window]
    p = torch.zeros(v, size, dtype=torch.float64)
    p[:, :d] = projections.double().cpu()
    out = torch.fft.irfft(torch.fft.rfft(p, dim=-1) * (kf * w)[None], n=size, dim=-1)[:, :d]
    return (out * spacing).to(projections.dtype)


def _interp_rows(q: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of each row ``q[v]`` (``(V, D)``) at fractional bins ``pos`` ``(V, P)``; 0 outside."""
    d = q.shape[1]
    lo = torch.floor(pos)
    frac = pos - lo
    lo = lo.long()
    hi = lo + 1
    qv = torch.nn.functional.pad(q, (1, 1))  # index -1 and D become zeros
    lo_c = torch.clamp(lo, -1, d) + 1
    hi_c = torch.clamp(hi, -1, d) + 1
    return torch.gather(qv, 1, lo_c) * (1 - frac) + torch.gather(qv, 1, hi_c) * frac


def filtered_back_projection(sinogram: Any, geometry: ScanGeometry, image_geometry: ImageGeometry,
                             filter_name: str = "ramp", chunk_views: int = 16) -> np.ndarray:
    """Reconstruct an image on a 2-D grid from a sinogram by FBP.

    Args:
        sinogram: ``(num_views, num_detectors)`` line integrals.
        geometry: :class:`ParallelBeamGeometry` or :class:`FanBeamGeometry` (full rotation).
        image_geometry: output 2-D grid (LPS mm).
        filter_name: ``ramp`` (Ram-Lak), ``shepp-logan``, ``cosine``, ``hamming`` or ``hann``.
        chunk_views: views back-projected at a time (memory bound).

    Returns:
        ``(H, W)`` float64 array indexed ``[j, i]``, in the units of the integrand (e.g. 1/mm).

    Raises:
        ValueError: for a sinogram that does not match the geometry, non-finite values or a non-2-D grid.
    """
    p = check_sinogram(sinogram, geometry).double().cpu()
    if not isinstance(image_geometry, ImageGeometry) or image_geometry.spatial_dims != 2:
        raise ValueError(f"image_geometry must be a 2-D ImageGeometry, got {image_geometry!r}.")
    w, h = image_geometry.size
    jj, ii = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pts = image_geometry.index_to_world(np.stack([ii.ravel(), jj.ravel()], -1).astype(np.float64))
    r = torch.as_tensor(pts - geometry.centre)  # (P, 2)
    th = torch.as_tensor(geometry.angles)
    e_t = torch.stack([torch.cos(th), -torch.sin(th)], -1)
    e_s = torch.stack([torch.sin(th), torch.cos(th)], -1)
    u0 = float(geometry.detector_positions()[0])
    v = geometry.num_views
    out = torch.zeros(r.shape[0], dtype=torch.float64)
    if isinstance(geometry, ParallelBeamGeometry):
        dt = geometry.detector_spacing
        q = filter_projections(p, ramp_kernel(geometry.num_detectors, dt), dt, filter_name)
        for a in range(0, v, chunk_views):
            sl = slice(a, a + chunk_views)
            t = e_t[sl] @ r.T  # (v, P)
            out += _interp_rows(q[sl], (t - u0) / dt).sum(0)
        out *= math.pi / v
    elif isinstance(geometry, FanBeamGeometry):
        dso, dsd = geometry.source_to_isocentre, geometry.source_to_detector
        u = torch.as_tensor(geometry.detector_positions())
        if geometry.detector_shape == "flat":
            s = u * dso / dsd
            ds = geometry.detector_spacing * dso / dsd
            weighted = p * (dso / torch.sqrt(dso ** 2 + s ** 2))[None]
            q = 0.5 * filter_projections(weighted, ramp_kernel(geometry.num_detectors, ds), ds, filter_name)
            for a in range(0, v, chunk_views):
                sl = slice(a, a + chunk_views)
                along = dso + e_s[sl] @ r.T  # (v, P), distance from source along the central ray
                s_img = dso * (e_t[sl] @ r.T) / along
                out += (_interp_rows(q[sl], (s_img * dsd / dso - u0) / geometry.detector_spacing)
                        * (dso / along) ** 2).sum(0)
        else:
            dg = geometry.detector_spacing / dsd
            gam = u / dsd
            n = np.arange(-(geometry.num_detectors - 1), geometry.num_detectors)
            ratio = np.ones(n.shape)
            nz = n != 0
            ratio[nz] = (n[nz] * dg / np.sin(n[nz] * dg)) ** 2
            kernel = 0.5 * ratio * ramp_kernel(geometry.num_detectors, dg)
            weighted = p * (dso * torch.cos(gam))[None]
            q = filter_projections(weighted, kernel, dg, filter_name)
            for a in range(0, v, chunk_views):
                sl = slice(a, a + chunk_views)
                along = dso + e_s[sl] @ r.T
                across = e_t[sl] @ r.T
                g_img = torch.atan2(across, along)
                out += (_interp_rows(q[sl], (g_img * dsd - u0) / geometry.detector_spacing)
                        / (along ** 2 + across ** 2)).sum(0)
        out *= 2.0 * math.pi / v
    else:
        raise TypeError(f"geometry must be a ParallelBeamGeometry or FanBeamGeometry, got {type(geometry).__name__}.")
    return out.reshape(h, w).numpy()
