"""The CT reconstruction benchmark's scan geometries (``benchmarks/ct_reconstruction.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_lipinr.apps.reconstruction.geometry import FanBeamGeometry, ParallelBeamGeometry
from monai_lipinr.budget import ImageGeometry


@pytest.mark.parametrize("size,pixel", [(128, 1.0), (96, 0.7)])  # even sizes, as the benchmark's
def test_fan_scan_covers_the_parallel_field_of_view(bench, size, pixel):
    centre = (3.0, -2.0)
    par = bench.scan_geometry("parallel", 60, size, pixel, centre)
    fan = bench.scan_geometry("fan", 60, size, pixel, centre)
    assert isinstance(par, ParallelBeamGeometry) and isinstance(fan, FanBeamGeometry)
    np.testing.assert_allclose(fan.centre, centre)
    # parallel: 180 degrees; fan: 360 degrees, same number of views
    np.testing.assert_allclose(np.diff(par.angles), math.pi / 60)
    np.testing.assert_allclose(np.diff(fan.angles), 2 * math.pi / 60)
    # bins of one pixel at the rotation centre; the fan's disk covers the parallel one, by less than a bin more
    assert fan.resolution_mm() == pytest.approx(pixel)
    r = 0.5 * (size - 1) * pixel  # even sizes: the parallel detector is offset by half a bin
    assert par.field_of_view_radius() == pytest.approx(r)
    assert r <= fan.field_of_view_radius() < r + pixel
    # the same view sampling limit per view over 180 degrees: a 360-degree fan scan counts as N / 2 views
    assert fan.angular_sampling_limit() * fan.field_of_view_radius() == pytest.approx(30.0)


def test_fan_case_scores_fbp_and_the_package_sart(bench, ellipse_slice):
    hu, geom = ellipse_slice
    rows = bench.run_case(hu, geom, 32, 90, 1e6, 1, [1.0], methods=("fbp", "sart"), geometry="fan")
    assert [r["method"] for r in rows][:2] == ["FBP (ramp)", "SART (2 it)"]
    assert rows[2]["method"].startswith("SART (best:") and 1 <= rows[2]["iterations"] <= 6
    assert all(r["geometry"] == "fan" and r["views"] == 90 and r["size"] == 32 for r in rows)
    assert all(r["psnr_db"] > 20.0 for r in rows)


def test_saved_images_reproduce_the_scores(bench, tmp_path):
    import SimpleITK as sitk

    from monai_lipinr.apps.reconstruction.quality import masked_psnr

    n, pixel = 64, 1.0
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    hu = np.where(xx**2 / 22**2 + yy**2 / 16**2 < 1, 40.0, -1000.0)
    geom = ImageGeometry((n, n), (pixel, pixel), (5.0, -3.0))
    rows = bench.run_case(hu, geom, 32, 30, 1e6, 1, [1.0], methods=("fbp",), save_images=tmp_path)
    stem = "parallel_32px_30v_seed0"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}_{k}.nii.gz" for k in ("fbp_ramp", "mask", "reference")]
    read = {k: sitk.ReadImage(str(tmp_path / f"{stem}_{k}.nii.gz")) for k in ("fbp_ramp", "mask", "reference")}
    # on the reconstruction grid: 32 pixels of 2 mm over the source image's extent
    assert read["fbp_ramp"].GetSize() == (32, 32) and read["fbp_ramp"].GetSpacing() == pytest.approx((2.0, 2.0))
    fbp, mask, ref = (sitk.GetArrayFromImage(read[k]).astype(np.float64) for k in ("fbp_ramp", "mask", "reference"))
    assert masked_psnr(fbp, ref, mask > 0.5) == pytest.approx(rows[0]["psnr_db"], abs=1e-3)
    with pytest.raises(FileExistsError):  # a second run into the same directory overwrites nothing
        bench.run_case(hu, geom, 32, 30, 1e6, 1, [1.0], methods=("fbp",), save_images=tmp_path)
