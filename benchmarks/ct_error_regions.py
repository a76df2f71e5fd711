"""Where the error of CT reconstructions lies: by tissue region and by spatial frequency.

Reads a directory written by ``ct_reconstruction.py --save-images DIR`` (one per slice: ``*_reference``,
``*_mask`` and one image per method, NIfTI, HU) and prints, for every reconstruction, the RMS error and the
mean error (bias) in HU inside the scoring mask, split by the reference's tissue classes:

- ``lung``: below -500 HU, ``soft``: -500 to 250 HU, ``bone``: above 250 HU, each away from class boundaries;
- ``edges``: pixels whose 3x3 neighbourhood holds more than one class (partial-volume boundaries, the body
  outline included);

and the error energy in three radial bands of spatial frequency (fraction of the Nyquist frequency ``0.5``
cycles per pixel: below 0.15, 0.15 to 0.35, above 0.35), of the error inside the mask (zero outside), as a
share of its total. All images on the window [-1000, 1000] HU, as the benchmark's PSNR.

    python benchmarks/ct_reconstruction.py --threads 1 --slices 4dlung --size 256 --views 60 --save-images /tmp/im
    python benchmarks/ct_error_regions.py /tmp/im/4dlung
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from monai_lipinr.apps.reconstruction.quality import HU_WINDOW

__all__ = ["main", "tissue_regions", "band_shares", "region_errors"]

#: Class limits (HU): lung / soft tissue / bone.
LUNG_BELOW, BONE_ABOVE = -500.0, 250.0
#: Radial band limits, as a fraction of the Nyquist frequency's 0.5 cycles per pixel.
BAND_EDGES = (0.3, 0.7)


def tissue_regions(reference_hu: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean maps of the classes (away from their boundaries) and of the boundaries, inside ``mask``."""
    labels = np.digitize(reference_hu, [LUNG_BELOW, BONE_ABOVE])
    mixed = ndimage.maximum_filter(labels, size=3) != ndimage.minimum_filter(labels, size=3)
    regions = {name: mask & ~mixed & (labels == k) for k, name in enumerate(("lung", "soft", "bone"))}
    regions["edges"] = mask & mixed
    return regions


def band_shares(error: np.ndarray) -> list[float]:
    """Shares of ``error``'s energy in the radial frequency bands of :data:`BAND_EDGES` (low to high)."""
    power = np.abs(np.fft.fft2(error)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(error.shape[0]), np.fft.fftfreq(error.shape[1]), indexing="ij")
    radius = np.hypot(fx, fy) / 0.5
    bands = np.digitize(radius, BAND_EDGES)
    total = float(power.sum())
    return [float(power[bands == k].sum()) / total for k in range(len(BAND_EDGES) + 1)]


def region_errors(image_hu: np.ndarray, reference_hu: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """RMS and mean error (HU) overall and per region, and the band shares of the error energy."""
    err = np.clip(image_hu, *HU_WINDOW) - np.clip(reference_hu, *HU_WINDOW)
    out = {"all_rms": float(np.sqrt((err[mask] ** 2).mean()))}
    for name, region in tissue_regions(reference_hu, mask).items():
        out[f"{name}_rms"] = float(np.sqrt((err[region] ** 2).mean())) if region.any() else float("nan")
        out[f"{name}_bias"] = float(err[region].mean()) if region.any() else float("nan")
        out[f"{name}_share"] = float(region.sum() / mask.sum())
    for k, share in enumerate(band_shares(np.where(mask, err, 0.0))):
        out[f"band{k}"] = share
    return out


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float64)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directories", nargs="+", help="directories written by ct_reconstruction.py --save-images")
    a = p.parse_args(argv)
    print("| image | RMS | lung RMS / bias | soft RMS / bias | bone RMS / bias | edges RMS / bias | "
          "energy low / mid / high |")
    print("|---|---|---|---|---|---|---|")
    for directory in map(Path, a.directories):
        references = sorted(directory.glob("*_reference.nii.gz"))
        if not references:
            p.error(f"{str(directory)!r} holds no *_reference.nii.gz: not a --save-images directory.")
        for ref_path in references:
            stem = ref_path.name[: -len("_reference.nii.gz")]
            ref, mask = _read(ref_path), _read(directory / f"{stem}_mask.nii.gz") > 0.5
            for image_path in sorted(directory.glob(f"{stem}_*.nii.gz")):
                if image_path in (ref_path, directory / f"{stem}_mask.nii.gz"):
                    continue
                e = region_errors(_read(image_path), ref, mask)
                cells = " | ".join(f"{e[f'{r}_rms']:.1f} / {e[f'{r}_bias']:+.1f}" for r in ("lung", "soft", "bone", "edges"))
                print(f"| {directory.name}/{image_path.name[:-7]} | {e['all_rms']:.1f} | {cells} | "
                      f"{e['band0']:.2f} / {e['band1']:.2f} / {e['band2']:.2f} |")
    return 0


if __name__ == "__main__":
    main()
