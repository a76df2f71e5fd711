"""INRToDDF(d) details (chunking, no_grad, dtypes, other moving grid), DDF <-> ITK errors, WarpLandmarks(d)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from scipy.spatial.transform import Rotation

from monai_lipinr.budget import ImageGeometry, NetworkCoordinates
from monai_lipinr.transforms import (
    DDFToITKDisplacementField,
    DDFToITKDisplacementFieldd,
    INRToDDF,
    INRToDDFd,
    ITKDisplacementFieldToDDF,
    ITKDisplacementFieldToDDFd,
    WarpLandmarks,
    WarpLandmarksd,
    ddf_to_itk_displacement_field,
    ddf_to_world_displacement,
    inr_to_ddf,
    itk_displacement_field_to_ddf,
    warp_points,
    world_displacement_to_ddf,
)


def test_chunked_evaluation_is_bounded_exact_and_gradient_free(rotated_geometry, sine_net):
    geom = rotated_geometry
    nc = NetworkCoordinates.from_geometry(geom)
    full = inr_to_ddf(sine_net, geom, nc, chunk_size=10**7, dtype=torch.float64)
    sine_net.calls.clear()
    chunked = inr_to_ddf(sine_net, geom, nc, chunk_size=997, dtype=torch.float64)
    assert max(sine_net.calls) <= 997 and sum(sine_net.calls) == geom.num_voxels
    assert sine_net.grad_enabled is False
    torch.testing.assert_close(chunked, full, rtol=0, atol=0)
    # float32 network (parameters) -> float32 inputs; DDF dtype is independent
    net32 = type(sine_net)().float()
    ddf32 = inr_to_ddf(net32, geom, nc, dtype=torch.float32)
    assert ddf32.dtype == torch.float32
    torch.testing.assert_close(ddf32.as_tensor().double(), full.as_tensor(), atol=1e-4, rtol=0)


def test_default_coordinates_come_from_the_fixed_image_and_dict_version(rotated_geometry, sine_net):
    geom = rotated_geometry
    fixed = MetaTensor(torch.zeros((1, *geom.size)), affine=torch.as_tensor(geom.affine_ras))
    a = INRToDDF(sine_net, dtype=torch.float64)(fixed)
    b = INRToDDF(sine_net, NetworkCoordinates.from_geometry(geom), dtype=torch.float64)(fixed)
    torch.testing.assert_close(a, b)
    np.testing.assert_allclose(a.affine.numpy(), geom.affine_ras)
    out = INRToDDFd(keys="fixed", network=sine_net, dtype=torch.float64)({"fixed": fixed})
    torch.testing.assert_close(out["fixed_ddf"], a)
    out2 = INRToDDFd(keys="fixed", network=sine_net, output_keys="ddf", dtype=torch.float64)({"fixed": fixed})
    assert "ddf" in out2


def test_moving_on_another_grid(rotated_geometry, sine_net):
    """With moving=..., p + ddf(p) is the continuous index of the pulled point in the moving array."""
    geom = rotated_geometry
    nc = NetworkCoordinates.from_geometry(geom)
    rot = Rotation.from_euler("z", -40, degrees=True).as_matrix()
    moving = ImageGeometry((40, 30, 20), (0.6, 0.9, 1.7), (-20.0, 20.0, -70.0), rot)
    ddf = inr_to_ddf(sine_net, geom, nc, moving=moving, dtype=torch.float64)
    idx = np.array([[3, 4, 5], [20, 10, 7], [27, 23, 13]])
    pts = geom.index_to_world(idx.astype(np.float64))
    pulled = warp_points(pts, sine_net, nc)  # analytic
    q = idx + ddf.numpy()[:, idx[:, 0], idx[:, 1], idx[:, 2]].T
    np.testing.assert_allclose(moving.index_to_world(q), pulled, atol=1e-9)
    # landmark warping through the mixed DDF needs the moving geometry
    np.testing.assert_allclose(warp_points(pts, ddf, moving=moving), pulled, atol=1e-9)


def test_inr_to_ddf_errors(rotated_geometry):
    geom = rotated_geometry
    with pytest.raises(ValueError, match="out_channels == spatial_dims"):
        inr_to_ddf(lambda x: x[:, :2], geom)
    with pytest.raises(ValueError, match="NaN"):
        inr_to_ddf(lambda x: x * float("nan"), geom)
    with pytest.raises(ValueError, match="chunk_size"):
        INRToDDF(lambda x: x, chunk_size=0)
    with pytest.raises(TypeError, match="callable"):
        INRToDDF("net")
    with pytest.raises(ValueError, match="spatial_dims=3"):
        inr_to_ddf(lambda x: x, geom, coordinates=NetworkCoordinates((0.0, 0.0), 1.0))
    with pytest.raises(TypeError, match="geometry"):
        inr_to_ddf(lambda x: x, torch.zeros(1, 4, 4, 4))


def test_world_displacement_round_trip_and_conversion_errors(rotated_geometry):
    geom = rotated_geometry
    ddf = torch.randn((3, *geom.size), dtype=torch.float64)
    mm = ddf_to_world_displacement(ddf, geom)
    # per voxel: mm = direction @ diag(spacing) @ ddf
    v = ddf[:, 4, 5, 6].numpy()
    np.testing.assert_allclose(mm[:, 4, 5, 6].numpy(), geom.direction @ (geom.spacing * v), atol=1e-12)
    torch.testing.assert_close(world_displacement_to_ddf(mm, geom, dtype=torch.float64).as_tensor(), ddf)
    with pytest.raises(ValueError, match="spatial_dims=3 channels"):
        ddf_to_itk_displacement_field(torch.zeros((2, *geom.size)), geom)
    with pytest.raises(ValueError, match="spatial shape"):
        ddf_to_itk_displacement_field(torch.zeros((3, 4, 4, 4)), geom)
    with pytest.raises(ValueError, match="NaN"):
        ddf_to_itk_displacement_field(torch.full((3, *geom.size), float("nan")), geom)
    with pytest.raises(TypeError, match="geometry"):
        ddf_to_itk_displacement_field(torch.zeros((3, 4, 4, 4)))
    with pytest.raises(TypeError, match="SimpleITK"):
        itk_displacement_field_to_ddf(np.zeros((3, 4, 4, 4)))
    with pytest.raises(ValueError, match="3 components"):
        itk_displacement_field_to_ddf(sitk.Image([4, 4, 4], sitk.sitkFloat64))


def test_conversion_dict_versions(rotated_geometry, sine_net):
    geom = rotated_geometry
    ddf = inr_to_ddf(sine_net, geom, dtype=torch.float64)
    d = DDFToITKDisplacementFieldd(keys="ddf", output_keys="itk")({"ddf": ddf})
    assert isinstance(d["itk"], sitk.Image) and d["ddf"] is ddf
    d2 = ITKDisplacementFieldToDDFd(keys="itk", dtype=torch.float64)(d)
    torch.testing.assert_close(d2["itk"].as_tensor(), ddf.as_tensor())
    assert isinstance(DDFToITKDisplacementField()(ddf), sitk.Image)
    assert ITKDisplacementFieldToDDF()(d["itk"]).dtype == torch.float32


def test_warp_landmarks_sources_containers_and_dict(rotated_geometry, sine_net):
    geom = rotated_geometry
    nc = NetworkCoordinates.from_geometry(geom)
    ddf = inr_to_ddf(sine_net, geom, nc, dtype=torch.float64)
    field = ddf_to_itk_displacement_field(ddf)
    idx = np.array([[3.0, 4.0, 5.0], [10.0, 11.0, 12.0]])
    pts = geom.index_to_world(idx)
    expected = warp_points(pts, sine_net, nc)
    for src in (ddf, field, sine_net):
        out = WarpLandmarks(src, coordinates=nc)(pts)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, expected, atol=1e-9)
    t32 = torch.as_tensor(pts, dtype=torch.float32)
    out32 = WarpLandmarks(ddf)(t32)
    assert isinstance(out32, torch.Tensor) and out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), expected, atol=1e-3)
    d = WarpLandmarksd(keys="fixed_lm", field_key="ddf", output_keys="warped")({"fixed_lm": pts, "ddf": ddf})
    np.testing.assert_allclose(d["warped"], expected, atol=1e-9)
    np.testing.assert_array_equal(d["fixed_lm"], pts)
    d2 = WarpLandmarksd(keys="fixed_lm", field=sine_net, coordinates=nc)({"fixed_lm": pts})
    np.testing.assert_allclose(d2["fixed_lm"], expected, atol=1e-12)


def test_warp_landmarks_errors(rotated_geometry, sine_net):
    geom = rotated_geometry
    ddf = inr_to_ddf(sine_net, geom, dtype=torch.float64)
    far = geom.index_to_world(np.array([[3.0, 4.0, 5.0], [-3.0, 4.0, 5.0]]))
    with pytest.raises(ValueError, match="1 of 2 points lie outside"):
        warp_points(far, ddf)
    with pytest.raises(ValueError, match="outside"):
        warp_points(far, ddf_to_itk_displacement_field(ddf))
    assert warp_points(far, ddf, outside="border").shape == (2, 3)
    edge = geom.index_to_world(np.array([[-0.4, 4.0, 13.4]]))  # within half a voxel: accepted
    assert warp_points(edge, ddf).shape == (1, 3)
    with pytest.raises(ValueError, match="NaN"):
        warp_points(np.array([[0.0, np.nan, 0.0]]), ddf)
    with pytest.raises(ValueError, match="spatial_dims=3"):
        warp_points(np.zeros((4, 2)), sine_net, NetworkCoordinates((0.0, 0.0, 0.0), 1.0))
    with pytest.raises(TypeError, match="coordinates"):
        warp_points(np.zeros((4, 3)), sine_net)
    with pytest.raises(ValueError, match="spatial_dims=3 channels"):
        warp_points(np.zeros((4, 3)), torch.zeros((2, *geom.size)), geometry=geom)
    with pytest.raises(TypeError, match="field must be"):
        warp_points(np.zeros((4, 3)), 3.0)
    with pytest.raises(ValueError, match="outside must be one of"):
        warp_points(np.zeros((4, 3)), ddf, outside="clip")
    with pytest.raises(TypeError, match="no displacement field"):
        WarpLandmarks()(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="exactly one of field and field_key"):
        WarpLandmarksd(keys="lm")
