from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai_lipinr.apps.registration import INRRegistration, RegistrationConfig


@pytest.fixture(scope="module")
def fitted(synthetic_pair, fast):
    fixed, moving, mask, fl, ml = synthetic_pair
    reg = INRRegistration(**fast)
    return reg.fit(fixed, moving, mask, landmarks=(fl, ml)), synthetic_pair


def test_registration_recovers_motion(fitted):
    result, _ = fitted
    before, after = result.metrics["tre_before_mm"]["mean"], result.metrics["tre_mm"]["mean"]
    assert before > 4.0
    assert after < 0.35 * before, result.metrics
    assert result.metrics["folding_rate"] == 0.0


def test_budget_certified_and_reported(fitted):
    result, _ = fitted
    led = result.ledger
    assert result.budget["value"] == pytest.approx(2.0)
    assert led["certified_bound"] <= 2.0 * (1 + 1e-3)
    assert 0 < led["empirical"] <= led["certified_bound"] * (1 + 1e-4)
    # the det J map agrees with the strain budget: singular values of I + grad u lie in [1-K, 1+K]
    det = sitk.GetArrayFromImage(result.jacobian_determinant)
    k = led["certified_bound"]
    assert det.min() >= (max(0.0, 1 - k)) ** 3 - 1e-5 and det.max() <= (1 + k) ** 3 + 1e-5


def test_itk_field_and_network_agree_on_points(fitted):
    result, (fixed, *_rest) = fitted
    fl = _rest[2]
    tx = sitk.DisplacementFieldTransform(sitk.Image(result.displacement_itk))
    itk_pts = np.array([tx.TransformPoint(tuple(p)) for p in fl])
    coords = result.coordinates
    with torch.no_grad():
        u = result.network(torch.as_tensor(coords.world_to_network(fl), dtype=torch.float32)).double().numpy()
    net_pts = fl + coords.displacement_to_world(u)
    assert np.abs(itk_pts - net_pts).max() < 0.01  # landmarks sit on voxel centres: no interpolation error


def test_warped_image_matches_fixed_better_than_moving(fitted):
    result, (fixed, moving, mask, *_x) = fitted
    f = sitk.GetArrayFromImage(fixed)
    m = sitk.GetArrayFromImage(moving)
    w = sitk.GetArrayFromImage(result.warped)
    inner = (slice(3, -3),) * 3
    assert np.abs(f - w)[inner].mean() < 0.5 * np.abs(f - m)[inner].mean()


def test_deterministic_with_seed(synthetic_pair, fast):
    fixed, moving, mask, fl, ml = synthetic_pair
    cfg = dict(fast, iterations=10)
    a = INRRegistration(**cfg).fit(fixed, moving, mask, landmarks=(fl, ml))
    b = INRRegistration(**cfg).fit(fixed, moving, mask, landmarks=(fl, ml))
    assert a.metrics["tre_mm"]["mean"] == b.metrics["tre_mm"]["mean"]


