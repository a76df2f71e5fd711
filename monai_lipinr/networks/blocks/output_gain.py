"""A bounded learnable output gain: lets a budgeted network use *less* than its budget."""

from __future__ import annotations

import torch
from torch import nn

from monai_lipinr.lipschitz.base import LipschitzComponent

__all__ = ["BoundedGain"]


class BoundedGain(nn.Module, LipschitzComponent):
    """Multiply the input by a learnable scalar ``g = tanh(ĝ)``, so ``|g| < 1``.

    Gradient-norm-preserving layers (Björck, GroupSort) make every singular value of a layer equal to
    its target, so without a gain a budgeted network always spends its whole budget and cannot
    represent, e.g., a zero displacement at initialisation. This gain is a fixed-cost component whose
    certified Lipschitz constant is ``|g| ≤ 1``: it never exceeds the budget, it only gives some back.

    Args:
        init: initial value of ``g`` (in ``(-1, 1)``); 0 makes the network output start at exactly 0.
    """

    lipschitz_kind = "gain/tanh"

    def __init__(self, init: float = 0.0) -> None:
        super().__init__()
        if not -1.0 < float(init) < 1.0:
            raise ValueError(f"init must be in (-1, 1), got {init!r}.")
        self.raw_gain = nn.Parameter(torch.atanh(torch.tensor(float(init))))

    @property
    def gain(self) -> torch.Tensor:
        return torch.tanh(self.raw_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain.to(x.dtype)

    def lipschitz_bound(self) -> float:
        return float(self.gain.detach().abs())
