"""Global normalised cross-correlation of intensities sampled at points."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_lipinr.lipschitz.base import check_positive_finite
from monai_lipinr.losses.utils import check_reduction, reduce_loss
from monai_lipinr.ops.validation import check_finite, check_float_tensor, check_option

__all__ = ["NCC_FORMS", "point_ncc", "PointNCCLoss"]

#: ``"one_minus"``: ``1 − NCC`` in [0, 2], 0 at a perfect (positive affine) match; ``"negative"``: ``−NCC``.
NCC_FORMS = ("one_minus", "negative")


def _default_eps(dtype: torch.dtype) -> float:
    return 64.0 * torch.finfo(dtype).eps


def _check_samples(name: str, value: object) -> torch.Tensor:
    t = check_float_tensor(name, value)
    if t.ndim not in (1, 2) or t.shape[-1] < 2:
        raise ValueError(f"{name} must have shape (N,) or (B, N) with N >= 2 samples, got {tuple(t.shape)}.")
    return check_finite(name, t)


def point_ncc(input: torch.Tensor, target: torch.Tensor, eps: float | None = None) -> torch.Tensor:
    """Global Pearson NCC of two sets of sampled intensities, safe on constant inputs.

    ``NCC = Σ (a − ā)(b − b̄) / sqrt(Σ (a − ā)² · Σ (b − b̄)²)``, in [−1, 1]; 1 when ``b = α a + β``
    with ``α > 0``. A set whose relative spread is at or below ``eps``
    (``Σ (a − ā)² <= eps² Σ a²``, e.g. a constant) carries no correlation information: its NCC is
    defined as 0, with zero (finite) gradient, instead of 0/0.

    Args:
        input: ``(N,)`` or ``(B, N)`` intensities (any units; NCC is invariant to scale and shift).
        target: same shape as ``input``.
        eps: relative-spread threshold; ``None`` uses ``64 · finfo(dtype).eps``
            (7.6e-6 for float32, 1.4e-14 for float64).

    Returns:
        ``()`` for ``(N,)`` inputs, ``(B,)`` for batches.

    Raises:
        TypeError: for non-floating inputs.
        ValueError: for mismatched or unsupported shapes, fewer than 2 samples, NaN/Inf, bad ``eps``.
    """
    a = _check_samples("input", input)
    b = _check_samples("target", target)
    if a.shape != b.shape:
        raise ValueError(
            f"input and target must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    tol = _default_eps(a.dtype) if eps is None else check_positive_finite("eps", eps)
    ac = a - a.mean(dim=-1, keepdim=True)
    bc = b - b.mean(dim=-1, keepdim=True)
    ss_a, ss_b = ac.square().sum(-1), bc.square().sum(-1)
    valid = (ss_a > tol**2 * a.square().sum(-1)) & (ss_b > tol**2 * b.square().sum(-1))
    one = torch.ones_like(ss_a)
    denom = torch.sqrt(torch.where(valid, ss_a, one)) * torch.sqrt(torch.where(valid, ss_b, one))
    return torch.where(valid, (ac * bc).sum(-1) / denom, torch.zeros_like(ss_a))


class PointNCCLoss(_Loss):
    """Loss from the global NCC of intensities sampled at the same points (e.g. fixed vs warped moving).

    Args:
        form: ``"one_minus"`` (default) returns ``1 − NCC`` (in [0, 2], 0 at a perfect match);
            ``"negative"`` returns ``−NCC`` (in [−1, 1]). Both have the same gradient.
        eps: constant-input threshold of :func:`point_ncc`.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the batch of ``(B, N)`` inputs.

    Raises:
        ValueError: for an unknown ``form``/``reduction`` or a bad ``eps``.
    """

    def __init__(
        self,
        form: str = "one_minus",
        eps: float | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=check_reduction(reduction))
        self.form = check_option("form", form, NCC_FORMS)
        self.eps = None if eps is None else check_positive_finite("eps", eps)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: ``input``, ``target`` of shape ``(N,)`` or ``(B, N)``. Returns the reduced loss."""
        ncc = point_ncc(input, target, self.eps)
        loss = 1.0 - ncc if self.form == "one_minus" else -ncc
        return reduce_loss(loss, self.reduction)
