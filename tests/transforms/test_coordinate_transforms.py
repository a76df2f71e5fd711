"""CoordinateGrid(d), MaskedCoordinateSampler / RandomMaskedCoordinates(d), WorldToNetwork(d) / NetworkToWorld(d)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor

from monai_lipinr.budget import ImageGeometry, NetworkCoordinates
from monai_lipinr.transforms import (
    CoordinateGrid,
    CoordinateGridd,
    MaskedCoordinateSampler,
    NetworkToWorld,
    NetworkToWorldd,
    RandomMaskedCoordinates,
    RandomMaskedCoordinatesd,
    WorldToNetwork,
    WorldToNetworkd,
    coordinate_grid,
    sample_masked_coordinates,
)


def _metatensor(geom: ImageGeometry, values=None) -> MetaTensor:
    values = torch.zeros((1, *geom.size)) if values is None else values
    return MetaTensor(values, affine=torch.as_tensor(geom.affine_ras))


# ---------------------------------------------------------------- grids
def test_grid_world_coordinates_match_simpleitk_in_c_order(rotated_geometry):
    geom = rotated_geometry
    img = geom.apply_to_sitk(sitk.Image(list(geom.size), sitk.sitkFloat32))
    grid = CoordinateGrid(space="world", dtype=torch.float64)(_metatensor(geom))
    assert grid.shape == (geom.num_voxels, 3)
    g = grid.reshape(*geom.size, 3)
    for ijk in [(0, 0, 0), (27, 23, 13), (5, 17, 2), (11, 0, 9)]:
        np.testing.assert_allclose(g[ijk].numpy(), img.TransformIndexToPhysicalPoint(ijk), atol=1e-9)
    # the SimpleITK image and the geometry itself give the same grid
    torch.testing.assert_close(coordinate_grid(img, space="world", dtype=torch.float64), grid)
    idx = coordinate_grid(geom, space="index", dtype=torch.float64).reshape(*geom.size, 3)
    assert idx[3, 4, 5].tolist() == [3.0, 4.0, 5.0]


def test_grid_network_space_and_dict_version(rotated_geometry):
    geom = rotated_geometry
    nc = NetworkCoordinates.from_geometry(geom)
    mt = _metatensor(geom)
    net_grid = coordinate_grid(mt, space="network", dtype=torch.float64)
    world = coordinate_grid(mt, space="world", dtype=torch.float64)
    torch.testing.assert_close(net_grid, nc.world_to_network(world))
    # along the image axes the voxel centres stay inside (-1, 1); the world axes are kept (rotated box)
    along_axes = net_grid @ torch.as_tensor(geom.direction)
    assert float(along_axes.abs().max()) < 1.0
    assert float(net_grid.abs().max()) > 1.0  # the rotated box pokes out of the world-axis cube
    # a map of another (fixed) image is used when given
    other = NetworkCoordinates(nc.centre + 5.0, 2 * nc.scale)
    torch.testing.assert_close(
        coordinate_grid(mt, "network", other, dtype=torch.float64), other.world_to_network(world)
    )
    out = CoordinateGridd(keys="img", dtype=torch.float32)({"img": mt})
    assert out["img_coords"].dtype == torch.float32 and out["img_coords"].shape == (geom.num_voxels, 3)
    assert out["img"] is mt
    out2 = CoordinateGridd(keys="img", output_keys="pts", space="world")({"img": mt})
    assert "pts" in out2 and "img_coords" not in out2


def test_grid_errors(rotated_geometry):
    with pytest.raises(TypeError, match="geometry"):
        coordinate_grid(torch.zeros(1, 4, 4, 4))
    with pytest.raises(ValueError, match="spatial shape"):
        coordinate_grid(torch.zeros(1, 4, 4, 4), geometry=rotated_geometry)
    with pytest.raises(ValueError, match="space must be one of"):
        CoordinateGrid(space="voxel")
    with pytest.raises(ValueError, match="spatial_dims=3"):
        coordinate_grid(rotated_geometry, coordinates=NetworkCoordinates((0.0, 0.0), 1.0))
    with pytest.raises(ValueError, match="channel-first"):
        coordinate_grid(MetaTensor(torch.zeros(4, 4, 4), affine=torch.eye(4)))


# ---------------------------------------------------------------- masked sampling
def _mask(geom, voxels):
    m = torch.zeros((1, *geom.size))
    for v in voxels:
        m[(0, *v)] = 1
    return _metatensor(geom, m)


def test_samples_lie_in_the_mask_and_are_reproducible(rotated_geometry):
    geom = rotated_geometry
    m = torch.zeros((1, *geom.size))
    m[0, 5:9, 3:20, 2:6] = 1
    mask = _metatensor(geom, m)
    sampler = MaskedCoordinateSampler(mask, space="world")
    assert sampler.num_voxels == 4 * 17 * 4
    pts, idx = sampler.sample(500, rng=1, dtype=torch.float64, return_indices=True)
    assert pts.shape == (500, 3)
    vox = torch.round(idx).long()
    assert bool(m[0][vox[:, 0], vox[:, 1], vox[:, 2]].all())
    assert float((idx - vox).abs().max()) <= 0.5
    np.testing.assert_allclose(pts.numpy(), geom.index_to_world(idx.numpy()), atol=1e-9)
    torch.testing.assert_close(sampler.sample(50, rng=3), sampler.sample(50, rng=3))
    assert not torch.equal(sampler.sample(50, rng=3), sampler.sample(50, rng=4))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    torch.testing.assert_close(sampler.sample(20, rng=g1), sampler.sample(20, rng=g2))
    torch.testing.assert_close(
        sampler.sample(20, rng=np.random.default_rng(5)), sampler.sample(20, rng=np.random.default_rng(5))
    )
    # without jitter the samples are voxel centres
    centres = MaskedCoordinateSampler(mask, space="index", jitter=False).sample(100, rng=0)
    torch.testing.assert_close(centres, torch.round(centres))


def test_sampling_is_uniform_over_mask_voxels(rotated_geometry):
    mask = _mask(rotated_geometry, [(1, 1, 1), (20, 10, 5), (7, 7, 7)])
    idx = sample_masked_coordinates(mask, 30000, space="index", jitter=False, rng=0)
    counts = np.array([int((idx[:, 0] == v).sum()) for v in (1, 20, 7)])
    assert counts.sum() == 30000
    assert np.all(np.abs(counts - 10000) < 5 * np.sqrt(30000 * (1 / 3) * (2 / 3)))  # 5 sigma binomial


def test_random_masked_coordinates_transforms(rotated_geometry):
    geom = rotated_geometry
    mask = _mask(geom, [(2, 3, 4), (10, 11, 12)])
    t = RandomMaskedCoordinates(64, space="network")
    t.set_random_state(seed=11)
    a = t(mask)
    t.set_random_state(seed=11)
    torch.testing.assert_close(a, t(mask))
    assert a.shape == (64, 3) and a.dtype == torch.float32
    td = RandomMaskedCoordinatesd(keys="mask", num_samples=64, space="network")
    td.set_random_state(seed=11)
    out = td({"mask": mask})
    torch.testing.assert_close(out["mask_coords"], a)


def test_sampling_errors(rotated_geometry):
    geom = rotated_geometry
    with pytest.raises(ValueError, match="empty"):
        MaskedCoordinateSampler(_metatensor(geom))
    with pytest.raises(ValueError, match="exactly 1 channel"):
        MaskedCoordinateSampler(_metatensor(geom, torch.ones((2, *geom.size))))
    with pytest.raises(TypeError, match="geometry"):
        MaskedCoordinateSampler(torch.ones((1, 4, 4, 4)))
    with pytest.raises(ValueError, match="num_samples"):
        RandomMaskedCoordinates(0)
    with pytest.raises(ValueError, match="num_samples"):
        MaskedCoordinateSampler(_mask(geom, [(1, 1, 1)])).sample(-3)
    with pytest.raises(TypeError, match="rng"):
        MaskedCoordinateSampler(_mask(geom, [(1, 1, 1)])).sample(3, rng="seed")
    # plain tensor + explicit geometry works
    pts = sample_masked_coordinates(torch.ones((1, *geom.size)), 5, geometry=geom, rng=0)
    assert pts.shape == (5, 3)


# ---------------------------------------------------------------- world <-> network
@pytest.mark.parametrize("as_numpy", [True, False])
def test_world_network_round_trip(as_numpy):
    nc = NetworkCoordinates((10.0, -20.0, 30.0), 50.0)
    pts = np.random.default_rng(0).normal(scale=40.0, size=(17, 3))
    x = pts if as_numpy else torch.as_tensor(pts)
    xt = WorldToNetwork(nc)(x)
    assert isinstance(xt, np.ndarray) == as_numpy
    np.testing.assert_allclose(np.asarray(xt), (pts - nc.centre) / 50.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(NetworkToWorld(nc)(xt)), pts, rtol=1e-12)
    # vectors: scaling only
    np.testing.assert_allclose(np.asarray(WorldToNetwork(nc, vectors=True)(x)), pts / 50.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(NetworkToWorld(nc, vectors=True)(x)), pts * 50.0, rtol=1e-12)
    d = WorldToNetworkd(keys=["a", "b"], coordinates=nc)({"a": x, "b": x})
    np.testing.assert_allclose(np.asarray(d["a"]), np.asarray(xt))
    back = NetworkToWorldd(keys="a", coordinates=nc, output_keys="w")(d)
    np.testing.assert_allclose(np.asarray(back["w"]), pts, rtol=1e-12)


def test_world_network_errors():
    nc = NetworkCoordinates((0.0, 0.0, 0.0), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        WorldToNetwork(nc)(torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="spatial_dims=3"):
        WorldToNetwork(nc)(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(N, spatial_dims\)"):
        NetworkToWorld(nc)(np.zeros(3))
    with pytest.raises(TypeError, match="NetworkCoordinates"):
        WorldToNetwork(None)
    with pytest.raises(TypeError, match="NetworkCoordinates"):
        WorldToNetwork({"centre": [0, 0, 0], "scale": 1})
    with pytest.raises(KeyError):
        WorldToNetworkd(keys="missing", coordinates=nc)({"a": np.zeros((1, 3))})
