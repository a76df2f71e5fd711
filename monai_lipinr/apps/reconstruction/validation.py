"""Held-out views: a data-driven estimate of a reconstruction's error, and the best iterate by it.

A view left out of the fit is a measurement the network never saw. By the Fourier slice theorem its
ramp-weighted residual ``‖R^½ (A_v x̂ - y_v)‖²`` is the image error ``x̂ - x`` on that view's line through the
image's spectrum (plus the view's noise energy, which does not depend on ``x̂``); views spread over the scan
sample the error between the training views, where the undersampling streaks and the fitted noise sit. The
lowest held-out misfit along the fit therefore picks an iterate without the reference image. It is an
estimate, not the error itself: the misfit also holds the grid model's own error, and it weighs the whole field
of view where image quality is judged inside the body, so where the fit does not overfit it can turn up before
the image stops improving (``ReconstructionConfig.validation_views`` gives the measurements).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

__all__ = ["held_out_views", "BestIterate"]


def held_out_views(num_views: int, count: int) -> np.ndarray:
    """Indices of ``count`` views spread evenly over ``num_views`` (none for ``count = 0``).

    View ``i`` of the held-out set is the one nearest ``(i + ½) · num_views / count``, so the held-out
    views interleave with the ones kept and never include both ends of the scan.

    Args:
        num_views: views in the sinogram (>= 1).
        count: views to hold out, ``0 <= count <= num_views // 2`` (at least as many views stay in the fit).

    Returns:
        Sorted ``int64`` indices, shape ``(count,)``.

    Raises:
        ValueError: for a count outside that range.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= num_views // 2:
        raise ValueError(f"validation_views must be an int in [0, {num_views // 2}] (at most half of the "
                         f"{num_views} views), got {count!r}.")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    return np.floor((np.arange(count) + 0.5) * num_views / count).astype(np.int64)


class BestIterate:
    """The network state with the lowest held-out misfit seen so far.

    Call :meth:`observe` with the misfit of the network's current state (before the optimiser changes it);
    :meth:`restore` loads the best state back.

    Args:
        network: the network being fitted.
    """

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network
        self.misfit = float("inf")
        self.iteration: int | None = None
        self._state: dict[str, torch.Tensor] | None = None

    def observe(self, iteration: int, misfit: float) -> None:
        """Keep a copy of the network's state if ``misfit`` is the lowest so far.

        Args:
            iteration: optimisation steps the network has had (0 = its initialisation).
            misfit: its held-out misfit.
        """
        if misfit < self.misfit:
            self.misfit, self.iteration = float(misfit), int(iteration)
            self._state = copy.deepcopy(self.network.state_dict())

    def restore(self) -> None:
        """Load the best state into the network (nothing when none was observed)."""
        if self._state is not None:
            self.network.load_state_dict(self._state)
