"""The one training loop. Every algorithm (on-policy, off-policy, classical controller) runs here.

The runner owns what is the same for all of them: environments, seeds, the episode and time budgets,
resume, checkpoints, metrics.csv and tensorboard (RunLog), and the progress bar. An algorithm plugs
in through a small protocol:

    begin_episode(seeds)                      before each episode
    act(obs) -> actions [num_envs, n_agents]  while training (exploring)
    observe(obs, actions, rewards, next_obs, terminated, truncated) -> [loss statistics of each update]
    state_dict() / load_state_dict(state)     everything needed for an exact resume

PPO (fmat/ppo.py), DQN (fmat/dqn.py) and the controllers (below) implement it.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from fmat import atomic, checkpoint, termination
from fmat.files import read_metrics
from fmat.registry import CONTROLLER, OFF_POLICY, ON_POLICY, REGISTRY, controller_class
from fmat.rundir import COLUMNS, RunDir


class RunLog:
    """metrics.csv (rewritten atomically) and tensorboard scalars."""

    def __init__(self, run_dir: Path, keep_episodes: int):
        from torch.utils.tensorboard import SummaryWriter

        files = RunDir(run_dir)
        self.path = files.metrics_csv
        self.rows: list[dict] = []
        if self.path.exists():
            self.rows = [r for r in read_metrics(self.path, COLUMNS) if r["episode"] < keep_episodes]
            for r in self.rows:
                r["episode"], r["env_steps"] = int(r["episode"]), int(r["env_steps"])
        self.writer = SummaryWriter(str(files.tensorboard), purge_step=keep_episodes)

    def episode(self, row: dict) -> None:
        self.rows.append(row)
        atomic.write_csv(self.path, self.rows, list(COLUMNS))
        for key in COLUMNS[3:]:
            self.writer.add_scalar(f"charts/{key}", row[key], row["episode"])

    def losses(self, stats: dict, step: int) -> None:
        for key, value in stats.items():
            self.writer.add_scalar(f"losses/{key}", value, step)

    def close(self) -> None:
        self.writer.close()


class Progress:
    """A rich progress bar over episodes showing the latest delay."""

    def __init__(self, cfg, start: int, total: int, enabled: bool):
        self.enabled = enabled
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
            self.task = self.bar.add_task(f"{cfg.run_name}", total=total, completed=start, status="")

    def __enter__(self):
        if self.enabled:
            self.bar.start()
        return self

    def update(self, episodes_done: int, delay: float) -> None:
        if self.enabled:
            self.bar.update(self.task, completed=episodes_done, status=f"delay {delay:.1f} s")

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()


def row(episode, env_steps, wall, ret, metrics) -> dict:
    return {"episode": episode, "env_steps": env_steps, "wall_seconds": round(wall, 3), "return": float(ret),
            **{k: float(metrics[k]) for k in COLUMNS[4:]}}


def episode_seeds(seed: int, episode: int, count: int) -> list[int]:
    """SUMO seeds for `count` episodes starting at global episode index `episode` (training)."""
    return [int(np.random.SeedSequence([seed, episode + i]).generate_state(1)[0] % 2**31) for i in range(count)]


def decisions_per_episode(scenario) -> int:
    return math.ceil((scenario.end - scenario.begin) / scenario.delta)


class SingleEnv:
    """One TrafficSignalEnv behind the vector interface (num_envs = 1), for the controllers, which
    read the environment's traffic_state."""

    num_envs = 1

    def __init__(self, env):
        self.env, self.scenario = env, env.scenario

    def reset(self, seed: list[int]):
        obs, info = self.env.reset_arrays(seed[0])
        return {k: v[None] for k, v in obs.items()}, info

    def step(self, actions: np.ndarray):
        obs, rewards, done, info = self.env.step_arrays(actions[0])
        if done:
            info = {**info, "episode": {k: np.array([v]) for k, v in info["episode"].items()}}
        return {k: v[None] for k, v in obs.items()}, rewards[None], np.array([False]), np.array([done]), info

    def close(self) -> None:
        self.env.close()


class LoadSampler:
    """The machine's 1-minute load average, sampled once a minute while the run trains (and at each
    start or resume), so that done.json's mean describes the whole run: sampled only at episode
    ends, a run stopped after one long episode had a single sample, taken after a neighbour ended."""

    def __init__(self, saved=(0.0, 0), every: float = 60.0, clock=time.monotonic):
        self.total, self.samples = float(saved[0]), int(saved[1])
        self.every, self.clock, self.next = every, clock, -math.inf

    def tick(self) -> None:
        now = self.clock()
        if now >= self.next:
            self.total += os.getloadavg()[0]
            self.samples += 1
            self.next = now + self.every

    def state(self) -> list:
        return [self.total, self.samples]


