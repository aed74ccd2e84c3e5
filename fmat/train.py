"""`fmat train`: one algorithm, one scenario, one seed -> a run directory.

The run directory holds the resolved config.yaml, a tensorboard log (tb/), metrics.csv (one row
per training episode), checkpoint.pt (written atomically after every episode) and, at the end,
eval.json from greedy evaluation and done.json (the budget reached and the compute used).
`resume=True` continues from the checkpoint with no lost or repeated episode; with fixed seeds a
resumed run gives the same metrics as an uninterrupted one.

With `train.time_budget_s`, a run whose measured seconds per episode project its training past the
budget stops after the episode that shows it, skips evaluation, and records `over_budget` in
done.json, so tables can say so instead of leaving the cell out.
"""
from __future__ import annotations

import fcntl
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from fmat import atomic, checkpoint
from fmat.config import RunConfig, load_config
from fmat.envs import check_env, make_env, make_vector_env, resolve_scenario
from fmat.envs.errors import FmatError
from fmat.files import read_json, read_metrics
from fmat.ppo import Batch, PPOConfig, ValueNormalizer, compute_gae, ppo_update
from fmat.registry import CONTROLLERS, build_policy
from fmat.rollout import sharing_matrix, to_tensors

COLUMNS = ["episode", "env_steps", "wall_seconds", "return", "delay", "travel_time", "waiting_time", "throughput", "queue", "teleports"]


def episode_budget(cfg: RunConfig, decisions_per_episode: int) -> int:
    """Training episodes: train.episodes, or train.env_steps rounded up to whole episodes."""
    if cfg.train.env_steps is None:
        return cfg.train.episodes
    return math.ceil(cfg.train.env_steps / decisions_per_episode)


def over_budget(cfg: RunConfig, episode: int, budget: int, wall: float) -> dict | None:
    """The over-budget record when training all `budget` episodes at the rate measured so far
    (`wall` seconds for `episode` episodes) would pass train.time_budget_s; else None."""
    limit = cfg.train.time_budget_s
    if limit is None or episode == 0 or episode >= budget:
        return None
    rate = wall / episode
    if rate * budget <= limit:
        return None
    return {"time_budget_s": limit, "seconds_per_episode": rate, "projected_seconds": rate * budget, "episodes": episode}


def decisions_per_episode(scenario) -> int:
    return math.ceil((scenario.end - scenario.begin) / scenario.delta)


def episode_seeds(seed: int, episode: int, count: int) -> list[int]:
    """SUMO seeds for `count` episodes starting at global episode index `episode` (training)."""
    return [int(np.random.SeedSequence([seed, episode + i]).generate_state(1)[0] % 2**31) for i in range(count)]


class RunLog:
    """metrics.csv (rewritten atomically) and tensorboard scalars."""

    def __init__(self, run_dir: Path, keep_episodes: int):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / "metrics.csv"
        self.rows: list[dict] = []
        if self.path.exists():
            self.rows = [r for r in read_metrics(self.path, tuple(COLUMNS)) if r["episode"] < keep_episodes]
            for r in self.rows:
                r["episode"], r["env_steps"] = int(r["episode"]), int(r["env_steps"])
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=keep_episodes)

    def episode(self, row: dict) -> None:
        self.rows.append(row)
        atomic.write_csv(self.path, self.rows, COLUMNS)
        for key in COLUMNS[3:]:
            self.writer.add_scalar(f"charts/{key}", row[key], row["episode"])

    def losses(self, stats: dict, step: int) -> None:
        for key, value in stats.items():
            self.writer.add_scalar(f"losses/{key}", value, step)

    def close(self) -> None:
        self.writer.close()


class Progress:
    """A rich progress bar over episodes showing the latest delay."""

    def __init__(self, cfg: RunConfig, start: int, total: int, enabled: bool):
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


def prepare_run_dir(cfg: RunConfig, resume: bool) -> tuple[Path, dict | None, bool]:
    """The run directory, the checkpoint to resume from, and whether the run being resumed has
    already finished this config's budget (then nothing is written)."""
    run_dir = cfg.run_dir
    ckpt_path = run_dir / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise FmatError(f"{run_dir} already holds a run; pass --resume to continue it, or set another output_dir")
    state = None
    if resume and ckpt_path.exists():
        saved = load_config(run_dir / "config.yaml")
        mine, theirs = cfg.model_dump(), saved.model_dump()
        for budget_key in ("episodes", "env_steps", "time_budget_s"):
            mine["train"].pop(budget_key), theirs["train"].pop(budget_key)
        if mine != theirs:
            raise FmatError(f"{run_dir}/config.yaml differs from this config in more than the training budget; "
                            "resume with the same settings or choose another output_dir")
        if finished(cfg):  # nothing left to train, and its evaluation stands: leave the run as it is
            return run_dir, None, True
        state = checkpoint.load(ckpt_path, cfg.algorithm)
    atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    return run_dir, state, False


