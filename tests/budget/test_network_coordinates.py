"""NetworkCoordinates: the isotropic map x~ = (x - c)/s and the unit-free displacement Jacobian."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from scipy.spatial.transform import Rotation

from monai_lipinr.budget import ImageGeometry, NetworkCoordinates


def test_centre_and_scale_hand_computed():
    # extents size*spacing = (8, 22, 12.5) mm -> s = 11; centre = origin + ((size-1)/2) * spacing
    nc = NetworkCoordinates.from_parameters((10, 20, 5), (0.8, 1.1, 2.5), (1.0, 2.0, 3.0))
    assert nc.scale == pytest.approx(11.0)
    np.testing.assert_allclose(nc.centre, [1.0 + 4.5 * 0.8, 2.0 + 9.5 * 1.1, 3.0 + 2.0 * 2.5])


def test_same_map_from_sitk_metatensor_and_parameters():
    rot = Rotation.from_euler("xyz", [5, 10, -20], degrees=True).as_matrix()
    geom = ImageGeometry((12, 9, 6), (0.8, 1.1, 2.5), (-5.0, 7.0, 40.0), rot)
    img = geom.apply_to_sitk(sitk.Image([12, 9, 6], sitk.sitkFloat32))
    mt = MetaTensor(torch.zeros(1, 12, 9, 6), affine=torch.as_tensor(geom.affine_ras))
    maps = [
        NetworkCoordinates.from_sitk(img),
        NetworkCoordinates.from_metatensor(mt),
        NetworkCoordinates.from_parameters(geom.size, geom.spacing, geom.origin, geom.direction),
        NetworkCoordinates.from_image(img),
    ]
    for m in maps[1:]:
        np.testing.assert_allclose(m.centre, maps[0].centre, atol=1e-9)
        assert m.scale == pytest.approx(maps[0].scale)
    # the centre is the FOV centre in world coordinates (LPS), here index (5.5, 4, 2.5)
    np.testing.assert_allclose(maps[0].centre, img.TransformContinuousIndexToPhysicalPoint([5.5, 4.0, 2.5]))


def test_fov_maps_into_unit_cube_and_longest_axis_reaches_one():
    rot = Rotation.from_euler("xyz", [30, 0, 45], degrees=True).as_matrix()
    geom = ImageGeometry((10, 30, 8), (1.5, 0.7, 2.5), (3.0, -4.0, 5.0), rot)  # extents 15, 21, 20
    nc = NetworkCoordinates.from_geometry(geom)
    corners = np.array([[a, b, c] for a in (-0.5, 9.5) for b in (-0.5, 29.5) for c in (-0.5, 7.5)])
    xt = nc.world_to_network(geom.index_to_world(corners))
    # each voxel-grid edge vector along image axis d has length extent_d / s <= 2
    lengths = np.linalg.norm(xt[4] - xt[0]), np.linalg.norm(xt[2] - xt[0]), np.linalg.norm(xt[1] - xt[0])
    np.testing.assert_allclose(lengths, np.array([15.0, 21.0, 20.0]) / 10.5, rtol=1e-12)
    assert max(lengths) == pytest.approx(2.0)


@settings(max_examples=40, deadline=None)
@given(
    pts=st.lists(st.tuples(*[st.floats(-500, 500)] * 3), min_size=1, max_size=20),
    scale=st.floats(0.1, 500),
    centre=st.tuples(*[st.floats(-300, 300)] * 3),
)
def test_round_trip_points_and_vectors(pts, scale, centre):
    nc = NetworkCoordinates(centre, scale)
    p = np.asarray(pts)
    np.testing.assert_allclose(
        nc.network_to_world(nc.world_to_network(p)), p, atol=1e-9 * (1 + np.abs(p).max())
    )
    np.testing.assert_allclose(
        nc.displacement_to_world(nc.displacement_to_network(p)), p, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        nc.world_to_network(p), (p - np.asarray(centre)) / scale, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_dtype_and_device_follow_input(dtype):
    nc = NetworkCoordinates((1.0, 2.0, 3.0), 4.0)
    x = torch.randn(5, 3, dtype=dtype)
    y = nc.world_to_network(x)
    assert y.dtype == dtype and y.device == x.device
    torch.testing.assert_close(y, (x - torch.tensor([1.0, 2.0, 3.0], dtype=dtype)) / 4.0)


def test_displacement_jacobian_in_network_units_equals_physical_strain():
    """∇ũ(x̃) == ∂u/∂x for the isotropic map, for any image geometry; per-axis normalisation breaks it."""
    geom = ImageGeometry((200, 150, 60), (0.7, 0.7, 2.5), (-70.0, -50.0, 10.0))
    nc = NetworkCoordinates.from_geometry(geom)
    m = torch.tensor([[0.3, -0.2, 0.1], [0.05, 0.4, -0.3], [0.2, 0.1, -0.5]], dtype=torch.float64)  # mm/mm

    def u_mm(x):  # physical displacement field (mm), Jacobian m
        return (x - torch.as_tensor(geom.origin)) @ m.T

    def u_net(xt):  # the same field as a network in network units
        return nc.displacement_to_network(u_mm(nc.network_to_world(xt)))

    xt = torch.tensor([0.1, -0.3, 0.2], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: u_net(v[None])[0], xt)
    torch.testing.assert_close(jac, m)
    assert NetworkCoordinates.strain_to_network(2.0) == 2.0

    # IDIR-style per-axis [-1, 1] normalisation: x_hat_d = (x_d - c_d) / h_d with h_d = extent_d / 2
    half = torch.as_tensor(geom.physical_extent / 2)

    def u_aniso(xh):
        x = xh * half + torch.as_tensor(nc.centre)
        return u_mm(x) / half

    jac_aniso = torch.autograd.functional.jacobian(lambda v: u_aniso(v[None])[0], xt)
    # entry (i, j) is rescaled by extent_j / extent_i: the physical bound is distorted
    torch.testing.assert_close(jac_aniso, m * half[None, :] / half[:, None])
    ratio = float(torch.linalg.matrix_norm(jac_aniso, 2) / torch.linalg.matrix_norm(m, 2))
    assert abs(ratio - 1.0) > 0.05


def test_gradient_conversion_hand_computed():
    nc = NetworkCoordinates((0.0, 0.0, 0.0), 150.0)
    # 1000 HU over 0.8 mm -> 1250 HU/mm; x 150 mm per unit / 1000 HU per output unit = 187.5
    assert nc.gradient_to_network(1250.0, output_scale=1000.0) == pytest.approx(187.5)
    assert nc.gradient_to_world(187.5, output_scale=1000.0) == pytest.approx(1250.0)


def test_to_dict_round_trip_and_errors():
    nc = NetworkCoordinates((1.0, 2.0), 3.0)
    back = NetworkCoordinates.from_dict(nc.to_dict())
    np.testing.assert_array_equal(back.centre, nc.centre)
    assert back.scale == nc.scale and back.spatial_dims == 2
    with pytest.raises(ValueError, match="scale"):
        NetworkCoordinates((0.0, 0.0, 0.0), 0.0)
    with pytest.raises(ValueError, match="centre"):
        NetworkCoordinates((0.0, np.nan, 0.0), 1.0)
    with pytest.raises(ValueError, match="spatial_dims=2"):
        nc.world_to_network(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        nc.world_to_network(torch.tensor([[0.0, float("nan")]]))
