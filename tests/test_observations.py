"""Per-phase features on a hand-built state."""
from types import SimpleNamespace

import numpy as np
import pytest

from fmat.envs.observations import GREEN_SCALE, PER_LANE, PHASE_FEATURES, WAIT_SCALE, PhaseFeatures

F = {name: i for i, name in enumerate(PHASE_FEATURES)}


def test_a_phase_sums_exactly_its_lanes_and_padding_is_zero():
    # one signal, 3 incoming and 2 outgoing lanes; phase 0 serves in-lanes 0 and 2 into out-lane 1,
    # phase 1 serves in-lane 1 into out-lanes 0 and 1; padded to 4 phases and 4 incoming lanes
    signal = SimpleNamespace(phase_movements=[[(0, 1), (2, 1)], [(1, 0), (1, 1)]])
    feats = PhaseFeatures([signal], in_width=4, out_width=2, max_phases=4)
    state = SimpleNamespace(
        in_halting=np.array([[2.0, 5.0, 4.0, 0.0]]), in_vehicles=np.array([[3.0, 6.0, 5.0, 0.0]]),
        in_waiting=np.array([[40.0, 300.0, 20.0, 0.0]]), in_capacity=np.array([[10.0, 20.0, 30.0, 1.0]]),
        in_mask=np.array([[True, True, True, False]]), out_halting=np.array([[1.0, 3.0]]),
        phase=np.array([1]), green_time=np.array([30.0]))
    x = feats.compute(state)[0]
    assert x.shape == (4, len(PHASE_FEATURES))
    assert x[0, F["queue"]] == pytest.approx((2 + 4) / (10 + 30))
    assert x[0, F["demand"]] == pytest.approx((3 + 5) / (10 + 30))
    assert x[0, F["pressure"]] == pytest.approx(((2 + 4) / 2 - 3 / 1) / PER_LANE)
    assert x[0, F["waiting"]] == pytest.approx((40 + 20) / (3 + 5) / WAIT_SCALE)
    assert x[1, F["pressure"]] == pytest.approx((5 / 1 - (1 + 3) / 2) / PER_LANE)
    assert (x[0, F["current"]], x[1, F["current"]]) == (0.0, 1.0)
    assert x[1, F["green"]] == pytest.approx(30 / GREEN_SCALE) and x[0, F["green"]] == 0.0
    assert not x[2:].any()  # padded phases
    assert feats.relation[0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_phases_that_share_a_lane_are_related():
    signal = SimpleNamespace(phase_movements=[[(0, 0)], [(0, 1), (1, 1)], [(2, 0)]])
    rel = PhaseFeatures([signal], in_width=3, out_width=2, max_phases=3).relation[0]
    assert rel.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
