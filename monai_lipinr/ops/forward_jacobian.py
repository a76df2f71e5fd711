"""Fast exact Jacobians of serial coordinate networks by forward propagation.

The value and the ``D`` input tangents travel together through the network as ONE stacked tensor
``S`` of shape ``(N, 1 + D, C)``: row 0 is the value, rows ``1 … D`` are ``∂(value)/∂x_d``. A linear
layer then costs one GEMM over ``N·(1+D)`` rows (instead of ``D`` extra backward passes), an
elementwise activation one multiply by ``φ'(z)``, and a sorting activation one ``gather``. Modules
without a registered rule fall back to ``torch.func.jvp`` (exact, slower).

The result is exact (the same derivatives autograd computes) and differentiable, so Jacobian-based
losses can be trained through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "JACOBIAN_RULES",
    "register_jacobian_rule",
    "stacked_forward",
    "sequential_forward_jacobian",
]

#: module type -> rule(module, stacked (N, 1+D, C)) -> stacked (N, 1+D, C')
JACOBIAN_RULES: dict[type, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {}


def register_jacobian_rule(*module_types: type):
    """Decorator registering a forward-Jacobian rule for one or more module types.

    A rule receives ``(module, stacked)`` where ``stacked`` is ``(N, 1 + D, C_in)`` (value row first) and
    returns ``(N, 1 + D, C_out)``. Lookup follows the module's MRO, so a rule covers subclasses.
    """

    def _register(fn):
        for t in module_types:
            JACOBIAN_RULES[t] = fn
        return fn

    return _register


def _rule_for(module: nn.Module):
    for cls in type(module).__mro__:
        rule = JACOBIAN_RULES.get(cls)
        if rule is not None:
            return rule
    return None


def _jvp_fallback(module: nn.Module, stacked: torch.Tensor) -> torch.Tensor:
    value, tangents = stacked[:, 0], stacked[:, 1:]
    outs = []
    y = None
    for d in range(tangents.shape[1]):
        y, t = torch.func.jvp(module, (value,), (tangents[:, d],))
        outs.append(t)
    if y is None:  # no tangent directions
        y = module(value)
    return torch.stack([y, *outs], dim=1)


def stacked_forward(module: nn.Module, stacked: torch.Tensor) -> torch.Tensor:
    """Push a stacked (value, tangents) tensor through one module (rule or ``jvp`` fallback)."""
    rule = _rule_for(module)
    if rule is None:
        return _jvp_fallback(module, stacked)
    return rule(module, stacked)


def sequential_forward_jacobian(
    modules: Iterable[nn.Module], points: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Value and exact Jacobian of a serial composition of modules at ``points``.

    Args:
        modules: the network's modules in forward order (each maps ``(N, C_in) -> (N, C_out)``).
        points: input coordinates ``(N, D)``.

    Returns:
        ``(values (N, C_out), jacobian (N, C_out, D))`` with ``jacobian[n, c, d] = ∂ value[n, c] / ∂ x[n, d]``.
    """
    if points.ndim != 2:
        raise ValueError(f"points must have shape (N, D), got {tuple(points.shape)}.")
    n, d = points.shape
    eye = torch.eye(d, dtype=points.dtype, device=points.device).expand(n, d, d)
    stacked = torch.cat([points.unsqueeze(1), eye], dim=1)
    for module in modules:
        stacked = stacked_forward(module, stacked)
    return stacked[:, 0], stacked[:, 1:].transpose(1, 2)


# ----------------------------------------------------------------------------------------------
# Rules for torch's own modules. Rules for monai_lipinr components are registered next to the
# networks that use them (see monai_lipinr.networks.jacobian_rules).
# ----------------------------------------------------------------------------------------------


@register_jacobian_rule(nn.Linear)
def _linear_rule(module: nn.Linear, stacked: torch.Tensor) -> torch.Tensor:
    out = stacked @ module.weight.transpose(0, 1)  # one GEMM over value and tangent rows
    if module.bias is not None:
        out.select(1, 0).add_(module.bias)  # the bias shifts the value row only (matmul keeps no output)
    return out


