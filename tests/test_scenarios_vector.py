import subprocess
import sys

import numpy as np

from fmat.envs import get_scenario, make_env, make_vector_env
from fmat.envs.scenarios import builtin_names

RESCO = ["grid4x4", "arterial4x4", "cologne1", "cologne3", "cologne8", "ingolstadt1", "ingolstadt7", "ingolstadt21"]


def test_cli_lists_resco_maps_and_grids():
    out = subprocess.run([sys.executable, "-m", "fmat.cli", "scenarios"], capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[1] for line in out.strip().splitlines()[1:]}
    assert list(rows)[:8] == RESCO
    assert rows["ingolstadt21"] == "21" and rows["cologne8"] == "8"
    assert "grid-RxC" in rows and "rush-RxC" in rows


def test_every_resco_map_builds_with_its_preset():
    assert builtin_names() == RESCO
    for name in RESCO:
        env = make_env(name)
        sc = env.scenario
        assert len(env.possible_agents) == sc.signals, name
        assert (sc.delta, sc.yellow) == ((5, 2) if name == "arterial4x4" else (10, 3))
        env.close()


def test_grid_generation_is_cached_and_configurable():
    a = get_scenario("grid-2x3")
    b = get_scenario("grid-2x3")
    assert a.net == b.net
    c = get_scenario("grid-2x3", demand=300, route_seed=4)
    assert c.net != a.net
    env = make_env("grid-2x3")
    assert len(env.possible_agents) == 6
    env.close()


def test_rush_grid_has_protected_lefts_and_moving_peaks():
    import xml.etree.ElementTree as ET

    from fmat.envs.generators import fringe_edges

    sc = get_scenario("rush-3x2")
    assert get_scenario("rush-3x2").routes == sc.routes != get_scenario("grid-3x2").routes   # cached; its own demand
    env = make_env("rush-3x2")
    assert len(env.possible_agents) == 6
    assert all(s.n_phases == 4 for s in env.network.signals)                               # through + protected left, per axis
    env.close()
    entries, exits = fringe_edges(sc.net)
    assert {k: len(v) for k, v in entries.items()} == {"west": 3, "east": 3, "south": 2, "north": 2} == {k: len(v) for k, v in exits.items()}
    sixth = {("west", "east"): [0] * 6, ("south", "north"): [0] * 6}
    side = {e: s for s, edges in entries.items() for e in edges} | {e: s for s, edges in exits.items() for e in edges}
    for vehicle in ET.parse(sc.routes[0]).getroot().iter("vehicle"):
        edges = vehicle.find("route").get("edges").split()
        key = (side[edges[0]], side[edges[-1]])
        if key in sixth:
            sixth[key][int(float(vehicle.get("depart")) // 600)] += 1
    we, sn = sixth[("west", "east")], sixth[("south", "north")]
    assert we[1] > 3 * we[4] and sn[4] > 3 * sn[1]                       # west-east peaks early, south-north late


def test_grid_32x32_has_1024_agents():
    env = make_env("grid-32x32", end=30)
    assert len(env.possible_agents) == 1024
    obs, _ = env.reset_arrays()
    assert obs["observation"].shape == (1024, env.obs_dim)
    obs, rewards, done, info = env.step_arrays(np.zeros(1024, dtype=int))
    assert rewards.shape == (1024,)
    assert env.graph.degrees().max() == 4
    env.close()


def test_vector_env_batches_and_autoresets():
    from conftest import random_masked_actions

    def run(seed):
        rng = np.random.default_rng(0)
        with make_vector_env("cologne3", num_envs=2, seed=seed, end=25200 + 100) as vec:
            obs, _ = vec.reset()
            assert obs["observation"].shape == (2, 3, vec.obs_dim)
            assert vec.graph.num_nodes == 3
            for step in range(10):
                obs, rewards, terminated, truncated, info = vec.step(random_masked_actions(rng, obs["action_mask"]))
                assert rewards.shape == (2, 3)
            assert truncated.all() and not terminated.any()
            assert info["final_obs"][0]["observation"].shape == (3, vec.obs_dim)
            return info["final_info"]["episode"]["delay"]

    first = run(0)
    assert np.array_equal(first, run(0))
    assert first[0] != first[1]  # each worker has its own SUMO seed


def test_one_env_runs_in_process_and_equals_a_worker_of_two():
    """A single environment skips the worker process (its libsumo simulation has its own); what it
    returns, autoreset included, is what worker 0 of a two-environment vector with the same seed returns."""
    from conftest import random_masked_actions

    def run(num_envs):
        rng = np.random.default_rng(0)
        steps = []
        with make_vector_env("cologne3", num_envs=num_envs, seed=3, end=25200 + 60) as vec:
            obs, _ = vec.reset()
            for _ in range(8):  # 6 steps per episode: one autoreset
                actions = random_masked_actions(rng, obs["action_mask"][:1])
                obs, rewards, terminated, truncated, info = vec.step(np.repeat(actions, num_envs, axis=0))
                steps.append((obs["observation"][0], rewards[0], truncated[0]))
                if truncated[0]:
                    steps.append((info["final_obs"][0]["observation"], info["final_info"]["episode"]["delay"][0]))
            return vec._vec.__class__.__name__, steps

    one_kind, one = run(1)
    two_kind, two = run(2)
    assert (one_kind, two_kind) == ("_InProcessVectorEnv", "AsyncVectorEnv")
    assert len(one) == 9 and one[6][1] > 0
    for a, b in zip(one, two, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    rewards = one[0][1]
    assert rewards.dtype == np.float64 and rewards.shape == (3,)
