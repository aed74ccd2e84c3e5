"""`fmat bench`: expand an experiment file into runs and execute them, resumably.

- Finished runs (done.json for the full budget) are skipped, so a rerun does no work.
- A killed sweep rerun continues: unfinished runs resume from their checkpoints.
- A failed run is reported with its error; the others go on.
- Each run holds a lock on its directory, so two sweeps on one directory never write the same run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import yaml

from fmat import atomic
from fmat.envs.errors import FmatError
from fmat.launchers import run_local, run_ray
from fmat.sweep import load_sweep
from fmat.train import is_done


@dataclass
class SweepResult:
    total: int
    skipped: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def bench(path: str, overrides: list[str] = (), launcher: str = "local", workers: int | None = None,
          address: str | None = None, progress: bool = True, algorithms: list[str] | None = None,
          scenarios: list[str] | None = None) -> SweepResult:
    """Run the sweep; `algorithms`/`scenarios` restrict it to a subset of the file's runs."""
    runs = load_sweep(path, overrides)  # everything validated before any run starts
    for key, wanted in (("algorithm", algorithms), ("scenario", scenarios)):
        if wanted:
            present = {getattr(r, key) for r in runs}
            unknown = sorted(set(wanted) - present)
            if unknown:
                raise FmatError(f"--{key}s {unknown[0]}: not in {path}; it has {', '.join(sorted(present))}")
            runs = [r for r in runs if getattr(r, key) in wanted]
    workers = workers or default_workers()
    result = SweepResult(total=len(runs))
    todo: dict[str, str] = {}
    for cfg in runs:
        key = str(cfg.run_dir)
        if is_done(cfg):
            result.skipped.append(key)
            continue
        config_path = cfg.run_dir / "sweep.yaml"
        atomic.write_text(config_path, yaml.safe_dump(cfg.model_dump(), sort_keys=False))
        todo[key] = str(config_path)

    display = _Display(len(runs), len(result.skipped), enabled=progress)

    def on_event(name: str, status: str, message: str) -> None:
        if status == "done":
            result.done.append(name)
        elif status == "busy":
            result.busy.append(name)
        elif status == "failed":
            result.failed[name] = message
        display.event(status)

    with display:
        if todo:
            if launcher == "ray":
                run_ray(todo, workers, on_event, address)
            else:
                run_local(todo, workers, on_event)
    return result


class _Display:
    """runs done / running / failed, with an ETA."""

    def __init__(self, total: int, skipped: int, enabled: bool):
        self.enabled, self.running, self.failed = enabled, 0, 0
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
            self.task = self.bar.add_task("runs", total=total, completed=skipped, state=self._state())

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
    return "\n".join(lines)


