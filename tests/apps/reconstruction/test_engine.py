"""INRReconstruction on a small phantom: budget conversion, ledger, data fit, few-view quality, errors."""

from __future__ import annotations

import math

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
from monai_lipinr.apps.reconstruction.engine import _fov_mask, reconstruction_grid
from monai_lipinr.budget import ImageGeometry
from monai_lipinr.lipschitz.activations import Sine
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
    # the phantom is water-like ellipses in air, no bone: its largest edge jump is 1000 HU. The rate 3e-3 is
    # the one the thresholds below were measured at; a smaller rate, as the grid rule's for this 33-pixel disk, is further
    # from converged after 150 iterations (relative error 0.52 / 0.53 / 0.51 at seeds 0 / 1 / 2 with 1.5e-3).
    return INRReconstruction(iterations=150, hidden_features=32, empirical_starts=8, empirical_steps=5,
                             max_hu_jump=1000.0, learning_rate=3e-3).fit(noisy, GEOM, grid)


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
    from monai_lipinr.apps.reconstruction.config import ReconstructionConfig, build_network

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


def test_default_learning_rate_follows_the_field_of_view_in_output_pixels(data):
    """Constrained: ``6e-3 · (D / 128)²`` within 8e-4 … 1.2e-2; unconstrained 1e-4; an explicit rate wins."""
    from monai_lipinr.apps.reconstruction.config import (
        CONSTRAINED_LEARNING_RATE_RANGE,
        DEFAULT_LEARNING_RATE,
        LEARNING_RATE_REFERENCE_DIAMETER,
        ReconstructionConfig,
        learning_rate,
    )

    cfg = ReconstructionConfig()
    assert DEFAULT_LEARNING_RATE["constrained"] == 6e-3 and LEARNING_RATE_REFERENCE_DIAMETER == 128.0
    assert CONSTRAINED_LEARNING_RATE_RANGE == (8e-4, 1.2e-2)
    assert learning_rate(cfg) == 6e-3  # unknown grid: the reference's rate
    assert learning_rate(cfg, 128) == pytest.approx(6e-3)
    assert learning_rate(cfg, 64) == pytest.approx(1.5e-3)
    assert learning_rate(cfg, 80) == pytest.approx(6e-3 * (80 / 128) ** 2)
    assert learning_rate(cfg, 32) == 8e-4 and learning_rate(cfg, 192) == 1.2e-2  # clipped
    assert learning_rate(ReconstructionConfig(constraint="none"), 512) == 1e-4
    assert learning_rate(ReconstructionConfig(learning_rate=1e-3), 512) == 1e-3
    for bad in (0, -3.0, float("nan"), True, "128"):
        with pytest.raises(ValueError, match="fov_diameter_pixels must be a finite number > 0"):
            learning_rate(cfg, bad)
    # the fit derives D from its grid and reports both: the 33-bin scan's disk on its 2 mm grid (the floor),
    # and on grids of a half and a quarter of the spacing (2 and 4 times the diameter)
    noisy, grid, _ = data
    for spacing in (2.0, 1.0, 0.5):
        image_geometry = grid if spacing == 2.0 else reconstruction_grid(GEOM, spacing=spacing)
        res = INRReconstruction(iterations=2, hidden_features=16, empirical_starts=2, empirical_steps=1
                                ).fit(noisy, GEOM, image_geometry)
        d = 2 * GEOM.field_of_view_radius() / spacing
        assert res.metrics["fov_diameter_pixels"] == pytest.approx(d)
        assert res.metrics["learning_rate"] == pytest.approx(min(max(6e-3 * (d / 128) ** 2, 8e-4), 1.2e-2))
    assert res.metrics["learning_rate"] > 8e-4  # the finest grid is above the floor


