"""Differentiable line integrals along the rays of a scan geometry, of an INR or of a gridded image.

Every ray is clipped to the *support disk* (centre ``c``, radius ``R`` mm; outside it the object is
assumed to be air, ``μ = 0``). The chord ``[λ0, λ0 + L]`` (mm along the unit ray direction) is split into
``num_samples`` equal cells; the integral is the quadrature ``L / M · Σ f(x_m)`` with ``x_m`` at the cell
midpoints (deterministic, second-order accurate) or at one uniform random point per cell (*stratified*
sampling: an unbiased estimate of the integral, used for training so that no fixed sampling pattern
can be over-fitted). Rays are processed in chunks (bounded memory) and in any subset (``ray_indices``),
on the device of the rays.

Fields are callables ``field(points) -> values`` with ``points`` ``(N, 2)`` world mm and values ``(N,)``
or ``(N, 1)``; the integral has the field's units times mm (1/mm attenuation gives a dimensionless line
integral). :class:`INRField` wraps a network on :class:`~monai_lipinr.budget.NetworkCoordinates`;
:class:`GridImageField` interpolates an image bilinearly (zero outside), for simulating sinograms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from monai_lipinr.apps.reconstruction.geometry import ScanGeometry
from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.geometry import ImageGeometry
from monai_lipinr.ops.validation import check_option

__all__ = ["RayProjector", "INRField", "GridImageField", "ray_disk_intersection", "project_image",
           "samples_for_spacing", "grid_system_matrix", "GridProjector", "BIN_AVERAGES", "APERTURES",
           "simulate_sinogram"]

Field = Callable[[torch.Tensor], torch.Tensor]

#: How :func:`project_image` combines the sub-rays of a detector bin.
BIN_AVERAGES = ("line_integral", "intensity")

#: Detector models of :func:`simulate_sinogram`.
APERTURES = ("bin", "point")


def ray_disk_intersection(origins: torch.Tensor, directions: torch.Tensor, centre: Any, radius: float
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Chord of each ray inside a disk.

    Args:
        origins: ``(R, 2)`` ray origins, world mm.
        directions: ``(R, 2)`` unit directions.
        centre: disk centre ``(2,)`` world mm.
        radius: disk radius in mm.

    Returns:
        ``(start, length)``, each ``(R,)`` mm: the chord is ``origin + λ direction`` for
        ``λ ∈ [start, start + length]``; ``length = 0`` for rays that miss the disk.
    """
    c = torch.as_tensor(np.asarray(centre, dtype=np.float64), dtype=origins.dtype, device=origins.device)
    oc = origins - c
    b = (oc * directions).sum(-1)
    q = (oc * oc).sum(-1) - radius * radius
    disc = b * b - q
    half = torch.sqrt(torch.clamp(disc, min=0.0))
    return -b - half, 2.0 * half


def samples_for_spacing(length_mm: float, spacing_mm: float, oversampling: float = 2.0) -> int:
    """Number of quadrature cells so that a chord of ``length_mm`` is sampled every ``spacing/oversampling``."""
    return max(1, int(math.ceil(length_mm * oversampling / spacing_mm)))


