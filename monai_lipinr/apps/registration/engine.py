"""``INRRegistration``: lung CT registration with a tissue-strain Lipschitz budget.

Convention (ITK/elastix for a fixed/moving pair, and MONAI's pull DDF): the network ``u`` lives on the
fixed image; ``T(x) = x + u(x)`` maps a fixed point to the corresponding moving point, and
``warped(x) = moving(T(x))``. Inputs and outputs of ``u`` are in the network units of
:class:`~monai_lipinr.budget.NetworkCoordinates` (isotropic map of the fixed field of view), so the
budget ``K`` of the network *is* the physical bound on ``‖∂u/∂x‖₂`` (mm/mm) — see ``StrainPrior``.

Training: each iteration samples ``batch_size`` voxels of the fixed mask, evaluates ``u`` and its exact
Jacobian in one forward pass, samples the moving image at ``T(x)`` (trilinear) and minimises
``similarity(fixed(x), moving(T(x))) + regularizer_weight · regularizer(∇u)``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from ignite.engine import Events

from monai_lipinr.apps.registration.config import RegistrationConfig, build_network, build_regularizer
from monai_lipinr.apps.registration.image_sampler import NetworkImageSampler
from monai_lipinr.budget.coordinates import NetworkCoordinates
from monai_lipinr.budget.priors import StrainPrior
from monai_lipinr.data.images import check_same_geometry, load_image
from monai_lipinr.data.landmarks import check_landmarks_inside
from monai_lipinr.data.lung_mask import compute_lung_mask
from monai_lipinr.engines import INRTrainer, PointBatchSampler
from monai_lipinr.lipschitz.constraints import register_retraction
from monai_lipinr.lipschitz.empirical import estimate_lipschitz
from monai_lipinr.losses.ncc import PointNCCLoss
from monai_lipinr.metrics.jacobian import compute_folding_rate, compute_sd_log_jacobian
from monai_lipinr.metrics.tre import compute_target_registration_error, summarize_target_registration_error
from monai_lipinr.networks.blocks.output_gain import BoundedGain
from monai_lipinr.ops.determinant import deformation_determinant
from monai_lipinr.ops.finite_difference import ddf_jacobian_determinant
from monai_lipinr.transforms.ddf import ddf_to_itk_displacement_field, inr_to_ddf

__all__ = ["INRRegistration", "RegistrationResult"]


@dataclasses.dataclass
class RegistrationResult:
    """Everything a registration hands back.

    Attributes:
        network: the trained displacement network (network units in and out).
        coordinates: the fixed-image network coordinate map.
        ddf: MONAI DDF on the fixed grid (channel-first, array-axis order, voxel units, pull semantics).
        displacement_itk: the same field as a ``SimpleITK`` displacement field (LPS mm, float64 vectors).
        warped: the moving image resampled onto the fixed grid through ``T`` (``SimpleITK.Image``).
        jacobian_determinant: ``det(I + ∇u)`` on the fixed grid, by finite differences of the dense DDF (as
            ITK-based tools compute it); the folding metrics use the network's exact Jacobian at every mask
            voxel instead (``folded_voxels_in_mask_finite_difference`` reports the grid count too).
        fixed_mask: the lung mask used (given or computed).
        metrics: folding rate and SD log J in the mask, TRE summary when landmarks were given.
        ledger: the Lipschitz ledger as a dict, with the empirical constant and its utilisation.
        budget: the budget estimate (value, units, derivation).
        runtime_s: wall time of the optimisation and of the whole call.
        history: loss per logged iteration.
    """

    network: torch.nn.Module
    coordinates: NetworkCoordinates
    ddf: torch.Tensor
    displacement_itk: sitk.Image
    warped: sitk.Image
    jacobian_determinant: sitk.Image
    fixed_mask: sitk.Image
    metrics: dict[str, Any]
    ledger: dict[str, Any]
    budget: dict[str, Any]
    runtime_s: dict[str, float]
    history: list[dict[str, float]]

    def report(self) -> dict[str, Any]:
        """JSON-serialisable summary (no arrays)."""
        return {
            "metrics": self.metrics,
            "ledger": self.ledger,
            "budget": self.budget,
            "runtime_s": self.runtime_s,
            "coordinates": self.coordinates.to_dict(),
            "history": self.history,
        }


@dataclasses.dataclass
class _PreparedRegistration:
    """The prepared inputs of a registration engine (``engine.registration``)."""

    coordinates: NetworkCoordinates
    fixed: sitk.Image
    moving: sitk.Image
    fixed_mask: sitk.Image
    mask_array: np.ndarray
    points: torch.Tensor
    fixed_landmarks: np.ndarray | None
    moving_landmarks: np.ndarray | None
    budget: Any
    t_start: float


def _parameter_groups(net: torch.nn.Module, cfg: RegistrationConfig) -> list[dict[str, Any]]:
    """Adam parameter groups: hidden layers at ``learning_rate``, the output layer at
    ``output_learning_rate`` (its bias is a displacement in network units), the gain at
    ``gain_learning_rate``."""
    gain = [p for m in net.modules() if isinstance(m, BoundedGain) for p in m.parameters()]
    linears = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    output = list(linears[-1].parameters()) if linears and cfg.output_learning_rate is not None else []
    special = {id(p) for p in gain + output}
    groups = [{"params": [p for p in net.parameters() if id(p) not in special], "lr": cfg.learning_rate}]
    if output:
        groups.append({"params": output, "lr": cfg.output_learning_rate})
    if gain:
        groups.append({"params": gain, "lr": cfg.gain_learning_rate})
    return groups


def _as_image(source: Any, name: str) -> sitk.Image:
    if source is None:
        raise ValueError(f"{name} is required (a path, a SimpleITK image or a MONAI MetaTensor), got None.")
    return load_image(source)


class INRRegistration:
    """Register a fixed/moving CT pair with a Lipschitz-budgeted INR.

    Args:
        config: a :class:`RegistrationConfig`; keyword arguments override its fields
            (e.g. ``INRRegistration(iterations=500, allocation="uniform")``).

    Examples:
        >>> reg = INRRegistration(max_strain=2.0, allocation="exponential")
        >>> result = reg.fit("fixed.nii.gz", "moving.nii.gz", landmarks=("f.csv", "m.csv"))
        >>> result.metrics["tre_mm"]["mean"], result.metrics["folding_rate"]
    """

    def __init__(self, config: RegistrationConfig | None = None, **overrides: Any) -> None:
        base = config or RegistrationConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.config.validate()

    # ------------------------------------------------------------------------------------------
    def _prepare(self, fixed, moving, fixed_mask):
        fixed_img = sitk.Cast(_as_image(fixed, "fixed"), sitk.sitkFloat32)
        moving_img = sitk.Cast(_as_image(moving, "moving"), sitk.sitkFloat32)
        if fixed_img.GetDimension() != 3 or moving_img.GetDimension() != 3:
            raise ValueError(
                f"fixed and moving must be 3-D images, got dimensions {fixed_img.GetDimension()} and "
                f"{moving_img.GetDimension()}."
            )
        if fixed_mask is None:
            mask_img = compute_lung_mask(sitk.Cast(fixed_img, sitk.sitkInt16))
        else:
            mask_img = _as_image(fixed_mask, "fixed_mask")
            check_same_geometry(fixed_img, mask_img, ("fixed", "fixed_mask"))
        mask_arr = sitk.GetArrayFromImage(mask_img) > 0
        if not mask_arr.any():
            raise ValueError("fixed_mask is empty: no voxel > 0; registration needs a non-empty region.")
        return fixed_img, moving_img, mask_img, mask_arr

    def _window(self, image: sitk.Image) -> sitk.Image:
        lo, hi = self.config.intensity_window
        return sitk.Clamp(image, sitk.sitkFloat32, lo, hi) if lo is not None else image

    def fit(
        self,
        fixed: Any,
        moving: Any,
        fixed_mask: Any = None,
        landmarks: tuple[Any, Any] | None = None,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        handlers: Sequence | None = None,
    ) -> RegistrationResult:
        """Register ``moving`` to ``fixed``.

        Args:
            fixed: fixed image (path: NIfTI/MHA/NRRD/DICOM folder, ``SimpleITK.Image`` or ``MetaTensor``), HU.
            moving: moving image, same forms; any grid (it is sampled in world coordinates).
            fixed_mask: lung mask on the fixed grid; ``None`` computes one (``compute_lung_mask``).
            landmarks: optional ``(fixed_points, moving_points)``, each ``(N, 3)`` LPS world mm arrays
                (row-aligned pairs), for the TRE.
            checkpoint: file to save the optimisation state to every ``config.checkpoint_every`` iterations.
            resume: continue from ``checkpoint`` when it exists.
            handlers: MONAI/ignite handlers (``StatsHandler``, ``TensorBoardStatsHandler``,
                ``EarlyStopHandler`` ...) attached to the optimisation engine (see :meth:`build_engine`; for
                handlers that need the network or optimizer, e.g. ``CheckpointSaver``, build the engine
                first and run it yourself).

        Returns:
            :class:`RegistrationResult`.

        Raises:
            ValueError: for non-3-D images, an empty mask, a mask on another grid, landmarks outside the
                fixed image or of mismatched counts.
        """
        cfg = self.config
        engine = self.build_engine(fixed, moving, fixed_mask, landmarks, handlers=handlers)
        ckpt = Path(checkpoint) if checkpoint is not None else None
        if resume and ckpt is not None and ckpt.exists():
            state = torch.load(ckpt, map_location=engine.state.device, weights_only=False)
            engine.network.load_state_dict(state["network"])
            engine.optimizer.load_state_dict(state["optimizer"])
            engine.data_loader.generator.set_state(state["generator"])
            engine.resume_from(state["iteration"], state["history"])
        if ckpt is not None and cfg.checkpoint_every:

            @engine.on(Events.ITERATION_COMPLETED(every=cfg.checkpoint_every))
            def _save_checkpoint(eng: INRTrainer) -> None:
                tmp = ckpt.with_name(ckpt.name + ".tmp")
                torch.save({"network": eng.network.state_dict(), "optimizer": eng.optimizer.state_dict(),
                            "generator": eng.data_loader.generator.get_state(), "iteration": eng.state.iteration,
                            "history": eng.state.history}, tmp)
                tmp.replace(ckpt)

        t_opt = time.perf_counter()
        engine.run()
        return self.finish(engine, optimisation_time=time.perf_counter() - t_opt)

    def build_engine(
        self,
        fixed: Any,
        moving: Any,
        fixed_mask: Any = None,
        landmarks: tuple[Any, Any] | None = None,
        handlers: Sequence | None = None,
        epoch_length: int | None = None,
    ) -> INRTrainer:
        """Prepare a registration and return its optimisation loop as a MONAI/ignite engine (not yet run).

        One engine iteration is one optimisation step on ``batch_size`` mask voxels;
        ``engine.state.output`` is ``[{"loss", "similarity", "regularizer"}]`` (MONAI's decollated
        convention, so ``StatsHandler``/``TensorBoardStatsHandler`` log every term by default) and
        ``engine.state.history`` the logged terms. ``engine.checkpoint_objects()`` lists what
        ``CheckpointSaver``/``CheckpointLoader`` need for an exact resume. Run it with ``engine.run()``,
        then turn it into a result with :meth:`finish`.

        Args:
            fixed: as :meth:`fit`.
            moving: as :meth:`fit`.
            fixed_mask: as :meth:`fit`.
            landmarks: as :meth:`fit`.
            handlers: MONAI/ignite handlers to attach.
            epoch_length: iterations per engine epoch (default: ``iterations``, one epoch); must divide
                ``config.iterations``.

        Returns:
            :class:`~monai_lipinr.engines.INRTrainer` with the prepared inputs in ``engine.registration``.

        Example::

            engine = reg.build_engine(fixed, moving, mask)
            CheckpointSaver("ckpt", engine.checkpoint_objects(), save_interval=100, epoch_level=False).attach(engine)
            EarlyStopHandler(patience=50, score_function=loss_score, trainer=engine, epoch_level=False).attach(engine)
            engine.run()
            result = reg.finish(engine)
        """
        cfg = self.config
        t_start = time.perf_counter()
        fixed_img, moving_img, mask_img, mask_arr = self._prepare(fixed, moving, fixed_mask)
        fixed_lm = moving_lm = None
        if landmarks is not None:
            fixed_lm, moving_lm = (np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in landmarks)
            if fixed_lm.shape != moving_lm.shape:
                raise ValueError(
                    f"landmarks must be row-aligned pairs, got {fixed_lm.shape[0]} fixed and "
                    f"{moving_lm.shape[0]} moving points."
                )
            check_landmarks_inside(fixed_lm, fixed_img, "fixed landmarks")
            check_landmarks_inside(moving_lm, moving_img, "moving landmarks")

        device = torch.device(cfg.device) if cfg.device else torch.device("cpu")
        torch.manual_seed(cfg.seed)
        generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
        coords = NetworkCoordinates.from_sitk(fixed_img)
        prior = StrainPrior(cfg.max_strain, fold_free=cfg.fold_free, coordinates=coords)
        budget = prior.estimate()

        # samples: fixed intensities at mask voxel centres, in network coordinates
        fixed_win = self._window(fixed_img)
        fixed_arr = sitk.GetArrayFromImage(fixed_win)  # (k, j, i)
        kji = np.argwhere(mask_arr)
        ijk = kji[:, ::-1].astype(np.float64)
        world = np.asarray(fixed_img.GetOrigin()) + ijk @ (
            np.asarray(fixed_img.GetDirection()).reshape(3, 3) * np.asarray(fixed_img.GetSpacing())
        ).T
        points = torch.as_tensor(coords.world_to_network(world), dtype=torch.float32, device=device)
        values = torch.as_tensor(fixed_arr[mask_arr], dtype=torch.float32, device=device)
        moving_sampler = NetworkImageSampler(self._window(moving_img), coords, device=device)

        net = build_network(cfg, budget.value, coords.scale).to(device)
        optimizer = torch.optim.Adam(_parameter_groups(net, cfg))
        if cfg.constraint == "bjorck":
            register_retraction(optimizer, net)
        similarity = PointNCCLoss()
        regularizer = build_regularizer(cfg)

        def loss_function(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            x = batch["points"]
            if regularizer is not None:  # batches are random, so the first m points are a random subset
                u, jac = net.forward_with_jacobian(x, jacobian_points=cfg.regularizer_points)
            else:
                u, jac = net(x), None
            loss_sim = similarity(moving_sampler(x + u), batch["values"])
            loss, loss_reg = loss_sim, torch.zeros(())
            if regularizer is not None:
                loss_reg = regularizer(jac)
                loss = loss + cfg.regularizer_weight * loss_reg
            return {"loss": loss, "similarity": loss_sim, "regularizer": loss_reg}

        sampler = PointBatchSampler(data={"points": points, "values": values}, batch_size=cfg.batch_size,
                                    generator=generator, device=device)
        engine = INRTrainer(net, optimizer, loss_function, sampler, cfg.iterations, epoch_length=epoch_length,
                            device=device, handlers=handlers, log_every=cfg.log_every, progress=cfg.progress,
                            desc="register")
        engine.registration = _PreparedRegistration(
            coordinates=coords, fixed=fixed_img, moving=moving_img, fixed_mask=mask_img, mask_array=mask_arr,
            points=points, fixed_landmarks=fixed_lm, moving_landmarks=moving_lm, budget=budget, t_start=t_start)
        return engine

    def finish(self, engine: INRTrainer, optimisation_time: float | None = None) -> RegistrationResult:
        """Evaluate a run engine of :meth:`build_engine` into a :class:`RegistrationResult`.

        Args:
            engine: the engine (after ``engine.run()``; an early-stopped run is evaluated as it stands).
            optimisation_time: wall time of the run (s); default: the engine's own timer.

        Raises:
            TypeError: for an engine that :meth:`build_engine` did not make.
        """
        prep = getattr(engine, "registration", None)
        if not isinstance(prep, _PreparedRegistration):
            raise TypeError(f"engine must come from INRRegistration.build_engine, got {type(engine).__name__}.")
        if optimisation_time is None:
            optimisation_time = float(engine.state.times.get(Events.COMPLETED.name) or 0.0)
        net = engine.network
        net.eval()
        result = self._finish(net, prep.coordinates, prep.fixed, prep.moving, prep.fixed_mask, prep.mask_array,
                              prep.points, prep.fixed_landmarks, prep.moving_landmarks, prep.budget,
                              engine.state.history)
        result.runtime_s = {"optimisation": optimisation_time, "total": time.perf_counter() - prep.t_start}
        return result

    # ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _determinant_at(self, net, points: torch.Tensor) -> torch.Tensor:
        """Exact ``det(I + ∇u)`` of the network at network points ``(N, 3)``, in chunks."""
        out = []  # no autograd needed: the forward path propagates the tangents explicitly (and under
        # no_grad the constrained weights come from their eval-mode cache instead of being recomputed)
        for start in range(0, points.shape[0], self.config.chunk_size):
            _, jac = net.forward_with_jacobian(points[start:start + self.config.chunk_size])
            out.append(deformation_determinant(jac).cpu())
        return torch.cat(out)

    def _finish(self, net, coords, fixed_img, moving_img, mask_img, mask_arr, points, fixed_lm, moving_lm,
                budget, history) -> RegistrationResult:
        cfg = self.config
        ddf = inr_to_ddf(net, fixed_img, coordinates=coords, chunk_size=cfg.chunk_size)
        field = ddf_to_itk_displacement_field(ddf)
        transform = sitk.DisplacementFieldTransform(sitk.Image(field))
        warped = sitk.Resample(moving_img, fixed_img, transform, sitk.sitkLinear, -1024.0, sitk.sitkFloat32)
        # det J map on the whole grid: finite differences of the dense DDF (what ITK-based tools compute);
        # metrics in the mask: the network's exact Jacobian at every mask voxel
        det = ddf_jacobian_determinant(ddf.as_tensor()[None])[0].numpy()  # (i, j, k)
        det_img = sitk.GetImageFromArray(np.ascontiguousarray(det.transpose(2, 1, 0)).astype(np.float32))
        det_img.CopyInformation(fixed_img)
        det_mask = self._determinant_at(net, points)[None]  # (1, n_mask), exact
        metrics: dict[str, Any] = {
            "folding_rate": float(compute_folding_rate(det_mask)),
            "folded_voxels_in_mask": int((det_mask <= 0).sum()),
            "sd_log_jacobian": float(compute_sd_log_jacobian(det_mask)),
            "det_jacobian_min_in_mask": float(det_mask.min()),
            "det_jacobian_max_in_mask": float(det_mask.max()),
            "folded_voxels_in_mask_finite_difference": int((det.transpose(2, 1, 0)[mask_arr] <= 0).sum()),
        }
        if fixed_lm is not None:
            with torch.no_grad():
                x = torch.as_tensor(coords.world_to_network(fixed_lm), dtype=torch.float32)
                u = net(x.to(next(net.parameters()).device)).cpu().double().numpy()
            pred = fixed_lm + coords.displacement_to_world(u)
            pred_t, true_t = torch.from_numpy(pred), torch.from_numpy(moving_lm)
            errors = compute_target_registration_error(pred_t, true_t)
            metrics["tre_mm"] = summarize_target_registration_error(errors)
            metrics["tre_before_mm"] = summarize_target_registration_error(
                compute_target_registration_error(torch.from_numpy(fixed_lm), true_t))
            metrics["tre_dirlab_rounded_mm"] = summarize_target_registration_error(
                compute_target_registration_error(pred_t, true_t, spacing=moving_img.GetSpacing(),
                                                  convention="dirlab_rounded",
                                                  origin=moving_img.GetOrigin()))
        # empirical Lipschitz constant over the mask's bounding box (network units)
        lo, hi = points.min(0).values, points.max(0).values
        gen = torch.Generator(device=points.device).manual_seed(cfg.seed)

        def sampler(n):
            return lo + (hi - lo) * torch.rand(n, 3, generator=gen, device=points.device)

        est = estimate_lipschitz(net, sampler, num_starts=cfg.empirical_starts, num_steps=cfg.empirical_steps,
                                 project=lambda p: torch.maximum(torch.minimum(p, hi), lo))
        ledger = net.ledger(empirical=est.value)
        ledger_dict = ledger.to_dict()
        if cfg.constraint == "none":
            ledger_dict["note"] = "unconstrained network: the budget is not enforced, only reported"
        return RegistrationResult(
            network=net, coordinates=coords, ddf=ddf, displacement_itk=field, warped=warped,
            jacobian_determinant=det_img, fixed_mask=mask_img, metrics=metrics, ledger=ledger_dict,
            budget=budget.to_ledger_entry(), runtime_s={}, history=history,
        )
