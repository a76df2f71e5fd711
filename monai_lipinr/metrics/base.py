"""Shared base of the package's cumulative metrics: a reduction over the accumulated buffer."""

from __future__ import annotations

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from monai_lipinr.ops.validation import check_option

__all__ = ["ReducedCumulativeMetric"]


class ReducedCumulativeMetric(CumulativeIterationMetric):
    """A ``CumulativeIterationMetric`` whose :meth:`aggregate` applies MONAI's ``do_metric_reduction``.

    Subclasses implement ``_compute_tensor`` returning a ``(rows, 1)`` tensor per call.

    Args:
        reduction: MONAI metric reduction over the ``(rows, 1)`` buffer (default ``"mean"``).
        get_not_nans: also return the count of aggregated values.

    Raises:
        ValueError: for an unknown ``reduction``.
    """

    def __init__(
        self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False
    ) -> None:
        super().__init__()
        self.reduction = check_option("reduction", reduction, MetricReduction)
        self.get_not_nans = get_not_nans

    def buffer_tensor(self) -> torch.Tensor:
        """The accumulated ``(rows, 1)`` values.

        Raises:
            ValueError: when nothing has been accumulated yet.
        """
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError(
                f"{type(self).__name__}: nothing accumulated yet; call the metric on a batch first."
            )
        return data

    def aggregate(self, reduction: MetricReduction | str | None = None):
        """Reduce the accumulated values; ``reduction`` overrides the constructor's.

        Returns:
            the reduced tensor, and the not-NaN count when ``get_not_nans`` is set.
        """
        red = self.reduction if reduction is None else check_option("reduction", reduction, MetricReduction)
        f, not_nans = do_metric_reduction(self.buffer_tensor(), red)
        return (f, not_nans) if self.get_not_nans else f
