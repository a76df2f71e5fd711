from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from monai_lipinr.data.images import check_same_geometry, load_image
from monai_lipinr.data.landmarks import check_landmarks_inside, read_landmarks_csv
from monai_lipinr.data.samples import DEMO_SAMPLE_FILES, demo_sample_metadata, demo_sample_paths

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_demo_sample.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_demo_sample", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_sample_is_small_consistent_and_documented():
    paths = demo_sample_paths()
    assert set(paths) == set(DEMO_SAMPLE_FILES)
    assert sum(p.stat().st_size for p in paths.values()) < 2_000_000
    fixed, moving, mask = (load_image(paths[k]) for k in ("fixed", "moving", "fixed_mask"))
    check_same_geometry(fixed, moving)
    check_same_geometry(fixed, mask, ("fixed", "fixed_mask"))
    assert fixed.GetPixelID() == moving.GetPixelID() == sitk.sitkInt16
    assert mask.GetPixelID() == sitk.sitkUInt8
    assert all(3.0 <= s <= 4.0 for s in fixed.GetSpacing())
    m = sitk.GetArrayFromImage(mask)
    assert set(np.unique(m)) == {0, 1}
    f = sitk.GetArrayFromImage(fixed)
    assert f.min() >= -1100 and f.max() > 100  # HU: air and tissue / bone
    assert np.median(f[m > 0]) < -600  # the mask covers aerated lung
    lf, lm = read_landmarks_csv(paths["fixed_landmarks"]), read_landmarks_csv(paths["moving_landmarks"])
    assert lf.shape == lm.shape and len(lf) >= 100
    check_landmarks_inside(lf, fixed, "fixed landmarks")
    check_landmarks_inside(lm, moving, "moving landmarks")
    idx = np.rint([mask.TransformPhysicalPointToContinuousIndex(tuple(p)) for p in lf]).astype(int)
    assert np.mean(m[idx[:, 2], idx[:, 1], idx[:, 0]] > 0) >= 0.95

    meta = demo_sample_metadata()
    for key in ("citation", "terms", "source", "generator", "resampling", "conventions", "landmarks"):
        assert key in meta
    assert "POPI" in meta["citation"] and "research" in meta["terms"]
    assert "moving to fixed" in meta["conventions"]["field_direction"]
    assert meta["generator"]["command"].startswith("python scripts/make_demo_sample.py")
    assert meta["resampling"]["spacing_mm"] == list(fixed.GetSpacing())
    assert meta["resampling"]["size"] == list(fixed.GetSize())
    for key, rec in meta["files"].items():  # the JSON describes exactly these files
        assert hashlib.sha256(paths[key].read_bytes()).hexdigest() == rec["sha256"]
    d = np.linalg.norm(lm - lf, axis=1)
    assert meta["landmarks"]["n_kept"] == len(lf)
    assert meta["landmarks"]["identity_tre_mm"]["mean"] == pytest.approx(d.mean(), abs=1e-3)
    voxel_ml = np.prod(fixed.GetSpacing()) / 1000
    assert meta["fixed_lung_volume_ml"] == pytest.approx(m.sum() * voxel_ml, abs=0.1)


def test_demo_sample_matches_its_source(shared_dir):
    paths = demo_sample_paths()
    meta = json.loads(paths["metadata"].read_text(encoding="utf-8"))
    src = shared_dir / "bench" / "lung_popi"
    rows = meta["landmarks"]["source_rows_kept"]
    assert np.allclose(
        read_landmarks_csv(paths["fixed_landmarks"]),
        read_landmarks_csv(src / "fixed_landmarks.csv")[rows],
        atol=1e-6,
    )
    assert np.allclose(
        read_landmarks_csv(paths["moving_landmarks"]),
        read_landmarks_csv(src / "moving_landmarks.csv")[rows],
        atol=1e-6,
    )
    # the demo image is the source seen on the demo grid (same world frame): strong correlation
    demo = load_image(paths["fixed"])
    source_on_grid = sitk.Resample(
        load_image(src / "fixed.nii.gz"), demo, sitk.Transform(), sitk.sitkLinear, -1024
    )
    a = sitk.GetArrayFromImage(demo).astype(float).ravel()
    b = sitk.GetArrayFromImage(source_on_grid).astype(float).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.99  # measured 0.998
    # a one-voxel shift of the grid would be clearly worse
    shifted = sitk.Resample(
        load_image(src / "fixed.nii.gz"),
        demo,
        sitk.TranslationTransform(3, (3.5, 0, 0)),
        sitk.sitkLinear,
        -1024,
    )
    c = sitk.GetArrayFromImage(shifted).astype(float).ravel()
    assert np.corrcoef(a, c)[0, 1] < np.corrcoef(a, b)[0, 1] - 0.02  # measured 0.959


def test_generator_script_writes_and_refuses_to_overwrite(shared_dir, tmp_path, capsys):
    mod = _script()
    out = tmp_path / "demo"
    src = shared_dir / "bench" / "lung_popi"
    argv = ["--source", str(src), "--output", str(out), "--spacing", "7", "--margin-mm", "5"]
    assert mod.main(argv) == 0
    written = {p.name for p in out.iterdir()}
    assert written == set(DEMO_SAMPLE_FILES.values())
    meta = json.loads((out / "demo_sample.json").read_text(encoding="utf-8"))
    assert meta["resampling"]["spacing_mm"] == [7.0, 7.0, 7.0]
    img = load_image(out / "demo_fixed.nii.gz")
    check_landmarks_inside(read_landmarks_csv(out / "demo_fixed_landmarks.csv"), img)
    before = (out / "demo_fixed.nii.gz").read_bytes()
    assert mod.main(argv[:-4] + ["--spacing", "8"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert (out / "demo_fixed.nii.gz").read_bytes() == before
    assert mod.main(argv[:2] + ["--source", str(tmp_path / "none"), "--output", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