class RayProjector(nn.Module):
    """Line integrals of a field along the rays of a geometry (the forward model of CT).

    Args:
        geometry: a :class:`~monai_lipinr.apps.reconstruction.geometry.ScanGeometry`.
        num_samples: quadrature cells per ray (the same for every ray; each ray's cells span its chord).
        support_radius: radius of the support disk around the rotation centre, mm; ``None`` uses the scan
            field of view (``geometry.field_of_view_radius()``).
        chunk_size: rays (sub-bin rays) per field evaluation: memory bound ``chunk_size * num_samples`` points.
        dtype: floating type of the rays (float32 or float64).
        detector_subsamples: rays per detector bin, at the centres of ``detector_subsamples`` equal sub-bins
            (:meth:`ScanGeometry.subdivided`); a bin's value is their mean, the strip integral over the bin
            width (the detector aperture). 1 = one pencil ray through the bin centre.

    The rays are buffers: ``projector.to(device)`` moves them.

    Raises:
        ValueError: for ``num_samples``/``chunk_size``/``detector_subsamples`` < 1 or a non-positive support
            radius.
    """

    def __init__(self, geometry: ScanGeometry, num_samples: int = 256, support_radius: float | None = None,
                 chunk_size: int = 4096, dtype: torch.dtype = torch.float32, detector_subsamples: int = 1) -> None:
        super().__init__()
        if not isinstance(geometry, ScanGeometry):
            raise TypeError(f"geometry must be a ScanGeometry, got {type(geometry).__name__}.")
        for name, v in (("num_samples", num_samples), ("chunk_size", chunk_size),
                        ("detector_subsamples", detector_subsamples)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}.")
        radius = geometry.field_of_view_radius() if support_radius is None else float(support_radius)
        if not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"support_radius must be a positive finite number of mm, got {support_radius!r}.")
        self.geometry = geometry
        self.num_samples = num_samples
        self.support_radius = radius
        self.chunk_size = chunk_size
        self.detector_subsamples = detector_subsamples
        o, d = geometry.subdivided(detector_subsamples).rays(dtype=dtype)
        start, length = ray_disk_intersection(o, d, geometry.centre, radius)
        self.register_buffer("origins", o, persistent=False)
        self.register_buffer("directions", d, persistent=False)
        self.register_buffer("start", start, persistent=False)
        self.register_buffer("length", length, persistent=False)

    def sample_points(self, ray_indices: torch.Tensor | None = None, stratified: bool = False,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Quadrature points and weights of a set of rays (detector bins).

        Args:
            ray_indices: ``(B,)`` long indices into the flattened sinogram (view-major); ``None`` = all.
            stratified: one uniform random point per cell instead of the midpoint.
            generator: random generator for the stratified offsets (on the rays' device).

        Returns:
            ``(points (B, S, 2) world mm, weights (B, S) mm)`` with ``S = detector_subsamples * num_samples``,
            so that bin ``b``'s integral is ``Σ_s weights[b, s] f(points[b, s])``.
        """
        f, m = self.detector_subsamples, self.num_samples
        bins = torch.arange(self.geometry.num_rays, device=self.origins.device) if ray_indices is None \
            else ray_indices
        sub = (bins[:, None] * f + torch.arange(f, device=bins.device)).reshape(-1)  # sub-bin rays of each bin
        o, d, s, n = (t[sub] for t in (self.origins, self.directions, self.start, self.length))
        cells = torch.arange(m, dtype=o.dtype, device=o.device)
        if stratified:
            offset = torch.rand((o.shape[0], m), generator=generator, dtype=o.dtype, device=o.device)
        else:
            offset = torch.full((1, m), 0.5, dtype=o.dtype, device=o.device)
        lam = s[:, None] + n[:, None] * (cells[None] + offset) / m  # (B f, M)
        points = o[:, None, :] + lam[..., None] * d[:, None, :]
        weights = (n / (m * f))[:, None].expand(-1, m)
        return points.reshape(bins.shape[0], f * m, 2), weights.reshape(bins.shape[0], f * m)

    def forward(self, field: Field, ray_indices: torch.Tensor | None = None, stratified: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Line integrals ``∫ field dl`` (field units × mm) of the selected rays.

        Args:
            field: callable mapping ``(N, 2)`` world mm to ``(N,)`` or ``(N, 1)`` values.
            ray_indices: ``(B,)`` indices into the flattened sinogram; ``None`` = every ray, returned as
                ``(num_views, num_detectors)``.
            stratified: see :meth:`sample_points`.
            generator: see :meth:`sample_points`.

        Returns:
            ``(B,)`` integrals, or the full ``(num_views, num_detectors)`` sinogram when ``ray_indices`` is None.
        """
        total = self.geometry.num_rays if ray_indices is None else int(ray_indices.shape[0])
        idx_all = ray_indices if ray_indices is not None else torch.arange(total, device=self.origins.device)
        outs = []
        step = max(1, self.chunk_size // self.detector_subsamples)
        for a in range(0, total, step):
            idx = idx_all[a:a + step]
            points, weights = self.sample_points(idx, stratified, generator)
            values = field(points.reshape(-1, 2)).reshape(weights.shape)
            outs.append((values * weights.to(values.dtype)).sum(-1))
        out = torch.cat(outs) if outs else self.length.new_zeros(0)
        return out.reshape(self.geometry.shape) if ray_indices is None else out


class INRField(nn.Module):
    """A scalar INR seen as a field of world coordinates: ``field(x) = output_scale · net((x - c) / s)``.

    Args:
        network: module mapping ``(N, 2)`` network coordinates to ``(N, 1)`` (or ``(N,)``) values.
        coordinates: the isotropic world (mm) -> network map.
        output_scale: factor applied to the network output (e.g. μ_water in 1/mm when the network outputs
            attenuation relative to water).
    """

    def __init__(self, network: nn.Module, coordinates: NetworkCoordinates, output_scale: float = 1.0) -> None:
        super().__init__()
        if not isinstance(coordinates, NetworkCoordinates):
            raise TypeError(f"coordinates must be a NetworkCoordinates, got {type(coordinates).__name__}.")
        self.network = network
        self.coordinates = coordinates
        self.output_scale = float(output_scale)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        values = self.network(self.coordinates.world_to_network(points))
        return values.reshape(points.shape[0]) * self.output_scale


class GridImageField(nn.Module):
    """Bilinear interpolation of a 2-D image at world points (zero outside the image).

    Args:
        image: ``(H, W)`` tensor/array indexed ``[j, i]`` (rows along the second image axis ``y``, columns
            along ``x``, as ``SimpleITK.GetArrayFromImage`` returns a 2-D slice), in field units
            (e.g. attenuation 1/mm).
        geometry: the image's :class:`~monai_lipinr.budget.ImageGeometry` (``size = (W, H)``, LPS mm).
    """

    def __init__(self, image: Any, geometry: ImageGeometry) -> None:
        super().__init__()
        img = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
        if img.ndim != 2:
            raise ValueError(f"image must be a 2-D (H, W) array, got shape {tuple(img.shape)}.")
        if not isinstance(geometry, ImageGeometry) or geometry.spatial_dims != 2:
            raise ValueError(f"geometry must be a 2-D ImageGeometry, got {geometry!r}.")
        if tuple(geometry.size) != (img.shape[1], img.shape[0]):
            raise ValueError(
                f"image shape (H, W) = {tuple(img.shape)} does not match geometry size (W, H) = {geometry.size}."
            )
        if not bool(torch.isfinite(img).all()):
            raise ValueError("image contains non-finite values.")
        self.register_buffer("image", img.float() if not img.is_floating_point() else img, persistent=False)
        self.geometry = geometry

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        idx = self.geometry.world_to_index(points.to(self.image.dtype))  # (N, 2) continuous (i, j)
        w, h = self.geometry.size
        grid = torch.stack([2.0 * idx[:, 0] / max(w - 1, 1) - 1.0, 2.0 * idx[:, 1] / max(h - 1, 1) - 1.0], -1)
        out = torch.nn.functional.grid_sample(self.image[None, None], grid[None, None], mode="bilinear",
                                              padding_mode="zeros", align_corners=True)
        return out.reshape(-1).to(points.dtype)


def project_image(image: Any, image_geometry: ImageGeometry, scan_geometry: ScanGeometry,
                  oversampling: float = 2.0, chunk_size: int = 4096, detector_subsamples: int = 1,
                  bin_average: str = "line_integral") -> torch.Tensor:
    """Simulate the sinogram of a gridded image (line integrals of its bilinear interpolant).

    Args:
        image: ``(H, W)`` image in field units (e.g. attenuation 1/mm), indexed ``[j, i]``.
        image_geometry: its 2-D :class:`~monai_lipinr.budget.ImageGeometry` (LPS mm).
        scan_geometry: the scan geometry.
        oversampling: quadrature points per pixel spacing along each ray.
        chunk_size: rays per batch.
        detector_subsamples: rays per detector bin (see :class:`RayProjector`): > 1 integrates each bin over
            its width, as a real detector does; 1 samples the bin centre only.
        bin_average: how the sub-rays of a bin combine: ``"line_integral"`` (their mean, the strip integral:
            the linear model of :class:`RayProjector`) or ``"intensity"`` (``-log`` of the mean transmitted
            fraction ``exp(-p)``: what a detector bin counts, Beer-Lambert per sub-ray; for a dimensionless
            line integral, i.e. an attenuation image in 1/mm). The two differ where the line integral varies
            across a bin (the exponential edge-gradient effect, e.g. at a bone edge).

    Returns:
        ``(num_views, num_detectors)`` line integrals (field units × mm), float64 when the image is float64,
        else float32.

    Raises:
        ValueError: for an unknown ``bin_average``.
    """
    bin_average = check_option("bin_average", bin_average, BIN_AVERAGES)
    if bin_average == "intensity" and detector_subsamples > 1:
        sub = project_image(image, image_geometry, scan_geometry.subdivided(detector_subsamples), oversampling,
                            chunk_size)
        v, d = scan_geometry.shape
        return -torch.log(torch.exp(-sub.reshape(v, d, detector_subsamples)).mean(-1))
    field = GridImageField(image, image_geometry)
    corners = np.array([[0, 0], [image_geometry.size[0] - 1, 0], [0, image_geometry.size[1] - 1],
                        [image_geometry.size[0] - 1, image_geometry.size[1] - 1]], dtype=np.float64)
    world = image_geometry.index_to_world(corners)
    radius = float(np.max(np.linalg.norm(world - scan_geometry.centre, axis=1))) + float(
        np.max(image_geometry.spacing))
    n = samples_for_spacing(2.0 * radius, float(np.min(image_geometry.spacing)), oversampling)
    dtype = field.image.dtype if field.image.dtype == torch.float64 else torch.float32
    projector = RayProjector(scan_geometry, num_samples=n, support_radius=radius, chunk_size=chunk_size,
                             dtype=dtype, detector_subsamples=detector_subsamples).to(field.image.device)
    with torch.no_grad():
        return projector(field)


def simulate_sinogram(attenuation: Any, image_geometry: ImageGeometry, scan_geometry: ScanGeometry,
                      aperture: str = "bin") -> torch.Tensor:
    """Noise-free measured sinogram of an attenuation image, as a detector of the scan would record it.

    Args:
        attenuation: ``(H, W)`` attenuation ``μ`` in 1/mm, indexed ``[j, i]`` (typically at the full resolution
            of the source image, finer than the detector pitch).
        image_geometry: its 2-D :class:`~monai_lipinr.budget.ImageGeometry` (LPS mm).
        scan_geometry: the scan geometry.
        aperture: ``"bin"`` (default): each bin counts the photons over its whole width — ``-log`` of the mean
            transmission of sub-rays at most half a source pixel apart at the rotation centre
            (``bin_average="intensity"``), so detail finer than the pitch is averaged as a real detector
            does, including the exponential edge-gradient effect; ``"point"``: one pencil ray through each
            bin centre (an idealised detector that aliases the detail finer than the pitch).

    Returns:
        ``(num_views, num_detectors)`` line integrals (dimensionless), float64 for a float64 image.

    Raises:
        ValueError: for an unknown ``aperture``.
    """
    if check_option("aperture", aperture, APERTURES) == "point":
        return project_image(attenuation, image_geometry, scan_geometry)
    sub = max(1, math.ceil(2.0 * scan_geometry.resolution_mm() / float(np.min(image_geometry.spacing))))
    return project_image(attenuation, image_geometry, scan_geometry, detector_subsamples=sub,
                         bin_average="intensity")


def grid_system_matrix(scan_geometry: ScanGeometry, image_geometry: ImageGeometry, oversampling: float = 2.0,
                       support_radius: float | None = None, dtype: torch.dtype = torch.float32,
                       detector_subsamples: int = 1) -> torch.Tensor:
    """Sparse system matrix ``A`` of the line integrals of a grid image's bilinear interpolant.

    ``(A @ image.reshape(-1))`` equals :func:`project_image` (midpoint quadrature, ``oversampling`` points per
    pixel) restricted to the support disk; used to fit a network sampled at the pixel centres against all
    rays at once.

    Args:
        scan_geometry: the scan geometry.
        image_geometry: 2-D grid (``size = (W, H)``), pixels flattened row-major ``[j, i]``.
        oversampling: quadrature points per pixel spacing along each ray.
        support_radius: support disk radius (mm); ``None`` = the scan field of view.
        dtype: floating type of the values.
        detector_subsamples: rays per detector bin (see :class:`RayProjector`).

    Returns:
        sparse COO tensor ``(num_views * num_detectors, H * W)`` (mm per pixel value).
    """
    if not isinstance(image_geometry, ImageGeometry) or image_geometry.spatial_dims != 2:
        raise ValueError(f"image_geometry must be a 2-D ImageGeometry, got {image_geometry!r}.")
    radius = scan_geometry.field_of_view_radius() if support_radius is None else float(support_radius)
    n = samples_for_spacing(2.0 * radius, float(np.min(image_geometry.spacing)), oversampling)
    projector = RayProjector(scan_geometry, num_samples=n, support_radius=radius, dtype=torch.float64,
                             detector_subsamples=detector_subsamples)
    w, h = image_geometry.size
    rows, cols, vals = [], [], []
    chunk = max(1, 2048 // projector.detector_subsamples)
    for a in range(0, scan_geometry.num_rays, chunk):
        idx = torch.arange(a, min(a + chunk, scan_geometry.num_rays))
        points, weights = projector.sample_points(idx)
        ij = image_geometry.world_to_index(points.reshape(-1, 2))
        base = torch.floor(ij)
        frac = ij - base
        base = base.long()
        ray = idx[:, None].expand(-1, weights.shape[1]).reshape(-1)
        wq = weights.reshape(-1)
        for di in (0, 1):
            for dj in (0, 1):
                ci, cj = base[:, 0] + di, base[:, 1] + dj
                wb = (frac[:, 0] if di else 1 - frac[:, 0]) * (frac[:, 1] if dj else 1 - frac[:, 1])
                ok = (ci >= 0) & (ci < w) & (cj >= 0) & (cj < h) & (wb > 0)
                rows.append(ray[ok])
                cols.append(cj[ok] * w + ci[ok])
                vals.append((wq * wb)[ok])
    mat = torch.sparse_coo_tensor(torch.stack([torch.cat(rows), torch.cat(cols)]), torch.cat(vals),
                                  (scan_geometry.num_rays, w * h))
    return mat.coalesce().to(dtype)


class _SparseApply(torch.autograd.Function):
    """``y = A x`` with CSR ``A`` and its CSR transpose for the backward pass (both constant)."""

    @staticmethod
    def forward(ctx, x, a, a_t):  # type: ignore[override]
        ctx.a_t = a_t
        return a @ x

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return ctx.a_t @ grad, None, None


class GridProjector(nn.Module):
    """Line integrals of images on a fixed 2-D grid: ``sinogram = A @ image`` (differentiable, sparse CSR).

    The matrix is :func:`grid_system_matrix` (bilinear interpolant, midpoint quadrature). Fitting a network
    sampled at the pixel centres through this projector uses every ray in every step at the cost of one
    network evaluation per pixel.

    Args:
        scan_geometry: the scan geometry.
        image_geometry: the 2-D grid.
        oversampling: quadrature points per pixel spacing.
        support_radius: support disk radius (mm); ``None`` = the scan field of view.
        dtype: float32 or float64.
        detector_subsamples: rays per detector bin (see :class:`RayProjector`).

    Attributes:
        support: ``(H*W,)`` bool buffer, the pixels that some ray sees (the non-zero columns of ``A``, row-major
            ``[j, i]``): the line integrals depend on these pixels only, so a network need not be evaluated
            elsewhere (outside the support disk, about a fifth of a square grid around the field of view).
    """

    def __init__(self, scan_geometry: ScanGeometry, image_geometry: ImageGeometry, oversampling: float = 2.0,
                 support_radius: float | None = None, dtype: torch.dtype = torch.float32,
                 detector_subsamples: int = 1) -> None:
        super().__init__()
        a = grid_system_matrix(scan_geometry, image_geometry, oversampling, support_radius, dtype,
                               detector_subsamples)
        self.scan_geometry = scan_geometry
        self.image_geometry = image_geometry
        self.matrix = a.to_sparse_csr()
        self.matrix_t = a.t().coalesce().to_sparse_csr()
        seen = torch.zeros(a.shape[1], dtype=torch.bool)
        seen[self.matrix.col_indices()] = True
        self.register_buffer("support", seen, persistent=False)

    def _apply(self, fn, recurse=True):  # move the sparse matrices with .to(device/dtype)
        self.matrix = fn(self.matrix)
        self.matrix_t = fn(self.matrix_t)
        return super()._apply(fn, recurse)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``(H, W)`` or flattened ``(H*W,)`` image -> ``(num_views, num_detectors)`` line integrals."""
        w, h = self.image_geometry.size
        if image.numel() != w * h:
            raise ValueError(f"image must have {h}x{w} = {w * h} values, got shape {tuple(image.shape)}.")
        x = image.reshape(-1).to(self.matrix.dtype)
        return _SparseApply.apply(x, self.matrix, self.matrix_t).reshape(self.scan_geometry.shape)
