"""Measurement noise for simulated sinograms: Poisson photon counting or additive Gaussian.

Poisson model (monoenergetic Beer-Lambert): a ray with line integral ``p`` receives
``N ~ Poisson(I0 · exp(-p))`` photons of ``I0`` emitted; the measured line integral is ``-log(N / I0)``
(counts floored at ``min_counts`` so that photon starvation gives a large finite value, as scanners do).
``I0 ≈ 1e5`` photons per detector bin and view is of the order of a low-dose chest protocol; the
variance of the measured ``p`` is then ``≈ exp(p) / I0`` (so ``≈ 2.5e-3`` behind 300 mm of water).

Gaussian model: ``p + σ ε``, ``ε ~ N(0, 1)`` (``σ`` dimensionless, in line-integral units).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from monai.utils import look_up_option

from monai_lipinr.lipschitz.base import check_positive_finite

__all__ = ["NOISE_MODELS", "add_noise", "poisson_weights"]

NOISE_MODELS = ("none", "poisson", "gaussian")


def add_noise(sinogram: Any, model: str = "poisson", photons: float = 1e5, sigma: float = 0.01,
              min_counts: float = 1.0, seed: int | None = 0) -> torch.Tensor:
    """Noisy copy of a sinogram of line integrals.

    Args:
        sinogram: ``(num_views, num_detectors)`` line integrals (dimensionless, ``∫ μ dl``).
        model: ``"poisson"``, ``"gaussian"`` or ``"none"``.
        photons: ``I0``, photons per detector bin and view (Poisson model, > 0).
        sigma: standard deviation of the additive noise (Gaussian model, > 0).
        min_counts: floor of the detected counts (Poisson model, > 0).
        seed: random seed (``None``: the global torch generator).

    Returns:
        float64 tensor of the same shape.

    Raises:
        ValueError: for an unknown model, non-positive parameters or a non-finite sinogram.
    """
    model = look_up_option(model, NOISE_MODELS)
    p = sinogram.detach().double().cpu() if isinstance(sinogram, torch.Tensor) else torch.as_tensor(
        np.asarray(sinogram, dtype=np.float64))
    if not bool(torch.isfinite(p).all()):
        raise ValueError("sinogram contains non-finite values; cannot add noise.")
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    if model == "none":
        return p.clone()
    if model == "gaussian":
        s = check_positive_finite("sigma", sigma)
        return p + s * torch.randn(p.shape, generator=gen, dtype=torch.float64)
    i0 = check_positive_finite("photons", photons)
    floor = check_positive_finite("min_counts", min_counts)
    counts = torch.poisson(i0 * torch.exp(-p), generator=gen)
    return -torch.log(torch.clamp(counts, min=floor) / i0)


def poisson_weights(sinogram: torch.Tensor, photons: float) -> torch.Tensor:
    """Inverse-variance weights ``I0 exp(-p)`` of measured line integrals, normalised to mean 1.

    Used for a weighted least-squares data term; ``photons`` cancels after normalisation but is
    validated so that a caller states the model.
    """
    check_positive_finite("photons", photons)
    w = torch.exp(-(sinogram - sinogram.min()))
    return w / w.mean().clamp_min(math.ulp(1.0))