def test_default_iterations_grow_where_the_rate_is_capped(data, monkeypatch):
    """1600 steps, times the grid rate's excess over its cap (at most 2x); explicit values win."""
    from monai_lipinr.apps.reconstruction import config
    from monai_lipinr.apps.reconstruction.config import (
        DEFAULT_ITERATIONS,
        MAX_ITERATION_FACTOR,
        ReconstructionConfig,
        iteration_count,
    )

    cfg = ReconstructionConfig()
    assert cfg.iterations is None and DEFAULT_ITERATIONS == 1600 and MAX_ITERATION_FACTOR == 2.0
    assert iteration_count(cfg) == 1600  # unknown grid
    cap_diameter = 128 * math.sqrt(2)  # 6e-3 (D / 128)² reaches the 1.2e-2 cap
    for d in (47, 127, 180):
        assert iteration_count(cfg, d) == 1600
    assert iteration_count(cfg, 223) == round(1600 * (223 / cap_diameter) ** 2)  # 2428
    assert iteration_count(cfg, 255) == round(1600 * (255 / cap_diameter) ** 2)  # 3175
    assert iteration_count(cfg, 511) == 3200  # clipped: finer grids are unmeasured
    assert iteration_count(ReconstructionConfig(constraint="none"), 255) == 1600
    assert iteration_count(ReconstructionConfig(learning_rate=3e-3), 255) == 1600  # the earlier tables' setting
    assert iteration_count(ReconstructionConfig(iterations=7), 255) == 7
    for bad in (0, float("inf"), False):
        with pytest.raises(ValueError, match="fov_diameter_pixels must be a finite number > 0"):
            iteration_count(cfg, bad)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="iterations must be an int >= 1"):
            ReconstructionConfig(iterations=bad).validate()
    # the fit runs the derived length and reports it: with the default scaled down to 2 steps, the 33-bin
    # scan on a 0.25 mm grid (D ≈ 264 pixels, factor clipped to 2) runs 4 steps, on its own 2 mm grid 2
    noisy, grid, _ = data
    monkeypatch.setattr(config, "DEFAULT_ITERATIONS", 2)
    for image_geometry, steps in ((grid, 2), (reconstruction_grid(GEOM, spacing=0.25), 4)):
        res = INRReconstruction(hidden_features=16, empirical_starts=2, empirical_steps=1
                                ).fit(noisy, GEOM, image_geometry)
        assert res.metrics["iterations"] == steps and res.history[-1]["iteration"] == steps - 1  # the last step


def test_view_limited_first_share_caps_the_first_stage_and_keeps_the_product():
    """``first_share="views"``: ``k₁ = min(K, 2 ω_c)``; the hidden stages take the rest; ``k_first`` wins."""
    from monai_lipinr.apps.reconstruction.config import (
        VIEW_LIMIT_FACTOR,
        ReconstructionConfig,
        build_network,
        first_stage_share,
    )

    def first_and_product(cfg, budget, view_limit):
        led = build_network(cfg, budget, view_limit).ledger()
        targets = [r.target for r in led.rows if r.target is not None]
        return targets[0] * cfg.omega_0, led.target_product

    cfg = ReconstructionConfig(hidden_features=32)
    assert cfg.first_share == "views" and VIEW_LIMIT_FACTOR == 2.0
    assert first_stage_share(cfg, 40.0, 10.0) == pytest.approx(20.0)
    k1, product = first_and_product(cfg, 40.0, 10.0)
    assert k1 == pytest.approx(20.0) and product == pytest.approx(40.0, rel=1e-6)
    # the views allow more than the budget: the first stage keeps K
    assert first_stage_share(cfg, 16.0, 10.0) is None
    assert first_and_product(cfg, 16.0, 10.0)[0] == pytest.approx(16.0)
    # "budget", an unknown view limit, an explicit k_first or another allocation: no cap
    budget_cfg = ReconstructionConfig(hidden_features=32, first_share="budget")
    assert first_stage_share(budget_cfg, 40.0, 10.0) is None
    assert first_and_product(budget_cfg, 40.0, 10.0)[0] == pytest.approx(40.0)
    assert first_stage_share(cfg, 40.0, None) is None
    explicit = ReconstructionConfig(hidden_features=32, allocation_kwargs={"k_first": 30.0})
    assert first_stage_share(explicit, 40.0, 10.0) is None
    assert first_and_product(explicit, 40.0, 10.0)[0] == pytest.approx(30.0)
    assert first_stage_share(ReconstructionConfig(allocation="uniform"), 40.0, 10.0) is None
    with pytest.raises(ValueError, match="first_share must be one of"):
        ReconstructionConfig(first_share="crowther").validate()