class ControllerAlgorithm:
    """A classical controller: a fresh controller per episode, seeded like the episode; nothing to learn."""

    def __init__(self, cfg, env: SingleEnv):
        self.cls, self.env = controller_class(cfg.algorithm), env.env

    def begin_episode(self, seeds: list[int]) -> None:
        self.controller = self.cls(self.env, seed=seeds[0])

    def act(self, obs: dict) -> np.ndarray:
        return self.controller.act(self.env.traffic_state, obs["action_mask"][0])[None]

    def observe(self, *transition) -> list[dict]:
        return []

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def make_envs(cfg):
    """The training environments: worker processes for learners, one in-process env for controllers."""
    from fmat.envs import make_env, make_vector_env

    options = cfg.env.options(cfg.scenario)
    if REGISTRY[cfg.algorithm].kind == CONTROLLER:
        return SingleEnv(make_env(cfg.scenario, seed=cfg.seed, **options, **controller_class(cfg.algorithm).env_options))
    return make_vector_env(cfg.scenario, num_envs=cfg.train.num_envs, seed=cfg.seed, autoreset=False, **options)


def build_algorithm(cfg, envs, total_steps: int):
    """The algorithm object for cfg.algorithm, by its registry kind."""
    kind = REGISTRY[cfg.algorithm].kind
    if kind == CONTROLLER:
        return ControllerAlgorithm(cfg, envs)
    import torch

    from fmat.registry import build_policy

    torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.seed)
    network = build_policy(cfg.algorithm, envs.observation_spec, envs.graph, cfg.model)
    if kind == ON_POLICY:
        from fmat.ppo import PPOLearner

        return PPOLearner(network, cfg.ppo, envs.graph, cfg.train, cfg.seed)
    if kind == OFF_POLICY:
        from fmat.dqn import DQNLearner

        return DQNLearner(network, cfg.dqn, envs.num_envs, total_steps, cfg.seed)
    raise ValueError(f"unknown algorithm kind {kind!r}")


def run(cfg, budget: int, run_dir: Path, state: dict | None, log, bar, over_budget) -> None:
    """Train (or run) cfg.algorithm until `budget` episodes or `over_budget(episode, wall)` says stop,
    checkpointing after every episode; `state` is the checkpoint to resume from."""
    envs = make_envs(cfg)
    path = RunDir(run_dir).checkpoint
    try:
        per_episode = decisions_per_episode(envs.scenario)
        algo = build_algorithm(cfg, envs, total_steps=budget * per_episode)
        episode, env_steps, wall, updates, load = 0, 0, 0.0, 0, LoadSampler()
        if state:
            with checkpoint.restoring(path):
                algo.load_state_dict(state)
                episode, env_steps, wall = state["episode"], state["env_steps"], state["wall_seconds"]
                updates, load = state.get("updates", 0), LoadSampler(state.get("load", (0.0, 0)))
        layout = ({"obs_dim": envs.obs_dim, "max_phases": envs.max_phases, "max_lanes": envs.max_lanes}
                  if REGISTRY[cfg.algorithm].learns else {})
        n_envs = envs.num_envs
        while episode < budget and not over_budget(episode, wall):
            start = time.perf_counter()
            seeds = episode_seeds(cfg.seed, episode, n_envs)
            algo.begin_episode(seeds)
            obs, _ = envs.reset(seed=seeds)
            returns, done = np.zeros(n_envs), False
            while not done:
                termination.check()
                load.tick()
                actions = algo.act(obs)
                next_obs, rewards, terminated, truncated, info = envs.step(actions)
                for stats in algo.observe(obs, actions, rewards, next_obs, terminated, truncated):
                    log.losses(stats, updates)
                    updates += 1
                returns += np.asarray(rewards, dtype=np.float64).mean(-1)
                env_steps += n_envs
                done = bool(np.all(terminated | truncated))
                obs = next_obs
            wall += time.perf_counter() - start
            metrics = info["episode"]
            for i in range(min(n_envs, budget - episode)):
                log.episode(row(episode + i, env_steps, wall, returns[i], {k: metrics[k][i] for k in COLUMNS[4:]}))
            episode = min(episode + n_envs, budget)
            checkpoint.save(path, cfg.algorithm, {"episode": episode, "env_steps": env_steps, "wall_seconds": wall,
                                                  "updates": updates, "load": load.state(), "layout": layout,
                                                  **algo.state_dict()})
            bar.update(episode, float(np.mean(metrics["delay"])))
    finally:
        envs.close()
