from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monai_lipinr.data.dirlab import DIRLAB_CASES
from monai_lipinr.data.landmarks import (
    check_landmarks_inside,
    dirlab_indices_to_world,
    landmarks_inside,
    read_dirlab_indices,
    read_dirlab_landmarks,
    read_landmarks,
    read_landmarks_csv,
    write_landmarks_csv,
)


@settings(max_examples=30, deadline=None)
@given(pts=hnp.arrays(np.float64, st.tuples(st.integers(0, 20), st.just(3)), elements=st.floats(-1e4, 1e4)))
def test_csv_round_trip(tmp_path_factory, pts):
    path = tmp_path_factory.mktemp("lm") / "p.csv"
    write_landmarks_csv(pts, path)
    assert path.read_text().splitlines()[0] == "x_mm,y_mm,z_mm"
    back = read_landmarks_csv(path)
    assert back.shape == pts.shape
    assert np.allclose(back, pts, atol=5e-7)


def test_reads_the_benchmark_csv(shared_dir):
    pts = read_landmarks_csv(shared_dir / "bench" / "lung_popi" / "fixed_landmarks.csv")
    assert pts.shape == (300, 3)
    assert np.allclose(pts[0], [-71.7773, 55.2383, -14.5])


def test_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_landmarks_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,z\n1,2,3\n")
    with pytest.raises(ValueError, match="expected 'x_mm,y_mm,z_mm'"):
        read_landmarks_csv(bad)
    bad.write_text("x_mm,y_mm,z_mm\n1,2,3\n4,5\n")
    with pytest.raises(ValueError, match="line 3"):
        read_landmarks_csv(bad)
    bad.write_text("x_mm,y_mm,z_mm\n1,nan,3\n")
    with pytest.raises(ValueError, match="line 2"):
        read_landmarks_csv(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_landmarks_csv(bad)
    ok = tmp_path / "ok.csv"
    write_landmarks_csv([[1, 2, 3]], ok)
    with pytest.raises(FileExistsError):
        write_landmarks_csv([[4, 5, 6]], ok)
    assert np.allclose(read_landmarks_csv(ok), [[1, 2, 3]])
    with pytest.raises(ValueError, match="spatial_dims=3 columns"):
        write_landmarks_csv([[1, 2]], tmp_path / "x.csv")
    with pytest.raises(ValueError, match="NaN or infinite"):
        write_landmarks_csv([[1, 2, np.inf]], tmp_path / "x.csv")


@pytest.mark.parametrize(
    ("case", "mean", "sd"),
    [(1, 3.89, 2.78), (6, 10.89, 6.96)],  # Castillo et al. 2009 / 2010, as in shared/data/README.md
)
def test_dirlab_published_displacements(shared_dir, case, mean, sd):
    folder = shared_dir / "data" / "dirlab_landmarks"
    spacing = DIRLAB_CASES[case].spacing
    t00 = read_dirlab_landmarks(folder / f"Case{case}_300_T00_xyz.txt", spacing)
    t50 = read_dirlab_landmarks(folder / f"Case{case}_300_T50_xyz.txt", spacing)
    assert t00.shape == t50.shape == (300, 3)
    d = np.linalg.norm(t50 - t00, axis=1)
    assert round(float(d.mean()), 2) == mean
    assert round(float(d.std()), 2) == sd
    # the origin shifts both sets: displacements unchanged
    t00o = read_dirlab_landmarks(folder / f"Case{case}_300_T00_xyz.txt", spacing, origin=(10, -20, 5))
    assert np.allclose(t00o - t00, [10, -20, 5])
    # index 1 -> 0 mm
    idx = read_dirlab_indices(folder / f"Case{case}_300_T00_xyz.txt")
    assert np.allclose(t00, (idx - 1) * spacing)
    assert np.all(idx == np.round(idx)) and idx.min() >= 1


def test_dirlab_text_variants(tmp_path):
    p = tmp_path / "lm.txt"
    p.write_bytes(b"211\t139\t66\r\n 27 131\t72\t\r\n\r\n5   6 7 99\n")
    idx = read_dirlab_indices(p)
    assert idx.tolist() == [[211, 139, 66], [27, 131, 72], [5, 6, 7]]
    p.write_text("1 2 0\n")
    with pytest.raises(ValueError, match="1-based"):
        read_dirlab_indices(p)
    p.write_text("1 2 3\n1 2\n")
    with pytest.raises(ValueError, match="line 2"):
        read_dirlab_indices(p)
    p.write_text("\n\n")
    with pytest.raises(ValueError, match="no landmarks"):
        read_dirlab_indices(p)
    p.write_text("1 2 3\n")
    with pytest.raises(ValueError, match="spacing"):
        read_dirlab_landmarks(p, (0.97, 0.0, 2.5))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_dirlab_indices(tmp_path / "nope.txt")


def _grid(
    size=(10, 8, 6),
    spacing=(0.97, 0.97, 2.5),
    origin=(-5.0, 3.0, 100.0),
    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
):
    img = sitk.Image(size, sitk.sitkInt16)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    return img


@pytest.mark.parametrize("flip", [False, True])
def test_dirlab_indices_to_world_matches_simpleitk(flip):
    img = _grid(direction=(0, 1, 0, -1, 0, 0, 0, 0, 1))
    idx = np.array([[1, 1, 1], [10, 8, 6], [3, 4, 2]], dtype=float)
    world = dirlab_indices_to_world(idx, img, flip_z=flip)
    for p, q in zip(idx, world):
        k = (img.GetSize()[2] - p[2]) if flip else p[2] - 1
        ref = img.TransformContinuousIndexToPhysicalPoint((p[0] - 1, p[1] - 1, k))
        assert np.allclose(q, ref)


def test_read_landmarks_dispatch(tmp_path):
    img = _grid()
    txt = tmp_path / "a.txt"
    txt.write_text("1\t1\t1\n2\t3\t4\n")
    with pytest.raises(ValueError, match="pass the image"):
        read_landmarks(txt)
    pts = read_landmarks(txt, image=img)
    assert np.allclose(pts[0], img.GetOrigin())
    csv = tmp_path / "a.csv"
    write_landmarks_csv(pts, csv)
    assert np.allclose(read_landmarks(csv), pts, atol=1e-6)
    with pytest.raises(ValueError, match=r"\.csv \(mm\) or \.txt"):
        read_landmarks(tmp_path / "a.json")


def test_inside_checks_list_offending_rows():
    img = _grid()  # x extent -5 -0.485 .. -5 + 9.5*0.97
    lo = np.asarray(img.GetOrigin()) - 0.5 * np.asarray(img.GetSpacing())
    hi = lo + np.asarray(img.GetSize()) * np.asarray(img.GetSpacing())
    pts = np.array([lo + 1e-9, hi - 1e-9, 0.5 * (lo + hi), hi + [0, 0, 0.01], lo - [0.01, 0, 0]])
    assert landmarks_inside(pts, img).tolist() == [True, True, True, False, False]
    # with a half-voxel margin only the continuous index range [0, n-1] counts
    assert landmarks_inside(pts, img, margin_voxels=0.5).tolist() == [False, False, True, False, False]
    check_landmarks_inside(pts[:3], img)
    with pytest.raises(ValueError, match=r"2 of 5 fixed landmarks lie outside the image .*row 3: .*row 4:"):
        check_landmarks_inside(pts, img, name="fixed landmarks")
    many = np.tile(hi + 1.0, (13, 1))
    with pytest.raises(ValueError, match="and 3 more"):
        check_landmarks_inside(many, img)
    with pytest.raises(ValueError, match="spatial_dims=3 columns"):
        check_landmarks_inside(np.zeros((2, 2)), img)
