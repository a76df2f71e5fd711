"""Fused ``Linear → Sine`` stages: the frequency ``ω`` folded into the weights.

``sin(ω (W x + b))`` evaluated as written costs, per point and hidden unit, a GEMM output, a multiply
by ``ω`` in the forward pass and another in the backward pass. Folding ``ω`` into the weights,
``sin((ωW) x + ωb)``, moves the two multiplies onto the ``(C_out, C_in)`` weight, which is a few
hundred times smaller than the ``(N, C_out)`` activations of a batch of 10k points. Profiling the
registration SIREN (3-256-256-256-3, 10k points, one thread) showed the activation multiplies at
~18 % of the plain training step; the fused stage computes the same function and the same gradients
(up to float rounding).

:func:`fuse_stages` is a *view*: it returns callables that reference the network's own modules, so
parameters, parametrisations (constraints), ledgers and state dicts are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from monai_lipinr.lipschitz.activations import Sine
from monai_lipinr.ops.forward_jacobian import register_jacobian_rule

__all__ = ["LinearSine", "fuse_stages"]


class LinearSine:
    """``x ↦ sin(ω (W x + b))`` of a ``Linear`` and the ``Sine`` after it, with ``ω`` in the weights.

    For a sine with learned channel amplitudes ``a`` (``Sine(learnable_amplitude=True)``) the stage is
    ``a ⊙ sin((ω / a) ⊙ (W x + b))``: ``ω / a`` goes into the rows of the weights and ``a`` multiplies the output.

    Args:
        linear: the linear layer (plain or parametrised, e.g. a Björck-constrained one).
        sine: the sine activation that follows it (its ``omega`` is read at every call, so a budget
            re-allocation that changes ``ω`` is honoured).
    """

    def __init__(self, linear: nn.Linear, sine: Sine) -> None:
        self.linear = linear
        self.sine = sine

    def scaled_parameters(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(ωW (C_out, C_in), ωb (C_out,) or None, None)`` for the plain sine; for a sine with channel
        amplitudes ``a`` the rows are scaled by ``ω / a`` instead and the third entry is ``a`` ``(C_out,)``."""
        amplitude = self.sine.amplitude()
        scale = self.sine.omega if amplitude is None else self.sine.omega / amplitude
        weight = self.linear.weight * (scale if amplitude is None else scale.unsqueeze(1))
        bias = None if self.linear.bias is None else self.linear.bias * scale
        return weight, bias, amplitude

    def preactivation(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``ω (W x + b)`` for ``x`` ``(N, C_in)``."""
        return x @ weight.t() if bias is None else torch.addmm(bias, x, weight.t())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias, amplitude = self.scaled_parameters()
        out = torch.sin(self.preactivation(x, weight, bias))
        return out if amplitude is None else out * amplitude


@register_jacobian_rule(LinearSine)
def _linear_sine_rule(stage: LinearSine, value: torch.Tensor, tangents: torch.Tensor):
    weight, bias, amplitude = stage.scaled_parameters()
    z = stage.preactivation(value, weight, bias)
    out, slope = torch.sin(z), torch.cos(z)
    if amplitude is not None:
        out, slope = out * amplitude, slope * amplitude
    return out, slope.unsqueeze(1) * (tangents @ weight.t())


def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _plain_linear(module: nn.Module) -> bool:
    # a Linear (parametrised or not) whose call is exactly ``F.linear(x, weight, bias)``
    return isinstance(module, nn.Linear) and type(module).forward is nn.Linear.forward and not _has_hooks(module)


def fuse_stages(modules: Iterable[nn.Module]) -> list:
    """Replace every ``nn.Linear`` followed by a :class:`Sine` with one :class:`LinearSine`.

    Only a linear layer whose call is exactly ``F.linear`` (parametrised or not, no hooks) and an
    exact :class:`Sine` without hooks are fused, so fusing never skips user code.

    Args:
        modules: modules in forward order (e.g. ``[embedding, *body]``).

    Returns:
        The same sequence of callables with the pairs fused; other modules are passed through.
    """
    modules: Sequence[nn.Module] = list(modules)
    fused: list = []
    i = 0
    while i < len(modules):
        module = modules[i]
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if _plain_linear(module) and type(nxt) is Sine and not _has_hooks(nxt):
            fused.append(LinearSine(module, nxt))
            i += 2
        else:
            fused.append(module)
            i += 1
    return fused
