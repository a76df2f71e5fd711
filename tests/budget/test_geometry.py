"""ImageGeometry: index <-> LPS world, SimpleITK / MetaTensor (RAS) / NIfTI round trips."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.data.image_reader import ITKReader, NibabelReader
from monai.transforms import LoadImage
from scipy.spatial.transform import Rotation

from monai_lipinr.budget import ImageGeometry, sitk_to_channel_first


def _sitk_image(size, spacing, origin, direction, seed=0):
    arr = np.random.default_rng(seed).normal(size=tuple(reversed(size))).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(np.asarray(direction).ravel().tolist())
    return img


@settings(max_examples=30, deadline=None)
@given(
    spacing=st.tuples(*[st.floats(0.2, 4.0)] * 3),
    origin=st.tuples(*[st.floats(-300, 300)] * 3),
    angles=st.tuples(*[st.floats(-180, 180)] * 3),
    seed=st.integers(0, 1000),
)
def test_index_to_world_matches_simpleitk(spacing, origin, angles, seed):
    rot = Rotation.from_euler("zyx", angles, degrees=True).as_matrix()
    img = sitk.Image([7, 5, 4], sitk.sitkUInt8)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(rot.ravel().tolist())
    geom = ImageGeometry.from_sitk(img)
    idx = np.random.default_rng(seed).uniform(-0.5, 6.5, size=(20, 3))
    expected = np.array([img.TransformContinuousIndexToPhysicalPoint(p.tolist()) for p in idx])
    np.testing.assert_allclose(geom.index_to_world(idx), expected, atol=1e-9)
    np.testing.assert_allclose(geom.world_to_index(expected), idx, atol=1e-9)
    # torch in -> torch out, dtype kept
    t = geom.index_to_world(torch.as_tensor(idx, dtype=torch.float64))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), expected, atol=1e-9)


def test_metatensor_ras_affine_is_converted_to_lps():
    rot = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    geom = ImageGeometry((6, 5, 4), (0.8, 1.1, 2.5), (10.0, -20.0, 30.0), rot)
    # MONAI convention: RAS affine = diag(-1, -1, 1, 1) @ LPS affine
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ geom.affine_lps
    np.testing.assert_allclose(geom.affine_ras, ras)
    mt = MetaTensor(torch.zeros(1, 6, 5, 4), affine=torch.as_tensor(ras))
    back = ImageGeometry.from_metatensor(mt)
    assert back.allclose(geom, atol=1e-12)
    # an LPS-declared MetaTensor is not flipped
    mt_lps = MetaTensor(
        torch.zeros(1, 6, 5, 4), affine=torch.as_tensor(geom.affine_lps), meta={"space": "LPS"}
    )
    assert ImageGeometry.from_metatensor(mt_lps).allclose(geom, atol=1e-12)
    # ... and treating the RAS affine as LPS would give a different (wrong) geometry
    assert not ImageGeometry.from_affine(ras, (6, 5, 4), space="LPS").allclose(geom)


def test_2d_ras_flip_negates_both_axes():
    geom = ImageGeometry((4, 3), (0.5, 2.0), (1.0, 2.0))
    np.testing.assert_allclose(geom.affine_ras, np.diag([-1.0, -1.0, 1.0]) @ geom.affine_lps)
    assert ImageGeometry.from_affine(geom.affine_ras, (4, 3)).allclose(geom, atol=1e-12)


@pytest.mark.parametrize("reader", [None, "ITKReader"])
def test_nifti_written_by_simpleitk_loads_with_same_geometry(tmp_path, reader):
    rot = Rotation.from_euler("xyz", [12, -25, 40], degrees=True).as_matrix()
    img = _sitk_image([9, 7, 5], (0.8, 1.1, 2.5), (-30.5, 12.25, 101.0), rot)
    path = str(tmp_path / "img.nii.gz")
    sitk.WriteImage(img, path)
    loader = LoadImage(
        image_only=True, ensure_channel_first=True, reader=ITKReader() if reader else NibabelReader()
    )
    mt = loader(path)
    geom_sitk = ImageGeometry.from_sitk(sitk.ReadImage(path))
    geom_mt = ImageGeometry.from_metatensor(mt)
    assert geom_mt.allclose(geom_sitk, atol=1e-4), (geom_mt, geom_sitk)
    assert geom_mt.allclose(ImageGeometry.from_sitk(img), atol=1e-4)
    # array layout: MONAI (C, i, j, k) == SimpleITK pixel (i, j, k)
    arr = np.asarray(mt)
    for ijk in [(0, 0, 0), (8, 6, 4), (3, 2, 1)]:
        assert arr[(0, *ijk)] == pytest.approx(img.GetPixel(*ijk))
    np.testing.assert_array_equal(sitk_to_channel_first(img), arr)


def test_from_image_dispatch_and_errors():
    img = _sitk_image([4, 3, 2], (1.0, 2.0, 3.0), (0, 0, 0), np.eye(3))
    assert ImageGeometry.from_image(img).size == (4, 3, 2)
    with pytest.raises(TypeError, match="carries no world geometry"):
        ImageGeometry.from_image(torch.zeros(1, 4, 3, 2))
    with pytest.raises(ValueError, match="spatial_dims=2"):
        ImageGeometry.from_image(img, spatial_dims=2)
    with pytest.raises(ValueError, match="channel-first"):
        ImageGeometry.from_metatensor(MetaTensor(torch.zeros(4, 3, 2), affine=torch.eye(4)))
    with pytest.raises(ValueError, match="spacing must be > 0"):
        ImageGeometry((4, 3, 2), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="non-singular"):
        ImageGeometry((4, 3, 2), (1.0, 1.0, 1.0), direction=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2 or 3 entries"):
        ImageGeometry((4,), (1.0,))
    with pytest.raises(ValueError, match="NaN"):
        ImageGeometry((4, 3, 2), (1, 1, 1)).world_to_index(np.array([[0.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="spatial_dims=3"):
        ImageGeometry((4, 3, 2), (1, 1, 1)).world_to_index(np.zeros((5, 2)))


def test_to_dict_round_trip():
    rot = Rotation.from_euler("z", 33, degrees=True).as_matrix()
    geom = ImageGeometry((6, 5, 4), (0.8, 1.1, 2.5), (1.0, 2.0, 3.0), rot)
    assert ImageGeometry(**geom.to_dict()).allclose(geom, atol=0)


def test_subnormal_direction_entries_are_flushed_for_itk():
    """ITK's direction SVD fails on subnormal entries (found by hypothesis); they are flushed to 0."""
    rot = Rotation.from_euler("xyz", [0.0, 2.0, 2.2e-307], degrees=True).as_matrix()
    assert np.any((rot != 0) & (np.abs(rot) < 1e-300))
    geom = ImageGeometry((3, 3, 3), (1.0, 1.0, 1.0), None, rot)
    assert not np.any((geom.direction != 0) & (np.abs(geom.direction) < 1e-15))
    np.testing.assert_allclose(geom.direction, rot, atol=1e-15)
    img = geom.apply_to_sitk(sitk.Image([3, 3, 3], sitk.sitkFloat32))
    np.testing.assert_allclose(
        img.TransformContinuousIndexToPhysicalPoint([1.0, 2.0, 0.5]),
        geom.index_to_world(np.array([[1.0, 2.0, 0.5]]))[0],
    )


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_refined_grid_covers_the_same_extent_and_nests_in_the_voxels(factor):
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    geom = ImageGeometry((4, 3, 2), (2.0, 1.5, 3.0), (10.0, -5.0, 7.0), rot)
    fine = geom.refined(factor)
    assert fine.size == (4 * factor, 3 * factor, 2 * factor)
    np.testing.assert_allclose(fine.physical_extent, geom.physical_extent)
    np.testing.assert_allclose(fine.centre, geom.centre, atol=1e-12)
    # every sub-voxel centre falls inside its parent voxel (index // factor), and the mean of a voxel's
    # sub-voxel centres is the voxel centre
    sub = np.array([[a, b, c] for a in range(factor) for b in range(factor) for c in range(factor)])
    parent = np.array([[3, 1, 1]])
    centres = fine.index_to_world(parent * factor + sub)
    np.testing.assert_allclose(np.rint(geom.world_to_index(centres)), np.repeat(parent, len(sub), 0))
    np.testing.assert_allclose(centres.mean(0), geom.index_to_world(parent)[0], atol=1e-12)
    with pytest.raises(ValueError, match="factor"):
        geom.refined(0)
