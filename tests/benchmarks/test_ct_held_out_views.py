"""The held-out-view study (``benchmarks/ct_held_out_views.py``): its curve and the iterate the fit returns."""

from __future__ import annotations

import pytest


def test_curve_pairs_psnr_with_the_held_out_misfit_and_scores_the_selected_iterate(held_out, ellipse_slice):
    hu, geom = ellipse_slice
    # a fast rate and no TV: the twin fits the noise within the run, so the selection is not its last state
    small = {"hidden_features": 32, "empirical_starts": 1, "empirical_steps": 1, "learning_rate": 1e-2,
             "tv_weight": 0.0}
    r = held_out.held_out_curve(hu, geom, 32, 20, 2, method="twin", iterations=200, every=1, photons=1e4,
                                overrides=small)
    steps = [c[0] for c in r["curve"]]
    assert steps == list(range(1, 201)) and r["iterations"] == 200
    # every probed state but the last has the misfit the fit logged for it
    assert all(m is not None and m > 0 for _, _, m in r["curve"][:-1]) and r["curve"][-1][2] is None
    assert 0 <= r["selected_iteration"] <= 200
    assert r["oracle_psnr"] == max(p for _, p, _ in r["curve"])
    if r["selected_iteration"] > 0:  # the fit hands back the probed state it selected
        probed = {i: p for i, p, _ in r["curve"]}
        assert r["selected_psnr"] == pytest.approx(probed[r["selected_iteration"]], abs=1e-6)
        assert r["selected_psnr"] <= r["oracle_psnr"] + 1e-9
    # the probe does not change the fit: without it, the same iterate is selected
    again = held_out.held_out_curve(hu, geom, 32, 20, 2, method="twin", iterations=200, every=200, photons=1e4,
                                    overrides=small)
    assert again["selected_iteration"] == r["selected_iteration"]
    assert again["selected_psnr"] == pytest.approx(r["selected_psnr"], abs=1e-6)
