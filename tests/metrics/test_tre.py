"""Target registration error: continuous and DIR-Lab rounded conventions on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_lipinr.metrics import (
    TargetRegistrationErrorMetric,
    compute_target_registration_error,
    summarize_target_registration_error,
)


def test_continuous_hand_values():
    pred = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    true = torch.tensor([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(compute_target_registration_error(pred, true), torch.tensor([5.0, 0.0]))
    # the spacing does not matter for the continuous convention
    torch.testing.assert_close(
        compute_target_registration_error(pred, true, spacing=(0.5, 1.0, 2.5)), torch.tensor([5.0, 0.0])
    )


def test_dirlab_rounded_hand_values():
    spacing = (0.5, 1.0, 2.5)
    true = torch.tensor([[0.5, 1.0, 2.5], [0.5, 1.0, 2.5]], dtype=torch.float64)
    # voxel indices (1.4, 1.4, 1.44) -> rounded (1, 1, 1) -> (0.5, 1.0, 2.5) mm: exactly on target
    # voxel indices (2.5, 1.6, 0.4) -> rounded (2, 2, 0) (half to even) -> (1.0, 2.0, 0.0) mm
    pred = torch.tensor([[0.7, 1.4, 3.6], [1.25, 1.6, 1.0]], dtype=torch.float64)
    rounded = compute_target_registration_error(pred, true, spacing, convention="dirlab_rounded")
    torch.testing.assert_close(
        rounded, torch.tensor([0.0, math.sqrt(0.25 + 1.0 + 6.25)], dtype=torch.float64)
    )
    continuous = compute_target_registration_error(pred, true, spacing)
    torch.testing.assert_close(
        continuous,
        torch.tensor([math.sqrt(0.04 + 0.16 + 1.21), math.sqrt(0.5625 + 0.36 + 2.25)], dtype=torch.float64),
    )
    # the grid origin moves the rounding lattice: origin 0.25 mm on axis 0 -> index (0.9) -> 1 -> 0.75 mm
    shifted = compute_target_registration_error(
        pred[:1], true[:1], spacing, convention="dirlab_rounded", origin=(0.25, 0.0, 0.0)
    )
    torch.testing.assert_close(shifted, torch.tensor([0.25], dtype=torch.float64))


def test_batched_shapes_and_dtype():
    pred = torch.rand(3, 7, 3, dtype=torch.float64) * 50
    true = torch.rand(3, 7, 3, dtype=torch.float64) * 50
    out = compute_target_registration_error(pred, true, (1.0, 1.0, 2.5), "dirlab_rounded")
    assert out.shape == (3, 7) and out.dtype == torch.float64
    # rounding moves each prediction by at most half a voxel diagonal
    half_diag = 0.5 * math.sqrt(1 + 1 + 2.5**2)
    cont = compute_target_registration_error(pred, true)
    assert float((out - cont).abs().max()) <= half_diag + 1e-12


def test_metric_accumulates_variable_landmark_counts_and_summarises():
    g = torch.Generator().manual_seed(1)
    metric = TargetRegistrationErrorMetric()
    cases = [
        (torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g)),
        (torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)),
    ]
    all_errors = []
    for pred, true in cases:
        out = metric(pred, true)
        assert out.shape == (pred.shape[:-1].numel(), 1)
        all_errors.append(torch.linalg.vector_norm(pred - true, dim=-1).reshape(-1))
    errors = torch.cat(all_errors).numpy().astype(np.float64)
    assert float(metric.aggregate()) == pytest.approx(errors.mean(), rel=1e-6)
    summary = metric.summary()
    assert summary["n"] == 18
    assert summary["mean"] == pytest.approx(errors.mean(), rel=1e-6)
    assert summary["std"] == pytest.approx(errors.std(), rel=1e-6)
    assert summary["p95"] == pytest.approx(np.percentile(errors, 95), rel=1e-6)
    assert summary["max"] == pytest.approx(errors.max(), rel=1e-6)
    assert float(metric.aggregate("sum")) == pytest.approx(errors.sum(), rel=1e-5)
    # list-of-cases input (MONAI's channel-first list form)
    metric.reset()
    metric([c[0] for c in cases[:1]][0].unbind(0), [c[1] for c in cases[:1]][0].unbind(0))
    assert summarize_target_registration_error(metric.get_buffer())["n"] == 10


def test_metric_rounded_convention_matches_functional():
    spacing = (0.97, 0.97, 2.5)
    pred = torch.rand(20, 3, dtype=torch.float64) * 30
    true = torch.rand(20, 3, dtype=torch.float64) * 30
    metric = TargetRegistrationErrorMetric(spacing=spacing, convention="dirlab_rounded")
    metric(pred, true)
    expected = compute_target_registration_error(pred, true, spacing, "dirlab_rounded").mean()
    assert float(metric.aggregate()) == pytest.approx(float(expected))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: compute_target_registration_error(torch.zeros(4, 3), torch.zeros(5, 3)),
            ValueError,
            "same shape",
        ),
        (
            lambda: compute_target_registration_error(torch.zeros(4, 4), torch.zeros(4, 4)),
            ValueError,
            r"D in \{2, 3\}",
        ),
        (
            lambda: compute_target_registration_error(torch.full((2, 3), float("nan")), torch.zeros(2, 3)),
            ValueError,
            "pred_points_mm must be finite",
        ),
        (
            lambda: compute_target_registration_error(
                torch.zeros(2, 3), torch.zeros(2, 3), convention="rounded"
            ),
            ValueError,
            r"convention must be one of \['continuous', 'dirlab_rounded'\]",
        ),
        (
            lambda: compute_target_registration_error(
                torch.zeros(2, 3), torch.zeros(2, 3), convention="dirlab_rounded"
            ),
            ValueError,
            "needs the voxel spacing",
        ),
        (
            lambda: compute_target_registration_error(
                torch.zeros(2, 3), torch.zeros(2, 3), (1.0, 0.0, 1.0), "dirlab_rounded"
            ),
            ValueError,
            "spacing entries must be finite and > 0",
        ),
        (
            lambda: compute_target_registration_error(
                torch.zeros(2, 3), torch.zeros(2, 3), 1.0, "dirlab_rounded", (0.0, 1.0)
            ),
            ValueError,
            "origin must be 3 finite numbers",
        ),
        (
            lambda: TargetRegistrationErrorMetric(convention="dirlab_rounded"),
            ValueError,
            "needs the voxel spacing",
        ),
        (lambda: TargetRegistrationErrorMetric(reduction="median"), ValueError, "reduction must be one of"),
        (lambda: TargetRegistrationErrorMetric().aggregate(), ValueError, "nothing accumulated yet"),
        (lambda: TargetRegistrationErrorMetric()(torch.zeros(2, 3)), ValueError, "y .* is required"),
        (lambda: summarize_target_registration_error(torch.zeros(0)), ValueError, "errors is empty"),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
