"""`fmat bench`: expand an experiment file into runs and execute them, resumably.

- Finished runs (done.json for the full budget) are skipped, so a rerun does no work.
- A killed sweep rerun continues: unfinished runs resume from their checkpoints.
- A failed run is reported with its error; the others go on.
- Each run holds a lock on its directory, so two sweeps on one directory never write the same run.
- With a `transfer` list, every finished policy that can run on other maps is then evaluated on
  each listed scenario into RUN/transfer/SCENARIO.json; evaluations already written are skipped.
  A finished run whose checkpoint is gone (a clone keeps only the small files) stops the sweep
  before any work, with one line saying which runs and what to do.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


from fmat.envs.errors import FmatError
from fmat.config import RunConfig
from fmat.envs import check_env
from fmat.rundir import RunDir
from fmat.launchers import Task, run_local, run_ray, train_task
from fmat.registry import LEARNERS, transfer_blocker
from fmat.sweep import load_sweep
from fmat.train import check_run, finished, is_done


@dataclass
class SweepResult:
    total: int
    skipped: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    transfer: SweepResult | None = None  # the transfer evaluations, when the file lists any


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def bench(path: str, overrides: list[str] = (), launcher: str = "local", workers: int | None = None,
          address: str | None = None, progress: bool = True, algorithms: list[str] | None = None,
          scenarios: list[str] | None = None) -> SweepResult:
    """Run the sweep; `algorithms`/`scenarios` restrict it to a subset of the file's runs."""
    sweep = load_sweep(path, overrides)  # everything validated before any run starts
    runs = sweep.runs
    for key, wanted in (("algorithm", algorithms), ("scenario", scenarios)):
        if wanted:
            present = {getattr(r, key) for r in runs}
            unknown = sorted(set(wanted) - present)
            if unknown:
                raise FmatError(f"--{key}s {unknown[0]}: not in {path}; it has {', '.join(sorted(present))}")
            runs = [r for r in runs if getattr(r, key) in wanted]
    checked = set()
    for cfg in runs:  # every run is checked before any starts
        key = (cfg.output_dir, cfg.scenario, str(cfg.env.options(cfg.scenario)))
        if key not in checked:
            try:
                check_run(cfg)
            except FmatError as exc:
                raise FmatError(f"{path} [{cfg.algorithm} on {cfg.scenario}, seed {cfg.seed}]: {exc}") from None
            checked.add(key)
    for target in sweep.transfer:
        try:
            check_env(target)
        except FmatError as exc:
            raise FmatError(f"{path}: transfer: {target}: {exc}") from None
    _check_checkpoints(runs, sweep.transfer, path)
    workers = workers or default_workers()
    result = SweepResult(total=len(runs))
    todo: dict[str, Task] = {}
    for cfg in runs:
        key = str(cfg.run_dir)
        if is_done(cfg):
            result.skipped.append(key)
            continue
        files = RunDir(cfg.run_dir)
        files.write_sweep_config(cfg)
        todo[key] = train_task(files)
    _launch(todo, result, "runs", launcher, workers, address, progress)
    if sweep.transfer:
        evaluations, skipped = transfer_tasks(runs, sweep.transfer, sweep.transfer_episodes)
        result.transfer = SweepResult(total=len(evaluations) + len(skipped), skipped=skipped)
        _launch(evaluations, result.transfer, "transfer", launcher, workers, address, progress)
    return result


def _pending(runs: list[RunConfig], targets: list[str]):
    """(run config, target, already written) for each zero-shot evaluation of every finished run of
    a learner that can run on other maps. Runs stopped over their time budget are not evaluated; an
    evaluation of an earlier training of the run (its done.json differs) counts as not written."""
    for cfg in runs:
        done = finished(cfg) if cfg.algorithm in LEARNERS and not transfer_blocker(cfg.algorithm, cfg.model) else None
        if done is None or "over_budget" in done:
            continue
        for target in targets:
            if target != cfg.scenario:
                earlier = RunDir(cfg.run_dir).transfer(target)
                yield cfg, target, earlier is not None and earlier.get("trained") == done


