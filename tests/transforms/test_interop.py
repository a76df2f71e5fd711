"""THE interop test: INRToDDF + monai Warp and the ITK displacement field + SimpleITK agree, on an anisotropic,
rotated grid, with each other and with the analytic displacement network."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.data.image_reader import ITKReader, NibabelReader
from monai.networks.blocks import Warp
from monai.transforms import LoadImage
from scipy.spatial.transform import Rotation

from monai_lipinr.budget import ImageGeometry, NetworkCoordinates
from monai_lipinr.transforms import (
    DDFToITKDisplacementField,
    INRToDDF,
    ITKDisplacementFieldToDDF,
    coordinate_grid,
    interpolate_field,
    warp_points,
)


def _warp(image: torch.Tensor, ddf: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Using PyTorch native grid_sample"
        return Warp(mode="bilinear", padding_mode=padding_mode)(image[None], ddf[None])[0]


def _analytic(points_mm: np.ndarray, net, nc: NetworkCoordinates) -> np.ndarray:
    """x + s * u~((x - c)/s), directly (no transform code path)."""
    xt = torch.as_tensor((points_mm - nc.centre) / nc.scale)
    return points_mm + nc.scale * net(xt).numpy()


@pytest.fixture
def setup(rotated_geometry, sine_net):
    geom = rotated_geometry
    nc = NetworkCoordinates.from_geometry(geom)
    fixed = MetaTensor(
        torch.zeros((1, *geom.size), dtype=torch.float64), affine=torch.as_tensor(geom.affine_ras)
    )
    ddf = INRToDDF(sine_net, nc, chunk_size=1000, dtype=torch.float64)(fixed)
    field = DDFToITKDisplacementField()(ddf)
    return geom, nc, fixed, ddf, field


def test_landmarks_monai_warp_itk_and_analytic_agree(setup, sine_net):
    geom, nc, fixed, ddf, field = setup
    d = geom.spatial_dims
    assert geom.spacing.tolist() == [0.8, 1.1, 2.5] and not np.allclose(geom.direction, np.eye(3))
    u_mm = np.abs(nc.scale * sine_net.amp)
    assert u_mm > 1.0  # the motion is not negligible: up to ~1.5 mm, several voxels along the 0.8 mm axis

    # (a) MONAI: warp the "world coordinate image" of the moving grid with monai's Warp. Linear interpolation
    # of a linear function is exact, so the warped image holds the world point each fixed voxel pulls from.
    world_img = coordinate_grid(fixed, space="world", dtype=torch.float64).T.reshape(d, *geom.size)
    warped_world = _warp(world_img, ddf.as_tensor())

    # (b) ITK: DisplacementFieldTransform of the converted field
    tx = sitk.DisplacementFieldTransform(sitk.Image(field))

    rng = np.random.default_rng(0)
    interior = np.array(geom.size) - 1
    # landmarks at voxel centres and off-grid, away from the border so no sample leaves the grid
    centres = rng.integers(3, interior - 3, size=(30, d)).astype(np.float64)
    offgrid = rng.uniform(3, interior - 3, size=(30, d))
    for idx in (centres, offgrid):
        pts = geom.index_to_world(idx)
        monai_pts = interpolate_field(warped_world, torch.as_tensor(idx)).numpy()  # Warp output at landmarks
        itk_pts = np.array([tx.TransformPoint(p.tolist()) for p in pts])
        ddf_pts = warp_points(pts, ddf)  # our DDF path
        assert np.abs(monai_pts - itk_pts).max() <= 0.01
        assert np.abs(monai_pts - itk_pts).max() <= 1e-9  # in fact equal to float64 precision
        print(f"max |MONAI Warp - SimpleITK| = {np.abs(monai_pts - itk_pts).max():.3g} mm")
        assert np.abs(ddf_pts - itk_pts).max() <= 1e-9
        net_pts = warp_points(pts, sine_net, nc)
        np.testing.assert_allclose(net_pts, _analytic(pts, sine_net, nc), atol=1e-12)
        if idx is centres:  # the field was sampled there: exact agreement with the network
            assert np.abs(itk_pts - net_pts).max() <= 1e-9
        else:  # between samples only the (tri)linear interpolation error remains
            bound = np.sum(geom.spacing**2) / 8 * sine_net.amp * sine_net.omega**2 / nc.scale * np.sqrt(d)
            err = np.linalg.norm(itk_pts - net_pts, axis=1).max()
            print(f"off-grid landmark error vs analytic network: {err:.4g} mm (bound {bound:.4g} mm)")
            assert err <= bound, (err, bound)
            assert err <= 0.05


def test_images_warped_by_monai_and_simpleitk_agree(setup, world_image):
    geom, nc, fixed, ddf, field = setup
    centre = nc.centre

    def blob(x):  # smooth moving image defined in world coordinates
        return 100.0 * np.exp(-np.sum((x - centre) ** 2, axis=1) / (2 * 6.0**2))

    moving_sitk = world_image(geom, blob)
    moving = torch.as_tensor(np.asarray(sitk.GetArrayFromImage(moving_sitk)).transpose(2, 1, 0).copy())[None]
    warped_monai = _warp(moving, ddf.as_tensor(), padding_mode="zeros")[0].numpy()
    fixed_sitk = geom.apply_to_sitk(sitk.Image(list(geom.size), sitk.sitkFloat64))
    tx = sitk.DisplacementFieldTransform(sitk.Image(field))
    warped_itk = sitk.GetArrayFromImage(
        sitk.Resample(moving_sitk, fixed_sitk, tx, sitk.sitkLinear, 0.0)
    ).transpose(2, 1, 0)
    # compare where the pulled point stays inside the moving grid (edge handling differs by library)
    q = np.stack(np.meshgrid(*[np.arange(n) for n in geom.size], indexing="ij"), 0) + ddf.numpy()
    inside = np.all([(q[a] >= 0) & (q[a] <= geom.size[a] - 1) for a in range(3)], axis=0)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(warped_monai[inside], warped_itk[inside], atol=1e-9)
    # and both approximate the analytic pull moving(x + u(x)) (interpolation error of the blob only)
    idx = np.argwhere(inside).astype(np.float64)
    pts = geom.index_to_world(idx)
    expected = blob(warp_points(pts, ddf))
    assert np.abs(warped_itk[inside] - expected).max() < 0.05 * 100.0


def test_ddf_itk_round_trip_and_file_io(setup, tmp_path):
    geom, nc, fixed, ddf, field = setup
    assert field.GetPixelID() == sitk.sitkVectorFloat64 and field.GetNumberOfComponentsPerPixel() == 3
    assert ImageGeometry.from_sitk(field).allclose(geom, atol=1e-12)
    back = ITKDisplacementFieldToDDF(dtype=torch.float64)(field)
    torch.testing.assert_close(back.as_tensor(), ddf.as_tensor(), atol=1e-12, rtol=0)
    np.testing.assert_allclose(back.affine.numpy(), geom.affine_ras)
    # written to disk and read back, SimpleITK's transform still reproduces the landmarks
    path = str(tmp_path / "displacement_itk.nii.gz")
    sitk.WriteImage(field, path)
    loaded = sitk.ReadImage(path, sitk.sitkVectorFloat64)
    pts = geom.index_to_world(np.array([[5.0, 6.0, 7.0], [20.3, 11.1, 4.4]]))
    tx = sitk.DisplacementFieldTransform(loaded)  # note: this empties `loaded`
    a = [tx.TransformPoint(p.tolist()) for p in pts]
    np.testing.assert_allclose(a, warp_points(pts, ddf), atol=1e-4)  # NIfTI header stores float32 geometry


def test_ddf_voxel_units_hand_computed():
    # 90 degree rotation about z: array axis i points along world +y, axis j along world -x
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    geom = ImageGeometry((4, 5, 6), (2.0, 3.0, 4.0), (0.0, 0.0, 0.0), rot)
    nc = NetworkCoordinates.from_geometry(geom)  # s = max(8, 15, 24)/2 = 12
    shift_mm = np.array([6.0, 4.0, -8.0])  # world displacement (LPS mm)

    def net(x):
        return torch.as_tensor(shift_mm / nc.scale, dtype=x.dtype).expand(x.shape[0], 3)

    ddf = INRToDDF(net, nc, dtype=torch.float64)(geom)
    # world (6, 4, -8) mm = +4 mm along axis i (2 voxels), -6 mm along axis j (-2 voxels), -2 voxels along k
    torch.testing.assert_close(ddf[:, 1, 2, 3], torch.tensor([2.0, -2.0, -2.0], dtype=torch.float64))
    field = DDFToITKDisplacementField()(ddf)
    np.testing.assert_allclose(field.GetPixel(1, 2, 3), shift_mm, atol=1e-12)


@pytest.mark.parametrize("reader", ["nibabel", "itk"])
def test_metatensor_loaded_from_nifti_gives_the_same_ddf(setup, sine_net, tmp_path, world_image, reader):
    """NIfTI written by SimpleITK, loaded with monai LoadImage (RAS affine): same map, same DDF."""
    geom, nc, fixed, ddf, field = setup
    img = world_image(geom, lambda x: x[:, 0])
    path = str(tmp_path / "fixed.nii.gz")
    sitk.WriteImage(img, path)
    loader = LoadImage(
        image_only=True,
        ensure_channel_first=True,
        reader=NibabelReader() if reader == "nibabel" else ITKReader(),
    )
    mt = loader(path)
    assert str(mt.meta.get("space", "RAS")) == "RAS"
    nc_mt = NetworkCoordinates.from_metatensor(mt)
    np.testing.assert_allclose(nc_mt.centre, nc.centre, atol=1e-4)
    assert nc_mt.scale == pytest.approx(nc.scale, rel=1e-6)
    ddf_mt = INRToDDF(sine_net, nc_mt, dtype=torch.float64)(mt)
    torch.testing.assert_close(ddf_mt.as_tensor(), ddf.as_tensor(), atol=1e-4, rtol=0)
    # the voxel values line up with world coordinates as well: value == world x (LPS) at each voxel
    world = coordinate_grid(mt, space="world", dtype=torch.float64)
    np.testing.assert_allclose(np.asarray(mt[0]).reshape(-1), world[:, 0].numpy(), atol=1e-3)


def test_2d_interop(make_sine_net):
    geom = ImageGeometry((30, 20), (0.7, 1.9), (3.0, -4.0), [[0.8, -0.6], [0.6, 0.8]])
    nc = NetworkCoordinates.from_geometry(geom)
    net = make_sine_net(spatial_dims=2).double()
    ddf = INRToDDF(net, nc, dtype=torch.float64)(geom)
    assert ddf.shape == (2, 30, 20)
    field = DDFToITKDisplacementField()(ddf)
    tx = sitk.DisplacementFieldTransform(sitk.Image(field))
    idx = np.array([[5.0, 6.0], [12.0, 9.0], [20.0, 14.0]])
    pts = geom.index_to_world(idx)
    itk_pts = np.array([tx.TransformPoint(p.tolist()) for p in pts])
    np.testing.assert_allclose(itk_pts, warp_points(pts, net, nc), atol=1e-9)
    world_img = coordinate_grid(geom, space="world", dtype=torch.float64).T.reshape(2, 30, 20)
    warped = _warp(world_img, ddf.as_tensor())
    np.testing.assert_allclose(interpolate_field(warped, torch.as_tensor(idx)).numpy(), itk_pts, atol=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spacing=st.tuples(*[st.floats(0.3, 3.0)] * 3),
    angles=st.tuples(*[st.floats(-180, 180)] * 3),
    flip=st.booleans(),
    seed=st.integers(0, 100),
)
def test_any_geometry_itk_field_reproduces_the_network_at_voxel_centres(
    make_sine_net, spacing, angles, flip, seed
):
    """Property: for any spacing and any proper or improper orthonormal direction, SimpleITK applying the
    converted field, and monai Warp applying the DDF, move voxel centres exactly where the network does."""
    rot = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    if flip:
        rot = rot @ np.diag([1.0, -1.0, 1.0])
    geom = ImageGeometry((9, 7, 6), spacing, (10.0, -5.0, 3.0), rot)
    nc = NetworkCoordinates.from_geometry(geom)
    net = make_sine_net(seed=seed, amp=0.03).double()
    ddf = INRToDDF(net, nc, dtype=torch.float64)(geom)
    tx = sitk.DisplacementFieldTransform(DDFToITKDisplacementField()(ddf))
    idx = np.random.default_rng(seed).integers(0, np.array(geom.size), size=(10, 3)).astype(np.float64)
    pts = geom.index_to_world(idx)
    itk_pts = np.array([tx.TransformPoint(p.tolist()) for p in pts])
    np.testing.assert_allclose(itk_pts, _analytic(pts, net, nc), atol=1e-9)
    world_img = coordinate_grid(geom, space="world", dtype=torch.float64).T.reshape(3, *geom.size)
    warped = _warp(world_img, ddf.as_tensor())
    q = idx + ddf.numpy()[:, idx[:, 0].astype(int), idx[:, 1].astype(int), idx[:, 2].astype(int)].T
    inside = np.all((q >= 0) & (q <= np.array(geom.size) - 1), axis=1)  # Warp clamps at the border
    got = interpolate_field(warped, torch.as_tensor(idx)).numpy()
    np.testing.assert_allclose(got[inside], itk_pts[inside], atol=1e-9)
