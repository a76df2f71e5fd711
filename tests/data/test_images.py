from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.transforms import EnsureChannelFirst, LoadImage

from monai_lipinr.data import images as images_mod
from monai_lipinr.data.images import (
    check_same_geometry,
    geometry_mismatch,
    load_image,
    metatensor_to_sitk,
    same_geometry,
    save_image,
    sitk_to_metatensor,
)


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
    rz = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rx = np.array([[1, 0, 0], [0, cc, -sc], [0, sc, cc]])
    return rz @ ry @ rx


def _image(size=(7, 5, 4), spacing=(0.8, 1.3, 2.5), origin=(-12.5, 30.25, 101.0), direction=None, seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1024, 2000, size=size[::-1]).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    d = _rotation(0.3, -0.2, 0.1) if direction is None else direction
    img.SetDirection(tuple(np.asarray(d).ravel().tolist()))
    return img


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".mhd", ".nrrd"])
def test_save_load_round_trip_keeps_pixels_and_geometry(tmp_path, suffix):
    img = _image()
    path = save_image(img, tmp_path / f"img{suffix}")
    back = load_image(path)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert back.GetPixelID() == img.GetPixelID()
    assert same_geometry(back, img, tol=1e-4), geometry_mismatch(back, img, tol=1e-4)
    # nothing but the final file(s) in the folder: no temporary leftovers
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_save_refuses_to_overwrite_and_overwrites_when_asked(tmp_path):
    path = tmp_path / "a.nii.gz"
    save_image(_image(seed=1), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="a.nii.gz"):
        save_image(_image(seed=2), path)
    assert path.read_bytes() == before
    save_image(_image(seed=2), path, overwrite=True)
    assert np.array_equal(sitk.GetArrayFromImage(load_image(path)), sitk.GetArrayFromImage(_image(seed=2)))


def test_save_failure_leaves_no_partial_output(tmp_path, monkeypatch):
    def broken_write(image, name, useCompression=True):
        with open(name, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(images_mod.sitk, "WriteImage", broken_write)
    with pytest.raises(RuntimeError, match="disk full"):
        save_image(_image(), tmp_path / "x.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_missing_file_and_bad_inputs(tmp_path):
    missing = tmp_path / "nope" / "ct.nii.gz"
    with pytest.raises(FileNotFoundError, match="nope/ct.nii.gz"):
        load_image(missing)
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_image(png)
    corrupt = tmp_path / "bad.nii.gz"
    corrupt.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="could not read image"):
        load_image(corrupt)
    with pytest.raises(TypeError, match="source must be"):
        load_image(42)
    with pytest.raises(ValueError, match="unsupported file type"):
        save_image(_image(), tmp_path / "x.dcm")


def _write_dicom_series(folder, arr_zyx, spacing, origin, series_uid, description="CT"):
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(arr_zyx.shape[0]):
        sl = sitk.GetImageFromArray(arr_zyx[k : k + 1])
        sl.SetSpacing(spacing)
        pos = (origin[0], origin[1], origin[2] + k * spacing[2])
        sl.SetOrigin(pos)
        tags = {
            "0008|0060": "CT",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": series_uid,
            "0008|103e": description,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in pos),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0018|0050": f"{spacing[2]:.6f}",
            "0028|0030": f"{spacing[1]:.6f}\\{spacing[0]:.6f}",
            "0008|0018": f"{series_uid}.{k + 1}",
        }
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(sl)


