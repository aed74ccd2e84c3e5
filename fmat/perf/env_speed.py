"""`fmat perf env`: one full episode four ways, timed side by side.

1. raw `sumo` with the network's own programmes (the floor: SUMO alone, no Python);
2. the libsumo loop: libsumo in the timing process, stepping one decision at a time and reading
   the lanes fmat observes, with nothing else (what any Python environment on libsumo pays);
3. fmat's environment with control="fixed", observing and computing rewards at every decision;
4. sumo-rl's SumoEnvironment with fixed_ts=True (libsumo), the usual alternative.

Each run happens in a fresh process, so nothing warms up from an earlier run; the runs are
interleaved over repeats, and the median is reported, so machine noise hits all of them alike.
Each method pays, on the clock, what every further episode of a training run costs: starting SUMO
(which loads the network) and the whole episode, with fmat's reset, observations, rewards and its
reading of the episode's trip file. What a Python environment does once per process (imports, and
for fmat and sumo-rl building the environment object from the network) happens before the clock
starts, as the libsumo loop reads its lane list before it.
"""
from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time

from fmat import termination
from fmat.envs import get_scenario
from fmat.envs.sumo import binary, sumo_home

METHODS = ("raw_sumo", "libsumo_loop", "fmat_fixed", "sumo_rl_fixed")


def _sumo_output_args(folder: str) -> list[str]:
    return [
        "--time-to-teleport", "-1", "--no-step-log", "--no-warnings", "--duration-log.disable",
        "--tripinfo-output", os.path.join(folder, "tripinfo.xml"),
        "--tripinfo-output.write-unfinished", "--tripinfo-output.write-undeparted",
    ]


def _raw_command(name: str, seed: int, folder: str) -> list[str]:
    sc = get_scenario(name)
    return [binary("sumo"), "-n", sc.net, "-r", ",".join(sc.routes), "-b", f"{sc.begin:g}",
            "-e", f"{sc.end:g}", "--seed", str(seed), *_sumo_output_args(folder)]


def time_raw_sumo(name: str, seed: int = 0) -> float:
    with tempfile.TemporaryDirectory() as folder:
        cmd = _raw_command(name, seed, folder)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - start


def _time_libsumo_loop(name: str, seed: int) -> float:
    import libsumo
    from fmat.envs import make_env
    from fmat.envs.sumo import _read_lanes

    sc = get_scenario(name)
    with make_env(name, control="fixed") as env:
        lanes = env.layout.lanes
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        libsumo.start(_raw_command(name, seed, folder))
        t = sc.begin
        while t < sc.end:
            t = min(t + sc.delta, sc.end)
            libsumo.simulationStep(t)
            _read_lanes(libsumo, lanes)
        libsumo.close()
        return time.perf_counter() - start


def _time_fmat(name: str, seed: int) -> float:
    import numpy as np

    from fmat.envs import make_env

    importlib.import_module("libsumo")  # before the clock, like every Python module

    with make_env(name, seed=seed, control="fixed") as env:
        start = time.perf_counter()
        env.reset_arrays()
        actions = np.zeros(len(env.possible_agents), dtype=np.int64)
        while not env.step_arrays(actions)[2]:
            termination.check()  # SUMO is forked each episode, and a fork can swallow the signal's raise
        env.close()  # on the clock, as the other methods' close is; the with block closes it on an error
        return time.perf_counter() - start


def _time_sumo_rl(name: str, seed: int) -> float:
    sumo_home()
    os.environ["LIBSUMO_AS_TRACI"] = "1"
    from sumo_rl import SumoEnvironment

    sc = get_scenario(name)
    with tempfile.TemporaryDirectory() as folder:
        env = SumoEnvironment(
            net_file=sc.net, route_file=",".join(sc.routes), begin_time=int(sc.begin),
            num_seconds=int(sc.end - sc.begin), delta_time=int(sc.delta), yellow_time=int(sc.yellow),
            fixed_ts=True, sumo_seed=seed, use_gui=False, single_agent=False,
            additional_sumo_cmd=" ".join(_sumo_output_args(folder)[5:]),
            sumo_warnings=False,
        )
        start = time.perf_counter()
        env.reset()
        done = {"__all__": False}
        while not done["__all__"]:
            _, _, done, _ = env.step({})
        env.close()
        return time.perf_counter() - start


def _child(target, name, seed, queue):
    # sumo-rl prints a banner and starts SUMO with warnings on: keep the report readable
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        with termination.raising_on_sigterm():  # the parent's terminate() cleans up as in the parent
            queue.put(("ok", target(name, seed)))
    except Exception as exc:  # reported by the parent as one line
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _in_fresh_process(target, name: str, seed: int) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, name, seed, queue))
    proc.start()
    try:
        status, value = queue.get()
    except BaseException:  # Ctrl-C or SIGTERM: the child stops too, rather than timing its episode to the end
        proc.terminate()
        raise
    finally:
        proc.join()
    if status != "ok":
        raise RuntimeError(value)
    return value


def measure(name: str, repeats: int = 3, seed: int = 0, progress=None) -> dict[str, list[float]]:
    """Wall seconds of one episode per method, `repeats` times, interleaved."""
    get_scenario(name)  # bad names fail before anything starts
    runners = {
        "raw_sumo": lambda: time_raw_sumo(name, seed),
        "libsumo_loop": lambda: _in_fresh_process(_time_libsumo_loop, name, seed),
        "fmat_fixed": lambda: _in_fresh_process(_time_fmat, name, seed),
        "sumo_rl_fixed": lambda: _in_fresh_process(_time_sumo_rl, name, seed),
    }
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for _ in range(repeats):
        for method in METHODS:
            times[method].append(runners[method]())
            if progress:
                progress()
    return times


def report(name: str, times: dict[str, list[float]]) -> str:
    raw = statistics.median(times["raw_sumo"])
    lines = [f"scenario {name}: one full episode, median of {len(times['raw_sumo'])} interleaved runs",
             f"{'method':<16}{'wall s':>9}{'x raw SUMO':>12}"]
    for method in METHODS:
        med = statistics.median(times[method])
        lines.append(f"{method:<16}{med:>9.2f}{med / raw:>11.2f}x")
    fm, rl = statistics.median(times["fmat_fixed"]), statistics.median(times["sumo_rl_fixed"])
    lines.append(f"fmat is {rl / fm:.2f}x faster than sumo-rl; "
                 f"fmat's own work adds {fm / statistics.median(times['libsumo_loop']):.2f}x to the libsumo loop")
    return "\n".join(lines)
