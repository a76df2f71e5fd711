"""Budget priors against hand-computed cases, plus numerical checks of the claims behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from scipy.spatial.transform import Rotation

from monai_lipinr.budget import (
    BandwidthPrior,
    BudgetEstimate,
    ImageGeometry,
    ImageGradientOracle,
    IntensityGradientPrior,
    NetworkCoordinates,
    StrainPrior,
)
from monai_lipinr.lipschitz.base import CERTIFY_RTOL

LEDGER_KEYS = {"kind", "value", "units", "derivation", "parameters"}


def _check_entry(est: BudgetEstimate, value: float):
    assert isinstance(est, BudgetEstimate)
    assert est.value == pytest.approx(value, rel=1e-12)
    assert float(est) == est.value
    entry = est.to_ledger_entry()
    assert LEDGER_KEYS <= set(entry) and entry["kind"] == f"budget/{est.prior}"
    assert entry["value"] == pytest.approx(value, rel=1e-12) and entry["units"] == est.units
    return entry


# ---------------------------------------------------------------- strain
def test_strain_prior_default_is_two_and_not_certified():
    est = StrainPrior().estimate()
    entry = _check_entry(est, 2.0)
    assert "dimensionless" in est.units
    assert entry["certified_invertible"] is False
    assert "NOT certified" in est.derivation and "2" in est.derivation


def test_strain_prior_fold_free_is_certified_below_one():
    est = StrainPrior(max_strain=2.0, fold_free=True, margin=0.05).estimate()
    entry = _check_entry(est, 0.95)
    assert entry["certified_invertible"] is True
    assert est.value * (1 + CERTIFY_RTOL) < 1
    assert "invertible" in est.derivation and f"{0.05**3:.6g}" in est.derivation  # det lower bound (1-K)^3
    # a strain limit already below 1 is kept as is and certified
    est2 = StrainPrior(max_strain=0.5).estimate()
    assert est2.value == 0.5 and est2.certified_invertible
    est3 = StrainPrior(max_strain=0.5, fold_free=True, margin=0.2).estimate()
    assert est3.value == 0.5


@settings(max_examples=200, deadline=None)
@given(k=st.floats(0.01, 0.999), seed=st.integers(0, 10_000))
def test_lipschitz_below_one_never_folds_linear_maps(k, seed):
    """The fold-free claim on the extreme case: det(I + A) >= (1 - K)^3 > 0 whenever ||A||_2 <= K < 1."""
    a = np.random.default_rng(seed).normal(size=(3, 3))
    a *= k / np.linalg.norm(a, 2)
    assert np.linalg.det(np.eye(3) + a) >= (1 - k) ** 3 * (1 - 1e-9)


def test_budget_above_one_can_fold():
    a = -1.5 * np.eye(3)  # ||A|| = 1.5 <= 2: allowed by the strain prior, yet det(I + A) < 0
    assert np.linalg.norm(a, 2) <= StrainPrior().estimate().value
    assert np.linalg.det(np.eye(3) + a) < 0


def test_strain_prior_in_mm_per_network_unit():
    nc = NetworkCoordinates.from_parameters((10, 20, 5), (0.8, 1.1, 2.5))  # s = 11 mm
    est = StrainPrior(2.0, coordinates=nc, displacement_units="mm").estimate()
    _check_entry(est, 22.0)
    assert est.units == "mm per network unit"
    with pytest.raises(ValueError, match="coordinates"):
        StrainPrior(displacement_units="mm")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_strain": 0.0}, "max_strain"),
        ({"max_strain": float("nan")}, "max_strain"),
        ({"margin": 1.5}, "margin"),
        ({"margin": 0.0}, "margin"),
        ({"spatial_dims": 4}, "spatial_dims"),
        ({"displacement_units": "inch"}, "inch"),
    ],
)
def test_strain_prior_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StrainPrior(**kwargs)


# ---------------------------------------------------------------- intensity gradient
def test_intensity_gradient_prior_hand_computed():
    nc = NetworkCoordinates((0.0, 0.0, 0.0), 150.0)
    # 1000 HU over 0.8 mm = 1250 HU/mm; * 150 mm/unit / 1000 HU per output unit = 187.5
    est = IntensityGradientPrior(1000.0, edge_width_mm=0.8, coordinates=nc, output_scale=1000.0).estimate()
    entry = _check_entry(est, 187.5)
    assert entry["parameters"]["gradient_hu_per_mm"] == pytest.approx(1250.0)
    assert "1250" in est.derivation and "187.5" in est.derivation
    # edge width from the smallest spacing
    est2 = IntensityGradientPrior(2000.0, spacing=(0.8, 1.1, 2.5), scale=100.0).estimate()
    _check_entry(est2, 2000.0 / 0.8 * 100.0)
    assert "smallest voxel spacing" in est2.derivation


def test_intensity_gradient_prior_bad_input():
    with pytest.raises(ValueError, match="edge_width_mm"):
        IntensityGradientPrior(1000.0, scale=1.0)
    with pytest.raises(ValueError, match="coordinates"):
        IntensityGradientPrior(1000.0, edge_width_mm=1.0)
    with pytest.raises(ValueError, match="not both"):
        IntensityGradientPrior(
            1000.0, edge_width_mm=1.0, scale=1.0, coordinates=NetworkCoordinates((0, 0), 1.0)
        )
    with pytest.raises(ValueError, match="max_hu_jump"):
        IntensityGradientPrior(-5.0, edge_width_mm=1.0, scale=1.0)
    with pytest.raises(ValueError, match="spacing"):
        IntensityGradientPrior(1000.0, spacing=(0.0, 1.0), scale=1.0)


# ---------------------------------------------------------------- image oracle
def _ramp_image(slope_world, size=(16, 12, 8), spacing=(0.8, 1.1, 2.5), angles=(20, -35, 50)):
    """SimpleITK image I(x) = slope . x (world LPS mm) on a rotated anisotropic grid: ||grad I|| = ||slope||."""
    rot = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    geom = ImageGeometry(size, spacing, (5.0, -3.0, 12.0), rot)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), -1).reshape(-1, 3)
    vals = (geom.index_to_world(idx) @ np.asarray(slope_world)).reshape(size)
    img = sitk.GetImageFromArray(vals.transpose(2, 1, 0).copy())
    return geom.apply_to_sitk(img), geom, vals


def test_oracle_exact_on_linear_ramp_with_rotation_and_anisotropy():
    slope = np.array([3.0, -4.0, 12.0])  # ||slope|| = 13 per mm
    img, geom, vals = _ramp_image(slope)
    nc = NetworkCoordinates.from_geometry(geom)
    oracle = ImageGradientOracle(percentile=99.0, coordinates=nc, output_scale=2.0)
    stats = oracle.gradient_statistics(img)
    np.testing.assert_allclose(stats, [13.0], rtol=1e-9)
    est = oracle.estimate(img)
    _check_entry(est, 13.0 * nc.scale / 2.0)
    # the MetaTensor (RAS affine) and the plain-array paths give the same number
    mt = MetaTensor(torch.as_tensor(vals[None]), affine=torch.as_tensor(geom.affine_ras))
    np.testing.assert_allclose(oracle.gradient_statistics(mt), [13.0], rtol=1e-9)
    # a plain array with spacing only (no rotation): exact for an axis-aligned ramp
    img2, geom2, vals2 = _ramp_image(slope, angles=(0, 0, 0))
    np.testing.assert_allclose(oracle.gradient_statistics(vals2, spacing=geom2.spacing), [13.0], rtol=1e-9)
    # ignoring the spacing would be wrong
    assert abs(oracle.gradient_statistics(vals2, spacing=(1, 1, 1))[0] - 13.0) > 1.0


def test_oracle_percentile_mask_reduction_and_channels():
    a = np.zeros((40, 40))
    a[:, 20:] = np.arange(20)[None, :] * 5.0  # slope 5 per pixel on half the image, 0 elsewhere
    oracle = ImageGradientOracle(percentile=25.0, scale=1.0)
    assert oracle.gradient_statistics(a, spacing=(1.0, 1.0))[0] == pytest.approx(0.0)
    mask = np.zeros((40, 40))
    mask[:, 25:35] = 1
    assert oracle.gradient_statistics(a, masks=mask, spacing=(1.0, 1.0))[0] == pytest.approx(5.0)
    b = np.outer(np.arange(40), np.ones(40)) * 2.0  # slope 2 along axis 0
    both = ImageGradientOracle(percentile=50.0, scale=1.0, reduction="max")
    med = ImageGradientOracle(percentile=50.0, scale=1.0, reduction="mean")
    assert both.estimate([b, 3 * b], spacing=(1.0, 1.0)).value == pytest.approx(6.0)
    assert med.estimate([b, 3 * b], spacing=(1.0, 1.0)).value == pytest.approx(4.0)
    # two channels: Frobenius norm sqrt(2^2 + 5^2)
    rgb = np.stack([b, np.outer(np.ones(40), np.arange(40)) * 5.0], axis=-1)
    assert both.gradient_statistics(rgb, spacing=(1.0, 1.0), channel_dim=-1)[0] == pytest.approx(
        math.sqrt(29.0)
    )


def test_oracle_bad_input():
    with pytest.raises(ValueError, match="percentile"):
        ImageGradientOracle(percentile=150.0, scale=1.0)
    oracle = ImageGradientOracle(scale=1.0)
    with pytest.raises(ValueError, match="spacing"):
        oracle.estimate(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="empty"):
        oracle.estimate(np.ones((4, 4)), masks=np.zeros((4, 4)), spacing=(1, 1))
    with pytest.raises(ValueError, match="zero gradient"):
        oracle.estimate(np.ones((4, 4)), spacing=(1, 1))
    with pytest.raises(ValueError, match="mask 0 has spatial shape"):
        oracle.estimate(np.ones((4, 4)), masks=np.ones((3, 4)), spacing=(1, 1))


# ---------------------------------------------------------------- bandwidth
def test_bandwidth_prior_hand_computed():
    # ECG: B = 150 Hz, amplitude 2 mV, 5 s per network unit -> 2*pi*150*2*5
    est = BandwidthPrior(bandwidth=150.0, amplitude=2.0, scale=5.0).estimate()
    _check_entry(est, 2 * math.pi * 150.0 * 2.0 * 5.0)
    # audio at 44.1 kHz: Nyquist band 22050 Hz; 0.5 s per unit; output in units of 0.5 amplitude
    est2 = BandwidthPrior(sampling_rate=44100.0, scale=0.5, output_scale=0.5).estimate()
    _check_entry(est2, 2 * math.pi * 22050.0 * 0.5 / 0.5)
    assert "Nyquist" in est2.derivation
    # in cycles per network unit directly (default scale 1)
    assert BandwidthPrior(bandwidth=3.0).estimate().value == pytest.approx(6 * math.pi)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), band=st.floats(0.5, 8.0))
def test_bernstein_bound_holds_for_random_band_limited_signals(seed, band):
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0, band, size=6)
    amps, phases = rng.normal(size=6), rng.uniform(0, 2 * np.pi, size=6)
    t = np.linspace(0, 4, 20001)
    f = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    df = (
        amps[:, None] * 2 * np.pi * freqs[:, None] * np.cos(2 * np.pi * freqs[:, None] * t + phases[:, None])
    ).sum(0)
    # sup over the true line >= sup over the samples; use the analytic amplitude bound sum|a| >= ||f||_inf
    k = BandwidthPrior(bandwidth=band, amplitude=float(np.abs(amps).sum())).estimate().value
    assert np.abs(df).max() <= k * (1 + 1e-12)
    assert np.abs(f).max() <= np.abs(amps).sum() + 1e-12


def test_bernstein_bound_is_tight_for_a_pure_tone():
    band, amp = 3.0, 1.7
    t = np.linspace(0, 1, 100001)
    df = amp * 2 * np.pi * band * np.cos(2 * np.pi * band * t)
    assert np.abs(df).max() == pytest.approx(
        BandwidthPrior(bandwidth=band, amplitude=amp).estimate().value, rel=1e-6
    )


def test_bandwidth_prior_bad_input():
    with pytest.raises(ValueError, match="exactly one"):
        BandwidthPrior()
    with pytest.raises(ValueError, match="exactly one"):
        BandwidthPrior(bandwidth=1.0, sampling_rate=2.0)
    with pytest.raises(ValueError, match="amplitude"):
        BandwidthPrior(bandwidth=1.0, amplitude=0.0)
    with pytest.raises(TypeError, match="coordinates"):
        BandwidthPrior(bandwidth=1.0, coordinates="abc")
