from __future__ import annotations

import shutil

import numpy as np
import pytest

from monai_lipinr.data.dirlab import (
    DIRLAB_CASES,
    DIRLabCaseInfo,
    find_dirlab_cases,
    load_dirlab_case,
    load_dirlab_image,
    locate_dirlab_case,
)
from monai_lipinr.data.landmarks import check_landmarks_inside

TINY = DIRLabCaseInfo(case=3, size=(8, 6, 5), spacing=(1.15, 1.15, 2.5))


def test_case_table_is_the_published_one():
    # Castillo et al. 2009 (cases 1-5) and 2010 (cases 6-10), Table 1.
    assert sorted(DIRLAB_CASES) == list(range(1, 11))
    assert [DIRLAB_CASES[c].size[2] for c in range(1, 11)] == [94, 112, 104, 99, 106, 128, 136, 128, 128, 120]
    assert [DIRLAB_CASES[c].spacing[0] for c in range(1, 6)] == [0.97, 1.16, 1.15, 1.13, 1.10]
    for c in range(1, 11):
        info = DIRLAB_CASES[c]
        assert info.size[:2] == ((256, 256) if c <= 5 else (512, 512))
        assert info.spacing[0] == info.spacing[1] and info.spacing[2] == 2.5
        assert c > 5 or info.spacing[0] != 0.97 or c == 1
    assert all(DIRLAB_CASES[c].spacing[:2] == (0.97, 0.97) for c in range(6, 11))


def _code(nx, ny, nz):
    """Raw volume [z, y, x] (stored order) whose value encodes its own 0-based stored index."""
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    return (x + 10 * y + 100 * z).astype(np.int16)


def _write_case(
    root,
    info=TINY,
    image_name="case{c}_T{p}_s.img",
    lm_name="Case{c}_300_T{p}_xyz.txt",
    pack="Case{c}Pack",
    images="Images",
    extreme="ExtremePhases",
    offset=1024,
    lm=None,
):
    c = info.case
    base = root / pack.format(c=c)
    (base / images).mkdir(parents=True, exist_ok=True)
    (base / extreme).mkdir(parents=True, exist_ok=True)
    raw = _code(*info.size)
    for p, shift in (("00", 0), ("50", 1)):
        (raw + offset + shift).astype("<i2").tofile(base / images / image_name.format(c=c, p=p))
    lm = (
        lm
        if lm is not None
        else {"00": [[1, 1, 1], [8, 6, 5], [3, 2, 4]], "50": [[2, 1, 1], [8, 5, 5], [3, 2, 2]]}
    )
    for p, rows in lm.items():
        text = "".join("\t".join(str(v) for v in r) + "\t\r\n" for r in rows)
        (base / extreme / lm_name.format(c=c, p=p)).write_bytes(text.encode())
    return base


def test_tiny_case_orientation_landmarks_and_intensity(tmp_path):
    _write_case(tmp_path)
    case = load_dirlab_case(tmp_path, 3, info=TINY)
    nx, ny, nz = TINY.size
    assert case.fixed.GetSize() == TINY.size and case.moving.GetSize() == TINY.size
    assert case.fixed.GetSpacing() == TINY.spacing
    assert case.fixed.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1) and case.fixed.GetOrigin() == (0, 0, 0)
    assert case.hu_offset == -1024  # stored values >= 0: HU + 1024
    arr = np.asarray(__import__("SimpleITK").GetArrayFromImage(case.fixed))
    # slice order reversed: the first stored slice (stored z = 0, most superior) is the last (top) slice
    assert np.array_equal(arr, _code(nx, ny, nz)[::-1])
    # each landmark lands on the voxel that encodes its own stored 1-based index
    for pts, idx, img, shift in (
        (case.fixed_landmarks, case.fixed_indices, case.fixed, 0),
        (case.moving_landmarks, case.moving_indices, case.moving, 1),
    ):
        check_landmarks_inside(pts, img)
        vox = np.rint([img.TransformPhysicalPointToContinuousIndex(tuple(p)) for p in pts]).astype(int)
        for (x, y, z), (i, j, k) in zip(idx.astype(int), vox):
            assert img.GetPixel(int(i), int(j), int(k)) == (x - 1) + 10 * (y - 1) + 100 * (z - 1) + shift
    # larger stored slice index = more inferior = smaller LPS z
    assert case.fixed_landmarks[2, 2] - case.moving_landmarks[2, 2] == pytest.approx(-2 * 2.5)
    assert case.paths["fixed"].name == "case3_T00_s.img"


def test_hu_offset_auto_keeps_hu_data_and_can_be_forced(tmp_path):
    _write_case(tmp_path, offset=-1000)  # air at -1000: already HU
    case = load_dirlab_case(tmp_path, 3, info=TINY)
    assert case.hu_offset == 0
    img, off = load_dirlab_image(case.paths["fixed"], 3, info=TINY, hu_offset=-24)
    assert off == -24
    with pytest.raises(ValueError, match="hu_offset"):
        load_dirlab_image(case.paths["fixed"], 3, info=TINY, hu_offset="yes")


