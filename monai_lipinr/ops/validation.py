"""Input checks shared by the differential operators, losses and metrics.

Every check raises a ``TypeError``/``ValueError`` that names the argument, the value received and what
was expected, so that bad input never surfaces as a bare traceback from deep inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum

import torch
from monai.utils import look_up_option

__all__ = [
    "SUPPORTED_SPATIAL_DIMS",
    "check_float_tensor",
    "check_finite",
    "check_option",
    "check_matrix_field",
    "check_ddf",
    "spacing_tensor",
]

#: Spatial dimensions the deformation operators support (determinants are closed-form).
SUPPORTED_SPATIAL_DIMS = (2, 3)


def check_float_tensor(name: str, value: object) -> torch.Tensor:
    """Require a floating-point ``torch.Tensor``.

    Args:
        name: argument name used in the message.
        value: the object to check.

    Returns:
        ``value`` unchanged.

    Raises:
        TypeError: when ``value`` is not a tensor or not floating point.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float32/float64), got dtype {value.dtype}.")
    return value


def check_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    """Require every element of ``value`` to be finite.

    Raises:
        ValueError: naming how many elements are NaN/Inf.
    """
    bad = ~torch.isfinite(value)
    if bool(bad.any()):
        n_nan = int(torch.isnan(value).sum())
        raise ValueError(
            f"{name} must be finite, got {int(bad.sum())} non-finite value(s) ({n_nan} NaN) "
            f"in a tensor of shape {tuple(value.shape)}."
        )
    return value


def check_option(name: str, value: object, supported: Sequence[str] | type[Enum]) -> str:
    """Resolve a string option with :func:`monai.utils.look_up_option`, naming the argument on error.

    Args:
        name: argument name used in the message.
        value: the option received (a string or an enum member).
        supported: the allowed strings, or a ``StrEnum`` class.

    Returns:
        the option as a plain string.

    Raises:
        ValueError: when ``value`` is not one of the supported options.
    """
    options = [m.value for m in supported] if isinstance(supported, type) else list(supported)
    try:
        found = look_up_option(value, supported)
    except (ValueError, KeyError) as err:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.") from err
    return found.value if isinstance(found, Enum) else str(found)


def _check_spatial_dims(name: str, found: int, spatial_dims: int | None, what: str) -> int:
    if found not in SUPPORTED_SPATIAL_DIMS:
        raise ValueError(f"{name} must describe a 2D or 3D field ({what}), got {found} spatial dims.")
    if spatial_dims is not None and found != spatial_dims:
        raise ValueError(f"{name} has {found} spatial dims ({what}) but spatial_dims={spatial_dims}.")
    return found


def check_matrix_field(name: str, value: object, spatial_dims: int | None = None) -> int:
    """Validate a batch of square Jacobian matrices ``(*batch, D, D)`` (matrix-last layout).

    Args:
        name: argument name used in the message.
        value: the tensor to check.
        spatial_dims: expected ``D`` (2 or 3); ``None`` accepts either.

    Returns:
        the spatial dimension ``D``.

    Raises:
        TypeError: when ``value`` is not a floating-point tensor.
        ValueError: when the last two dims are not an equal 2 or 3 (or ``spatial_dims``), or on NaN/Inf.
    """
    t = check_float_tensor(name, value)
    if t.ndim < 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} must have shape (*batch, D, D) with D in {{2, 3}}, got {tuple(t.shape)}.")
    d = _check_spatial_dims(name, t.shape[-1], spatial_dims, f"shape {tuple(t.shape)}")
    check_finite(name, t)
    return d


def check_ddf(name: str, value: object, spatial_dims: int | None = None, min_size: int = 2) -> int:
    """Validate a MONAI dense displacement field ``(B, D, *spatial)`` with ``len(spatial) == D``.

    Args:
        name: argument name used in the message.
        value: the tensor to check.
        spatial_dims: expected ``D`` (2 or 3); ``None`` infers it from ``value.ndim - 2``.
        min_size: smallest allowed extent of every spatial axis (finite differences need >= 2).

    Returns:
        the spatial dimension ``D``.

    Raises:
        TypeError: when ``value`` is not a floating-point tensor.
        ValueError: on a wrong number of dims, channel count != spatial dims, an axis shorter than
            ``min_size`` or NaN/Inf.
    """
    t = check_float_tensor(name, value)
    if t.ndim not in (4, 5):
        raise ValueError(
            f"{name} must be a DDF of shape (B, D, *spatial) with D = len(spatial) in {{2, 3}} "
            f"(4 or 5 dims), got shape {tuple(t.shape)}."
        )
    d = _check_spatial_dims(name, t.ndim - 2, spatial_dims, f"shape {tuple(t.shape)}")
    if t.shape[1] != d:
        raise ValueError(
            f"{name} has {t.shape[1]} channels but {d} spatial dims (shape {tuple(t.shape)}); a DDF needs "
            f"one displacement channel per spatial axis."
        )
    if min(t.shape[2:]) < min_size:
        raise ValueError(
            f"{name} needs at least {min_size} voxels along every spatial axis, got {tuple(t.shape[2:])}."
        )
    check_finite(name, t)
    return d


def spacing_tensor(
    spacing: float | Sequence[float] | torch.Tensor | None, spatial_dims: int, like: torch.Tensor
) -> torch.Tensor:
    """Voxel spacing as a ``(spatial_dims,)`` tensor on ``like``'s device and dtype.

    Args:
        spacing: ``None`` (unit spacing), one positive number (isotropic) or one per spatial axis in
            array-axis order (mm per voxel).
        spatial_dims: number of spatial axes.
        like: tensor whose device/dtype the result follows.

    Returns:
        the spacing, shape ``(spatial_dims,)``.

    Raises:
        TypeError: for a non-numeric spacing.
        ValueError: for a wrong length, or a non-finite / non-positive entry.
    """
    if spacing is None:
        return torch.ones(spatial_dims, dtype=like.dtype, device=like.device)
    if isinstance(spacing, torch.Tensor):
        values = spacing.detach().reshape(-1).tolist()
    elif isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
        values = [float(spacing)] * spatial_dims
    elif isinstance(spacing, Sequence) and not isinstance(spacing, str):
        values = list(spacing)
    else:
        raise TypeError(f"spacing must be a number or a sequence of numbers, got {type(spacing).__name__}.")
    if len(values) != spatial_dims:
        raise ValueError(f"spacing must have {spatial_dims} entries (one per spatial axis), got {spacing!r}.")
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError) as err:
        raise TypeError(f"spacing must contain numbers, got {spacing!r}.") from err
    if not all(math.isfinite(v) and v > 0 for v in floats):
        raise ValueError(f"spacing entries must be finite and > 0 (mm per voxel), got {spacing!r}.")
    return torch.tensor(floats, dtype=like.dtype, device=like.device)
