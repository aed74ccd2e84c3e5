"""`fmat perf train`: a learner's training episodes against environment-only episodes and raw SUMO,
interleaved in one run, in steady state.

One training run of `repeats + 1` episodes goes through the runner every learner uses (fmat/runner.py);
after each of its episodes, one raw SUMO episode (the `sumo` binary running the net's own
programmes) and one environment-only episode (the same vector environment settings, random valid
actions) run before the next training episode starts. The first episode of each kind is a warm-up
and is not reported: it pays the one-time costs of a run (imports, reading the network, building
the policy), which a 100-episode study pays once. So the figures are what each further episode
costs, measured side by side.

Each episode's wall seconds and CPU seconds (this process and the SUMO processes it started) are
recorded. The CPU seconds say what an episode needs from the machine whatever else runs on it;
two such runs side by side on two cores cannot do better than one episode per CPU-time each.
"""
from __future__ import annotations

import resource
import statistics
import tempfile
import time

import numpy as np

from fmat.config import validate
from fmat.envs import make_vector_env
from fmat.perf.env_speed import time_raw_sumo

KINDS = ("raw", "env", "train")


def _clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _since(start: tuple[float, float]) -> tuple[float, float]:
    now = _clock()
    return now[0] - start[0], now[1] - start[1]


def env_episode(vec, rng: np.random.Generator, seed: int) -> None:
    """One episode of random valid actions on an open one-environment vector."""
    obs, _ = vec.reset(seed=seed)
    done = False
    while not done:
        mask = obs["action_mask"][0].astype(bool)
        actions = np.array([[rng.choice(np.flatnonzero(m)) for m in mask]])
        obs, _, terminated, truncated, _ = vec.step(actions)
        done = bool(terminated.all() or truncated.all())


class _Interleave:
    """Stands in for the runner's progress bar: the runner calls `update` after every training
    episode (and its checkpoint), and this times that episode, then one raw SUMO and one
    environment-only episode, before handing control back."""

    def __init__(self, scenario: str, seed: int, progress=None):
        self.scenario, self.seed, self.progress = scenario, seed, progress
        self.rng = np.random.default_rng(seed)
        self.vec = make_vector_env(scenario, num_envs=1, seed=seed, autoreset=False)
        self.times: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
        self.episode_start = _clock()

    def update(self, episodes_done: int, delay: float) -> None:
        self.times["train"].append(_since(self.episode_start))
        start = _clock()
        time_raw_sumo(self.scenario, self.seed)
        self.times["raw"].append(_since(start))
        start = _clock()
        env_episode(self.vec, self.rng, self.seed + episodes_done)
        self.times["env"].append(_since(start))
        if self.progress:
            self.progress()
        self.episode_start = _clock()

    def close(self) -> None:
        self.vec.close()


def measure(scenario: str, algorithm: str = "fmat", repeats: int = 3, progress=None, seed: int = 0) -> dict[str, list[tuple[float, float]]]:
    """(wall s, CPU s) per episode of each kind, `repeats` of each after one warm-up, interleaved."""
    from fmat import runner
    from fmat.runner import RunLog

    with tempfile.TemporaryDirectory() as out:
        cfg = validate({"algorithm": algorithm, "scenario": scenario, "seed": seed, "output_dir": out,
                        "train": {"episodes": repeats + 1}, "evaluation": {"episodes": 0}}, "perf")
        cfg.run_dir.mkdir(parents=True)
        log = RunLog(cfg.run_dir, keep_episodes=0)
        timer = _Interleave(scenario, seed, progress)
        try:
            runner.run(cfg, repeats + 1, cfg.run_dir, None, log, timer, over_budget=lambda episode, wall: False)
        finally:
            timer.close()
            log.close()
    return {k: v[1:] for k, v in timer.times.items()}


def report(scenario: str, algorithm: str, times: dict[str, list[tuple[float, float]]]) -> str:
    from fmat.envs import get_scenario
    from fmat.runner import decisions_per_episode

    wall = {k: statistics.median(w for w, _ in times[k]) for k in KINDS}
    cpu = {k: statistics.median(c for _, c in times[k]) for k in KINDS}
    raw, env, tr = wall["raw"], wall["env"], wall["train"]
    decisions = decisions_per_episode(get_scenario(scenario))
    label = {"raw": "raw SUMO (the net's own programmes)", "env": "environment only (random actions)",
             "train": "training episode (acting + updates)"}
    lines = [
        f"scenario {scenario}, {algorithm}: per episode, median of {len(times['train'])} interleaved episodes of each "
        "kind after one warm-up each (default train settings: 1 environment, so one episode at a time on one core; "
        "raw SUMO likewise)",
        f"{'':<38}{'wall s':>8}{'CPU s':>8}{'x raw (wall)':>14}",
        *(f"{label[k]:<38}{wall[k]:>8.2f}{cpu[k]:>8.2f}{wall[k] / raw:>13.2f}x" for k in KINDS),
        f"training overhead: {(tr - env) / env:.2f}x the environment's own time, "
        f"{1000 * (tr - env) / decisions:.1f} ms per decision ({decisions} decisions)",
        f"training episode: {tr / raw:.2f}x raw SUMO",
    ]
    return "\n".join(lines)