class RunLock:
    """An exclusive lock on a run directory, so two processes never write the same run."""

    def __init__(self, run_dir: Path):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(run_dir / ".lock", os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RunBusyError(f"{run_dir} is being trained by another process; wait for it or choose another output_dir") from None

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


class RunBusyError(FmatError):
    """Another process holds the run directory."""


def check_run(cfg: RunConfig) -> None:
    """Everything about a run that can be checked without running SUMO, before its run directory,
    lock or any cache entry is made: output_dir, the window and timing (delta against yellow and
    all-red), the padding, and the scenario's files and network."""
    atomic.check_writable_dir(cfg.output_dir, "output_dir")
    check_env(cfg.scenario, **cfg.env.options(cfg.scenario))


def train(cfg: RunConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train (or, for a classical controller, run) and evaluate; returns the run directory."""
    check_run(cfg)
    lock = RunLock(cfg.run_dir)
    try:
        return _train_locked(cfg, resume, progress)
    finally:
        lock.release()


def _train_locked(cfg: RunConfig, resume: bool, progress: bool) -> Path:
    run_dir, state, already_done = prepare_run_dir(cfg, resume)
    if already_done:
        return run_dir
    start = state["episode"] if state else 0
    budget = episode_budget(cfg, decisions_per_episode(_scenario(cfg)))
    log = RunLog(run_dir, keep_episodes=start)
    try:
        with Progress(cfg, start, budget, progress) as bar:
            runner = _run_controller if cfg.algorithm in CONTROLLERS else _train_learner
            runner(cfg, budget, run_dir, state, log, bar)
    finally:
        log.close()
    ckpt = checkpoint.load(run_dir / "checkpoint.pt", cfg.algorithm)
    done = {"episodes": ckpt["episode"], "env_steps": ckpt["env_steps"], "wall_seconds": ckpt["wall_seconds"]}
    stopped = over_budget(cfg, ckpt["episode"], budget, ckpt["wall_seconds"])
    if stopped:
        done["over_budget"] = stopped
    elif cfg.evaluation.episodes:
        from fmat.evaluate import evaluate

        result = evaluate(run_dir, episodes=cfg.evaluation.episodes)
        atomic.write_text(run_dir / "eval.json", _json(result))
    atomic.write_text(run_dir / "done.json", _json(done))
    return run_dir


def finished(cfg: RunConfig) -> dict | None:
    """The run's done.json record if its directory holds a finished run of this config's full
    budget, or one stopped by the same time budget (a raised budget lets the run continue)."""
    marker = cfg.run_dir / "done.json"
    if not marker.is_file():
        return None
    done = read_json(marker, ("episodes",))
    if "over_budget" in done:
        return done if done["over_budget"]["time_budget_s"] == cfg.train.time_budget_s else None
    return done if done["episodes"] >= episode_budget(cfg, decisions_per_episode(_scenario(cfg))) else None


def is_done(cfg: RunConfig) -> bool:
    return finished(cfg) is not None


def _scenario(cfg: RunConfig):
    return resolve_scenario(cfg.scenario, **cfg.env.options(cfg.scenario))[0]


def _json(obj) -> str:
    import json

    return json.dumps(obj, indent=2, default=float) + "\n"


def _row(episode, env_steps, wall, ret, metrics) -> dict:
    return {"episode": episode, "env_steps": env_steps, "wall_seconds": round(wall, 3), "return": float(ret),
            **{k: float(metrics[k]) for k in COLUMNS[4:]}}


def _run_controller(cfg: RunConfig, budget: int, run_dir: Path, state, log: RunLog, bar: Progress) -> None:
    controller_cls = CONTROLLERS[cfg.algorithm]
    env = make_env(cfg.scenario, seed=cfg.seed, **cfg.env.options(cfg.scenario), **controller_cls.env_options)
    episode = state["episode"] if state else 0
    env_steps, wall = (state["env_steps"], state["wall_seconds"]) if state else (0, 0.0)
    try:
        while episode < budget and not over_budget(cfg, episode, budget, wall):
            start = time.perf_counter()
            seed = episode_seeds(cfg.seed, episode, 1)[0]
            controller = controller_cls(env, seed=seed)
            obs, _ = env.reset_arrays(seed)
            total, done = 0.0, False
            while not done:
                obs, rewards, done, info = env.step_arrays(controller.act(env.traffic_state, obs["action_mask"]))
                total += float(rewards.mean())
                env_steps += 1
            wall += time.perf_counter() - start
            log.episode(_row(episode, env_steps, wall, total, info["episode"]))
            episode += 1
            checkpoint.save(run_dir / "checkpoint.pt", cfg.algorithm, {"episode": episode, "env_steps": env_steps, "wall_seconds": wall})
            bar.update(episode, info["episode"]["delay"])
    finally:
        env.close()


def _train_learner(cfg: RunConfig, budget: int, run_dir: Path, state, log: RunLog, bar: Progress) -> None:
    torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.seed)
    n_envs = cfg.train.num_envs
    vec = make_vector_env(cfg.scenario, num_envs=n_envs, seed=cfg.seed, autoreset=False, **cfg.env.options(cfg.scenario))
    try:
        policy = build_policy(cfg.algorithm, vec.obs_dim, vec.max_phases, vec.graph, cfg.model)
        ppo = PPOConfig(**cfg.ppo.model_dump())
        optimizer = torch.optim.Adam(policy.parameters(), lr=ppo.lr, eps=ppo.adam_eps)
        value_norm = ValueNormalizer()
        generator = torch.Generator().manual_seed(cfg.seed)
        episode, env_steps, wall, updates = 0, 0, 0.0, 0
        if state:
            with checkpoint.restoring(run_dir / "checkpoint.pt"):
                policy.load_state_dict(state["policy"])
                optimizer.load_state_dict(state["optimizer"])
                value_norm.load_state_dict(state["value_norm"])
                generator.set_state(state["generator"])
                torch.set_rng_state(state["torch_rng"])
                episode, env_steps, wall, updates = state["episode"], state["env_steps"], state["wall_seconds"], state["updates"]
        share = sharing_matrix(vec.graph, cfg.train.reward_sharing)
        layout = {"obs_dim": vec.obs_dim, "max_phases": vec.max_phases, "max_lanes": vec.max_lanes}

        while episode < budget and not over_budget(cfg, episode, budget, wall):
            start = time.perf_counter()
            obs, _ = vec.reset(seed=episode_seeds(cfg.seed, episode, n_envs))
            returns = np.zeros(n_envs)
            done = False
            while not done:
                obs, done, info, stats, chunk_return, steps = _rollout_and_update(
                    policy, optimizer, value_norm, vec, obs, share, cfg.train.rollout_steps, ppo, generator
                )
                returns += chunk_return
                env_steps += steps * n_envs
                log.losses(stats, updates)
                updates += 1
            wall += time.perf_counter() - start
            metrics = info["episode"]
            for i in range(min(n_envs, budget - episode)):
                log.episode(_row(episode + i, env_steps, wall, returns[i], {k: metrics[k][i] for k in COLUMNS[4:]}))
            episode += n_envs
            checkpoint.save(
                run_dir / "checkpoint.pt", cfg.algorithm,
                {"episode": min(episode, budget), "env_steps": env_steps, "wall_seconds": wall, "updates": updates,
                 "policy": policy.state_dict(), "optimizer": optimizer.state_dict(), "value_norm": value_norm.state_dict(),
                 "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "layout": layout},
            )
            bar.update(min(episode, budget), float(np.mean(metrics["delay"])))
    finally:
        vec.close()


def _rollout_and_update(policy, optimizer, value_norm, vec, obs, share, horizon, ppo, generator):
    """Collect up to `horizon` decisions (stopping at the episode's end), then one PPO update."""
    steps: list[dict] = []
    done, info = False, {}
    policy.eval()
    with torch.no_grad():
        for _ in range(horizon):
            o = to_tensors(obs)
            action, logprob, _, value = policy.get_action_and_value(o)
            obs, rewards, terminated, truncated, info = vec.step(action.numpy())
            r = torch.as_tensor(rewards, dtype=torch.float32)
            if share is not None:
                r = r @ share.T
            steps.append({"obs": o, "action": action, "logprob": logprob, "value": value, "reward": r,
                          "terminated": torch.as_tensor(terminated)})
            done = bool(np.all(terminated | truncated))
            if done:
                break
        last_value = policy.get_value(to_tensors(obs))  # the final observation when the episode was truncated

    T = len(steps)
    stack = {k: torch.stack([s[k] for s in steps]) for k in ("action", "logprob", "value", "reward")}
    values = value_norm.denormalize(stack["value"])
    next_values = torch.cat([values[1:], value_norm.denormalize(last_value)[None]])
    terminated = torch.stack([s["terminated"] for s in steps])[..., None].expand_as(values)
    episode_end = torch.zeros_like(values)
    if done:
        episode_end[-1] = 1.0
    advantages, returns = compute_gae(stack["reward"], values, next_values, terminated, episode_end, ppo.gamma, ppo.gae_lambda)

    def flat(x):
        return x.reshape(-1, *x.shape[2:])

    batch = Batch(
        obs={k: flat(torch.stack([s["obs"][k] for s in steps])) for k in steps[0]["obs"]},
        actions=flat(stack["action"]), logprobs=flat(stack["logprob"]), values=flat(stack["value"]),
        advantages=flat(advantages), returns=flat(returns),
    )
    policy.train()
    stats = ppo_update(policy, optimizer, value_norm, batch, ppo, generator)
    return obs, done, info, stats, stack["reward"].mean(-1).sum(0).numpy(), T
