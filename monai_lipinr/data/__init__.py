"""Data access: medical images, landmarks, DIR-Lab, lung masks and the bundled demo sample.

World frame everywhere: ITK/SimpleITK LPS millimetres (DESIGN.md §2).
"""

from __future__ import annotations

from monai_lipinr.data.dirlab import (
    DIRLAB_CASES,
    DIRLabCase,
    DIRLabCaseInfo,
    find_dirlab_cases,
    load_dirlab_case,
    load_dirlab_image,
    locate_dirlab_case,
)
from monai_lipinr.data.images import (
    IMAGE_SUFFIXES,
    check_same_geometry,
    geometry_mismatch,
    load_image,
    metatensor_to_sitk,
    read_dicom_series,
    same_geometry,
    save_image,
    sitk_to_metatensor,
)
from monai_lipinr.data.landmarks import (
    LANDMARK_CSV_HEADER,
    check_landmarks_inside,
    dirlab_indices_to_world,
    landmarks_inside,
    read_dirlab_indices,
    read_dirlab_landmarks,
    read_landmarks,
    read_landmarks_csv,
    write_landmarks_csv,
)
from monai_lipinr.data.lung_mask import compute_lung_mask
from monai_lipinr.data.samples import DEMO_SAMPLE_FILES, demo_sample_metadata, demo_sample_paths

__all__ = [
    "DEMO_SAMPLE_FILES",
    "DIRLAB_CASES",
    "DIRLabCase",
    "DIRLabCaseInfo",
    "IMAGE_SUFFIXES",
    "LANDMARK_CSV_HEADER",
    "check_landmarks_inside",
    "check_same_geometry",
    "compute_lung_mask",
    "demo_sample_metadata",
    "demo_sample_paths",
    "dirlab_indices_to_world",
    "find_dirlab_cases",
    "geometry_mismatch",
    "landmarks_inside",
    "load_dirlab_case",
    "load_dirlab_image",
    "load_image",
    "locate_dirlab_case",
    "metatensor_to_sitk",
    "read_dicom_series",
    "read_dirlab_indices",
    "read_dirlab_landmarks",
    "read_landmarks",
    "read_landmarks_csv",
    "same_geometry",
    "save_image",
    "sitk_to_metatensor",
    "write_landmarks_csv",
]
