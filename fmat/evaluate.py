"""`fmat evaluate`: run a trained policy (or a classical controller) greedily and report metrics.

Given another scenario it measures transfer; policies whose weights depend on the number of
agents (MAPPO, IPPO) cannot transfer and say so.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from fmat import checkpoint, termination
from fmat.config import load_run_config
from fmat.rundir import RunDir
from fmat.envs import make_env
from fmat.envs.errors import FmatError
from fmat.envs.metrics import METRICS
from fmat.registry import LEARNERS, REGISTRY, build_policy, controller_class, transfer_blocker
from fmat.rollout import add_batch_dim

EVAL_SEED_BASE = 1_000_000  # evaluation episodes never reuse a training seed
SIGNAL_METRICS = ("queue", "waiting", "switches")


def check_display() -> None:
    """sumo-gui needs an X display; without one, say so in one line and how to go on."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise FmatError("--gui: no display (DISPLAY is not set); run it on a machine with a screen, under a virtual "
                        "display (`xvfb-run -a fmat evaluate RUN --gui`), or draw per-signal results with "
                        "`fmat map RUN --out map.png`")


def eval_seed(run_seed: int, episode: int) -> int:
    """SUMO seed of evaluation episode k of a run: differs across run seeds, so a deterministic
    controller's spread over seeds reflects traffic randomness rather than being zero."""
    return EVAL_SEED_BASE + 1000 * run_seed + episode


class NotApplicableError(FmatError):
    """The policy cannot run on that scenario (e.g. its weights depend on the number of agents)."""


def evaluate(run_dir: str | Path, scenario: str | None = None, episodes: int = 1, greedy: bool | None = None,
             gui: bool = False, both: bool = False) -> dict:
    """Metrics of `episodes` evaluation episodes, overall and per signal (`signals`: mean queue,
    waiting time and phase switches over the episodes). `greedy` (default: the run's
    evaluation.greedy) takes each agent's most likely action; False samples from the policy, which
    keeps an under-trained policy from locking into one phase. `both` also runs the other mode and
    records the two under `modes` (only a PPO learner has two: controllers and value-based learners
    act deterministically). `gui` shows the episodes in sumo-gui (TraCI) with the same seeds."""
    run_dir = Path(run_dir)
    files = RunDir(run_dir)
    if gui:
        check_display()
    if not files.config.is_file():
        raise FmatError(f"{run_dir} is not a run directory (no config.yaml); pass a folder written by `fmat train`")
    cfg = load_run_config(files.config)
    greedy = cfg.evaluation.greedy if greedy is None else greedy
    target = scenario or cfg.scenario
    options = cfg.env.model_dump(exclude_none=True)
    if gui:
        options["gui"] = True
    if target != cfg.scenario:
        for key in ("demand", "lanes", "route_seed", "begin", "end"):
            options.pop(key, None)
    blocker = transfer_blocker(cfg.algorithm, cfg.model)
    if blocker and target != cfg.scenario:
        raise NotApplicableError(f"not applicable: {cfg.algorithm}'s {blocker}, so it cannot run on {target}")
    policy = None
    if cfg.algorithm in LEARNERS:
        env, policy = _load_policy(cfg, files, target, options)
    else:
        controller_cls = controller_class(cfg.algorithm)
        env = make_env(target, seed=EVAL_SEED_BASE, **options, **controller_cls.env_options)

    sampling = REGISTRY[cfg.algorithm].samples
    modes = ["greedy" if greedy or not sampling else "sampled"]
    if both and sampling:
        modes.append("sampled" if modes[0] == "greedy" else "greedy")
    start = time.perf_counter()
    recorded = {}
    try:
        for mode in modes:
            with torch.random.fork_rng():  # sampled evaluation is reproducible and leaves the caller's RNG alone
                torch.manual_seed(eval_seed(cfg.seed, 0))
                recorded[mode] = _episodes(env, cfg, episodes, policy, mode == "greedy")
    finally:
        env.close()
    done = files.done()
    headline = recorded[modes[0]]
    return {
        "run": run_dir.name,
        "algorithm": cfg.algorithm,
        "trained_on": cfg.scenario,
        "scenario": target,
        "seed": cfg.seed,
        "evaluation": f"final policy, {modes[0]} actions" if policy is not None else "classical controller",
        **headline,
        **({"modes": {m: {"episodes": r["episodes"], "mean": r["mean"]} for m, r in recorded.items()}} if len(modes) > 1 else {}),
        "wall_seconds": round(time.perf_counter() - start, 3),
        # which training this evaluated; absent while the run is still training (`fmat train` evaluates before done.json)
        **({"trained": done} if done is not None else {}),
    }


def _load_policy(cfg, files: RunDir, target: str, options: dict):
    """The environment on `target` and the run's trained policy, ready to act on it."""
    # as in training: with sweep workers on every core, torch's default of one thread per core
    # oversubscribes the machine (MAT's per-agent decoding ran about 4x slower)
    torch.set_num_threads(cfg.train.threads)
    ckpt_path = files.checkpoint
    if not ckpt_path.is_file():
        raise FmatError(f"{files.path} has no checkpoint.pt yet; train it first")
    ckpt = checkpoint.load(ckpt_path, cfg.algorithm)
    if cfg.env.observation == "lanes":  # slots are padded positions: pad the target to the training map's sizes
        with checkpoint.restoring(ckpt_path):
            sizes = {k: int(ckpt["layout"][k]) for k in ("obs_dim", "max_phases", "max_lanes")}
        options = {**options, "pad_phases": sizes["max_phases"], "pad_lanes": sizes["max_lanes"]}
        env = make_env(target, seed=EVAL_SEED_BASE, **options)
        if env.obs_dim != sizes["obs_dim"] or env.max_phases != sizes["max_phases"]:
            env.close()
            raise NotApplicableError(f"{target}'s observation layout differs from the training map's; train with "
                                     "env.pad_phases/pad_lanes, or with env.observation: phases")
    else:
        env = make_env(target, seed=EVAL_SEED_BASE, **options)
    policy = build_policy(cfg.algorithm, env.observation_spec, env.graph, cfg.model)
    with checkpoint.restoring(ckpt_path):
        if target == cfg.scenario:
            policy.load_state_dict(ckpt["policy"])
        else:
            policy.load_actor(ckpt["policy"])
    policy.eval()
    return env, policy


def _episodes(env, cfg, episodes: int, policy, greedy: bool) -> dict:
    """Run the evaluation episodes with a policy (or, when None, the run's controller)."""
    results, per_signal = [], []
    for k in range(episodes):
        obs, _ = env.reset_arrays(eval_seed(cfg.seed, k))
        controller = None if policy is not None else controller_class(cfg.algorithm)(env, seed=eval_seed(cfg.seed, k))
        done = False
        while not done:
            termination.check()
            if policy is not None:
                with torch.no_grad():
                    actions = policy.select(add_batch_dim(obs), deterministic=greedy)[0].numpy()
            else:
                actions = controller.act(env.traffic_state, obs["action_mask"])
            obs, _, done, info = env.step_arrays(actions)
        results.append(info["episode"])
        per_signal.append(env.signal_metrics())
    return {
        "episodes": results,
        "mean": {k: float(np.mean([r[k] for r in results])) for k in METRICS},
        "signals": {a: {k: float(np.mean([s[a][k] for s in per_signal])) for k in SIGNAL_METRICS} for a in per_signal[0]},
    }
