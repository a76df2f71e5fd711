from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from monai_lipinr.data.lung_mask import compute_lung_mask


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _phantom(spacing=(2.0, 2.0, 2.5), seed=0):
    """Thorax phantom [z, y, x]: body, table, two lungs with vessels, a trachea, a gas bubble."""
    nz, ny, nx = 48, 64, 72
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    cx, cy = 36, 30
    hu = np.full((nz, ny, nx), -1000.0)
    body = (((x - cx) / 30.0) ** 2 + ((y - cy) / 22.0) ** 2 <= 1) & (z >= 2) & (z <= 44)
    hu[body] = 40.0
    hu[(y >= 56) & (y <= 58)] = 300.0  # the table, separated from the body by air
    lungs = np.zeros_like(body)
    for sx in (-1, 1):
        lungs |= ((x - cx - sx * 15) / 9.0) ** 2 + ((y - cy) / 13.0) ** 2 + ((z - 22) / 15.0) ** 2 <= 1
    hu[lungs] = -850.0
    for vz, vy, vx in ((20, 30, 21), (25, 26, 51), (15, 34, 49), (28, 31, 23)):  # vessels inside the lungs
        hu[(z - vz) ** 2 + (y - vy) ** 2 + (x - vx) ** 2 <= 2.0**2] = 40.0
    trachea = ((x - cx) ** 2 + (y - cy) ** 2 <= 2.5**2) & (z >= 36) & (z <= 44)
    for sx in (-1, 1):  # main bronchi from the carina (z = 36) into each lung
        for t in np.linspace(0, 1, 40):
            trachea |= (x - cx - sx * 12 * t) ** 2 + (y - cy) ** 2 + (z - 36 + 10 * t) ** 2 <= 1.5**2
    hu[trachea] = -1000.0
    hu[(z - 6) ** 2 + (y - 30) ** 2 + (x - 36) ** 2 <= 3**2] = -1000.0  # bowel gas
    hu += np.random.default_rng(seed).normal(0.0, 15.0, hu.shape)
    img = sitk.GetImageFromArray(hu.astype(np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin((-70.0, -60.0, -50.0))
    return img, lungs, trachea & (z >= 38)


def test_phantom_lungs_found_trachea_and_gas_removed():
    img, lungs, upper_trachea = _phantom()
    mask = compute_lung_mask(img)
    assert mask.GetPixelID() == sitk.sitkUInt8
    assert mask.GetSize() == img.GetSize() and mask.GetOrigin() == img.GetOrigin()
    m = sitk.GetArrayFromImage(mask) > 0
    assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1}
    assert _dice(m, lungs) >= 0.95
    assert not (m & upper_trachea).any()  # trachea above the carina removed
    assert m[:, :, :36].any() and m[:, :, 37:].any()
    assert not m[6, 30, 36]  # bowel gas is not lung
    assert m[20, 30, 21] and m[25, 26, 51]  # vessels inside the lungs are filled
    assert ndimage.label(m)[1] == 2
    # without trachea removal the trachea stays (so the step above is what removed it)
    keep = sitk.GetArrayFromImage(compute_lung_mask(img, remove_trachea=False)) > 0
    assert (keep & upper_trachea).sum() > 0.5 * upper_trachea.sum()


def test_phantom_independent_of_storage_orientation_and_downsampling():
    img, lungs, _ = _phantom()
    ref = sitk.GetArrayFromImage(compute_lung_mask(img))
    # the same world content stored with the slice order reversed (direction z = -1)
    flipped = sitk.Flip(img, [False, False, True], flipAboutOrigin=False)
    assert flipped.GetDirection()[8] == -1.0
    m = compute_lung_mask(flipped)
    assert m.GetDirection() == flipped.GetDirection()
    back = sitk.Resample(m, img, sitk.Transform(), sitk.sitkNearestNeighbor)
    assert np.array_equal(sitk.GetArrayFromImage(back), ref)
    # finer voxels (block-averaged by 2 in-plane on the working grid), result on the input grid
    fine, lungs_fine, _ = _phantom(spacing=(1.0, 1.0, 2.5))
    mf = compute_lung_mask(fine)
    assert mf.GetSize() == fine.GetSize() and mf.GetSpacing() == fine.GetSpacing()
    assert _dice(sitk.GetArrayFromImage(mf) > 0, lungs_fine) >= 0.9


def test_empty_and_bad_inputs():
    tissue = sitk.GetImageFromArray(np.full((10, 12, 14), 40, np.int16))
    with pytest.raises(ValueError, match="lung mask is empty"):
        compute_lung_mask(tissue)
    air = sitk.GetImageFromArray(np.full((10, 12, 14), -1000, np.int16))
    with pytest.raises(ValueError, match="no voxel above threshold_hu"):
        compute_lung_mask(air)
    with pytest.raises(TypeError, match="SimpleITK.Image"):
        compute_lung_mask(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="3-D scalar"):
        compute_lung_mask(sitk.Image(8, 8, sitk.sitkInt16))
    img, _, _ = _phantom()
    with pytest.raises(ValueError, match="closing_radius_mm"):
        compute_lung_mask(img, closing_radius_mm=0.0)
    with pytest.raises(ValueError, match="min_component_fraction"):
        compute_lung_mask(img, min_component_fraction=1.5)


def test_real_ct_matches_reference_mask(shared_dir):
    """Real thorax CT (POPI via lung_popi): Dice against the benchmark's reference lung mask."""
    folder = shared_dir / "bench" / "lung_popi"
    ct = sitk.ReadImage(str(folder / "fixed.nii.gz"))
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "fixed_lung_mask.nii.gz"))) > 0
    t0 = time.perf_counter()
    mask = compute_lung_mask(ct)
    elapsed = time.perf_counter() - t0
    m = sitk.GetArrayFromImage(mask) > 0
    dice = _dice(m, ref)
    print(f"lung mask on lung_popi/fixed.nii.gz: Dice {dice:.4f}, {elapsed:.2f} s")
    assert dice >= 0.98  # measured 0.996; the brief asks >= 0.9
    assert elapsed < 15.0  # about 1.3 s on an idle 2-core machine; generous for a shared one
    assert ndimage.label(m)[1] == 2
    voxel_ml = np.prod(ct.GetSpacing()) / 1000.0
    assert abs(m.sum() - ref.sum()) * voxel_ml < 0.02 * ref.sum() * voxel_ml
    # removing the trachea is measurably better than keeping it
    keep = sitk.GetArrayFromImage(compute_lung_mask(ct, remove_trachea=False)) > 0
    assert dice > _dice(keep, ref)
