"""Where SUMO lives and how a simulation is started.

This is the only module that imports `libsumo` or `traci`. SUMO comes from the `eclipse-sumo`
PyPI package; SUMO_HOME is derived from it, never asked of the user.
"""
from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import subprocess
import sys
from typing import Any

import numpy as np

from .errors import ScenarioFileError

_TRACI_LABELS = itertools.count()
_VEHICLES, _HALTING, _WAITING = 0x10, 0x14, 0x7A  # traci.constants ids, for subscriptions


def sumo_home() -> str:
    """Return SUMO's home folder (from the `sumo` package) and export it as SUMO_HOME.

    sumo_rl refuses to import without SUMO_HOME, and SUMO's XML validation and PROJ need it, so
    every entry point that may run SUMO or import sumo_rl calls this first.
    """
    import sumo  # sets SUMO_HOME and PROJ_LIB when they are unset

    home = os.environ.get("SUMO_HOME", "")
    if not os.path.isdir(os.path.join(home, "bin")):
        os.environ["SUMO_HOME"] = sumo.SUMO_HOME
    return os.environ["SUMO_HOME"]


def binary(name: str) -> str:
    """Path of one of SUMO's programs (sumo, sumo-gui, netconvert, netgenerate, duarouter...)."""
    path = os.path.join(sumo_home(), "bin", name)
    if sys.platform == "win32":
        path += ".exe"
    return path


def tool(*parts: str) -> str:
    """Path of one of SUMO's Python tools, e.g. tool("randomTrips.py")."""
    return os.path.join(sumo_home(), "tools", *parts)


def run_tool(args: list[str], what: str) -> subprocess.CompletedProcess:
    """Run a SUMO program or tool, raising RuntimeError with its last output lines on failure."""
    sumo_home()
    proc = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc


class Simulation:
    """One running SUMO simulation, through libsumo (fast) or TraCI (a socket to a `sumo` process).

    libsumo runs in a child process forked for this simulation alone. A second libsumo simulation
    in a process that already ran one can differ from a fresh one with the same seed, and the
    difference varied with Python's hash seed (something SUMO keeps between simulations, or the
    memory state it starts in). A fresh child per simulation makes every episode depend only on
    its inputs, like the `sumo` process TraCI starts; it also lets one Python process hold
    several libsumo simulations.

    `conn` exposes the TraCI domain API (`conn.lane`, `conn.trafficlight`, `conn.simulation`) for
    both backends, so callers never branch on the backend.
    """

    def __init__(self, sumo_args: list[str], backend: str = "libsumo", gui: bool = False):
        sumo_home()
        if gui and backend != "traci":
            raise ValueError("sumo-gui needs backend='traci'")
        self.backend = backend
        program = binary("sumo-gui" if gui else "sumo")
        if backend == "libsumo":
            self.conn: Any = _LibsumoChild([program, *sumo_args])
        elif backend == "traci":
            import traci

            self._label = f"fmat-{os.getpid()}-{next(_TRACI_LABELS)}"
            # TraCI prints its connection retries on stdout, and so would SUMO: keep stdout for results
            with contextlib.redirect_stdout(sys.stderr):
                traci.start([program, *sumo_args], label=self._label, stdout=subprocess.DEVNULL)
            self.conn = traci.getConnection(self._label)
        else:
            raise ValueError(f"backend must be 'libsumo' or 'traci', not {backend!r}")
        self.closed = False
        self._lanes: list[str] = []
        self._signals: list[str] = []

    def watch(self, lanes: list[str], signals: list[str] = ()) -> None:
        """Choose the lanes, and the signals whose programme phase, `read` returns."""
        self._lanes, self._signals = list(lanes), list(signals)
        if self.backend == "traci":  # one socket round trip per step instead of three per lane
            for lane in self._lanes:
                self.conn.lane.subscribe(lane, [_VEHICLES, _HALTING, _WAITING])
        else:
            self.conn.request("watch", self._lanes, self._signals)

    def read(self) -> tuple[np.ndarray, list[int]]:
        """([n_lanes, 3] float32 of vehicles, halting vehicles and summed waiting time (s) on each
        watched lane, the programme phase index of each watched signal); one round trip."""
        if self.backend == "libsumo":
            return self.conn.request("read")
        res = self.conn.lane.getAllSubscriptionResults()
        rows = [(r[_VEHICLES], r[_HALTING], r[_WAITING]) for r in map(res.__getitem__, self._lanes)]
        phases = [self.conn.trafficlight.getPhase(s) for s in self._signals]
        return np.array(rows, dtype=np.float32).reshape(-1, 3), phases

    def close(self) -> None:
        """End the simulation; SUMO writes its output files (tripinfo, statistics) now."""
        if self.closed:
            return
        self.closed = True
        self.conn.close()


