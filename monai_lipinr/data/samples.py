"""The demo sample bundled with the package (a small real-anatomy lung CT pair).

Derived from the POPI-model thorax CT through the ``lung_popi`` benchmark by
``scripts/make_demo_sample.py``; provenance, citation, terms and conventions are in
``demo_sample.json`` (key ``"metadata"`` of :func:`demo_sample_paths`).
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

__all__ = ["DEMO_SAMPLE_FILES", "demo_sample_metadata", "demo_sample_paths"]

#: Key -> file name (inside the ``monai_lipinr.data`` package) of every file of the demo sample.
DEMO_SAMPLE_FILES: dict[str, str] = {
    "fixed": "demo_fixed.nii.gz",
    "moving": "demo_moving.nii.gz",
    "fixed_mask": "demo_fixed_lung_mask.nii.gz",
    "fixed_landmarks": "demo_fixed_landmarks.csv",
    "moving_landmarks": "demo_moving_landmarks.csv",
    "metadata": "demo_sample.json",
}


def demo_sample_paths() -> dict[str, Path]:
    """Paths of the bundled demo sample files.

    Returns:
        ``{"fixed", "moving", "fixed_mask", "fixed_landmarks", "moving_landmarks", "metadata"}`` -> path.
        Images are int16 HU / uint8 NIfTI in LPS; landmarks are CSV ``x_mm,y_mm,z_mm`` in LPS world mm,
        row-aligned pairs.

    Raises:
        FileNotFoundError: when the package was installed without its data files.
    """
    root = importlib.resources.files(__package__)
    out: dict[str, Path] = {}
    for key, name in DEMO_SAMPLE_FILES.items():
        path = Path(str(root / name))
        if not path.is_file():
            raise FileNotFoundError(
                f"demo sample file {name!r} not found at {str(path)!r}; the package data were not installed "
                "(regenerate them with scripts/make_demo_sample.py or reinstall monai_lipinr)."
            )
        out[key] = path
    return out


def demo_sample_metadata() -> dict[str, Any]:
    """The provenance and conventions record of the demo sample (``demo_sample.json``)."""
    return json.loads(demo_sample_paths()["metadata"].read_text(encoding="utf-8"))