def test_network_depth_keeps_every_hidden_share_near_the_target_gain():
    """``num_layers=None``: the hidden stages' product ``K / (k₁ k_out)`` over the nearest number of layers."""
    import math

    from monai_lipinr.apps.reconstruction.config import (
        DEFAULT_HIDDEN_STAGE_GAIN,
        DEFAULT_NUM_LAYERS,
        ReconstructionConfig,
        build_network,
        network_depth,
    )

    cfg = ReconstructionConfig()
    assert cfg.num_layers is None and DEFAULT_HIDDEN_STAGE_GAIN == 1.7
    k_out = 2.0 / math.sqrt(128)
    for budget, views, depth in ((127.5, 60, 4), (127.5, 45, 5), (127.5, 30, 6), (255.0, 60, 6), (255.0, 30, 7),
                                  (255.0, 90, 5)):
        assert network_depth(cfg, budget, views) == depth, (budget, views)
        led = build_network(cfg, budget, views).ledger()
        shares = [r.target for r in led.rows if r.target is not None]
        hidden = [s * cfg.omega for s in shares[1:-1]]
        assert len(hidden) == depth - 1 and led.target_product == pytest.approx(budget, rel=1e-6)
        product = budget / (min(budget, 2.0 * views) * k_out)
        assert hidden == pytest.approx([product ** (1 / (depth - 1))] * (depth - 1), rel=1e-6)
        for other in (depth - 2, depth):  # one hidden layer fewer or more would be farther from the gain
            assert abs(math.log(hidden[0] / 1.7)) <= abs(math.log(product) / other - math.log(1.7))
    # the twin is built with the same depth; a budget sweep keeps the prior's architecture
    assert len(build_network(ReconstructionConfig(constraint="none"), 255.0, 30).body) == len(
        build_network(cfg, 255.0, 30).body)
    assert network_depth(ReconstructionConfig(budget_scale=4.0), 4 * 255.0, 30) == 7
    # an explicit depth, another split or no budget: no rule
    assert network_depth(ReconstructionConfig(num_layers=3), 255.0, 30) == 3
    assert network_depth(ReconstructionConfig(allocation="uniform"), 255.0, 30) == DEFAULT_NUM_LAYERS
    assert network_depth(ReconstructionConfig(preset="groupsort"), 255.0, 30) == DEFAULT_NUM_LAYERS
    assert network_depth(cfg, None, 30) == DEFAULT_NUM_LAYERS
    assert network_depth(ReconstructionConfig(hidden_stage_gain=2.3), 255.0, 60) == 4
    for bad, match in ((dict(num_layers=0), "num_layers"), (dict(num_layers=2.0), "num_layers"),
                       (dict(hidden_stage_gain=1.0), "hidden_stage_gain"),
                       (dict(hidden_stage_gain=-2.0), "hidden_stage_gain")):
        with pytest.raises(ValueError, match=match):
            ReconstructionConfig(**bad).validate()


def test_fit_reports_the_view_limit_and_certifies_with_the_capped_first_share(data):
    """10 views over 180°: ω_c = 10 rad per network unit; with a 2000 HU jump K = 33 > 2 ω_c, so k₁ = 20."""
    noisy, grid, _ = data
    res = INRReconstruction(iterations=5, hidden_features=16, empirical_starts=2, empirical_steps=1,
                            ).fit(noisy, GEOM, grid)
    assert res.budget["view_sampling_limit_per_network_unit"] == pytest.approx(10.0)
    assert res.budget["first_share"] == "views"
    assert res.budget["view_limited_first_stage_share"] == pytest.approx(20.0)
    assert res.ledger["budget"] == pytest.approx(33.0)
    # 16 features: k_out = 2 / 4; the hidden stages share 33 / (20 · 0.5) = 3.3 = 1.82² -> two hidden layers
    # (1.49³ would be farther from the gain 1.7)
    assert res.budget["num_layers"] == 3 == res.network.num_stages - 1
    assert res.ledger["certified_bound"] <= res.ledger["budget"] * (1 + CERTIFY_RTOL)


def test_amplitude_share_beats_plain_first_heavy(result, data):
    """Measured (150 it, 2 seeds): relative error 0.38/0.39 with the amplitude share vs 0.49/0.49 first-heavy."""
    noisy, grid, truth = data
    plain = INRReconstruction(iterations=150, hidden_features=32, empirical_starts=4, empirical_steps=2,
                              max_hu_jump=1000.0, allocation="first_heavy", learning_rate=3e-3).fit(noisy, GEOM, grid)
    assert _relative_error(result.attenuation, truth) < 0.9 * _relative_error(plain.attenuation, truth)