def _check_checkpoints(runs: list[RunConfig], targets: list[str], path: str) -> None:
    """A finished run without its checkpoint (a clone keeps only the small files) cannot be
    evaluated on other maps; say so once, before any work, instead of failing each evaluation."""
    if not targets:
        return
    lost = sorted({str(cfg.run_dir) for cfg, _, written in _pending(runs, targets)
                   if not written and not RunDir(cfg.run_dir).checkpoint.is_file()})
    if lost:
        which = f"{lost[0]} and {len(lost) - 1} other runs" if len(lost) > 1 else lost[0]
        raise FmatError(f"{path}: transfer: {which} finished training but no checkpoint.pt is left to evaluate "
                        "(a clone keeps only the small files); copy the checkpoints back, or delete their done.json "
                        "to train them again")


def transfer_tasks(runs: list[RunConfig], targets: list[str],
                   episodes: int | None = None) -> tuple[dict[str, Task], list[str]]:
    """Evaluations still to do (name -> task) and those already written (see `_pending`). Each
    evaluation runs `episodes` episodes, or the run's own evaluation.episodes."""
    todo, skipped = {}, []
    for cfg, target, written in _pending(runs, targets):
        out = RunDir(cfg.run_dir).transfer_json(target)
        name = f"{cfg.run_dir} on {target}"
        if written:
            skipped.append(name)
            continue
        args = ("evaluate", str(cfg.run_dir), "--scenario", target, "--episodes", str(episodes or max(1, cfg.evaluation.episodes)),
                "--out", str(out))
        todo[name] = Task(args, str(out.with_suffix(".log")))
    return todo, skipped


def _launch(tasks: dict[str, Task], result: SweepResult, label: str, launcher: str, workers: int,
            address: str | None, progress: bool) -> None:
    display = _Display(label, result.total, len(result.skipped), enabled=progress)

    def on_event(name: str, status: str, message: str) -> None:
        if status == "done":
            result.done.append(name)
        elif status == "skipped":
            result.skipped.append(name)
        elif status == "busy":
            result.busy.append(name)
        elif status == "failed":
            result.failed[name] = message
        display.event(status)

    with display:
        if tasks:
            if launcher == "ray":
                run_ray(tasks, workers, on_event, address)
            else:
                run_local(tasks, workers, on_event)


class _Display:
    """tasks done / running / failed, with an ETA."""

    def __init__(self, label: str, total: int, skipped: int, enabled: bool):
        self.enabled, self.running, self.failed = enabled, 0, 0
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
            self.task = self.bar.add_task(label, total=total, completed=skipped, state=self._state())

    def _state(self) -> str:
        return f"running {self.running}, failed {self.failed}"

    def event(self, status: str) -> None:
        if status == "started":
            self.running += 1
        else:
            self.running -= 1
            self.failed += status == "failed"
        if self.enabled:
            self.bar.update(self.task, advance=0 if status == "started" else 1, state=self._state())

    def __enter__(self):
        if self.enabled:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()


def summary(result: SweepResult) -> str:
    lines = [f"{result.total} runs: {len(result.done)} trained now, {len(result.skipped)} already done, "
             f"{len(result.busy)} running in another process, {len(result.failed)} failed"]
    for name, message in result.failed.items():
        lines.append(f"  failed: {name}: {message} (log: {name}/train.log)")
    if result.transfer:
        t = result.transfer
        lines.append(f"{t.total} transfer evaluations: {len(t.done)} run now, {len(t.skipped)} already done, {len(t.failed)} failed")
        for name, message in t.failed.items():
            run, target = name.rsplit(" on ", 1)
            lines.append(f"  failed: {name}: {message} (log: {run}/transfer/{target}.log)")
    return "\n".join(lines)


