"""Write a :class:`RegistrationResult` to a folder: NIfTI fields and images, report, overview figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from monai.data import NibabelWriter

from monai_lipinr.apps.registration.engine import RegistrationResult

__all__ = ["OUTPUT_FILES", "write_registration_outputs", "save_overview"]

#: key -> file name of everything :func:`write_registration_outputs` writes.
OUTPUT_FILES = {
    "ddf": "ddf.nii.gz",
    "displacement_itk": "displacement_itk.nii.gz",
    "warped": "warped.nii.gz",
    "jacobian_det": "jacobian_det.nii.gz",
    "report": "report.json",
    "overview": "overview.png",
}


def _write_monai_ddf(result: RegistrationResult, path: Path) -> None:
    """Write the MONAI DDF with MONAI's NIfTI writer: a 4-D ``(i, j, k, 3)`` volume with the fixed (RAS) affine.

    ``LoadImage`` + ``EnsureChannelFirst`` give back the channel-first ``(3, i, j, k)`` DDF (array-axis
    order, voxel units, pull semantics) that ``monai.networks.blocks.Warp`` consumes. ITK-based tools
    should read ``displacement_itk.nii.gz`` instead.
    """
    writer = NibabelWriter(output_dtype=np.float32)
    writer.set_data_array(result.ddf.detach().cpu(), channel_dim=0)
    writer.set_metadata({"affine": result.ddf.affine, "original_affine": result.ddf.affine}, resample=False)
    writer.write(str(path), verbose=False)


def save_overview(fixed: sitk.Image, moving: sitk.Image, result: RegistrationResult, path: Path) -> None:
    """Coronal overview: fixed / moving / warped, |difference| before and after, det J (mask outlined)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = sitk.GetArrayFromImage(fixed)
    m = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, sitk.Transform(), sitk.sitkLinear, -1024.0))
    w = sitk.GetArrayFromImage(result.warped)
    det = sitk.GetArrayFromImage(result.jacobian_determinant)
    mask = sitk.GetArrayFromImage(result.fixed_mask) > 0
    j = int(np.argmax(mask.sum(axis=(0, 2)))) if mask.any() else f.shape[1] // 2  # coronal slice with most lung
    sl = (slice(None, None, -1), j, slice(None))  # (k flipped so that superior is up, i)
    spacing = fixed.GetSpacing()
    aspect = spacing[2] / spacing[0]
    panels = [
        ("fixed", f[sl], "gray", (-1000, 200)),
        ("moving", m[sl], "gray", (-1000, 200)),
        ("warped moving", w[sl], "gray", (-1000, 200)),
        ("|fixed - moving|", np.abs(f - m)[sl], "magma", (0, 400)),
        ("|fixed - warped|", np.abs(f - w)[sl], "magma", (0, 400)),
        ("det J", det[sl], "RdBu_r", (0.5, 1.5)),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for ax, (title, img, cmap, (lo, hi)) in zip(axes.ravel(), panels):
        im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, aspect=aspect)
        ax.contour(mask[sl], levels=[0.5], colors="lime", linewidths=0.5)
        ax.set_title(title)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.04)
    metrics = result.metrics
    text = f"folding rate {metrics['folding_rate']:.2e}, SD log J {metrics['sd_log_jacobian']:.3f}"
    if "tre_mm" in metrics:
        text += f", TRE {metrics['tre_before_mm']['mean']:.2f} -> {metrics['tre_mm']['mean']:.2f} mm"
    fig.suptitle(text)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_registration_outputs(
    result: RegistrationResult, folder: Path, fixed: sitk.Image, moving: sitk.Image, extra: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write every output of :data:`OUTPUT_FILES` into ``folder`` (which must exist).

    Returns:
        key -> written path.
    """
    folder = Path(folder)
    paths = {k: folder / v for k, v in OUTPUT_FILES.items()}
    _write_monai_ddf(result, paths["ddf"])
    sitk.WriteImage(result.displacement_itk, str(paths["displacement_itk"]))
    sitk.WriteImage(result.warped, str(paths["warped"]))
    sitk.WriteImage(result.jacobian_determinant, str(paths["jacobian_det"]))
    report = {**result.report(), **(extra or {})}
    paths["report"].write_text(json.dumps(report, indent=2, default=float))
    save_overview(fixed, moving, result, paths["overview"])
    return paths
