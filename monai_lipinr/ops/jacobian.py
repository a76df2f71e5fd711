"""Autograd Jacobians and Hessians of coordinate networks w.r.t. their input coordinates.

This is the *reference* path: it works for any point-wise callable ``fn: (*batch, D) -> (*batch, O)``
(a network, a closure, an analytic field). It computes one backward pass per output channel (and
per input axis for the Hessian) with the sum trick ``∂/∂x_n Σ_m f(x_m) = ∂f(x_n)/∂x_n``, which is exact
only when ``fn`` treats points independently (no batch statistics, no attention across points).
The fast one-pass path for the package's own networks lives in
:mod:`monai_lipinr.ops.forward_jacobian`.

Layout: matrix-last. ``jacobian[..., o, d] = ∂ values[..., o] / ∂ points[..., d]`` and
``hessian[..., o, d, e] = ∂² values[..., o] / ∂ points[..., d] ∂ points[..., e]``, in the units of
``values`` per unit of ``points`` (e.g. network units per network unit).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from monai_lipinr.ops.validation import check_finite, check_float_tensor, check_matrix_field

__all__ = ["jacobian_autograd", "hessian_autograd", "deformation_jacobian"]


def _check_points(points: object) -> torch.Tensor:
    p = check_float_tensor("points", points)
    if p.ndim < 1 or p.shape[-1] < 1:
        raise ValueError(f"points must have shape (*batch, D) with D >= 1, got {tuple(p.shape)}.")
    return check_finite("points", p)


def _check_values(values: object, points: torch.Tensor) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"fn must return a torch.Tensor, got {type(values).__name__}.")
    if values.ndim != points.ndim or values.shape[:-1] != points.shape[:-1]:
        raise ValueError(
            f"fn must map points (*batch, D) = {tuple(points.shape)} to values (*batch, O); got values of "
            f"shape {tuple(values.shape)} (use a trailing channel axis, e.g. (N, 1) for a scalar field)."
        )
    return values


def _grad_rows(outputs: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """``∂ outputs[..., o] / ∂ x[..., :]`` stacked as ``(*batch, O, D)`` (zeros where unused)."""
    rows = []
    for o in range(outputs.shape[-1]):
        grad = None
        if outputs.requires_grad:
            (grad,) = torch.autograd.grad(
                outputs[..., o].sum(), x, retain_graph=True, create_graph=create_graph, allow_unused=True
            )
        rows.append(torch.zeros_like(x) if grad is None else grad)
    return torch.stack(rows, dim=-2)


def _prepare(points: torch.Tensor) -> torch.Tensor:
    # keep the caller's graph when the points themselves are differentiable (e.g. learned samples)
    return points if points.requires_grad else points.detach().requires_grad_(True)


def jacobian_autograd(
    fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and Jacobian of a point-wise callable w.r.t. its input coordinates (autograd reference).

    Args:
        fn: point-wise map ``(*batch, D) -> (*batch, O)``; rows must not interact.
        points: coordinates ``(*batch, D)`` in ``fn``'s input units (e.g. network units), last axis in
            the coordinate order ``fn`` expects.
        create_graph: build the graph of the Jacobian so that a loss on it can be back-propagated
            (training); ``False`` returns a Jacobian without graph (evaluation). The returned values
            keep their graph either way. Gradients are enabled inside even under ``torch.no_grad()``.

    Returns:
        ``(values (*batch, O), jacobian (*batch, O, D))`` with ``jacobian[..., o, d] = ∂values_o/∂x_d``.

    Raises:
        TypeError: when ``points`` is not a floating tensor or ``fn`` does not return a tensor.
        ValueError: on NaN/Inf points or when ``fn``'s output is not ``(*batch, O)``.
    """
    points = _check_points(points)
    with torch.enable_grad():
        x = _prepare(points)
        values = _check_values(fn(x), points)
        jac = _grad_rows(values, x, create_graph)
    return values, jac


def hessian_autograd(
    fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Values, Jacobian and Hessian of a point-wise callable w.r.t. its input coordinates.

    Args:
        fn: point-wise map ``(*batch, D) -> (*batch, O)``, twice differentiable in its input.
        points: coordinates ``(*batch, D)`` in ``fn``'s input units.
        create_graph: build the graph of the Jacobian and Hessian (needed to train on them).

    Returns:
        ``(values (*batch, O), jacobian (*batch, O, D), hessian (*batch, O, D, D))`` with
        ``hessian[..., o, d, e] = ∂²values_o / ∂x_d ∂x_e`` (symmetric up to rounding).

    Raises:
        TypeError: when ``points`` is not a floating tensor or ``fn`` does not return a tensor.
        ValueError: on NaN/Inf points or when ``fn``'s output is not ``(*batch, O)``.
    """
    points = _check_points(points)
    with torch.enable_grad():
        x = _prepare(points)
        values = _check_values(fn(x), points)
        jac = _grad_rows(values, x, create_graph=True)  # first derivatives must stay differentiable
        # rows of the Hessian: derivative of ∂values_o/∂x_d w.r.t. x, for every (o, d)
        flat = jac.reshape(*jac.shape[:-2], -1)  # (*batch, O*D)
        hess = _grad_rows(flat, x, create_graph).reshape(*jac.shape, x.shape[-1])
    if not create_graph:
        jac = jac.detach()
    return values, jac, hess


def deformation_jacobian(displacement_jacobian: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Jacobian of the transformation ``φ(x) = x + u(x)`` from the displacement Jacobian: ``I + ∇u``.

    Args:
        displacement_jacobian: ``∇u`` of shape ``(*batch, D, D)`` (matrix-last, ``[..., i, j] = ∂u_i/∂x_j``)
            with ``u`` and ``x`` in the same units (e.g. both network units, or both mm).
        validate: check type, shape and finiteness (``False`` for already validated input).

    Returns:
        ``I + ∇u``, same shape, device and dtype.

    Raises:
        TypeError / ValueError: see :func:`~monai_lipinr.ops.validation.check_matrix_field`.
    """
    if validate:
        check_matrix_field("displacement_jacobian", displacement_jacobian)
    d = displacement_jacobian.shape[-1]
    eye = torch.eye(d, dtype=displacement_jacobian.dtype, device=displacement_jacobian.device)
    return displacement_jacobian + eye
