from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.networks.blocks import Warp
from monai.transforms import EnsureChannelFirst, LoadImage

from monai_lipinr.cli import main
from monai_lipinr.data.landmarks import write_landmarks_csv

SMALL = ["--iterations", "60", "--batch-size", "2048", "--hidden-features", "32", "--no-progress"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, synthetic_pair):
    fixed, moving, mask, fl, ml = synthetic_pair
    d = tmp_path_factory.mktemp("inputs")
    sitk.WriteImage(sitk.Cast(fixed, sitk.sitkInt16), str(d / "fixed.nii.gz"))
    sitk.WriteImage(sitk.Cast(moving, sitk.sitkInt16), str(d / "moving.mha"))
    sitk.WriteImage(mask, str(d / "mask.nrrd"))
    write_landmarks_csv(fl, d / "fixed.csv")
    write_landmarks_csv(ml, d / "moving.csv")
    return d


@pytest.fixture(scope="module")
def cli_output(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "out"
    rc = main(["register", "--fixed", str(inputs / "fixed.nii.gz"), "--moving", str(inputs / "moving.mha"),
               "--fixed-mask", str(inputs / "mask.nrrd"), "--fixed-landmarks", str(inputs / "fixed.csv"),
               "--moving-landmarks", str(inputs / "moving.csv"), "--output", str(out), *SMALL,
               "--regularizer-points", "500", "--learning-rate", "2e-4"])
    assert rc == 0
    return out


def test_register_writes_all_outputs(cli_output):
    names = {p.name for p in cli_output.iterdir()}
    assert names == {"ddf.nii.gz", "displacement_itk.nii.gz", "warped.nii.gz", "jacobian_det.nii.gz",
                     "report.json", "overview.png"}
    report = json.loads((cli_output / "report.json").read_text())
    assert report["metrics"]["tre_mm"]["mean"] < report["metrics"]["tre_before_mm"]["mean"]
    assert report["ledger"]["certified_bound"] <= 2.0 * (1 + 1e-3)
    assert report["budget"]["value"] == pytest.approx(2.0)
    assert report["config"]["regularizer_points"] == 500 and report["config"]["learning_rate"] == 2e-4


def test_monai_ddf_and_itk_field_agree_on_landmarks(cli_output, inputs, synthetic_pair):
    """ddf.nii.gz applied with MONAI Warp and displacement_itk.nii.gz applied with SimpleITK agree."""
    fixed, _moving, _mask, fl, _ml = synthetic_pair
    ddf = EnsureChannelFirst()(LoadImage(image_only=True)(str(cli_output / "ddf.nii.gz")))
    assert ddf.shape[0] == 3 and tuple(ddf.shape[1:]) == fixed.GetSize()
    field = sitk.ReadImage(str(cli_output / "displacement_itk.nii.gz"), sitk.sitkVectorFloat64)
    tx = sitk.DisplacementFieldTransform(field)
    a = np.asarray(fixed.GetDirection()).reshape(3, 3) * np.asarray(fixed.GetSpacing())
    idx = np.rint((fl - np.asarray(fixed.GetOrigin())) @ np.linalg.inv(a).T).astype(int)  # voxel centres
    itk_pts = np.array([tx.TransformPoint(tuple(p)) for p in fl])
    # MONAI: p + ddf(p) in voxel index space of the (same-grid) moving image -> world
    ddf_np = np.asarray(ddf)
    monai_idx = idx + ddf_np[:, idx[:, 0], idx[:, 1], idx[:, 2]].T
    monai_pts = np.asarray(fixed.GetOrigin()) + monai_idx @ a.T
    assert np.abs(monai_pts - itk_pts).max() < 0.01
    # and Warp uses the DDF the same way: warping an image of the world x coordinate of the moving grid
    xs = np.asarray(fixed.GetOrigin())[0] + np.stack(np.meshgrid(*[np.arange(s) for s in fixed.GetSize()],
                                                                 indexing="ij"), -1) @ a.T[:, 0]
    warped = Warp(mode="bilinear", padding_mode="border")(
        torch.as_tensor(xs, dtype=torch.float32)[None, None], torch.as_tensor(ddf_np)[None])[0, 0].numpy()
    got = warped[idx[:, 0], idx[:, 1], idx[:, 2]]
    inside = np.all((monai_idx > 0) & (monai_idx < np.asarray(fixed.GetSize()) - 1), 1)
    assert inside.sum() > 20
    assert np.abs(got - itk_pts[:, 0])[inside].max() < 0.01


def test_existing_output_refused_and_overwrite(cli_output, inputs):
    before = sorted(p.name for p in cli_output.iterdir())
    args = ["register", "--fixed", str(inputs / "fixed.nii.gz"), "--moving", str(inputs / "moving.mha"),
            "--fixed-mask", str(inputs / "mask.nrrd"), "--output", str(cli_output), "--iterations", "2",
            "--hidden-features", "16", "--no-progress"]
    assert main(args) == 2
    assert sorted(p.name for p in cli_output.iterdir()) == before


def test_failure_leaves_no_partial_output(inputs, tmp_path, capsys):
    out = tmp_path / "never"
    rc = main(["register", "--fixed", str(inputs / "fixed.nii.gz"), "--moving", str(tmp_path / "missing.nii.gz"),
               "--output", str(out), *SMALL])
    assert rc == 2 and "missing.nii.gz" in capsys.readouterr().err
    assert not out.exists() and not any(tmp_path.glob(".never*"))
    rc = main(["register", "--fixed", str(inputs / "fixed.nii.gz"), "--moving", str(inputs / "moving.mha"),
               "--output", str(out), "--strain", "-1", *SMALL])
    assert rc == 2 and "--strain" in capsys.readouterr().err
    assert not out.exists()


def test_demo_on_bundled_sample(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--iterations", "40", "--hidden-features", "32", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["tre_mm"]["mean"] < 0.8 * report["metrics"]["tre_before_mm"]["mean"]
    assert report["metrics"]["folded_voxels_in_mask"] == 0