@pytest.fixture(scope="module")
def converged(data):
    """Default reconstruction (budget + total variation) and the same without TV, run long enough to converge.

    Three hidden layers and the total-variation strength c = 10, as when the numbers below were measured (with
    the default four layers, seed 0: 0.311 with TV, 0.327 without). The default weight's strength on this grid,
    ``11 √(N / M)`` = 17.7 for 2.6 pixels per measurement, fits this low-noise phantom (10⁶ photons, 1-2 %
    contrasts) worse: 0.350 against 0.354 without TV (2026-12-07).

    The rate is the 3e-3 of those measurements. At 1.5e-3 (the noise and the network at seeds 0 / 1 / 2,
    2026-12-07) the fit with TV scored 0.322 / 0.313 / 0.316 (FBP 0.344 / 0.342 / 0.345), and the one without TV
    0.339 / 0.346 / 0.346: the shorter steps regularise the fit without TV, which narrows the TV's margin on
    seed 0 to the 5 % the test asks for. At the grid rule's 8e-4 for this 33-pixel disk (seed 0): 0.324 with TV,
    0.357 without.
    """
    noisy, grid, _ = data
    pixels_per_measurement = _fov_mask(grid, GEOM.centre, GEOM.field_of_view_radius()).sum() / noisy.size
    kwargs = dict(iterations=2000, hidden_features=64, num_layers=3, empirical_starts=4, empirical_steps=2,
                  max_hu_jump=1000.0, learning_rate=3e-3)
    return (INRReconstruction(tv_weight=10.0 / float(np.sqrt(pixels_per_measurement)), **kwargs).fit(noisy, GEOM, grid),
            INRReconstruction(tv_weight=0.0, **kwargs).fit(noisy, GEOM, grid))


def test_beats_fbp_at_few_views(converged, data):
    """Measured (10 views, seeds 0/1/2): relative error 0.320/0.312/0.314 vs FBP 0.344/0.342/0.345.

    At 150 iterations and 32 features (the ``result`` fixture) the network is far from converged and does
    not beat FBP (0.40 vs 0.34).
    """
    noisy, grid, truth = data
    fbp = filtered_back_projection(noisy, GEOM, grid)
    assert _relative_error(converged[0].attenuation, truth) < 0.97 * _relative_error(fbp, truth)


def test_total_variation_removes_what_the_budget_leaves(converged, data):
    """Measured (seeds 0/1/2): relative error 0.320/0.312/0.314 with TV vs 0.355/0.355/0.357 without."""
    _, _, truth = data
    with_tv, without_tv = converged
    assert _relative_error(with_tv.attenuation, truth) < 0.95 * _relative_error(without_tv.attenuation, truth)
    # both respect the same certified budget; TV lowers the mean gradient, not the bound
    assert with_tv.ledger["certified_bound"] <= with_tv.ledger["budget"] * (1 + CERTIFY_RTOL)


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
    with pytest.raises(ValueError, match="tv_weight"):
        INRReconstruction(tv_weight=-1.0)
    with pytest.raises(ValueError, match="photons"):
        INRReconstruction(iterations=1, weighting="poisson").fit(noisy, GEOM, grid)
    with pytest.raises(ValueError, match="2-D ImageGeometry"):
        rec.fit(noisy, GEOM, ImageGeometry((4, 4, 4), (1, 1, 1)))
    with pytest.raises(ValueError, match="budget_scale"):
        INRReconstruction(budget_scale=0.0)
    with pytest.raises(ValueError, match="iterations"):
        INRReconstruction(iterations=0)


@pytest.mark.parametrize("forward_model", ["grid", "rays"])
def test_total_variation_term_is_in_the_loss(data, forward_model):
    """With the same seed, the first logged loss is the data term plus c·D·TV (TV > 0 after one step)."""
    noisy, grid, _ = data
    kwargs = dict(iterations=3, hidden_features=16, empirical_starts=2, empirical_steps=1, log_every=1,
                  forward_model=forward_model, rays_per_batch=64, samples_per_ray=16)
    plain = INRReconstruction(tv_weight=0.0, **kwargs).fit(noisy, GEOM, grid)
    with_tv = INRReconstruction(tv_weight=1e3, **kwargs).fit(noisy, GEOM, grid)
    # the output layer starts at zero (a flat image: TV 0), so step 0 agrees; afterwards TV adds to the loss
    assert with_tv.history[0]["loss"] == pytest.approx(plain.history[0]["loss"], rel=1e-6)
    assert with_tv.history[-1]["loss"] > plain.history[-1]["loss"]


