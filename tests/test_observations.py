"""Per-phase features on a hand-built state."""
from types import SimpleNamespace

import numpy as np
import pytest

from fmat.envs.observations import GREEN_SCALE, PER_LANE, PHASE_FEATURES, VEHICLE_SCALE, WAIT_SCALE, PhaseFeatures

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
    assert x[0, F["halted"]] == pytest.approx((2 + 4) / VEHICLE_SCALE) and x[1, F["halted"]] == pytest.approx(5 / VEHICLE_SCALE)
    assert x[0, F["vehicles"]] == pytest.approx((3 + 5) / VEHICLE_SCALE)
    assert not x[2:].any()  # padded phases
    assert feats.relation[0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_phases_that_share_a_lane_are_related():
    signal = SimpleNamespace(phase_movements=[[(0, 0)], [(0, 1), (1, 1)], [(2, 0)]])
    rel = PhaseFeatures([signal], in_width=3, out_width=2, max_phases=3).relation[0]
    assert rel.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("algorithm", ["fmat", "mat", "mappo", "ippo", "colight", "mplight"])
def test_permuting_a_signals_phases_permutes_its_logits(algorithm):
    """The phase encoder and scoring head use the same weights for every phase row, so reordering a
    signal's phases (rows, relation and mask alike) reorders its logits and nothing else."""
    import torch

    from fmat.envs.graph import grid_graph
    from fmat.registry import build_policy
    from tiny_env import random_obs, spec

    torch.manual_seed(0)
    s = spec(max_phases=5)
    policy = build_policy(algorithm, s, grid_graph(2, 3), {}).eval()
    obs = random_obs(s, 4, 6)
    obs["action_mask"][:] = True
    perm = torch.tensor([3, 0, 4, 1, 2])
    moved = dict(obs, phases=obs["phases"][:, :, perm], action_mask=obs["action_mask"][:, :, perm],
                 phase_relation=obs["phase_relation"][:, :, perm][:, :, :, perm])
    with torch.no_grad():
        if hasattr(policy, "get_action_and_value"):  # score the same choices under both orders
            action = policy.get_action_and_value(obs)[0]
            where = torch.argsort(perm)  # new index of each old phase
            before = policy.get_action_and_value(obs, action)[1]
            after = policy.get_action_and_value(moved, where[action])[1]
            assert torch.allclose(before, after, atol=1e-5)
        if algorithm != "mat":  # MAT's logits depend on the other agents' actions: scored above
            out, out_moved = policy(obs), policy(moved)
            logits = out[0] if isinstance(out, tuple) else out
            moved_logits = out_moved[0] if isinstance(out_moved, tuple) else out_moved
            assert torch.allclose(logits[:, :, perm], moved_logits, atol=1e-5)


def test_layouts_share_masks_and_differ_in_the_vector():
    from fmat.envs.observations import LAYOUTS, PhasesLayout, get_layout
    from fmat.envs.errors import InvalidOptionError

    assert set(LAYOUTS) == {"phases", "lanes"} and get_layout("phases") is PhasesLayout
    with pytest.raises(InvalidOptionError, match="unknown observation layout 'lane'; choose one of phases, lanes"):
        get_layout("lane")


def test_run_configs_of_fmat_0_2_keep_their_meaning(tmp_path):
    """A config.yaml written before env.observation existed was trained on lanes (and MAPPO/IPPO with
    the agent id); new configs get phases and no agent id."""
    import yaml

    from fmat.config import load_config, load_run_config

    old = tmp_path / "config.yaml"
    old.write_text(yaml.safe_dump({"algorithm": "ippo", "scenario": "cologne1", "env": {"reward": "wait"}, "model": {}}))
    cfg = load_run_config(old)
    assert cfg.env.observation == "lanes" and cfg.model == {"agent_id": True}
    assert load_config(old).env.observation == "phases" and load_config(old).model == {}
