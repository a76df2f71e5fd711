"""SART for parallel and fan beams: view order, convergence on consistent data, the phantom, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_lipinr.apps.reconstruction.geometry import FanBeamGeometry, ParallelBeamGeometry
from monai_lipinr.apps.reconstruction.phantom import EllipsePhantom, shepp_logan_ellipses
from monai_lipinr.apps.reconstruction.projector import grid_system_matrix
from monai_lipinr.apps.reconstruction.sart import SART, golden_ratio_view_order
from monai_lipinr.budget import ImageGeometry

N, H = 32, 2.4
GRID = ImageGeometry((N, N), (H, H), (-(N - 1) / 2 * H, -(N - 1) / 2 * H))
GEOMETRIES = [
    ParallelBeamGeometry(np.linspace(0, np.pi, 24, endpoint=False), 45, H),
    FanBeamGeometry(np.linspace(0, 2 * np.pi, 24, endpoint=False), 61, 2.0 * H, 200.0, 400.0),
]


def test_golden_ratio_order_is_a_permutation_that_spreads_the_views():
    angles = np.linspace(0, np.pi, 60, endpoint=False)
    order = golden_ratio_view_order(angles, np.pi)
    assert sorted(order.tolist()) == list(range(60))
    step = np.abs(np.mod(np.diff(angles[order]) + np.pi / 2, np.pi) - np.pi / 2)
    # consecutive views far apart (a sequential order steps 3°); the last few fill the remaining gaps
    assert np.median(step) > np.pi / 4
    assert np.all(step[:30] > np.pi / 10)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=["parallel", "fan"])
def test_sart_solves_consistent_data(geometry):
    """Data from the same system matrix: the residual and the error shrink sweep by sweep."""
    truth = EllipsePhantom(shepp_logan_ellipses(30.0, 0.02)).rasterize(GRID, 2)
    a = grid_system_matrix(geometry, GRID, dtype=torch.float64)
    b = (a @ torch.tensor(truth).reshape(-1)).reshape(geometry.shape)
    sart = SART(geometry, GRID)
    seen = np.zeros(N * N, dtype=bool)
    seen[a.indices()[1].numpy()] = True
    seen = seen.reshape(N, N)
    image, errors, residuals = None, [], []
    for _ in range(12):
        image = sart(b, 1, image)
        errors.append(np.linalg.norm((image - truth)[seen]))
        residuals.append(float(torch.linalg.norm(a @ torch.tensor(image).reshape(-1) - b.reshape(-1))))
    assert residuals[-1] < 0.05 * float(torch.linalg.norm(b))
    assert residuals[-1] < residuals[0] and errors[-1] < errors[0]
    assert np.all(np.diff(residuals) < 1e-9 * residuals[0])  # monotone on consistent data
    assert np.all(image[~seen] == 0)  # pixels no ray sees keep the starting value


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=["parallel", "fan"])
def test_sart_reconstructs_the_phantom_from_exact_line_integrals(geometry):
    phantom = EllipsePhantom(shepp_logan_ellipses(30.0, 0.02))
    sino = phantom.line_integrals(*geometry.rays(torch.float64)).reshape(geometry.shape)
    truth = phantom.rasterize(GRID, 4)
    rec = SART(geometry, GRID)(sino, iterations=2)
    disk = np.hypot(*np.meshgrid(np.arange(N) - (N - 1) / 2, np.arange(N) - (N - 1) / 2)) * H < 30.0
    assert abs(rec[disk].mean() / truth[disk].mean() - 1) < 0.03  # absolute scale (mm units)
    assert np.linalg.norm((rec - truth)[disk]) < 0.35 * np.linalg.norm(truth[disk])


def test_sart_starts_from_a_given_image_without_changing_it():
    geometry = GEOMETRIES[1]
    sino = np.random.default_rng(0).random(geometry.shape)
    sart = SART(geometry, GRID, relaxation=0.5, non_negative=True)
    first = sart(sino, 1)
    start = first.copy()
    two = sart(sino, 1, image=start)
    assert np.array_equal(start, first)
    assert np.allclose(two, sart(sino, 2))
    assert two.min() >= 0.0


def test_bad_inputs_name_the_argument():
    geometry = GEOMETRIES[0]
    with pytest.raises(ValueError, match="relaxation"):
        SART(geometry, GRID, relaxation=0.0)
    with pytest.raises(ValueError, match="relaxation"):
        SART(geometry, GRID, relaxation=2.5)
    with pytest.raises(ValueError, match="image_geometry"):
        SART(geometry, ImageGeometry((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    sart = SART(geometry, GRID)
    sino = np.zeros(geometry.shape)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="iterations"):
            sart(sino, bad)
    with pytest.raises(ValueError, match="shape"):
        sart(np.zeros((3, 45)))
    with pytest.raises(ValueError, match="image must have shape"):
        sart(sino, 1, image=np.zeros((N, N + 1)))