def test_total_variation_strength_grows_with_the_pixels_per_measurement(result, data):
    from monai_lipinr.apps.reconstruction.config import (
        DEFAULT_TV_WEIGHT,
        ReconstructionConfig,
        total_variation_strength,
    )
    cfg = ReconstructionConfig(tv_weight=11.0)
    assert total_variation_strength(cfg, 400, 100) == pytest.approx(22.0)  # 4 pixels per measurement: x2
    assert total_variation_strength(cfg, 100, 400) == pytest.approx(5.5)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="pixels must be an int >= 1"):
            total_variation_strength(cfg, bad, 100)
    # the fit reports the strength it used: N the output pixels in the field-of-view disk, M the line integrals
    _, grid, _ = data
    n = int(_fov_mask(grid, GEOM.centre, GEOM.field_of_view_radius()).sum())
    assert result.metrics["pixels_per_measurement"] == pytest.approx(n / (GEOM.num_views * GEOM.num_detectors))
    assert result.metrics["total_variation_strength"] == pytest.approx(  # the fixture keeps the default weight
        DEFAULT_TV_WEIGHT * np.sqrt(result.metrics["pixels_per_measurement"]))


def test_supersampled_pixels_are_area_averages_of_the_network(data):
    noisy, grid, _ = data
    rec = INRReconstruction(iterations=2, hidden_features=16, empirical_starts=2, empirical_steps=1,
                            supersampling=2)
    res = rec.fit(noisy, GEOM, grid)
    assert res.hu.shape == (grid.size[1], grid.size[0])
    # pixel (j, i) = mean of the network at its 2x2 sub-pixel centres
    fine = grid.refined(2)
    j, i = 5, 7
    sub = np.array([[2 * i + a, 2 * j + b] for a in range(2) for b in range(2)], dtype=np.float64)
    x = torch.as_tensor(res.coordinates.world_to_network(fine.index_to_world(sub)), dtype=torch.float32)
    with torch.no_grad():
        expected = float(res.network(x).mean())
    assert rec.render(res.network, res.coordinates, grid)[j, i] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    with pytest.raises(ValueError, match="supersampling"):
        INRReconstruction(supersampling=0)


def test_learnable_allocation_fits_renders_and_certifies(data):
    noisy, grid, _ = data
    res = INRReconstruction(learnable_allocation=True, iterations=30, hidden_features=16, empirical_starts=4,
                            empirical_steps=2, max_hu_jump=1000.0).fit(noisy, GEOM, grid)
    net = res.network
    assert net.learnable_allocation and float(net.allocation_offsets.detach().abs().max()) > 0
    shares = torch.exp(net.stage_log_shares()).detach()
    assert float(shares.prod()) == pytest.approx(res.ledger["budget"], rel=1e-9)
    assert res.ledger["certified_bound"] <= res.ledger["budget"] * (1 + CERTIFY_RTOL)
    assert np.isfinite(res.attenuation).all()
    # the twin has no budget to split and ignores the option
    twin = INRReconstruction(constraint="none", learnable_allocation=True, iterations=2, hidden_features=16,
                             empirical_starts=2, empirical_steps=1).fit(noisy, GEOM, grid)
    assert not twin.network.learnable_allocation
    with pytest.raises(ValueError, match="learnable_allocation"):
        INRReconstruction(learnable_allocation="true")


def test_learnable_amplitude_trains_hidden_amplitudes_and_certifies(data):
    noisy, grid, _ = data
    res = INRReconstruction(learnable_amplitude=True, iterations=30, hidden_features=16, empirical_starts=4,
                            empirical_steps=2, max_hu_jump=1000.0).fit(noisy, GEOM, grid)
    sines = [m for m in res.network.body if isinstance(m, Sine)]
    assert sines[0].log_amplitude is None  # the first layer keeps the view-limited frequencies
    assert all(s.log_amplitude is not None and float(s.log_amplitude.detach().abs().max()) > 0 for s in sines[1:])
    assert res.ledger["certified_bound"] <= res.ledger["budget"] * (1 + CERTIFY_RTOL)
    assert res.ledger["empirical"] <= res.ledger["certified_bound"]
    assert np.isfinite(res.attenuation).all()
    twin = INRReconstruction(constraint="none", learnable_amplitude=True, iterations=2, hidden_features=16,
                             empirical_starts=2, empirical_steps=1).fit(noisy, GEOM, grid)
    assert all(m.log_amplitude is None for m in twin.network.body if isinstance(m, Sine))
    with pytest.raises(ValueError, match="learnable_amplitude"):
        INRReconstruction(learnable_amplitude=1)
    with pytest.raises(ValueError, match="learnable_amplitude=true needs preset='siren'"):
        INRReconstruction(learnable_amplitude=True, preset="ffn")
