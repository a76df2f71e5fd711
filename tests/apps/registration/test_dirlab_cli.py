from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from monai_lipinr.apps.registration.dirlab_cli import dirlab_table
from monai_lipinr.cli import main
from monai_lipinr.data.dirlab import DIRLAB_CASES
from monai_lipinr.data.landmarks import read_landmarks_csv
from monai_lipinr.data.samples import demo_sample_paths


def test_errors_name_the_problem(tmp_path, capsys):
    assert main(["evaluate-dirlab", "--root", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["evaluate-dirlab", "--root", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "no complete DIR-Lab case" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_table_format():
    row = {"case": 1, "tre_before": 3.89, "tre": 1.2, "tre_sd": 0.5, "tre_rounded": 1.3, "p95": 2.0, "max": 3.0,
           "folded": 0, "folding_rate": 0.0, "time": 12.0}
    table = dirlab_table([row])
    assert "| 1 | 3.89 | 1.20 ± 0.50 | 1.30 |" in table


def _write_dirlab_case1(root):
    """A DIR-Lab-format case 1 (256x256x94, 0.97x0.97x2.5 mm, raw int16 stored head-first, 1-based txt
    landmarks) made from the bundled real-anatomy sample resampled onto the case-1 grid."""
    info = DIRLAB_CASES[1]
    paths = demo_sample_paths()
    ref = sitk.Image(info.size, sitk.sitkInt16)
    ref.SetSpacing(info.spacing)
    fixed = sitk.ReadImage(str(paths["fixed"]))
    centre = np.asarray(fixed.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in fixed.GetSize()]))
    origin = centre - (np.asarray(info.size) - 1) / 2 * np.asarray(info.spacing)
    ref.SetOrigin(tuple(origin))
    pack = root / "Case1Pack"
    (pack / "Images").mkdir(parents=True)
    (pack / "ExtremePhases").mkdir()
    nz = info.size[2]
    for phase, key in (("00", "fixed"), ("50", "moving")):
        img = sitk.Resample(sitk.ReadImage(str(paths[key])), ref, sitk.Transform(), sitk.sitkLinear, -1000)
        arr = sitk.GetArrayFromImage(img)[::-1] + 1024  # DIR-Lab: slices head-first, values offset by 1024
        arr.astype("<i2").tofile(pack / "Images" / f"case1_T{phase}_s.img")
        pts = read_landmarks_csv(paths[f"{key}_landmarks"])[:40]
        idx = np.rint((pts - origin) / np.asarray(info.spacing)).astype(int)
        dirlab = np.stack([idx[:, 0] + 1, idx[:, 1] + 1, nz - idx[:, 2]], 1)  # 1-based, z counted head-first
        text = "".join("\t".join(str(v) for v in r) + "\t\r\n" for r in dirlab)
        (pack / "ExtremePhases" / f"Case1_300_T{phase}_xyz.txt").write_bytes(text.encode())


@pytest.mark.slow
def test_evaluate_dirlab_end_to_end(tmp_path, capsys):
    _write_dirlab_case1(tmp_path / "dirlab")
    out = tmp_path / "out"
    rc = main(["evaluate-dirlab", "--root", str(tmp_path / "dirlab"), "--output", str(out), "--iterations", "150",
               "--hidden-features", "32", "--batch-size", "4096", "--no-progress"])
    assert rc == 0
    rows = json.loads((out / "summary.json").read_text())
    assert [r["case"] for r in rows] == [1]
    assert rows[0]["tre"] < 0.8 * rows[0]["tre_before"]
    assert (out / "case1" / "displacement_itk.nii.gz").exists()
    assert "| 1 |" in capsys.readouterr().out