@pytest.mark.parametrize(
    ("kwargs", "nested"),
    [
        ({}, False),
        ({"image_name": "case{c}_T{p}.img"}, False),
        ({"image_name": "case{c}_T{p}-ssm.img", "extreme": "extremePhases"}, False),
        ({"lm_name": "case{c}_dirLab300_T{p}_xyz.txt", "images": "images", "pack": "case{c}pack"}, False),
        ({"image_name": "Case{c}_T{p}_S.IMG"}, True),  # nested CaseNPack/CaseNPack, upper-case names
    ],
)
def test_accepted_name_variants(tmp_path, kwargs, nested):
    root = tmp_path / "Case3Pack" if nested else tmp_path
    base = _write_case(root, **kwargs)
    files = locate_dirlab_case(tmp_path, 3)
    assert set(files) == {"fixed", "moving", "fixed_landmarks", "moving_landmarks"}
    assert files["fixed"].name.lower().startswith("case3_t00")
    case = load_dirlab_case(tmp_path, 3, info=TINY)
    assert case.fixed_landmarks.shape == (3, 3)
    # the case folder itself as root
    assert load_dirlab_case(base, 3, info=TINY).case == 3
    assert load_dirlab_case(base.parent, 3, info=TINY).case == 3


def test_preference_and_errors(tmp_path):
    base = _write_case(tmp_path)
    shutil.copy(base / "Images" / "case3_T00_s.img", base / "Images" / "case3_T00.img")
    assert locate_dirlab_case(tmp_path, 3)["fixed"].name == "case3_T00_s.img"  # _s preferred
    (base / "ExtremePhases" / "Case3_300_T50_xyz.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing \['moving_landmarks'\]"):
        load_dirlab_case(tmp_path, 3, info=TINY)
    with pytest.raises(FileNotFoundError, match="root folder not found"):
        load_dirlab_case(tmp_path / "nope", 3)
    with pytest.raises(ValueError, match="case=11"):
        load_dirlab_case(tmp_path, 11)
    with pytest.raises(ValueError, match="case=True"):
        load_dirlab_case(tmp_path, True)


def test_wrong_size_and_out_of_grid_landmarks(tmp_path):
    _write_case(tmp_path)
    with pytest.raises(ValueError, match=r"has 480 bytes; case 3 expects 256x256x104 int16 = 13631488 bytes"):
        load_dirlab_case(tmp_path, 3)  # the real case-3 size does not fit the tiny file
    other = tmp_path / "other"
    _write_case(other, lm={"00": [[1, 1, 1], [9, 1, 1]], "50": [[1, 1, 1], [2, 2, 2]]})
    with pytest.raises(ValueError, match=r"rows \[1\] .* exceed the case 3 grid"):
        load_dirlab_case(other, 3, info=TINY)
    third = tmp_path / "third"
    _write_case(third, lm={"00": [[1, 1, 1], [2, 1, 1]], "50": [[1, 1, 1]]})
    with pytest.raises(ValueError, match="2 T00 landmarks but 1 T50"):
        load_dirlab_case(third, 3, info=TINY)


def test_find_cases_skips_incomplete(tmp_path):
    _write_case(tmp_path)
    _write_case(tmp_path, info=DIRLabCaseInfo(5, (8, 6, 5), (1.1, 1.1, 2.5)))
    (tmp_path / "Case5Pack" / "Images" / "case5_T50_s.img").unlink()
    (tmp_path / "notes").mkdir()
    with pytest.warns(UserWarning, match="case 5"):
        found = find_dirlab_cases(tmp_path)
    assert list(found) == [3]
    assert found[3] == tmp_path / "Case3Pack"
    with pytest.raises(FileNotFoundError):
        find_dirlab_cases(tmp_path / "missing")


def test_real_case1_geometry_with_real_landmarks(tmp_path, shared_dir):
    """Full-size case-1 files (zeros) plus the real landmark files: the published motion, pointing up."""
    info = DIRLAB_CASES[1]
    base = tmp_path / "Case1Pack"
    (base / "Images").mkdir(parents=True)
    (base / "ExtremePhases").mkdir()
    zeros = np.zeros(info.size[::-1], dtype="<i2")
    for p in ("00", "50"):
        zeros.tofile(base / "Images" / f"case1_T{p}_s.img")
        shutil.copy(
            shared_dir / "data" / "dirlab_landmarks" / f"Case1_300_T{p}_xyz.txt", base / "ExtremePhases"
        )
    case = load_dirlab_case(tmp_path, 1)
    assert case.fixed.GetSize() == (256, 256, 94) and case.fixed.GetSpacing() == (0.97, 0.97, 2.5)
    check_landmarks_inside(case.fixed_landmarks, case.fixed)
    check_landmarks_inside(case.moving_landmarks, case.moving)
    d = case.moving_landmarks - case.fixed_landmarks
    norm = np.linalg.norm(d, axis=1)
    assert round(float(norm.mean()), 2) == 3.89 and round(float(norm.std()), 2) == 2.78
    # end-inhale -> end-exhale: the lungs rise, i.e. +z (superior) in LPS
    assert d[:, 2].mean() > 3.0
