"""The shipped MONAI bundle ``lung_registration``: parsed by MONAI's ConfigParser and run by
``python -m monai.bundle run`` on the bundled demo pair with tiny settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.bundle import ConfigParser

from monai_lipinr.apps.registration import INRRegistration
from monai_lipinr.bundles import BUNDLES, StagedOutputDir, bundle_config, bundle_root
from monai_lipinr.data.samples import demo_sample_paths

TINY = {"registration#hidden_features": 16, "registration#batch_size": 1024, "registration#empirical_starts": 2,
        "registration#empirical_steps": 2, "registration#chunk_size": 32768}


def test_metadata_and_targets():
    root = bundle_root("lung_registration")
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    for key in ("version", "monai_version", "pytorch_version", "numpy_version", "task", "description",
                "network_data_format", "required_packages_version"):
        assert key in meta, key
    assert set(meta["network_data_format"]["inputs"]) == {"fixed", "moving"}
    assert meta["network_data_format"]["outputs"]["ddf"]["num_channels"] == 3
    parser = ConfigParser()
    parser.read_config(str(bundle_config()))
    assert parser["registration"]["_target_"] == "monai_lipinr.apps.registration.INRRegistration"
    parser["iterations"] = 7
    reg = parser.get_parsed_content("registration")
    assert isinstance(reg, INRRegistration) and reg.config.iterations == 7 and reg.config.max_strain == 2.0
    assert parser.get_parsed_content("fixed") == str(demo_sample_paths()["fixed"])
    with pytest.raises(ValueError, match="name must be one of"):
        bundle_root("nope")
    assert BUNDLES == ("lung_registration",)


def test_bundle_runs_with_monai_bundle_cli(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(bundle_config()),
           "--iterations", "4", "--log_every", "2", "--checkpoint_every", "4", "--output_dir", str(out),
           "--tensorboard", "True"]
    for key, value in TINY.items():
        cmd += [f"--{key}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny run: avoid thread contention on a shared machine
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # MONAI's StatsHandler logged the loss terms at iterations 2 and 4
    logged = [line for line in proc.stdout.splitlines() if "Iter: " in line and "similarity: " in line]
    assert len(logged) == 2 and "Iter: 4/4" in logged[-1]

    for name in ("ddf.nii.gz", "displacement_itk.nii.gz", "warped.nii.gz", "jacobian_det.nii.gz", "report.json",
                 "overview.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert [h["iteration"] for h in report["history"]] == [0, 2, 3]
    assert all(np.isfinite(h["loss"]) for h in report["history"])
    assert report["bundle"] == "lung_registration"
    assert report["ledger"]["certified_bound"] <= 2.0 * (1 + 1e-3)
    assert report["metrics"]["folding_rate"] == 0.0
    assert np.isfinite(report["metrics"]["tre_mm"]["mean"]) and report["metrics"]["tre_before_mm"]["mean"] > 0

    # the DDF sits on the fixed grid with the fixed affine
    fixed = sitk.ReadImage(str(demo_sample_paths()["fixed"]))
    ddf = nib.load(str(out / "ddf.nii.gz"))
    assert ddf.shape[:3] == fixed.GetSize() and ddf.shape[-1] == 3
    np.testing.assert_allclose(ddf.affine, nib.load(str(demo_sample_paths()["fixed"])).affine, atol=1e-4)
    assert np.isfinite(np.asarray(ddf.dataobj)).all()

    # MONAI's CheckpointSaver wrote a checkpoint that MONAI's CheckpointLoader can read (weights_only)
    ckpts = list((out / "checkpoints").glob("*.pt"))
    assert len(ckpts) == 1
    state = torch.load(ckpts[0], weights_only=True)
    assert {"trainer", "network", "optimizer", "sampler"} <= set(state) and state["trainer"]["iteration"] == 4
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_staged_output_dir_commit_abort_and_failed_process(tmp_path):
    staged = StagedOutputDir(tmp_path / "a")
    (staged.path / "x.txt").write_text("1")
    assert not (tmp_path / "a").exists()
    assert staged.commit() == tmp_path / "a" and (tmp_path / "a" / "x.txt").is_file()
    with pytest.raises(FileExistsError, match="overwrite"):
        StagedOutputDir(tmp_path / "a")
    aborted = StagedOutputDir(tmp_path / "b")
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    # a process that dies with an uncommitted staging folder (what a failing bundle run does) leaves nothing
    code = ("import sys; from monai_lipinr.bundles import StagedOutputDir; s = StagedOutputDir(sys.argv[1]); "
            "(s.path / 'half.txt').write_text('x'); raise RuntimeError('registration failed')")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "registration failed" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
