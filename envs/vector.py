"""Vectorised environments: N simulations stepped together.

With N > 1 every environment runs in a worker of gymnasium's AsyncVectorEnv, so the simulations and
the observation code of all N run in parallel. A single environment runs in the caller's process
(SyncVectorEnv): its libsumo simulation has a process of its own anyway (envs/sumo.py), and a
worker in between would only add a second pipe round trip per step. Observations come back stacked as
[num_envs, n_agents, ...] arrays and rewards as [num_envs, n_agents]. An environment whose
episode ends is reset in the same step; its last observation and episode metrics are in
info["final_obs"] and info["final_info"].
"""
from __future__ import annotations

import multiprocessing as mp

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

SEED_STRIDE = 100_000  # worker i of a vector seeded s uses SUMO seeds s + i * SEED_STRIDE + episode


class ArrayTrafficEnv(gym.Env):
    """A TrafficSignalEnv seen as one gymnasium Env over all its agents (arrays, not dicts)."""

    def __init__(self, scenario, seed: int = 0, **options):
        from . import make_env

        self.env = make_env(scenario, seed=seed, **options)
        n = len(self.env.possible_agents)
        self.observation_space = gym.spaces.Dict(self.env.observer.spaces(agents=(n,)))
        self.action_space = gym.spaces.MultiDiscrete(np.full(n, self.env.max_phases))

    def reset(self, *, seed=None, options=None):
        return self.env.reset_arrays(seed)

    def step(self, action):
        obs, rewards, done, info = self.env.step_arrays(action)
        return obs, rewards, False, done, info

    def close(self):
        self.env.close()


class _InProcessVectorEnv(SyncVectorEnv):
    """SyncVectorEnv with a reward per agent: [num_envs, n_agents] float64, as AsyncVectorEnv returns."""

    def __init__(self, env_fns, n_agents: int, **kwargs):
        super().__init__(env_fns, **kwargs)
        self._rewards = np.zeros((self.num_envs, n_agents), dtype=np.float64)


class VectorTrafficEnv:
    """N copies of one scenario, stepped in lockstep (N > 1: each in a worker process).

    With autoreset=False a finished vector must be reset by the caller (the trainer does, to
    choose each episode's seeds), and the last step's info["episode"] holds the metrics.

    Attributes: num_envs, agents (stable order), n_agents, obs_dim, max_phases, observation_spec, graph,
    valid_phases.
    """

    def __init__(self, scenario, num_envs: int = 1, seed: int = 0, autoreset: bool = True, **options):
        from . import make_env

        probe = make_env(scenario, seed=seed, **options)  # parses the net; starts no simulation
        self.agents = list(probe.possible_agents)
        self.n_agents, self.obs_dim = len(self.agents), probe.obs_dim
        self.max_phases, self.max_lanes = probe.max_phases, probe.max_lanes
        self.valid_phases = probe.valid_phases
        self.observation_spec = probe.observation_spec
        self.graph = probe.graph
        self.scenario = probe.scenario
        probe.close()
        self.num_envs, self.seed = int(num_envs), int(seed)
        scenario_obj = probe.scenario
        envs = [lambda: ArrayTrafficEnv(scenario_obj, **options) for _ in range(self.num_envs)]
        mode = AutoresetMode.SAME_STEP if autoreset else AutoresetMode.DISABLED
        if self.num_envs == 1:
            self._vec = _InProcessVectorEnv(envs, self.n_agents, autoreset_mode=mode)
        else:
            # fork (Linux's default) needs no `if __name__ == "__main__"` guard in user scripts; workers
            # never touch torch, so forking a parent that imported it is safe.
            self._vec = AsyncVectorEnv(envs, context="fork" if "fork" in mp.get_all_start_methods() else None,
                                       autoreset_mode=mode)

    def reset(self, seed: int | list[int] | None = None):
        """Reset every environment; an int seeds worker i with seed + i * SEED_STRIDE, a list gives each its own."""
        if isinstance(seed, (list, tuple)):
            return self._vec.reset(seed=[int(s) for s in seed])
        base = self.seed if seed is None else int(seed)
        return self._vec.reset(seed=[base + i * SEED_STRIDE for i in range(self.num_envs)])

    def step(self, actions: np.ndarray):
        """actions [num_envs, n_agents] -> obs, rewards [num_envs, n_agents], terminated, truncated, info."""
        return self._vec.step(np.asarray(actions, dtype=np.int64))

    def close(self) -> None:
        self._vec.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


