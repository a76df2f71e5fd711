"""Output-stage share helpers shared by the applications (registration, reconstruction)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_lipinr.budget import allocate_with_output_share, first_heavy_output, output_stage_share
from monai_lipinr.lipschitz.allocation import allocate_budget
from monai_lipinr.networks.nets import SIREN


def test_output_stage_share_rules():
    assert output_stage_share(0.2, 2.0, 4) == pytest.approx(0.2)
    assert output_stage_share(5.0, 2.0, 4) == pytest.approx(1.0)  # capped: the output never amplifies
    assert output_stage_share(0.9, 0.5, 4) == pytest.approx(0.5 ** 0.25)  # feasible for a non-increasing split
    assert output_stage_share(1.0, 64.0, 4, features=128) == pytest.approx(1 / math.sqrt(128))
    assert output_stage_share(3.0, 64.0, 4, cap=2.0) == pytest.approx(2.0)
    for bad in (dict(amplitude=0.0), dict(budget=-1.0), dict(num_stages=0), dict(features=True)):
        kwargs = {"amplitude": 1.0, "budget": 2.0, "num_stages": 4, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            output_stage_share(**kwargs)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 7])
def test_first_heavy_output_product_and_shape(m):
    t = allocate_budget(63.5, m, "first_heavy_output", k_out=0.09).numpy()
    assert np.prod(t) == pytest.approx(63.5, rel=1e-9)
    if m >= 3:
        assert t[0] == pytest.approx(63.5) and t[-1] == pytest.approx(0.09)
        assert np.allclose(t[1:-1], 0.09 ** (-1 / (m - 2)))
    assert np.allclose(first_heavy_output(5.0, 4), [5, 1, 1, 1])  # no share: plain first-heavy
    with pytest.raises(ValueError, match="k_out"):
        first_heavy_output(5.0, 4, k_out=0.0)


def test_first_heavy_output_with_a_first_share_gives_the_rest_to_the_hidden_stages():
    t = first_heavy_output(127.0, 6, k_out=0.177, k_first=60.0)
    assert np.prod(t) == pytest.approx(127.0, rel=1e-12)
    assert t[0] == 60.0 and t[-1] == 0.177
    assert np.allclose(t[1:-1], (127.0 / (60.0 * 0.177)) ** 0.25)
    assert np.allclose(first_heavy_output(8.0, 2, k_out=0.5, k_first=3.0), [16.0, 0.5])  # no hidden stage
    with pytest.raises(ValueError, match="k_first"):
        first_heavy_output(5.0, 4, k_first=-1.0)


def test_allocate_with_output_share_respects_explicit_values():
    net = SIREN(2, 1, hidden_features=8, num_layers=3, budget=10.0, allocation="first_heavy_output")
    assert allocate_with_output_share(net, 10.0, "first_heavy_output", {}, 0.25)
    assert net._allocation_kwargs == {"k_out": 0.25}
    assert net.ledger().certified_bound <= 10.0 * (1 + 1e-3)
    assert not allocate_with_output_share(net, 10.0, "first_heavy_output", {"k_out": 0.5}, 0.25)
    assert not allocate_with_output_share(net, 10.0, "uniform", {}, 0.25)
    assert allocate_with_output_share(net, 10.0, "exponential", {}, 0.25)
    assert net._allocation_kwargs == {"k_min": 0.25}


def test_stages_for_gain_puts_each_share_nearest_the_target_gain():
    from monai_lipinr.budget import stages_for_gain

    for product in (2.5, 5.66, 12.0, 24.0, 100.0):
        n = stages_for_gain(product, 1.85)
        distance = [abs(math.log(product) / m - math.log(1.85)) for m in range(1, 12)]
        assert distance[n - 1] == pytest.approx(min(distance))  # no other count is nearer in log-space
    assert stages_for_gain(12.0, 1.85) == 4 and stages_for_gain(12.0, 2.3) == 3
    assert stages_for_gain(1.1, 1.85) == 1 and stages_for_gain(1.1, 1.85, minimum=3) == 3
    for kwargs, name in ((dict(product=0.0, gain=2.0), "product"), (dict(product=4.0, gain=1.0), "gain"),
                         (dict(product=4.0, gain=float("nan")), "gain"),
                         (dict(product=4.0, gain=2.0, minimum=0), "minimum")):
        with pytest.raises(ValueError, match=name):
            stages_for_gain(**kwargs)
