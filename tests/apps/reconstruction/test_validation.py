"""Held-out views: their spread, the best-iterate keeper and the fit that returns the iterate they select."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_lipinr.apps.reconstruction import (
    EllipsePhantom,
    GridProjector,
    INRReconstruction,
    ParallelBeamGeometry,
    add_noise,
    shepp_logan_ellipses,
)
from monai_lipinr.apps.reconstruction.engine import _pixel_centres, reconstruction_grid, sqrt_ramp
from monai_lipinr.apps.reconstruction.validation import BestIterate, held_out_views

MU_W = 0.0193
GEOM = ParallelBeamGeometry(np.linspace(0, np.pi, 40, endpoint=False), 33, 2.0)


def test_held_out_views_interleave_with_the_fitted_ones():
    held = held_out_views(60, 6)
    assert held.tolist() == [5, 15, 25, 35, 45, 55]
    assert held_out_views(10, 5).tolist() == [1, 3, 5, 7, 9]  # at most half: every other view
    assert held_out_views(7, 0).size == 0
    for count in (-1, 6, 2.0, True):
        with pytest.raises(ValueError, match="validation_views"):
            held_out_views(11, count)


def test_best_iterate_keeps_and_restores_the_lowest_misfit_state():
    net = torch.nn.Linear(2, 1)
    keeper = BestIterate(net)
    keeper.restore()  # nothing observed: a no-op
    with torch.no_grad():
        net.weight.fill_(1.0)
    keeper.observe(3, 0.5)
    with torch.no_grad():
        net.weight.fill_(2.0)
    keeper.observe(4, 0.7)  # worse: not kept
    assert (keeper.iteration, keeper.misfit) == (3, 0.5)
    keeper.restore()
    assert torch.equal(net.weight, torch.ones_like(net.weight))


@pytest.fixture(scope="module")
def noisy():
    phantom = EllipsePhantom(shepp_logan_ellipses(28.0, MU_W))
    sino = phantom.line_integrals(*GEOM.rays(torch.float64)).reshape(GEOM.shape)
    return add_noise(sino, "poisson", photons=1e4, seed=0).numpy()


def _held_out_misfit(result, sinogram: np.ndarray, held: np.ndarray, grid) -> float:
    """The ramp-weighted misfit of a fit's network on the held-out views, relative to predicting zero
    (the network sampled at the pixel centres that some ray sees, as the fit's grid model does)."""
    projector = GridProjector(GEOM, grid)
    x = torch.as_tensor(result.coordinates.world_to_network(_pixel_centres(grid)), dtype=torch.float32)
    with torch.no_grad():
        image = result.network(x).reshape(-1) * projector.support
        pred = projector(image * MU_W)
    target = torch.as_tensor(sinogram, dtype=torch.float32)
    res, ref = sqrt_ramp(pred - target)[held], sqrt_ramp(target)[held]
    return float((res ** 2).mean() / (ref ** 2).mean())


def test_fit_returns_the_iterate_with_the_lowest_held_out_misfit(noisy):
    """The unconstrained twin without TV fits the noise: the held-out misfit turns up before the last step,
    and the network handed back is the one at its minimum, not the last one."""
    grid = reconstruction_grid(GEOM)
    steps = 800
    res = INRReconstruction(constraint="none", iterations=steps, hidden_features=32, tv_weight=0.0, log_every=1,
                            validation_views=4, empirical_starts=2, empirical_steps=1).fit(noisy, GEOM, grid)
    held = np.asarray(res.metrics["validation_views"])
    assert held.tolist() == held_out_views(40, 4).tolist()
    logged = {int(h["iteration"]): h["validation"] for h in res.history}
    assert len(logged) == steps  # every step logs the misfit of the state it starts from
    selected = res.metrics["selected_iteration"]
    assert 0 < selected < steps
    assert res.metrics["validation_misfit"] == pytest.approx(logged[selected])
    assert res.metrics["validation_misfit"] == pytest.approx(min(logged.values()))
    assert logged[steps - 1] > res.metrics["validation_misfit"]
    # the returned image's own held-out misfit is the selected one (not the last iterate's)
    assert _held_out_misfit(res, noisy, held, grid) == pytest.approx(res.metrics["validation_misfit"],
                                                                                  rel=1e-4)
    # the held-out views are not measurements of the fit: more pixels per measurement than with all 40 views
    full = INRReconstruction(constraint="none", iterations=1, hidden_features=8, empirical_starts=1,
                             empirical_steps=1).fit(noisy, GEOM, grid)
    assert res.metrics["pixels_per_measurement"] == pytest.approx(full.metrics["pixels_per_measurement"] * 40 / 36)
    assert "selected_iteration" not in full.metrics


def test_bad_validation_views(noisy):
    grid = reconstruction_grid(GEOM)
    with pytest.raises(ValueError, match="validation_views"):
        INRReconstruction(validation_views=-1)
    with pytest.raises(ValueError, match="forward_model='grid'"):
        INRReconstruction(validation_views=2, forward_model="rays")
    with pytest.raises(ValueError, match=r"validation_views must be an int in \[0, 20\]"):
        INRReconstruction(validation_views=21, iterations=1).fit(noisy, GEOM, grid)