def elementwise_rule(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]):
    """Build a rule for an elementwise activation from ``fn(z) -> (φ(z), φ'(z))``."""

    def _rule(module: nn.Module, stacked: torch.Tensor) -> torch.Tensor:
        value, deriv = fn(module, stacked[:, 0])
        return torch.cat([value.unsqueeze(1), deriv.unsqueeze(1) * stacked[:, 1:]], dim=1)

    return _rule


@register_jacobian_rule(nn.Identity)
def _identity_rule(module: nn.Module, stacked: torch.Tensor) -> torch.Tensor:
    return stacked


register_jacobian_rule(nn.ReLU)(elementwise_rule(lambda m, z: (torch.relu(z), (z > 0).to(z.dtype))))
register_jacobian_rule(nn.LeakyReLU)(
    elementwise_rule(
        lambda m, z: (
            torch.nn.functional.leaky_relu(z, m.negative_slope),
            torch.where(z > 0, torch.ones_like(z), torch.full_like(z, m.negative_slope)),
        )
    )
)
register_jacobian_rule(nn.Tanh)(elementwise_rule(lambda m, z: (lambda t: (t, 1 - t * t))(torch.tanh(z))))


def _silu(m, z):
    s = torch.sigmoid(z)
    return z * s, s * (1 + z * (1 - s))


register_jacobian_rule(nn.SiLU)(elementwise_rule(_silu))


# ----------------------------------------------------------------------------------------------
# Rules for monai_lipinr's own components.
# ----------------------------------------------------------------------------------------------
def _register_component_rules() -> None:
    from monai_lipinr.lipschitz.activations import Gaussian, GroupSort, Householder, Sine
    from monai_lipinr.networks.blocks.output_gain import BoundedGain

    def _sine(m, z):
        w = z * m.omega
        return torch.sin(w), m.omega * torch.cos(w)

    def _gaussian(m, z):
        v = torch.exp(-0.5 * (z / m.a) ** 2)
        return v, -z / (m.a * m.a) * v

    register_jacobian_rule(Sine)(elementwise_rule(_sine))
    register_jacobian_rule(Gaussian)(elementwise_rule(_gaussian))

    @register_jacobian_rule(GroupSort)
    def _groupsort_rule(module: GroupSort, stacked: torch.Tensor) -> torch.Tensor:
        if module.dim not in (1, -1):
            return _jvp_fallback(module, stacked)
        g = module.group_size
        groups = stacked.unflatten(-1, (stacked.shape[-1] // g, g))  # (N, 1+D, C/g, g)
        if g == 2:
            first, second = groups.unbind(-1)
            keep = first[:, :1] >= second[:, :1]  # decided by the value row
            out = torch.stack((torch.where(keep, first, second), torch.where(keep, second, first)), -1)
        else:
            order = torch.argsort(groups[:, :1], dim=-1, descending=True)
            out = torch.gather(groups, -1, order.expand_as(groups))
        return out.flatten(-2)

    @register_jacobian_rule(Householder)
    def _householder_rule(module: Householder, stacked: torch.Tensor) -> torch.Tensor:
        if module.dim not in (1, -1):
            return _jvp_fallback(module, stacked)
        z = stacked.unflatten(-1, module.v.shape)  # (N, 1+D, groups, group_size)
        v = module.v.to(dtype=z.dtype)
        coef = (z * v).sum(-1, keepdim=True) / (v * v).sum(-1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
        reflect = coef[:, :1] <= 0  # region decided by the value row
        out = torch.where(reflect, z - 2.0 * coef * v, z)
        return out.flatten(-2)

    @register_jacobian_rule(BoundedGain)
    def _gain_rule(module: BoundedGain, stacked: torch.Tensor) -> torch.Tensor:
        return stacked * module.gain.to(stacked.dtype)


_register_component_rules()
