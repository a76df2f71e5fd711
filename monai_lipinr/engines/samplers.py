"""Infinite "data loaders" of random point batches for the INR optimisation engines.

An INR is fitted by drawing, at every optimisation step, a random batch of points (voxel centres in a
mask, detector rays, ...) from a fixed pool. :class:`PointBatchSampler` is that draw as an iterable an
ignite/MONAI engine runs on: each ``next()`` is one batch (a dict of tensors), it never ends (the engine's
``epoch_length`` / ``max_iterations`` decide how many batches are drawn), and its random state is part of
a checkpoint (``state_dict`` / ``load_state_dict``) so that a resumed run draws exactly the batches the
uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

__all__ = ["PointBatchSampler"]


class PointBatchSampler:
    """Endless random batches of rows of a point pool, for :class:`~monai_lipinr.engines.INRTrainer`.

    Each batch draws ``min(batch_size, num_points)`` row indices uniformly with replacement
    (``torch.randint`` on ``generator``) and yields ``{"index": idx, **{key: data[key][idx]}}``. With
    ``batch_size=None`` nothing is drawn: every batch is the whole pool (``{"index": None, **data}``),
    for full-batch optimisation.

    Args:
        num_points: size ``N`` of the pool; inferred from ``data`` when omitted.
        batch_size: rows per batch, or ``None`` for the full pool.
        data: tensors whose first axis indexes the pool (e.g. ``{"points": (N, 3), "values": (N,)}``);
            they stay on their own device.
        generator: random generator of the draws (default: a CPU generator seeded with ``seed``). Indices
            are drawn on the generator's device and then moved to ``device``.
        seed: seed of the default generator.
        device: device of the yielded indices (default: the generator's).

    Raises:
        ValueError: for a non-positive ``num_points``/``batch_size``, tensors of different lengths, or no
            way to know ``num_points``.

    Example::

        sampler = PointBatchSampler(data={"points": pts, "values": vals}, batch_size=4096, seed=0)
        batch = next(iter(sampler))  # {"index": (4096,), "points": (4096, 3), "values": (4096,)}
    """

    def __init__(
        self,
        num_points: int | None = None,
        batch_size: int | None = None,
        data: Mapping[str, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        self.data = dict(data or {})
        lengths = {k: int(v.shape[0]) for k, v in self.data.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"data tensors must share their first (point) axis, got lengths {lengths}.")
        if num_points is None:
            if not lengths:
                raise ValueError("num_points is required when data is empty.")
            num_points = next(iter(lengths.values()))
        if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
            raise ValueError(f"num_points must be an int >= 1, got {num_points!r}.")
        if lengths and next(iter(lengths.values())) != num_points:
            raise ValueError(f"num_points={num_points} does not match the data lengths {lengths}.")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be an int >= 1 or None (full batch), got {batch_size!r}.")
        self.num_points = num_points
        self.batch_size = batch_size
        self.generator = generator if generator is not None else torch.Generator(device="cpu").manual_seed(seed)
        self.device = torch.device(device) if device is not None else self.generator.device

    def draw(self) -> torch.Tensor | None:
        """The row indices of the next batch, ``(min(batch_size, N),)`` int64 on ``device`` (``None``: all)."""
        if self.batch_size is None:
            return None
        size = (min(self.batch_size, self.num_points),)
        idx = torch.randint(self.num_points, size, generator=self.generator, device=self.generator.device)
        return idx.to(self.device)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            idx = self.draw()
            if idx is None:
                yield {"index": None, **self.data}
            else:
                yield {"index": idx, **{k: v[idx.to(v.device)] for k, v in self.data.items()}}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The random state (checkpointable with MONAI's ``CheckpointSaver`` / ignite's ``Checkpoint``)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Restore the random state saved by :meth:`state_dict`."""
        if "generator" not in state_dict:
            raise ValueError(f"state_dict must hold 'generator', got keys {sorted(state_dict)}.")
        self.generator.set_state(state_dict["generator"].cpu())
