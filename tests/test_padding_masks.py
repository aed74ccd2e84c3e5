import numpy as np
import pytest

from fmat.envs import InvalidOptionError, make_env


def test_cologne8_padding_and_masks():
    env = make_env("cologne8", end=25200 + 300, observation="lanes")
    lanes = [len(s.in_lanes) for s in env.signals]
    phases = [s.n_phases for s in env.signals]
    assert len(set(lanes)) > 1 and len(set(phases)) > 1  # the point of this scenario
    P, L = max(phases), max(lanes)
    assert env.obs_dim == P + 1 + 2 * L
    spaces = {env.observation_space(a)["observation"].shape for a in env.possible_agents}
    assert spaces == {(env.obs_dim,)}
    assert {env.action_space(a).n for a in env.possible_agents} == {P}

    obs, _ = env.reset(seed=0)
    for _ in range(12):  # let traffic arrive
        obs, *_ = env.step({a: 0 for a in env.agents})
    for agent, signal in zip(env.possible_agents, env.signals):
        o = obs[agent]
        expected_mask = np.concatenate(
            [np.arange(P) < signal.n_phases, [True], np.arange(L) < len(signal.in_lanes), np.arange(L) < len(signal.in_lanes)]
        )
        assert o["observation_mask"].tolist() == expected_mask.astype(int).tolist()
        assert (o["observation"][~expected_mask] == 0).all()
        assert o["action_mask"][signal.n_phases :].sum() == 0
        assert o["action_mask"].sum() >= 1
        assert o["observation"].dtype == np.float32 and (0 <= o["observation"]).all() and (o["observation"] <= 1).all()
        assert env.observation_space(agent).contains(o)
    assert any(obs[a]["observation"][P + 1 :].sum() > 0 for a in env.possible_agents)  # lanes are measured

    small = int(np.argmin(phases))
    bad = {a: 0 for a in env.agents}
    bad[env.possible_agents[small]] = phases[small]  # a padding action
    with pytest.raises(InvalidOptionError, match="invalid"):
        env.step(bad)
    env.close()


def test_a_short_lane_reads_the_sum_of_itself_and_its_upstream_lanes():
    from fmat.envs.network import SignalSpec
    from fmat.envs.traffic_state import LaneLayout

    spec = SignalSpec(id="s", junctions=["s"], position=(0.0, 0.0), in_lanes=["short", "long"], out_lanes=["out"],
                      in_capacity=np.array([6.0, 9.0], np.float32), green_phases=["G"], programme=[(30.0, "G")],
                      programme_green=[0], all_red=0.0, in_upstream=[["feeder"], []])
    layout = LaneLayout([spec])
    assert layout.lanes == ["feeder", "long", "out", "short"]
    values = np.array([[4, 3, 30], [2, 1, 5], [1, 0, 0], [1, 1, 10]], np.float32)  # vehicles, halting, waiting
    state = layout.state(0.0, values, np.zeros(1, int), np.zeros(1))
    assert state.in_vehicles.tolist() == [[5, 2]] and state.in_halting.tolist() == [[4, 1]]
    assert state.in_waiting.tolist() == [[40, 5]] and state.out_vehicles.tolist() == [[1]]
