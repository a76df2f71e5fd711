"""``monai-lipinr reconstruct``: simulated scan of an image, sinogram file input, bad input leaves nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from monai_lipinr.apps.reconstruction import EllipsePhantom, shepp_logan_ellipses
from monai_lipinr.budget import ImageGeometry
from monai_lipinr.cli import main


def _image(tmp_path):
    n, h = 32, 2.0
    grid = ImageGeometry((n, n), (h, h), (-(n - 1) / 2 * h, -(n - 1) / 2 * h))
    hu = -1000 + 1000 * EllipsePhantom(shepp_logan_ellipses(28.0, 1.0)).rasterize(grid, 2)
    img = sitk.GetImageFromArray(hu.astype(np.float32))
    grid.apply_to_sitk(img)
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(img, str(path))
    return path


FAST = ["--iterations", "3", "--no-progress"]


@pytest.mark.slow  # ~25-50 s on 2 shared cores (two full runs incl. empirical Lipschitz search)
def test_simulate_then_reconstruct_from_files(tmp_path):
    out = tmp_path / "sim"
    assert main(["reconstruct", "--image", str(_image(tmp_path)), "--simulate-views", "6", "--noise", "poisson",
                 "--output", str(out), *FAST]) == 0
    for name in ("reconstruction.nii.gz", "fbp.nii.gz", "reference.nii.gz", "sinogram.npy", "geometry.json",
                 "report.json", "overview.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["budget"]["kind"] == "budget/IntensityGradientPrior"
    assert report["ledger"]["empirical"] > 0 and "psnr_db" in report["quality_in_body"]["inr"]
    assert np.load(out / "sinogram.npy").shape[0] == 6
    rec = sitk.ReadImage(str(out / "reconstruction.nii.gz"))
    assert rec.GetSize() == (32, 32) and rec.GetSpacing() == (2.0, 2.0)
    # the written sinogram + geometry are a valid input of their own
    out2 = tmp_path / "from_sino"
    assert main(["reconstruct", "--sinogram", str(out / "sinogram.npy"), "--geometry", str(out / "geometry.json"),
                 "--output", str(out2), *FAST]) == 0
    assert (out2 / "reconstruction.nii.gz").is_file()
    # 6 parallel views over 180°: the views determine 6 rad per network unit, reported with the budget
    assert report["budget"]["view_sampling_limit_per_network_unit"] == pytest.approx(6.0)
    assert report["budget"]["first_share"] == "views"
    out3 = tmp_path / "whole_budget"
    assert main(["reconstruct", "--sinogram", str(out / "sinogram.npy"), "--geometry", str(out / "geometry.json"),
                 "--output", str(out3), "--first-share", "budget", "--num-layers", "2", *FAST]) == 0
    report3 = json.loads((out3 / "report.json").read_text())
    assert report3["budget"]["first_share"] == "budget"
    assert report3["budget"]["num_layers"] == 2 and report["budget"]["num_layers"] >= 2
    assert report3["budget"]["view_limited_first_stage_share"] is None
    # an existing output folder is refused
    assert main(["reconstruct", "--sinogram", str(out / "sinogram.npy"), "--geometry", str(out / "geometry.json"),
                 "--output", str(out2), *FAST]) == 2


def test_bad_inputs_leave_no_output(tmp_path, capsys):
    img = _image(tmp_path)
    out = tmp_path / "o"
    assert main(["reconstruct", "--image", str(img), "--simulate-views", "0", "--output", str(out), *FAST]) == 2
    assert "simulate-views" in capsys.readouterr().err
    geom = tmp_path / "g.json"
    geom.write_text(json.dumps({"kind": "parallel", "angles_rad": [0.0, 1.0], "num_detectors": 8,
                                "detector_spacing_mm": 1.0}))
    sino = tmp_path / "s.npy"
    np.save(sino, np.ones((3, 8)))
    assert main(["reconstruct", "--sinogram", str(sino), "--geometry", str(geom), "--output", str(out), *FAST]) == 2
    assert "expects (num_views, num_detectors)" in capsys.readouterr().err
    bad = np.ones((2, 8))
    bad[1, 1] = np.nan
    np.save(sino, bad)
    assert main(["reconstruct", "--sinogram", str(sino), "--geometry", str(geom), "--output", str(out), *FAST]) == 2
    assert "non-finite" in capsys.readouterr().err
    assert main(["reconstruct", "--image", str(img), "--output", str(out), *FAST]) == 2
    assert main(["reconstruct", "--image", str(img), "--simulate-views", "6", "--tv-weight", "-1",
                 "--output", str(out), *FAST]) == 2
    assert "tv_weight" in capsys.readouterr().err
    assert main(["reconstruct", "--image", str(img), "--simulate-views", "6", "--hidden-features", "0",
                 "--output", str(out), *FAST]) == 2
    assert "hidden_features" in capsys.readouterr().err
    assert main(["reconstruct", "--image", str(img), "--simulate-views", "6", "--validation-views", "4",
                 "--output", str(out), *FAST]) == 2
    assert "validation_views must be an int in [0, 3]" in capsys.readouterr().err
    assert not out.exists()


def test_held_out_views_are_reported(tmp_path):
    out = tmp_path / "held"
    assert main(["reconstruct", "--image", str(_image(tmp_path)), "--simulate-views", "6", "--validation-views", "2",
                 "--output", str(out), *FAST]) == 0
    metrics = json.loads((out / "report.json").read_text())["metrics"]
    assert metrics["validation_views"] == [1, 4]
    assert 0 <= metrics["selected_iteration"] <= 3 and metrics["validation_misfit"] > 0


def test_simulated_detector_aperture():
    """``--aperture bin`` (default) integrates each bin over its width; ``point`` samples the bin centre."""
    from monai_lipinr.apps.reconstruction.cli import simulate_scan

    n = 64
    grid = ImageGeometry((n, n), (0.5, 0.5), (-(n - 1) / 4, -(n - 1) / 4))
    hu = -1000 + 1000 * EllipsePhantom(shepp_logan_ellipses(14.0, 1.0)).rasterize(grid, 2)
    kw = {"detector_spacing": 2.0}
    bin_, geom = simulate_scan(hu, grid, 4, **kw)
    point, _ = simulate_scan(hu, grid, 4, aperture="point", **kw)
    assert bin_.shape == point.shape == geom.shape and geom.detector_spacing == 2.0
    assert np.abs(bin_ - point).max() > 0.01 * np.abs(point).max()  # the phantom's edges inside a 2 mm bin
    # a view's sum times the pitch is the object's mass, the same in every view: the bins keep it (measured spread
    # 0.08%), pencil rays 2 mm apart alias the phantom's edges (measured 10%)
    spread = [np.ptp(s.sum(1)) / s.sum(1).mean() for s in (bin_, point)]
    assert spread[0] < 0.005 and spread[1] > 0.03
    with pytest.raises(ValueError, match="aperture"):
        simulate_scan(hu, grid, 4, aperture="pencil", **kw)


def test_sart_baseline_is_written_and_scored(tmp_path, capsys):
    """``--sart-iterations N`` adds SART's image, its scores in the body and its panel next to FBP's."""
    out = tmp_path / "sart"
    assert main(["reconstruct", "--image", str(_image(tmp_path)), "--simulate-views", "8", "--noise", "none",
                 "--sart-iterations", "3", "--hidden-features", "16", "--output", str(out), "--iterations", "2",
                 "--no-progress"]) == 0
    assert "SART (3 it)" in capsys.readouterr().out
    sart = sitk.ReadImage(str(out / "sart.nii.gz"))
    fbp = sitk.ReadImage(str(out / "fbp.nii.gz"))
    assert sart.GetSize() == fbp.GetSize() == (32, 32) and sart.GetSpacing() == fbp.GetSpacing()
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"]["sart_iterations"] == 3 and report["config"]["hidden_features"] == 16
    q = report["quality_in_body"]
    assert set(q) == {"inr", "fbp", "sart"}
    # 3 sweeps on noise-free data from 8 views recover the phantom (measured 14.0 dB in the body) far better
    # than a uniform air image (7.1 dB)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "reference.nii.gz")))
    flat = np.full_like(reference, -1000.0)
    from monai_lipinr.apps.reconstruction.quality import body_mask, masked_psnr

    assert q["sart"]["psnr_db"] > masked_psnr(flat, reference, body_mask(reference)) + 5.0
    assert not np.allclose(sitk.GetArrayFromImage(sart), sitk.GetArrayFromImage(fbp))
    # a negative sweep count is refused before anything is written
    bad = tmp_path / "bad"
    assert main(["reconstruct", "--image", str(_image(tmp_path)), "--simulate-views", "8",
                 "--sart-iterations", "-1", "--output", str(bad), *FAST]) == 2
    assert "--sart-iterations" in capsys.readouterr().err and not bad.exists()
