"""`fmat train`: one algorithm, one scenario, one seed -> a run directory (its files: fmat/rundir.py).

The runner writes metrics.csv, tensorboard and checkpoint.pt after every episode; at the end come
eval.json from greedy evaluation and done.json (the budget reached and the compute used).
`resume=True` continues from the checkpoint with no lost or repeated episode; with fixed seeds a
resumed run gives the same metrics as an uninterrupted one.

With `train.time_budget_s`, a run that has spent the budget without finishing, or whose measured
seconds per episode project its training far past it (`EARLY_STOP_MARGIN`), stops after that
episode, skips evaluation, and records `over_budget` in done.json, so tables can say so instead of
leaving the cell out.
"""
from __future__ import annotations

import fcntl
import math
import os
import platform
from pathlib import Path
from typing import NamedTuple


from fmat import atomic, checkpoint, runner
from fmat.config import EARLY_STOP_MARGIN, RunConfig, load_run_config
from fmat.envs import check_env, resolve_scenario
from fmat.envs.errors import FmatError
from fmat.rundir import RunDir
from fmat.runner import Progress, RunLog, decisions_per_episode


def machine_facts() -> dict:
    """The CPU and library versions that finished a run. Float results can differ in the last bits
    across CPUs (MKL picks kernels by CPU), so two runs that should match can be told apart by these."""
    import torch
    from importlib.metadata import PackageNotFoundError, version

    cpu = next((line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    facts = {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}
    for package in ("eclipse-sumo", "libsumo"):
        try:
            facts[package] = version(package)
        except PackageNotFoundError:
            pass
    return facts


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def episode_budget(cfg: RunConfig, decisions_per_episode: int) -> int:
    """Training episodes: train.episodes, or train.env_steps rounded up to whole episodes."""
    if cfg.train.env_steps is None:
        return cfg.train.episodes
    return math.ceil(cfg.train.env_steps / decisions_per_episode)


def over_budget(cfg: RunConfig, episode: int, budget: int, wall: float) -> dict | None:
    """The over-budget record, after `episode` of `budget` episodes took `wall` seconds, when the
    training has spent train.time_budget_s without finishing, or when its mean rate so far projects
    past EARLY_STOP_MARGIN times that budget; else None."""
    limit = cfg.train.time_budget_s
    if limit is None or episode == 0 or episode >= budget:
        return None
    rate = wall / episode
    if wall < limit and rate * budget <= EARLY_STOP_MARGIN * limit:
        return None
    return {"time_budget_s": limit, "seconds_per_episode": rate, "projected_seconds": rate * budget, "episodes": episode}


def prepare_run_dir(cfg: RunConfig, resume: bool) -> tuple[Path, dict | None, bool]:
    """The run directory, the checkpoint to resume from, and whether the run being resumed has
    already finished this config's budget (then nothing is written)."""
    run_dir, files = cfg.run_dir, RunDir(cfg.run_dir)
    ckpt_path = files.checkpoint
    if ckpt_path.exists() and not resume:
        raise FmatError(f"{run_dir} already holds a run; pass --resume to continue it, or set another output_dir")
    state = None
    if resume and ckpt_path.exists():
        saved = load_run_config(files.config)
        mine, theirs = cfg.model_dump(), saved.model_dump()
        for budget_key in ("episodes", "env_steps", "time_budget_s"):
            mine["train"].pop(budget_key), theirs["train"].pop(budget_key)
        if mine != theirs:
            raise FmatError(f"{run_dir}/config.yaml differs from this config in more than the training budget; "
                            "resume with the same settings or choose another output_dir")
        if finished(cfg):  # nothing left to train, and its evaluation stands: leave the run as it is
            return run_dir, None, True
        state = checkpoint.load(ckpt_path, cfg.algorithm)
    files.write_config(cfg)
    return run_dir, state, False


class RunLock:
    """An exclusive lock on a run directory, so two processes never write the same run."""

    def __init__(self, run_dir: Path):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(RunDir(run_dir).lock, os.O_CREAT | os.O_RDWR)
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


class Trained(NamedTuple):
    run_dir: Path
    already_done: bool  # a resumed run had reached this budget before: nothing was trained


def train(cfg: RunConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train (or, for a classical controller, run) and evaluate; returns the run directory."""
    return train_run(cfg, resume, progress).run_dir


def train_run(cfg: RunConfig, resume: bool = False, progress: bool = True, checked: bool = False) -> Trained:
    """`train`, also saying whether the run was already finished, as decided under the run's lock
    (a check before taking it could miss a run that another sweep finishes in between). `checked`:
    the caller has already run `check_run` (it reads the network, so it is not repeated)."""
    if not checked:
        check_run(cfg)
    lock = RunLock(cfg.run_dir)
    try:
        return _train_locked(cfg, resume, progress)
    finally:
        lock.release()


def _train_locked(cfg: RunConfig, resume: bool, progress: bool) -> Trained:
    run_dir, state, already_done = prepare_run_dir(cfg, resume)
    if already_done:
        return Trained(run_dir, already_done=True)
    start = state["episode"] if state else 0
    budget = episode_budget(cfg, decisions_per_episode(_scenario(cfg)))
    log = RunLog(run_dir, keep_episodes=start)
    try:
        with Progress(cfg, start, budget, progress) as bar:
            runner.run(cfg, budget, run_dir, state, log, bar,
                       over_budget=lambda episode, wall: over_budget(cfg, episode, budget, wall))
    finally:
        log.close()
    files = RunDir(run_dir)
    ckpt = checkpoint.load(files.checkpoint, cfg.algorithm)
    done = {"episodes": ckpt["episode"], "env_steps": ckpt["env_steps"], "wall_seconds": ckpt["wall_seconds"]}
    load_sum, samples = ckpt.get("load", (0.0, 0))
    if samples:  # how busy the machine was, so a cost table can say when its seconds were measured on a shared one
        done["machine"] = {"cpus": os.cpu_count(), "mean_load": round(load_sum / samples, 2), **machine_facts()}
    stopped = over_budget(cfg, ckpt["episode"], budget, ckpt["wall_seconds"])
    if stopped:
        done["over_budget"] = stopped
    elif cfg.evaluation.episodes:
        from fmat.evaluate import evaluate

        result = evaluate(run_dir, episodes=cfg.evaluation.episodes, both=True)
        files.write_evaluation(result)
    files.write_done(done)
    return Trained(run_dir, already_done=False)


def finished(cfg: RunConfig) -> dict | None:
    """The run's done.json record if its directory holds a finished run of this config's full
    budget, or one stopped by the same time budget (a raised budget lets the run continue)."""
    done = RunDir(cfg.run_dir).done()
    if done is None:
        return None
    if "over_budget" in done:
        return done if done["over_budget"]["time_budget_s"] == cfg.train.time_budget_s else None
    return done if done["episodes"] >= episode_budget(cfg, decisions_per_episode(_scenario(cfg))) else None


def is_done(cfg: RunConfig) -> bool:
    return finished(cfg) is not None


def _scenario(cfg: RunConfig):
    return resolve_scenario(cfg.scenario, **cfg.env.options(cfg.scenario))[0]
