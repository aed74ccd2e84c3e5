"""`fmat perf train`: one training episode of a learner against an environment-only episode and
against raw SUMO, interleaved in one run.

The training and environment-only episodes use the same vector environment (one worker, the
default `train.num_envs`) and episode; the environment-only run takes random valid actions.
Overhead = (training episode - environment episode) / environment episode: the share of time spent
in the policy and its updates (PPO's per rollout, DQN's per decision). Raw SUMO (the `sumo` binary
running the net's own programmes) is the floor any training episode is compared with.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np

from fmat.config import validate
from fmat.envs import make_vector_env
from fmat.perf.env_speed import time_raw_sumo
from fmat.train import train


def env_episode(scenario: str, seed: int = 0) -> float:
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    with make_vector_env(scenario, num_envs=1, seed=seed, autoreset=False) as vec:
        obs, _ = vec.reset()
        done = False
        while not done:
            mask = obs["action_mask"][0].astype(bool)
            actions = np.array([[rng.choice(np.flatnonzero(m)) for m in mask]])
            obs, _, terminated, truncated, _ = vec.step(actions)
            done = bool(terminated.all() or truncated.all())
    return time.perf_counter() - start


def training_episode(scenario: str, algorithm: str = "fmat", seed: int = 0) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = validate({"algorithm": algorithm, "scenario": scenario, "seed": seed, "output_dir": out,
                        "train": {"episodes": 1, "num_envs": 1}, "evaluation": {"episodes": 0}}, "perf")
        start = time.perf_counter()
        train(cfg, progress=False)
        return time.perf_counter() - start


def measure(scenario: str, algorithm: str = "fmat", repeats: int = 3, progress=None) -> dict[str, list[float]]:
    times = {"raw": [], "env": [], "train": []}
    for _ in range(repeats):
        times["raw"].append(time_raw_sumo(scenario))
        if progress:
            progress()
        times["env"].append(env_episode(scenario))
        if progress:
            progress()
        times["train"].append(training_episode(scenario, algorithm))
        if progress:
            progress()
    return times


def report(scenario: str, algorithm: str, times: dict[str, list[float]]) -> str:
    from fmat.envs import get_scenario
    from fmat.runner import decisions_per_episode

    raw, env, tr = (float(np.median(times[k])) for k in ("raw", "env", "train"))
    decisions = decisions_per_episode(get_scenario(scenario))
    return "\n".join([
        f"scenario {scenario}, {algorithm}: one episode, median of {len(times['env'])} interleaved runs (default train settings: "
        "1 environment, so one episode at a time on one core; raw SUMO likewise)",
        f"raw SUMO (the net's own programmes): {raw:.2f} s",
        f"environment only (random actions): {env:.2f} s",
        f"training episode (acting + updates): {tr:.2f} s",
        f"training overhead: {(tr - env) / env:.2f}x the environment's own time, "
        f"{1000 * (tr - env) / decisions:.1f} ms per decision ({decisions} decisions)",
        f"training episode: {tr / raw:.2f}x raw SUMO",
    ])