def test_checkpoint_resume(tmp_path, synthetic_pair, fast):
    fixed, moving, mask, fl, ml = synthetic_pair
    ckpt = tmp_path / "state.pt"
    cfg = dict(fast, iterations=20, checkpoint_every=10, log_every=1)
    full = INRRegistration(**cfg).fit(fixed, moving, mask, checkpoint=ckpt)
    assert ckpt.exists() and torch.load(ckpt, weights_only=False)["iteration"] == 20
    # resume from a 10-iteration checkpoint reproduces the uninterrupted run
    part_ckpt = tmp_path / "part.pt"
    INRRegistration(**dict(cfg, iterations=10)).fit(fixed, moving, mask, checkpoint=part_ckpt)
    resumed = INRRegistration(**cfg).fit(fixed, moving, mask, checkpoint=part_ckpt, resume=True)
    assert resumed.history[-1]["iteration"] == 19
    assert resumed.history[-1]["loss"] == pytest.approx(full.history[-1]["loss"], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("constraint", ["spectral", "sll", "none"])
def test_other_constraints_run(synthetic_pair, constraint, fast):
    fixed, moving, mask, fl, ml = synthetic_pair
    result = INRRegistration(**dict(fast, iterations=5, constraint=constraint, preset="relu")).fit(fixed, moving, mask)
    assert np.isfinite(result.metrics["sd_log_jacobian"])


def test_fold_free_budget_certifies_positive_det(synthetic_pair, fast):
    fixed, moving, mask, fl, ml = synthetic_pair
    result = INRRegistration(**dict(fast, iterations=30, fold_free=True)).fit(fixed, moving, mask)
    assert result.budget["value"] < 1.0
    assert result.ledger["certified_bound"] < 1.0
    assert result.metrics["det_jacobian_min_in_mask"] > 0.0


def test_bad_inputs(synthetic_pair, fast):
    fixed, moving, mask, fl, ml = synthetic_pair
    reg = INRRegistration(**dict(fast, iterations=2))
    empty = sitk.Image(mask)
    empty = empty * 0
    with pytest.raises(ValueError, match="empty"):
        reg.fit(fixed, moving, empty)
    small = sitk.RegionOfInterest(mask, [10, 10, 10], [0, 0, 0])
    with pytest.raises(ValueError, match="fixed_mask"):
        reg.fit(fixed, moving, small)
    with pytest.raises(ValueError, match="outside"):
        reg.fit(fixed, moving, mask, landmarks=(fl + 500.0, ml))
    with pytest.raises(ValueError, match="row-aligned"):
        reg.fit(fixed, moving, mask, landmarks=(fl, ml[:-1]))
    with pytest.raises(ValueError, match="max_strain"):
        INRRegistration(max_strain=-1.0)
    with pytest.raises(ValueError, match="preset"):
        RegistrationConfig(preset="nope").validate()
    with pytest.raises(FileNotFoundError):
        reg.fit("/nonexistent/fixed.nii.gz", moving, mask)


def test_output_share_derived_from_displacement_prior():
    from monai_lipinr.apps.registration.config import build_network, output_stage_share

    cfg = RegistrationConfig(hidden_features=16, max_displacement_mm=40.0)
    net = build_network(cfg, 2.0, scale_mm=200.0)
    assert net.allocation == "exponential"
    assert net._allocation_kwargs["k_min"] == pytest.approx(0.2)
    assert output_stage_share(cfg, 200.0, 2.0, net.num_stages) == pytest.approx(0.2)
    # a tiny field of view: the share is capped at 1 (and stays feasible)
    assert output_stage_share(cfg, 10.0, 2.0, 4) == pytest.approx(1.0)
    assert output_stage_share(cfg, 10.0, 0.5, 4) == pytest.approx(0.5**0.25)
    # an explicit k_min wins
    net = build_network(RegistrationConfig(hidden_features=16, allocation_kwargs={"k_min": 0.5}), 2.0, 200.0)
    assert net._allocation_kwargs["k_min"] == 0.5
    assert net.ledger().certified_bound <= 2.0 * (1 + 1e-3)


def test_parameter_groups_and_regularizer_subset(synthetic_pair, fast):
    from monai_lipinr.apps.registration.config import build_network
    from monai_lipinr.apps.registration.engine import _parameter_groups

    cfg = RegistrationConfig(hidden_features=16, learning_rate=1e-3, output_learning_rate=1e-4)
    net = build_network(cfg, 2.0, scale_mm=200.0)
    groups = _parameter_groups(net, cfg)
    assert [g["lr"] for g in groups] == [1e-3, 1e-4]
    out = [m for m in net.body if isinstance(m, torch.nn.Linear)][-1]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in out.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert len(_parameter_groups(net, RegistrationConfig(hidden_features=16, output_learning_rate=None))) == 1
    # the regulariser on a subset of each batch: same API, still recovers motion
    fixed, moving, mask, fl, ml = synthetic_pair
    result = INRRegistration(**dict(fast, regularizer_points=64)).fit(fixed, moving, mask, landmarks=(fl, ml))
    assert result.metrics["tre_mm"]["mean"] < 0.5 * result.metrics["tre_before_mm"]["mean"]
    for field, bad in (("regularizer_points", 0), ("regularizer_points", 1.5), ("output_learning_rate", -1.0)):
        with pytest.raises(ValueError, match=field):
            RegistrationConfig(**{field: bad}).validate()