def test_dicom_series_folder(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.integers(-1000, 1500, size=(6, 9, 8)).astype(np.int16)
    spacing, origin = (0.7, 0.7, 2.5), (-100.0, -80.0, 40.0)
    folder = tmp_path / "series"
    _write_dicom_series(folder, arr, spacing, origin, "1.2.826.0.1.3680043.2.1125.11")
    img = load_image(folder)
    assert img.GetSize() == (8, 9, 6)
    assert np.allclose(img.GetSpacing(), spacing, atol=1e-4)
    assert np.allclose(img.GetOrigin(), origin, atol=1e-4)
    assert np.array_equal(sitk.GetArrayFromImage(img).astype(np.int64), arr.astype(np.int64))

    # a second series in the same folder: ambiguous unless series_id is given
    _write_dicom_series(folder, arr[:3] + 1, spacing, origin, "1.2.826.0.1.3680043.2.1125.22", "other")
    with pytest.raises(ValueError, match="2 DICOM series"):
        load_image(folder)
    img2 = load_image(folder, series_id="1.2.826.0.1.3680043.2.1125.22")
    assert img2.GetSize() == (8, 9, 3)
    with pytest.raises(ValueError, match="is not in folder"):
        load_image(folder, series_id="1.2.3")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no DICOM series"):
        load_image(empty)


@pytest.mark.parametrize("reader", ["ITKReader", "NibabelReader"])
def test_metatensor_from_monai_loader_matches_simpleitk(tmp_path, reader):
    img = _image()
    path = save_image(img, tmp_path / "ct.nii.gz")
    ref = sitk.ReadImage(str(path))
    mt = LoadImage(reader=reader, image_only=True)(str(path))
    assert isinstance(mt, MetaTensor)
    for tensor in (mt, EnsureChannelFirst()(mt)):
        out = load_image(tensor)
        assert same_geometry(out, ref, tol=1e-4), geometry_mismatch(out, ref, tol=1e-4)
        assert np.array_equal(sitk.GetArrayFromImage(out).astype(np.int64), sitk.GetArrayFromImage(ref))


def test_metatensor_in_lps_space_is_not_flipped(tmp_path):
    from monai.data import ITKReader

    img = _image()
    path = save_image(img, tmp_path / "ct.mha")
    mt = LoadImage(reader=ITKReader(affine_lps_to_ras=False), image_only=True)(str(path))
    assert str(mt.meta["space"]).upper() == "LPS"
    assert same_geometry(load_image(mt), img, tol=1e-4)


@settings(max_examples=40, deadline=None)
@given(
    angles=st.tuples(*[st.floats(-math.pi, math.pi)] * 3),
    spacing=st.tuples(*[st.floats(0.2, 5.0)] * 3),
    origin=st.tuples(*[st.floats(-500, 500)] * 3),
    flip=st.sampled_from([1.0, -1.0]),
)
def test_metatensor_round_trip_and_ras_affine(angles, spacing, origin, flip):
    d = _rotation(*angles) @ np.diag([1.0, 1.0, flip])
    img = _image(size=(4, 3, 5), spacing=spacing, origin=origin, direction=d)
    mt = sitk_to_metatensor(img)
    assert mt.shape == (1, 4, 3, 5)
    # the affine maps (i, j, k) to RAS = LPS with x and y negated
    ijk = np.array([1.5, 2.0, 0.25])
    lps = np.asarray(img.TransformContinuousIndexToPhysicalPoint(ijk.tolist()))
    ras = (mt.affine.numpy() @ np.append(ijk, 1.0))[:3]
    assert np.allclose(ras, lps * [-1, -1, 1], atol=1e-9)
    back = metatensor_to_sitk(mt)
    assert same_geometry(back, img, tol=1e-9)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert mt[0, 1, 2, 3].item() == img.GetPixel(1, 2, 3)


def test_metatensor_errors():
    with pytest.raises(TypeError, match="MetaTensor"):
        metatensor_to_sitk(torch.zeros(3, 3, 3))
    with pytest.raises(ValueError, match="one channel"):
        metatensor_to_sitk(MetaTensor(torch.zeros(2, 3, 3, 3)))
    with pytest.raises(ValueError, match="not 3-D"):
        metatensor_to_sitk(MetaTensor(torch.zeros(3, 3)))
    shear = torch.eye(4, dtype=torch.float64)
    shear[0, 1] = 0.5
    with pytest.raises(ValueError, match="shear"):
        metatensor_to_sitk(MetaTensor(torch.zeros(3, 3, 3), affine=shear))
    with pytest.raises(ValueError, match="space"):
        metatensor_to_sitk(MetaTensor(torch.zeros(3, 3, 3), meta={"space": "XYZ"}))
    # bool -> uint8, 2-D works
    img = metatensor_to_sitk(MetaTensor(torch.ones(1, 4, 5, dtype=torch.bool), affine=torch.eye(3)))
    assert img.GetSize() == (4, 5) and img.GetPixelID() == sitk.sitkUInt8


def test_geometry_checks_name_the_difference():
    a = _image()
    assert same_geometry(a, _image(seed=5))  # pixel values do not matter
    b = _image(size=(7, 5, 5))
    with pytest.raises(
        ValueError, match=r"fixed and moving images have different geometry: size \(7, 5, 4\) vs \(7, 5, 5\)"
    ):
        check_same_geometry(a, b)
    c = _image(origin=(-12.5, 30.25, 101.0005))
    assert same_geometry(a, c)  # within the default 1e-3 mm
    d = _image(origin=(-12.5, 30.25, 101.5))
    assert not same_geometry(a, d)
    with pytest.raises(ValueError, match="ct and mask images have different geometry: origin"):
        check_same_geometry(a, d, names=("ct", "mask"))
    e = _image(spacing=(0.8, 1.3, 2.0))
    assert any(m.startswith("spacing") for m in geometry_mismatch(a, e))
    f = _image(direction=np.eye(3))
    assert any(m.startswith("direction") for m in geometry_mismatch(a, f))
