"""INRReconstruction on a small phantom: budget conversion, ledger, data fit, few-view quality, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_lipinr.apps.reconstruction import (
    EllipsePhantom,
    INRReconstruction,
    ParallelBeamGeometry,
    add_noise,
    filtered_back_projection,
    shepp_logan_ellipses,
)
from monai_lipinr.apps.reconstruction.engine import reconstruction_grid
from monai_lipinr.budget import ImageGeometry
from monai_lipinr.lipschitz.base import CERTIFY_RTOL

MU_W = 0.0193
PHANTOM = EllipsePhantom(shepp_logan_ellipses(28.0, MU_W))  # attenuation 1/mm, water-like
GEOM = ParallelBeamGeometry(np.linspace(0, np.pi, 10, endpoint=False), 33, 2.0)


@pytest.fixture(scope="module")
def data():
    sino = PHANTOM.line_integrals(*GEOM.rays(torch.float64)).reshape(GEOM.shape)
    noisy = add_noise(sino, "poisson", photons=1e6, seed=0).numpy()
    grid = reconstruction_grid(GEOM)
    return noisy, grid, PHANTOM.rasterize(grid, 4)


@pytest.fixture(scope="module")
def result(data):
    noisy, grid, _ = data
    # the phantom is water-like ellipses in air, no bone: its largest edge jump is 1000 HU
    return INRReconstruction(iterations=150, hidden_features=32, empirical_starts=8, empirical_steps=5,
                             max_hu_jump=1000.0).fit(noisy, GEOM, grid)


def test_budget_is_the_hu_gradient_prior_in_network_units():
    est, coords, edge = INRReconstruction().budget_estimate(GEOM)
    assert edge == GEOM.resolution_mm() == 2.0
    assert coords.scale == pytest.approx(GEOM.field_of_view_radius())
    assert INRReconstruction().config.max_hu_jump == 2000.0  # air/lung against dense bone
    assert est.value == pytest.approx(2000.0 / 2.0 * coords.scale / 1000.0)
    est2, _, _ = INRReconstruction(max_hu_jump=1000.0, edge_width_mm=1.0).budget_estimate(GEOM)
    assert est2.value == pytest.approx(est.value)


def test_ledger_and_empirical(result):
    led = result.ledger
    assert led["budget"] == pytest.approx(result.budget["value"])
    assert led["certified_bound"] <= led["budget"] * (1 + CERTIFY_RTOL)
    assert 0 < led["empirical"] <= led["certified_bound"] * (1 + 1e-4)
    assert led["utilization"] == pytest.approx(led["empirical"] / led["budget"])


def test_fits_the_data(result, data):
    _, grid, _ = data
    assert result.metrics["relative_sinogram_residual"] < 0.3  # 1.0 = predicting air everywhere
    assert result.hu.shape == (grid.size[1], grid.size[0])
    assert np.allclose(result.hu, 1000 * (result.attenuation / MU_W - 1), atol=1e-2)


def _relative_error(image, truth):
    disk = truth > 0
    return float(np.linalg.norm((image - truth)[disk]) / np.linalg.norm(truth[disk]))


def test_default_split_gives_the_output_stage_its_amplitude_share():
    from monai_lipinr.apps.reconstruction.config import ReconstructionConfig, build_network, learning_rate

    cfg = ReconstructionConfig(hidden_features=32)
    net = build_network(cfg, 40.0)
    k_out = (cfg.output_amplitude_hu / 1000.0) / np.sqrt(32)
    assert net.allocation == "first_heavy_output"
    assert net._allocation_kwargs == {"k_out": pytest.approx(k_out)}
    led = net.ledger()
    targets = [r.target for r in led.rows if r.target is not None]
    assert targets[-1] == pytest.approx(k_out)  # output layer: a ceiling at the amplitude share
    assert targets[0] * cfg.omega_0 == pytest.approx(40.0)  # first stage: the whole budget
    assert led.target_product == pytest.approx(40.0, rel=1e-6)
    assert float(net.body[-1].weight.abs().max()) == 0.0  # starts from air, spends only what the data ask
    # an explicit share wins; the plain first-heavy split keeps every later stage at 1
    net = build_network(ReconstructionConfig(hidden_features=32, allocation_kwargs={"k_out": 0.5}), 40.0)
    assert net._allocation_kwargs == {"k_out": 0.5}
    assert learning_rate(cfg) == 3e-3 and learning_rate(ReconstructionConfig(constraint="none")) == 1e-4
    assert learning_rate(ReconstructionConfig(learning_rate=1e-3)) == 1e-3


def test_amplitude_share_beats_plain_first_heavy(result, data):
    """Measured (150 it, 2 seeds): relative error 0.38/0.39 with the amplitude share vs 0.49/0.49 first-heavy."""
    noisy, grid, truth = data
    plain = INRReconstruction(iterations=150, hidden_features=32, empirical_starts=4, empirical_steps=2,
                              max_hu_jump=1000.0, allocation="first_heavy").fit(noisy, GEOM, grid)
    assert _relative_error(result.attenuation, truth) < 0.9 * _relative_error(plain.attenuation, truth)


@pytest.mark.xfail(strict=True, reason="measured: on this 10-view, 33-pixel phantom at 150 iterations the "
                   "constrained SIREN does not yet beat FBP (relative error 0.38 (seed 0) / 0.39 (seed 1) vs "
                   "0.34); kept to flag when it does")
def test_beats_fbp_at_few_views(result, data):
    noisy, grid, truth = data
    fbp = filtered_back_projection(noisy, GEOM, grid)
    assert _relative_error(result.attenuation, truth) < _relative_error(fbp, truth)


def test_unconstrained_twin_reports_budget_only(data):
    noisy, grid, _ = data
    res = INRReconstruction(constraint="none", iterations=5, hidden_features=16, empirical_starts=4,
                            empirical_steps=2).fit(noisy, GEOM, grid)
    assert res.ledger["budget"] is None and res.ledger["prior_budget"] > 0


def test_bad_inputs(data):
    noisy, grid, _ = data
    rec = INRReconstruction(iterations=1)
    with pytest.raises(ValueError, match="shape"):
        rec.fit(noisy[:, :-1], GEOM, grid)
    bad = noisy.copy()
    bad[2, 2] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        rec.fit(bad, GEOM, grid)
    with pytest.raises(ValueError, match="all zeros"):
        rec.fit(np.zeros(GEOM.shape), GEOM, grid)
    with pytest.raises(TypeError, match="geometry"):
        rec.fit(noisy, "parallel", grid)
    with pytest.raises(ValueError, match="photons"):
        INRReconstruction(iterations=1, weighting="poisson").fit(noisy, GEOM, grid)
    with pytest.raises(ValueError, match="2-D ImageGeometry"):
        rec.fit(noisy, GEOM, ImageGeometry((4, 4, 4), (1, 1, 1)))
    with pytest.raises(ValueError, match="budget_scale"):
        INRReconstruction(budget_scale=0.0)
    with pytest.raises(ValueError, match="iterations"):
        INRReconstruction(iterations=0)
