"""INRTrainer: the registration / reconstruction loops as MONAI engines, driven by MONAI's own handlers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events
from ignite.handlers import EarlyStopping
from monai.handlers import (
    CheckpointLoader,
    CheckpointSaver,
    EarlyStopHandler,
    StatsHandler,
    TensorBoardStatsHandler,
    from_engine,
)

from monai_lipinr.apps.registration import INRRegistration
from monai_lipinr.engines import HistoryRecorder, INRTrainer, PointBatchSampler, loss_score, output_loss


class _Records(logging.Handler):
    """Collect the messages of one named logger (MONAI's loggers do not propagate to the root)."""

    def __init__(self, name: str):
        super().__init__(logging.INFO)
        self.name_, self.messages = name, []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        logging.getLogger(self.name_).addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger(self.name_).removeHandler(self)


def _toy_trainer(max_iterations=30, epoch_length=None, handlers=None, seed=0, progress=False):
    """Fit y = sin(3x) on 256 points with a small MLP (batches of 64)."""
    torch.manual_seed(seed)
    x = torch.linspace(-1, 1, 256)[:, None]
    y = torch.sin(3 * x)
    net = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    sampler = PointBatchSampler(data={"x": x, "y": y}, batch_size=64, seed=seed)

    def loss_fn(batch):
        mse = torch.nn.functional.mse_loss(net(batch["x"]), batch["y"])
        return {"loss": mse, "rmse": mse.sqrt()}

    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    return INRTrainer(net, opt, loss_fn, sampler, max_iterations, epoch_length=epoch_length, handlers=handlers,
                      log_every=1, progress=progress, desc="toy")


def test_iteration_is_one_optimisation_step_and_output_follows_monai():
    trainer = _toy_trainer(max_iterations=60, epoch_length=20)
    trainer.run()
    assert trainer.state.iteration == 60 and trainer.state.epoch == 3
    out = trainer.state.output
    assert isinstance(out, list) and len(out) == 1 and set(out[0]) == {"loss", "rmse"}
    assert not out[0]["loss"].requires_grad
    assert from_engine(["loss"], first=True)(out) is out[0]["loss"]  # MONAI's idiom extracts the loss
    hist = trainer.state.history
    assert [h["iteration"] for h in hist] == list(range(60))
    assert hist[-1]["loss"] < 0.3 * hist[0]["loss"]
    assert hist[-1]["rmse"] == pytest.approx(hist[-1]["loss"] ** 0.5, rel=1e-5)
    trainer.run()  # a finished run stays finished
    assert trainer.state.iteration == 60


def test_progress_bar_and_history_interval(capsys):
    trainer = _toy_trainer(max_iterations=30, progress=True)
    HistoryRecorder(log_every=7).attach(trainer)  # a second recorder appends its own rows
    trainer.run()
    err = capsys.readouterr().err
    assert "toy" in err and "30/30" in err and "loss=" in err
    logged = [h["iteration"] for h in trainer.state.history]
    assert logged.count(0) == 2 and logged.count(7) == 2 and logged.count(29) == 2 and logged.count(1) == 1


def test_sampler_batches_and_state_round_trip():
    pts = torch.arange(10.0)[:, None].repeat(1, 3)
    s = PointBatchSampler(data={"p": pts, "v": pts[:, 0]}, batch_size=4, seed=3)
    it = iter(s)
    b = next(it)
    assert b["p"].shape == (4, 3) and torch.equal(b["p"][:, 0], b["v"]) and torch.equal(b["v"], b["index"].float())
    state = s.state_dict()
    after = [next(it)["index"] for _ in range(3)]
    s.load_state_dict(state)
    again = [next(iter(s))["index"] for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(after, again))
    full = next(iter(PointBatchSampler(data={"p": pts}, batch_size=None)))
    assert full["index"] is None and full["p"] is pts
    assert next(iter(PointBatchSampler(data={"p": pts}, batch_size=50)))["p"].shape == (10, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="epoch_length=7 must divide max_iterations=20"):
        _toy_trainer(max_iterations=20, epoch_length=7)
    with pytest.raises(ValueError, match="max_iterations"):
        _toy_trainer(max_iterations=0)
    with pytest.raises(ValueError, match="batch_size"):
        PointBatchSampler(10, batch_size=0)
    with pytest.raises(ValueError, match="lengths"):
        PointBatchSampler(data={"a": torch.zeros(3), "b": torch.zeros(4)})
    net = torch.nn.Linear(1, 1)
    bad = INRTrainer(net, torch.optim.SGD(net.parameters(), 0.1), lambda b: {"mse": net(torch.zeros(1, 1)).sum()},
                     PointBatchSampler(4, 2), 2)
    with pytest.raises(ValueError, match="'loss'"):
        bad.run()


def test_registration_engine_with_stats_and_tensorboard(tiny_pair, tiny_config, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fixed, moving, mask = tiny_pair
    reg = INRRegistration(**tiny_config)
    stats = StatsHandler(name="reg_stats", iteration_log=lambda engine, it: it % 5 == 0, epoch_log=False)
    tb = TensorBoardStatsHandler(log_dir=str(tmp_path / "tb"), iteration_log=1, epoch_log=False)
    with _Records("reg_stats") as records:
        result = reg.fit(fixed, moving, mask, handlers=[stats, tb])
    tb.close()
    lines = records.messages
    assert len(lines) == 4  # iterations 5, 10, 15, 20
    assert all("loss: " in m and "similarity: " in m and "regularizer: " in m for m in lines)
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert {"loss", "similarity", "regularizer"} <= set(events.Tags()["scalars"])
    logged = events.Scalars("loss")
    assert [e.step for e in logged] == list(range(1, 21))
    # what TensorBoard got is what the registration recorded
    np.testing.assert_allclose([e.value for e in logged], [h["loss"] for h in result.history], rtol=1e-6)
    assert np.isfinite(result.metrics["folding_rate"])


def test_handlers_leave_the_registration_unchanged(tiny_pair, tiny_config):
    fixed, moving, mask = tiny_pair
    plain = INRRegistration(**tiny_config).fit(fixed, moving, mask)
    engine = INRRegistration(**tiny_config).build_engine(fixed, moving, mask, epoch_length=5,
                                                          handlers=[StatsHandler(name="quiet", iteration_log=False)])
    engine.run()
    assert engine.state.epoch == 4
    via_engine = INRRegistration(**tiny_config).finish(engine)
    assert via_engine.history == plain.history
    assert torch.equal(via_engine.ddf.as_tensor(), plain.ddf.as_tensor())


def test_checkpoint_saver_and_loader_resume_exactly(tiny_pair, tiny_config, tmp_path):
    fixed, moving, mask = tiny_pair
    reg = INRRegistration(**tiny_config)
    full = reg.fit(fixed, moving, mask)

    # first half: save every 10 iterations with MONAI's CheckpointSaver, stop at 10
    first = reg.build_engine(fixed, moving, mask)
    CheckpointSaver(str(tmp_path), first.checkpoint_objects(), save_interval=10, epoch_level=False,
                    n_saved=1).attach(first)
    first.add_event_handler(Events.ITERATION_COMPLETED(once=10), lambda e: e.terminate())
    first.run()
    saved = sorted(Path(tmp_path).glob("*.pt"))
    assert len(saved) == 1 and first.state.iteration == 10

    # a fresh engine (new network, optimiser, sampler) resumed by MONAI's CheckpointLoader
    second = reg.build_engine(fixed, moving, mask)
    CheckpointLoader(str(saved[0]), second.checkpoint_objects()).attach(second)
    second.run()
    assert second.state.iteration == 20
    resumed = reg.finish(second)
    assert [h["iteration"] for h in resumed.history] == list(range(20))
    for key in ("loss", "similarity"):
        np.testing.assert_allclose([h[key] for h in resumed.history], [h[key] for h in full.history], rtol=1e-5)
    assert torch.allclose(resumed.ddf.as_tensor(), full.ddf.as_tensor(), atol=1e-5)


def test_early_stopping_monai_and_ignite(tiny_pair, tiny_config):
    fixed, moving, mask = tiny_pair
    reg = INRRegistration(**dict(tiny_config, iterations=40))
    # MONAI's EarlyStopHandler, iteration level: an improvement must beat min_delta=1 (impossible for NCC)
    engine = reg.build_engine(fixed, moving, mask)
    EarlyStopHandler(patience=3, score_function=loss_score, trainer=engine, min_delta=1.0,
                     epoch_level=False).attach(engine)
    engine.run()
    assert engine.state.iteration == 4  # the first score, then 3 iterations without improvement
    result = reg.finish(engine)
    assert result.history[-1]["iteration"] == 3

    # ignite's EarlyStopping at epoch level (epochs of 5 iterations)
    engine = reg.build_engine(fixed, moving, mask, epoch_length=5)
    engine.add_event_handler(Events.EPOCH_COMPLETED, EarlyStopping(2, loss_score, engine, threshold=1.0))
    engine.run()
    assert engine.state.iteration == 15 and engine.state.epoch == 3


def test_reconstruction_runs_on_the_engine_with_handlers():
    from monai_lipinr.apps.reconstruction import (
        EllipsePhantom,
        INRReconstruction,
        ParallelBeamGeometry,
        shepp_logan_ellipses,
    )
    from monai_lipinr.apps.reconstruction.engine import reconstruction_grid

    geom = ParallelBeamGeometry(np.linspace(0, np.pi, 6, endpoint=False), 17, 4.0)
    sino = EllipsePhantom(shepp_logan_ellipses(28.0, 0.0193)).line_integrals(*geom.rays(torch.float64))
    for model in ("grid", "rays"):
        rec = INRReconstruction(iterations=6, hidden_features=8, empirical_starts=2, empirical_steps=2, log_every=1,
                                forward_model=model, rays_per_batch=32)
        stop = EarlyStopHandler(patience=1, score_function=lambda e: -output_loss(e.state.output), min_delta=1e9,
                                epoch_level=False)
        logger = f"rec_{model}"
        with _Records(logger) as records:
            res = rec.fit(sino.reshape(geom.shape), geom, reconstruction_grid(geom),
                          handlers=[StatsHandler(name=logger, iteration_log=1, epoch_log=False), stop])
        assert [h["iteration"] for h in res.history] == [0, 1]  # stopped early by MONAI's handler
        assert len(records.messages) == 2 and all("loss: " in m for m in records.messages)

