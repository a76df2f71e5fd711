"""Array + dictionary transforms: coordinate grids and masked sampling, world <-> network coordinates,
INR -> MONAI DDF, MONAI DDF <-> ITK displacement field, landmark warping.

Each transform is a thin wrapper around a plain function of the same module (the functional core the
registration engine calls directly): :func:`coordinate_grid`, :class:`MaskedCoordinateSampler`,
:func:`inr_to_ddf`, :func:`ddf_to_itk_displacement_field`, :func:`itk_displacement_field_to_ddf`,
:func:`warp_points`.
"""

from __future__ import annotations

from monai_lipinr.transforms.coordinates import (
    CoordinateGrid,
    CoordinateGridd,
    MaskedCoordinateSampler,
    RandomMaskedCoordinates,
    RandomMaskedCoordinatesd,
    coordinate_grid,
    sample_masked_coordinates,
)
from monai_lipinr.transforms.ddf import (
    DDFToITKDisplacementField,
    DDFToITKDisplacementFieldd,
    INRToDDF,
    INRToDDFd,
    ITKDisplacementFieldToDDF,
    ITKDisplacementFieldToDDFd,
    ddf_metatensor,
    ddf_to_itk_displacement_field,
    ddf_to_world_displacement,
    inr_to_ddf,
    itk_displacement_field_to_ddf,
    world_displacement_to_ddf,
)
from monai_lipinr.transforms.landmarks import WarpLandmarks, WarpLandmarksd, interpolate_field, warp_points
from monai_lipinr.transforms.spatial import NetworkToWorld, NetworkToWorldd, WorldToNetwork, WorldToNetworkd

__all__ = [
    "CoordinateGrid",
    "CoordinateGridd",
    "DDFToITKDisplacementField",
    "DDFToITKDisplacementFieldd",
    "INRToDDF",
    "INRToDDFd",
    "ITKDisplacementFieldToDDF",
    "ITKDisplacementFieldToDDFd",
    "MaskedCoordinateSampler",
    "NetworkToWorld",
    "NetworkToWorldd",
    "RandomMaskedCoordinates",
    "RandomMaskedCoordinatesd",
    "WarpLandmarks",
    "WarpLandmarksd",
    "WorldToNetwork",
    "WorldToNetworkd",
    "coordinate_grid",
    "ddf_metatensor",
    "ddf_to_itk_displacement_field",
    "ddf_to_world_displacement",
    "inr_to_ddf",
    "interpolate_field",
    "itk_displacement_field_to_ddf",
    "sample_masked_coordinates",
    "warp_points",
    "world_displacement_to_ddf",
]
