"""Inpainting app: oracle budget units, masked metrics, recovery of a smooth image, bad masks, sweep, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.metrics import SSIMMetric
from skimage import io

from monai_lipinr.apps.inpainting import (
    INRInpainting,
    MaskedPSNR,
    amplitude_matched,
    budget_sweep,
    check_mask,
    compute_masked_psnr,
    compute_masked_ssim,
    oracle_budget,
    plot_budget_sweep,
    random_observed_mask,
    sweep_table,
)
from monai_lipinr.cli import main


def _smooth(n: int = 40, freq: float = 1.0) -> np.ndarray:
    r, c = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    return 0.5 + 0.25 * np.sin(2 * np.pi * freq * r) * np.cos(np.pi * freq * c)


@given(st.integers(8, 64))
@settings(max_examples=10, deadline=None)
def test_oracle_budget_uses_pixel_spacing_of_the_target_grid(h):
    ramp = np.tile(np.linspace(0, 1, h)[:, None], (1, h))  # gradient 1/(h-1) per pixel along rows
    k = oracle_budget([ramp], (h, h), percentile=50).value
    assert k == pytest.approx(h / 2 / (h - 1), rel=1e-9)  # s = h/2 pixels per network unit
    # a reference at twice the resolution is resampled to the target grid: its slope per *target* pixel
    # (2 / (2h - 1)) sets the budget, not its slope per own pixel
    fine = np.tile(np.linspace(0, 1, 2 * h)[:, None], (1, 2 * h))
    assert oracle_budget([fine], (h, h), percentile=50).value == pytest.approx(h / (2 * h - 1), rel=0.02)


def test_masked_metrics_agree_with_full_image_metrics():
    torch.manual_seed(0)
    y = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    p = (y + 0.05 * torch.randn_like(y)).clamp(0, 1)
    full = torch.ones(32, 32, dtype=torch.bool)
    mse = ((p - y) ** 2).mean()
    assert float(compute_masked_psnr(p, y, full)) == pytest.approx(float(10 * torch.log10(1 / mse)))
    ref = SSIMMetric(spatial_dims=2, data_range=1.0, win_size=11, kernel_sigma=1.5)(p, y)
    assert float(compute_masked_ssim(p, y, full)) == pytest.approx(float(ref.mean()), rel=1e-6)
    # errors only inside the mask lower the masked PSNR, not the PSNR of the rest
    half = torch.zeros(32, 32, dtype=torch.bool)
    half[:, :16] = True
    q = y.clone()
    q[..., :16] = 1 - q[..., :16]
    assert float(compute_masked_psnr(q, y, ~half)) > 100
    metric = MaskedPSNR()
    metric(q, y, mask=half)
    assert float(metric.aggregate()) < 20


def test_inpainting_recovers_a_smooth_image_at_a_small_observed_fraction():
    img = _smooth(40)
    mask = random_observed_mask(img.shape, 0.1, seed=0)
    budget = oracle_budget([_smooth(40, 1.2)], img.shape)  # a similar smooth reference
    res = INRInpainting(iterations=300, hidden_features=64, num_layers=2, num_features=64).fit(img, mask, budget=budget)
    assert res.metrics["psnr_missing"] > 30.0
    assert res.metrics["ssim_missing"] > 0.9
    assert np.array_equal(res.inpainted[mask], img[mask])
    assert res.ledger["within_budget"] and res.ledger["empirical"] <= res.ledger["certified_bound"]
    # the post-embedding stages carry the amplitudes (1/sqrt(2m), 1, ..., intensity range), the embedding the rest
    rows = res.ledger["rows"]
    assert rows[1]["target"] == pytest.approx(1 / np.sqrt(2 * 64))
    assert rows[-1]["target"] == pytest.approx(np.ptp(img[mask]))
    assert rows[0]["target"] == pytest.approx(budget.value * np.sqrt(2 * 64) / np.ptp(img[mask]))


def test_amplitude_allocation_product_and_bad_input():
    targets = amplitude_matched(3.0, 5, feature_spread=16.0, k_out=0.5)
    assert np.prod(targets) == pytest.approx(3.0) and targets[1] == 1 / 16 and targets[-1] == 0.5
    with pytest.raises(ValueError, match="num_components"):
        amplitude_matched(3.0, 2)
    with pytest.raises(ValueError, match="k_out"):
        amplitude_matched(3.0, 4, k_out=0.0)
    with pytest.raises(ValueError, match="output_amplitude"):
        INRInpainting(output_amplitude=-1.0)


def test_bad_masks_raise():
    img = _smooth(16)
    with pytest.raises(ValueError, match="shape"):
        INRInpainting(iterations=1).fit(img, np.ones((16, 15)), budget=1.0)
    with pytest.raises(ValueError, match="all missing"):
        INRInpainting(iterations=1).fit(img, np.zeros((16, 16)), budget=1.0)
    with pytest.raises(ValueError, match="every pixel"):
        check_mask(np.ones((16, 16)), (16, 16))
    with pytest.raises(ValueError, match="fraction"):
        random_observed_mask((16, 16), 1.5)
    with pytest.raises(ValueError, match="budget"):
        INRInpainting(iterations=1).fit(img, random_observed_mask((16, 16), 0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        INRInpainting(iterations=1).fit(img * 3, random_observed_mask((16, 16), 0.5), budget=1.0)


def test_budget_sweep_table_and_plot(tmp_path):
    img = _smooth(24)
    mask = random_observed_mask(img.shape, 0.3, seed=1)
    rows = budget_sweep(img, mask, 2.0, ratios=(0.5, 2.0), seeds=(0, 1), iterations=20, hidden_features=16,
                        num_layers=1, num_features=16, empirical_starts=2, empirical_steps=1)
    assert len(rows) == 4 and {r["ratio"] for r in rows} == {0.5, 2.0}
    assert all(r["budget"] == pytest.approx(2.0 * r["ratio"]) for r in rows)
    assert all(r["certified"] <= r["budget"] * (1 + 1e-6) for r in rows)
    table = sweep_table(rows)
    assert [t["n"] for t in table] == [2, 2]
    assert plot_budget_sweep(rows, tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ValueError, match="ratios"):
        budget_sweep(img, mask, 2.0, ratios=(0.0,))


def test_cli_inpaint(tmp_path):
    img_path = tmp_path / "img.png"
    io.imsave(str(img_path), (_smooth(24) * 255).astype(np.uint8), check_contrast=False)
    ref = tmp_path / "ref.png"
    io.imsave(str(ref), (_smooth(32, 1.3) * 255).astype(np.uint8), check_contrast=False)
    out = tmp_path / "out"
    assert main(["inpaint", "--image", str(img_path), "--observed", "0.2", "--reference", str(ref),
                 "--output", str(out), "--iterations", "20"]) == 0
    assert {"inpainted.png", "prediction.png", "mask.png", "network.pt", "report.json"} <= {p.name for p in out.iterdir()}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["budget"]["kind"] == "budget/ImageGradientOracle" and report["observed_fraction"] == pytest.approx(
        0.2, abs=0.01)
    bad_mask = tmp_path / "mask.png"
    io.imsave(str(bad_mask), np.zeros((10, 10), np.uint8), check_contrast=False)
    assert main(["inpaint", "--image", str(img_path), "--mask", str(bad_mask), "--budget", "3",
                 "--output", str(tmp_path / "o2")]) == 2
    assert not (tmp_path / "o2").exists()
