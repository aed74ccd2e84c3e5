"""Where sweep runs execute: a local process pool (default) or Ray tasks.

Every task is an `fmat` command in its own process, so runs share nothing but the machine:
`fmat train RUN_CONFIG --resume --quiet` for a run, with its output in the run's train.log, or
`fmat evaluate ... --out FILE` for a transfer evaluation. A launcher only decides where a task runs.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

import fmat
from fmat import termination
from fmat.envs.errors import FmatError

BUSY_MARK = "being trained by another process"
FINISHED_MARK = "had already finished this budget"  # another sweep finished the run after this one listed it


@dataclass(frozen=True)
class Task:
    args: tuple[str, ...]  # arguments of the `fmat` command
    log: str  # file that receives the command's output


def train_task(run) -> Task:
    """`fmat train` on a run directory's sweep.yaml, logging to its train.log (`run`: a RunDir)."""
    return Task(("train", str(run.sweep_config), "--resume", "--quiet"), str(run.train_log))


def fmat_command(args) -> list[str]:
    """The `fmat` command line for a task, importing the same fmat as this process. (`python -m`
    would put the working directory first on the path, so a sweep started inside a source checkout
    would run that checkout's fmat/ folder rather than the installed package.)"""
    root = str(Path(fmat.__file__).resolve().parent.parent)
    boot = f"import sys; sys.path.insert(0, {root!r}); from fmat.cli import main; sys.exit(main())"
    return [sys.executable, "-c", boot, *args]


def run_command(task: Task, running: set | None = None) -> tuple[str, str]:
    """Run one task; returns (status, message) with status done, skipped, busy or failed. While it
    runs, its process is in `running`, where the caller can stop it."""
    Path(task.log).parent.mkdir(parents=True, exist_ok=True)
    running = set() if running is None else running
    with open(task.log, "a") as log:
        proc = subprocess.Popen(fmat_command(task.args), stdout=log, stderr=subprocess.PIPE, text=True)
        running.add(proc)
        try:
            _, stderr = proc.communicate()
        finally:
            running.discard(proc)
        log.write(stderr)
    if proc.returncode == 0:
        return ("skipped" if FINISHED_MARK in stderr else "done"), ""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    message = lines[-1] if lines else f"exit code {proc.returncode}"
    return ("busy" if BUSY_MARK in message else "failed"), message


Event = Callable[[str, str, str], None]  # (run name, status, message); status started|done|skipped|busy|failed


def run_local(tasks: dict[str, Task], workers: int, on_event: Event) -> None:
    """tasks: name -> task. At most `workers` tasks at a time on this machine. Interrupted (Ctrl-C,
    SIGTERM), it stops the runs in progress (none leaves a file half-written) and raises once they
    have exited; a rerun resumes them."""
    running: set[subprocess.Popen] = set()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {}
        queue = list(tasks.items())
        try:
            while queue or pending:
                while queue and len(pending) < workers:
                    name, task = queue.pop(0)
                    on_event(name, "started", "")
                    pending[pool.submit(run_command, task, running)] = name
                # a timeout, so that this thread runs a signal's handler soon even when the kernel
                # delivered the signal to a worker thread (an untimed wait would sleep through it)
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                termination.check()
                for future in finished:
                    on_event(pending.pop(future), *future.result())
        except BaseException:
            for proc in list(running):
                proc.terminate()
            raise


def run_ray(tasks: dict[str, Task], workers: int, on_event: Event, address: str | None = None) -> None:
    """The same runs as Ray tasks: on the cluster at `address`, or on a local Ray started here.

    On a cluster every node needs fmat installed and the output directory on a shared filesystem.
    """
    try:
        import ray
    except ImportError:
        raise FmatError("the ray launcher needs Ray: pip install 'fmat[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_command)
        pending = {}
        for name, task in tasks.items():
            on_event(name, "started", "")
            pending[remote.remote(task)] = name
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                on_event(pending.pop(ref), *ray.get(ref))
    finally:
        if started_here:
            ray.shutdown()
