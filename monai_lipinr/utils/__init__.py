"""Small shared helpers (output folders, validation)."""

from __future__ import annotations

from monai_lipinr.utils.output import atomic_output_dir

__all__ = ["atomic_output_dir"]
