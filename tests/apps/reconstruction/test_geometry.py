"""The views' sampling limit (Crowther's criterion) of the scan geometries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_lipinr.apps.reconstruction import FanBeamGeometry, ParallelBeamGeometry


@pytest.mark.parametrize("views", [1, 30, 60, 90])
def test_parallel_views_over_half_a_turn_determine_n_rad_per_network_unit(views):
    geom = ParallelBeamGeometry(np.linspace(0, np.pi, views, endpoint=False), 64, 2.0)
    radius = geom.field_of_view_radius()
    assert geom.view_angle_step() == pytest.approx(math.pi / views)
    # 2N / D with D = 2R: N rad per network unit (R mm per unit)
    assert geom.angular_sampling_limit() == pytest.approx(views / radius)
    assert geom.angular_sampling_limit() * radius == pytest.approx(views)


def test_views_that_repeat_lines_add_nothing():
    """Parallel views at θ and θ + π measure the same lines; a full fan turn counts as half its views."""
    half = ParallelBeamGeometry(np.linspace(0, np.pi, 30, endpoint=False), 64, 2.0)
    full = ParallelBeamGeometry(np.linspace(0, 2 * np.pi, 60, endpoint=False), 64, 2.0)
    assert full.angular_sampling_limit() == pytest.approx(half.angular_sampling_limit())
    fan = FanBeamGeometry(np.linspace(0, 2 * np.pi, 60, endpoint=False), 64, 2.0, 500.0, 1000.0)
    assert fan.angular_sampling_limit() * fan.field_of_view_radius() == pytest.approx(30.0)
    shuffled = ParallelBeamGeometry(np.random.default_rng(0).permutation(half.angles) + np.pi, 64, 2.0)
    assert shuffled.view_angle_step() == pytest.approx(half.view_angle_step())


def test_a_limited_angle_scan_keeps_the_step_of_its_views():
    """The median step measures the view density: a 90° scan of 30 views has the step of 60 over 180°."""
    wedge = ParallelBeamGeometry(np.linspace(0, np.pi / 2, 30, endpoint=False), 64, 2.0)
    assert wedge.view_angle_step() == pytest.approx(math.pi / 60)
