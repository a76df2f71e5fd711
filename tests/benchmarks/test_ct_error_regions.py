"""The error-map breakdown of the CT benchmark (``benchmarks/ct_error_regions.py``)."""

from __future__ import annotations

import numpy as np
import pytest


def test_regions_partition_the_mask(regions):
    ref = np.full((40, 40), 40.0)
    ref[5:20, 5:20] = -800.0  # lung
    ref[25:32, 25:32] = 900.0  # bone
    mask = np.zeros_like(ref, bool)
    mask[2:38, 2:38] = True
    maps = regions.tissue_regions(ref, mask)
    stacked = np.stack(list(maps.values())).astype(int)
    assert (stacked.sum(0) == mask).all()  # every masked pixel in exactly one region, nothing outside
    assert maps["lung"][10, 10] and maps["bone"][28, 28] and maps["soft"][22, 10]
    assert maps["edges"][5, 10] and maps["edges"][4, 10] and not maps["edges"][10, 10]


def test_band_shares_locate_the_frequency(regions):
    yy, xx = np.mgrid[:64, :64]
    smooth = np.cos(2 * np.pi * 2 * xx / 64)  # 2 cycles over 64 pixels: 0.06 of Nyquist
    checker = (-1.0) ** (xx + yy)  # the Nyquist corner
    assert regions.band_shares(smooth)[0] == pytest.approx(1.0)
    assert regions.band_shares(checker)[2] == pytest.approx(1.0)
    assert sum(regions.band_shares(np.random.default_rng(0).normal(size=(64, 64)))) == pytest.approx(1.0)


def test_region_errors_measure_a_known_bias(regions):
    ref = np.full((30, 30), 40.0)
    ref[:, :10] = -800.0
    mask = np.ones_like(ref, bool)
    image = ref.copy()
    image[ref < -500] += 50.0  # lung biased by +50 HU, the rest exact
    e = regions.region_errors(image, ref, mask)
    assert e["lung_bias"] == pytest.approx(50.0) and e["lung_rms"] == pytest.approx(50.0)
    assert e["soft_rms"] == pytest.approx(0.0)
    assert e["edges_bias"] == pytest.approx(25.0)  # columns 9 (lung) and 10 (soft) are the boundary pixels
