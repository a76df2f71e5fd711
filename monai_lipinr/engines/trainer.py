"""``INRTrainer``: the optimisation loop of an INR fit as a MONAI/ignite engine.

Fitting an implicit neural representation (a registration displacement, a CT attenuation map, ...) is a
loop of optimisation steps on random batches of points. :class:`INRTrainer` runs that loop as a MONAI
:class:`~monai.engines.Trainer` (an ignite ``Engine``), so that MONAI/ignite handlers work on it; tested:
``StatsHandler``, ``TensorBoardStatsHandler``, ``CheckpointSaver``/``CheckpointLoader`` (exact resume),
``EarlyStopHandler`` and ignite's ``EarlyStopping``.

One engine iteration = one optimisation step on one batch of its "data loader" (an endless
:class:`~monai_lipinr.engines.PointBatchSampler`, or any iterable of batches):
``terms = loss_function(batch)`` → ``zero_grad`` → ``terms["loss"].backward()`` → ``optimizer.step()`` →
``lr_scheduler.step()``. ``engine.state.output`` follows MONAI's decollated convention: a list holding one
dict of detached scalar tensors, ``[{"loss": ..., <other terms>: ...}]``, so MONAI's handlers work with
their default ``output_transform=lambda x: x[0]`` (they log every term) and
``from_engine(["loss"], first=True)`` extracts the total loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Events
from monai.engines import Trainer
from monai.engines.utils import IterationEvents
from monai.handlers import EarlyStopHandler
from monai.utils import ensure_tuple

from monai_lipinr.engines.handlers import HistoryRecorder, ProgressBarHandler

__all__ = ["INRTrainer", "LossTerms"]

#: What a loss function of :class:`INRTrainer` returns: the total loss, or a dict with it under ``"loss"``.
LossTerms = torch.Tensor | Mapping[str, torch.Tensor]


def _check_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return value


class INRTrainer(Trainer):
    """A MONAI trainer whose iteration is one optimisation step of an INR on a batch of points.

    Args:
        network: the INR being fitted (put in ``train()`` mode when the run starts).
        optimizer: its optimiser (any ``torch.optim.Optimizer``; hooks such as the Björck retraction of
            :func:`~monai_lipinr.lipschitz.constraints.register_retraction` stay active).
        loss_function: ``batch -> loss terms``: a scalar tensor, or a dict of scalar tensors holding the total
            under ``"loss"`` (e.g. ``{"loss", "similarity", "regularizer"}``); only ``"loss"`` is
            back-propagated, every term is reported in ``state.output``.
        data_loader: iterable of batches, e.g. a :class:`~monai_lipinr.engines.PointBatchSampler`; it must
            provide at least ``max_iterations`` batches (an endless sampler always does).
        max_iterations: optimisation steps of a run.
        epoch_length: iterations per engine epoch (epoch-level handlers fire at its end); default
            ``max_iterations`` (one epoch). Must divide ``max_iterations``.
        lr_scheduler: stepped after every optimiser step (``None``: none).
        device: ``state.device`` (batches are not moved: the sampler yields them on the right device).
        handlers: MONAI/ignite handlers (objects with ``attach(engine)``) attached at construction; an
            ``EarlyStopHandler`` created without ``trainer`` is set to stop this engine.
        log_every: record ``{"iteration", **terms}`` (0-based iteration, floats) in ``state.history`` at every
            ``log_every``-th iteration and at the last one; ``None``: no history.
        progress: show a ``tqdm`` progress bar (``desc``: its label).
        desc: progress bar label.

    Raises:
        ValueError: for a non-positive ``max_iterations``/``epoch_length``/``log_every``, an ``epoch_length``
            that does not divide ``max_iterations``, or (when running) a loss function without ``"loss"``.

    Example::

        sampler = PointBatchSampler(data={"x": x, "y": y}, batch_size=1024)
        def loss_fn(batch):
            return {"loss": torch.nn.functional.mse_loss(net(batch["x"]), batch["y"])}
        trainer = INRTrainer(net, torch.optim.Adam(net.parameters(), 1e-3), loss_fn, sampler,
                             max_iterations=500, handlers=[StatsHandler(name="fit", iteration_log=50)])
        trainer.run()
        trainer.state.output[0]["loss"], trainer.state.history
    """

    def __init__(
        self,
        network: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_function: Callable[[Any], LossTerms],
        data_loader: Iterable,
        max_iterations: int,
        epoch_length: int | None = None,
        lr_scheduler: Any = None,
        device: torch.device | str | None = None,
        handlers: Sequence | None = None,
        log_every: int | None = None,
        progress: bool = False,
        desc: str = "fit",
    ) -> None:
        max_iterations = _check_int("max_iterations", max_iterations)
        epoch_length = max_iterations if epoch_length is None else _check_int("epoch_length", epoch_length)
        if max_iterations % epoch_length:
            raise ValueError(
                f"epoch_length={epoch_length} must divide max_iterations={max_iterations} (the run is "
                f"max_iterations / epoch_length whole epochs)."
            )
        if device is None:
            param = next(iter(network.parameters()), None)
            device = param.device if param is not None else torch.device("cpu")
        super().__init__(
            device=device,
            max_epochs=max_iterations // epoch_length,
            data_loader=data_loader,
            epoch_length=epoch_length,
            decollate=False,  # the output is already a one-item list of scalars
        )
        self.network = network
        self.optimizer = optimizer
        self.loss_function = loss_function
        self.lr_scheduler = lr_scheduler
        self.max_iterations = max_iterations
        self.state.history = []
        self.state_dict_user_keys.append("history")
        self.add_event_handler(Events.STARTED, lambda engine: engine.network.train())
        if log_every is not None:
            HistoryRecorder(_check_int("log_every", log_every)).attach(self)
        if progress:
            ProgressBarHandler(desc=desc).attach(self)
        if handlers is not None:
            self._register_handlers(ensure_tuple(handlers))

    def _register_handlers(self, handlers: Sequence) -> None:
        """Attach handlers; a MONAI ``EarlyStopHandler`` given without a trainer stops this engine."""
        for handler in ensure_tuple(handlers):
            # EarlyStopHandler keeps its ignite EarlyStopping in ``_handler`` until a trainer is set
            if isinstance(handler, EarlyStopHandler) and getattr(handler, "_handler", False) is None:
                handler.set_trainer(self)
            handler.attach(self)

    # ------------------------------------------------------------------------------------------
    def _iteration(self, engine: INRTrainer, batchdata: Any) -> list[dict[str, torch.Tensor]]:
        terms = engine.loss_function(batchdata)
        if isinstance(terms, torch.Tensor):
            terms = {"loss": terms}
        if not isinstance(terms, Mapping) or "loss" not in terms:
            raise ValueError(
                "loss_function must return a scalar tensor or a dict with the total under 'loss', got "
                f"{type(terms).__name__}{' with keys ' + str(sorted(terms)) if isinstance(terms, Mapping) else ''}."
            )
        engine.state.output = terms
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        engine.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        engine.optimizer.step()
        if engine.lr_scheduler is not None:
            engine.lr_scheduler.step()
        out = [{k: (v.detach() if isinstance(v, torch.Tensor) else torch.as_tensor(v)) for k, v in terms.items()}]
        engine.state.output = out
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return out

    # ------------------------------------------------------------------------------------------
    @property
    def completed_iterations(self) -> int:
        """Optimisation steps done so far (``state.iteration``)."""
        return int(self.state.iteration)

    def resume_from(self, iteration: int, history: list[dict[str, float]] | None = None) -> None:
        """Continue a run at ``iteration`` completed steps (network/optimizer/sampler restored by the caller).

        Equivalent to what ``CheckpointLoader`` does with ``"trainer"`` in its ``load_dict``; use it with a
        checkpoint of another format.

        Args:
            iteration: steps already done, ``0 <= iteration <= max_iterations``.
            history: the history recorded so far (default: keep the current one).

        Raises:
            ValueError: for an iteration outside ``[0, max_iterations]``.
        """
        if isinstance(iteration, bool) or not isinstance(iteration, int) or not 0 <= iteration <= self.max_iterations:
            raise ValueError(f"iteration must be an int in [0, {self.max_iterations}], got {iteration!r}.")
        self.state.iteration = iteration
        self.state.epoch = iteration // self.state.epoch_length
        if history is not None:
            self.state.history = list(history)

    def checkpoint_objects(self) -> dict[str, Any]:
        """Objects whose state makes a run resumable, for ``CheckpointSaver(save_dict=...)`` and
        ``CheckpointLoader(load_dict=...)``: ``trainer`` (iteration, history), ``network``, ``optimizer``,
        ``lr_scheduler`` (when set) and the data loader's random state (``sampler``, when it has one)."""
        objects: dict[str, Any] = {"trainer": self, "network": self.network, "optimizer": self.optimizer}
        if self.lr_scheduler is not None:
            objects["lr_scheduler"] = self.lr_scheduler
        if hasattr(self.data_loader, "state_dict") and hasattr(self.data_loader, "load_state_dict"):
            objects["sampler"] = self.data_loader
        return objects

    def run(self) -> None:  # type: ignore[override]
        """Run the remaining optimisation steps (``max_iterations`` when starting; nothing when finished)."""
        if self.state.iteration >= self.max_iterations:
            return
        super().run()
