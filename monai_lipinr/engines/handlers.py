"""Small ignite handlers of the INR engines (history, progress bar) and output helpers for MONAI handlers.

``engine.state.output`` of an :class:`~monai_lipinr.engines.INRTrainer` is ``[{"loss": ..., ...}]`` (MONAI's
decollated convention); :func:`output_loss` / :func:`loss_score` turn it into what ``StatsHandler``'s
``output_transform`` or an early-stopping ``score_function`` expect.
"""

from __future__ import annotations

from typing import Any

from ignite.engine import Engine, Events

__all__ = ["HistoryRecorder", "ProgressBarHandler", "output_terms", "output_loss", "loss_score"]


def output_terms(output: Any) -> dict[str, float]:
    """The loss terms of an INR engine output (``[{"loss": tensor, ...}]`` or a dict) as floats."""
    if isinstance(output, (list, tuple)):
        if not output:
            raise ValueError("output is an empty list; expected [{'loss': ...}].")
        output = output[0]
    if not isinstance(output, dict):
        raise TypeError(f"output must be a dict of loss terms or a list holding one, got {type(output).__name__}.")
    return {k: float(v) for k, v in output.items()}


def output_loss(output: Any) -> float:
    """The total loss of an INR engine output (an ``output_transform`` for MONAI handlers)."""
    return output_terms(output)["loss"]


def loss_score(engine: Engine) -> float:
    """``-loss`` of the last iteration: a ``score_function`` for ``EarlyStopHandler``/``EarlyStopping``
    (higher is better), e.g. ``EarlyStopHandler(patience=20, score_function=loss_score, epoch_level=False)``."""
    return -output_loss(engine.state.output)


class HistoryRecorder:
    """Append ``{"iteration": i, **terms}`` to ``engine.state.history`` every ``log_every`` iterations.

    ``i`` is the 0-based index of the optimisation step; the last step of the run is always recorded.

    Args:
        log_every: recording interval (iterations).
    """

    def __init__(self, log_every: int = 50) -> None:
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be an int >= 1, got {log_every!r}.")
        self.log_every = log_every

    def attach(self, engine: Engine) -> None:
        if not hasattr(engine.state, "history"):
            engine.state.history = []
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        it = engine.state.iteration - 1
        last = engine.state.epoch_length * engine.state.max_epochs - 1
        if it % self.log_every == 0 or it == last:
            engine.state.history.append({"iteration": it, **output_terms(engine.state.output)})


class ProgressBarHandler:
    """A ``tqdm`` progress bar over the run's iterations, showing the last loss.

    Args:
        desc: bar label.
        update_every: refresh interval (iterations).
    """

    def __init__(self, desc: str = "fit", update_every: int = 10) -> None:
        self.desc = desc
        self.update_every = max(1, int(update_every))
        self._bar = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._open)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._update)
        engine.add_event_handler(Events.COMPLETED, self._close)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._close_on_error)

    def _open(self, engine: Engine) -> None:
        from tqdm.auto import tqdm

        total = engine.state.epoch_length * engine.state.max_epochs
        self._bar = tqdm(total=total, initial=engine.state.iteration, desc=self.desc, unit="it")
        self._shown = engine.state.iteration

    def _update(self, engine: Engine) -> None:
        if self._bar is None:
            return
        it = engine.state.iteration
        if it - self._shown >= self.update_every or it == self._bar.total:
            self._bar.update(it - self._shown)
            self._shown = it
            self._bar.set_postfix(loss=f"{output_loss(engine.state.output):.4g}")

    def _close(self, engine: Engine) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _close_on_error(self, engine: Engine, e: Exception) -> None:
        self._close(engine)
        raise e
