"""MONAI/ignite engines of the INR optimisation loops.

:class:`INRTrainer` runs an INR fit (one iteration = one optimisation step on a batch of points drawn by
a :class:`PointBatchSampler`) as a MONAI ``Trainer``, so MONAI's handlers (``StatsHandler``,
``TensorBoardStatsHandler``, ``CheckpointSaver``/``CheckpointLoader``, ``EarlyStopHandler`` ...) work on
it. The registration (:meth:`INRRegistration.build_engine <monai_lipinr.apps.registration.INRRegistration.build_engine>`)
and reconstruction applications run their loops on it.
"""

from __future__ import annotations

from monai_lipinr.engines.handlers import (
    HistoryRecorder,
    ProgressBarHandler,
    loss_score,
    output_loss,
    output_terms,
)
from monai_lipinr.engines.samplers import PointBatchSampler
from monai_lipinr.engines.trainer import INRTrainer, LossTerms

__all__ = [
    "HistoryRecorder",
    "INRTrainer",
    "LossTerms",
    "PointBatchSampler",
    "ProgressBarHandler",
    "loss_score",
    "output_loss",
    "output_terms",
]
