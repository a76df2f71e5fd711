"""MONAI's own dictionary transforms and Dataset/DataLoader feeding a registration: MetaTensor affines survive
LoadImaged -> EnsureChannelFirstd -> ScaleIntensityRanged -> Spacingd -> our dictionary transforms, and the
registration runs on (and returns fields on the grid of) the pipeline's output."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import DataLoader, Dataset, MetaTensor, decollate_batch
from monai.networks.blocks import Warp
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, ScaleIntensityRanged, Spacingd

from monai_lipinr.apps.registration import INRRegistration
from monai_lipinr.data.images import metatensor_to_sitk
from monai_lipinr.data.landmarks import read_landmarks
from monai_lipinr.data.samples import demo_sample_paths
from monai_lipinr.transforms import CoordinateGridd, INRToDDFd, RandomMaskedCoordinatesd

# NB: MONAI's Spacingd treats every key starting with "<key>_" as a meta dict of <key>, so the mask key
# must not be "fixed_mask" next to "fixed".
KEYS = ("fixed", "moving", "mask")
SPACING = 7.0  # mm: the 3.5 mm demo pair resampled to a tiny grid


@pytest.fixture(scope="module")
def pipeline_item():
    paths = demo_sample_paths()
    transforms = Compose([
        LoadImaged(KEYS),
        EnsureChannelFirstd(KEYS),
        ScaleIntensityRanged(("fixed", "moving"), a_min=-1000.0, a_max=200.0, b_min=0.0, b_max=1.0, clip=True),
        Spacingd(KEYS, pixdim=(SPACING,) * 3, mode=("bilinear", "bilinear", "nearest")),
        RandomMaskedCoordinatesd("mask", num_samples=64, space="world"),
        CoordinateGridd("fixed", space="world"),
    ])
    transforms.set_random_state(seed=0)
    data = [{"fixed": str(paths["fixed"]), "moving": str(paths["moving"]), "mask": str(paths["fixed_mask"])}]
    batch = next(iter(DataLoader(Dataset(data, transforms), batch_size=1)))
    assert batch["fixed"].affine.shape == (1, 4, 4)  # collated MetaTensor keeps a batch of affines
    item = decollate_batch(batch)[0]
    return item, paths


def test_affines_survive_the_chain(pipeline_item):
    item, paths = pipeline_item
    original = nib.load(str(paths["fixed"])).affine  # RAS, 3.5 mm
    for key in KEYS:
        assert isinstance(item[key], MetaTensor) and item[key].shape[0] == 1
        affine = item[key].affine.numpy()
        np.testing.assert_allclose(affine, item["fixed"].affine.numpy(), atol=1e-6)  # one grid for all
        np.testing.assert_allclose(np.abs(np.diag(affine)[:3]), SPACING, atol=1e-5)
        np.testing.assert_allclose(affine[:3, :3] / SPACING, original[:3, :3] / 3.5, atol=1e-6)  # same axes
        np.testing.assert_allclose(affine[:3, 3], original[:3, 3], atol=1e-4)  # first voxel centre kept
    assert 0.0 <= float(item["fixed"].min()) and float(item["fixed"].max()) <= 1.0
    # our RAS -> LPS reading of the resampled MetaTensor matches SimpleITK's header of the original file
    original_sitk = sitk.ReadImage(str(paths["fixed"]))
    resampled = metatensor_to_sitk(item["fixed"])
    np.testing.assert_allclose(resampled.GetOrigin(), original_sitk.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(resampled.GetSpacing(), (SPACING,) * 3, atol=1e-5)
    np.testing.assert_allclose(resampled.GetDirection(), original_sitk.GetDirection(), atol=1e-6)
    # our dictionary transforms used the resampled affines: the grid's first point is voxel 0 in LPS mm,
    # and the masked samples fall inside the resampled mask
    np.testing.assert_allclose(item["fixed_coords"][0].numpy(), resampled.GetOrigin(), atol=1e-3)
    assert item["fixed_coords"].shape == (int(np.prod(item["fixed"].shape[1:])), 3)
    mask = metatensor_to_sitk(item["mask"])
    mask_arr = sitk.GetArrayFromImage(mask)
    for p in item["mask_coords"].double().numpy():
        i, j, k = np.round(mask.TransformPhysicalPointToContinuousIndex(p.tolist())).astype(int)
        assert mask_arr[k, j, i] > 0


def test_registration_runs_on_the_pipeline_output(pipeline_item):
    item, paths = pipeline_item
    landmarks = (read_landmarks(paths["fixed_landmarks"]), read_landmarks(paths["moving_landmarks"]))
    reg = INRRegistration(iterations=60, batch_size=2048, hidden_features=32, num_layers=2, learning_rate=1e-3,
                          progress=False, empirical_starts=2, empirical_steps=2,
                          intensity_window=(None, None))  # intensities already windowed to [0, 1]
    result = reg.fit(item["fixed"], item["moving"], item["mask"], landmarks=landmarks)
    before, after = result.metrics["tre_before_mm"]["mean"], result.metrics["tre_mm"]["mean"]
    assert before > 4.0 and after < 0.5 * before, result.metrics
    assert result.metrics["folding_rate"] == 0.0
    # the DDF lives on the pipeline's grid, with its affine
    assert result.ddf.shape == (3, *item["fixed"].shape[1:])
    np.testing.assert_allclose(result.ddf.affine.numpy(), item["fixed"].affine.numpy(), atol=1e-6)
    # post-processing with our dictionary transform on the same dict gives the same field
    out = INRToDDFd("fixed", network=result.network, coordinates=result.coordinates)(item)
    assert torch.allclose(out["fixed_ddf"].as_tensor(), result.ddf.as_tensor(), atol=1e-5)
    np.testing.assert_allclose(out["fixed_ddf"].affine.numpy(), item["fixed"].affine.numpy(), atol=1e-6)
    # and MONAI's Warp with it brings the moving image closer to the fixed one inside the mask
    warped = Warp(mode="bilinear", padding_mode="border")(item["moving"][None].float(), out["fixed_ddf"][None].float())
    inside = item["mask"][0] > 0
    err_before = (item["moving"][0] - item["fixed"][0]).abs()[inside].mean()
    err_after = (warped[0, 0] - item["fixed"][0]).abs()[inside].mean()
    assert err_after < 0.8 * err_before