class _LibsumoChild:
    """libsumo in a forked child process, driven through a pipe.

    Attribute access mirrors libsumo (`conn.trafficlight.setRedYellowGreenState(...)`). Calls whose
    name starts with "get" wait for their result; the others (setters, simulationStep) are queued
    and travel, in order, with the next request that waits, which runs them first. An error they
    raise is reported by that request. So a decision step is one message each way however many
    signals change (one message per call cost about a tenth of an episode's time).
    """

    def __init__(self, args: list[str]):
        import multiprocessing as mp

        # Loaded here, once, so every forked child starts with it: importing it in each child
        # cost ~0.3 s per episode. Loading holds no simulation state; only `start` does.
        importlib.import_module("libsumo")

        self._pipe, child_end = mp.Pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: serve until closed, never return into the caller's code
            code = 0
            try:
                self._pipe.close()
                _serve_libsumo(args, child_end)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child_end.close()
        self._closed = False
        self._queued: list[tuple] = []
        try:
            self.request("started")
        except RuntimeError as exc:
            self.close()
            raise ScenarioFileError(
                f"{exc} (check the network and route files with SUMO's own `sumo -n NET -r ROUTES`)"
            ) from None

    def __getattr__(self, name: str):
        return _Domain(self, name)

    def request(self, op: str, *payload, wait: bool = True):
        if not wait:
            self._queued.append(payload)
            return None
        queued, self._queued = self._queued, []
        try:
            self._pipe.send((op, payload, queued))
            ok, result = self._pipe.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self._reap()
            raise RuntimeError("the libsumo simulation process exited unexpectedly (SUMO crashed)") from None
        if not ok:
            raise RuntimeError(result)
        return result

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.request("close")
        finally:
            self._pipe.close()
            self._reap()

    def _reap(self) -> None:
        self._closed = True
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


class _Domain:
    """`conn.trafficlight` etc. of a _LibsumoChild; `conn.simulationStep` is a top-level call."""

    def __init__(self, child: _LibsumoChild, name: str):
        self._child, self._name = child, name

    def __getattr__(self, method: str):
        child, domain = self._child, self._name
        return lambda *args: child.request("call", domain, method, args, wait=method.startswith("get"))

    def __call__(self, *args):
        return self._child.request("call", None, self._name, args, wait=self._name.startswith("get"))


def _serve_libsumo(args: list[str], pipe) -> None:
    """The child's loop: run requests against libsumo until "close" or the parent goes away."""
    import libsumo

    watched: tuple[list[str], list[str]] = ([], [])  # lanes, signals
    started, error = False, None  # error: from a start or a call nobody waited for
    try:
        libsumo.start(args)
        started = True
    except Exception as exc:  # noqa: BLE001  (SUMO's own message goes back to the caller)
        error = f"SUMO did not start: {exc}"
    while True:
        try:
            op, payload, queued = pipe.recv()
        except EOFError:
            break
        for call in queued:  # the calls sent without waiting since the last request, in order
            if error is None:
                _, error = _attempt(libsumo, "call", call, watched)
        if op == "close":  # the simulation is over either way; only a failing close itself is reported
            try:
                if started:
                    libsumo.close()
                pipe.send((True, None))
            except Exception as exc:  # noqa: BLE001
                pipe.send((False, f"libsumo close failed: {exc}"))
            break
        result = None
        if error is None:
            result, error = _attempt(libsumo, op, payload, watched)
            if op == "watch" and error is None:
                watched = payload
        pipe.send((True, result) if error is None else (False, error))
        if started:  # a failed start stays failed; a failed call is reported once
            error = None


def _attempt(libsumo, op: str, payload: tuple, watched: tuple[list[str], list[str]]):
    """(result, None), or (None, the one-line error) if libsumo raised."""
    try:
        return _run_request(libsumo, op, payload, watched), None
    except Exception as exc:  # noqa: BLE001  (SUMO's own message goes back to the caller)
        return None, f"libsumo {payload[1] if op == 'call' else op} failed: {exc}"


def _run_request(libsumo, op: str, payload: tuple, watched: tuple[list[str], list[str]]):
    if op == "call":
        domain, method, call_args = payload
        return getattr(getattr(libsumo, domain) if domain else libsumo, method)(*call_args)
    if op == "read":
        lanes, signals = watched
        return _read_lanes(libsumo, lanes), [libsumo.trafficlight.getPhase(s) for s in signals]
    return None  # "started", "watch": nothing to compute


def _read_lanes(libsumo, lanes: list[str]) -> np.ndarray:
    # libsumo's direct getters cost less than its subscriptions, and calling the compiled
    # functions skips a Python wrapper per call: together half of fmat's per-step overhead.
    raw = getattr(libsumo, "_libsumo", None)
    lane = libsumo.lane
    vehicles = getattr(raw, "lane_getLastStepVehicleNumber", lane.getLastStepVehicleNumber)
    halting = getattr(raw, "lane_getLastStepHaltingNumber", lane.getLastStepHaltingNumber)
    waiting = getattr(raw, "lane_getWaitingTime", lane.getWaitingTime)
    return np.array(
        [list(map(vehicles, lanes)), list(map(halting, lanes)), list(map(waiting, lanes))], dtype=np.float32
    ).T.reshape(-1, 3)
