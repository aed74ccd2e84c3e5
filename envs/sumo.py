"""Where SUMO lives and how a simulation is started.

This is the only module that imports `libsumo` or `traci`. SUMO comes from the `eclipse-sumo`
PyPI package; SUMO_HOME is derived from it, never asked of the user.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import numpy as np

_TRACI_LABELS = itertools.count()
_VEHICLES, _HALTING, _WAITING = 0x10, 0x14, 0x7A  # traci.constants ids, for subscriptions
_libsumo_owner: object | None = None


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
    """One running SUMO simulation, through libsumo (fast, one per process) or TraCI (a socket).

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
            global _libsumo_owner
            if _libsumo_owner is not None:
                raise RuntimeError(
                    "libsumo runs one simulation per process and another fmat environment holds it; "
                    "close that environment first, use backend='traci', or use fmat.envs.make_vector_env"
                )
            import libsumo

            libsumo.start([program, *sumo_args])
            _libsumo_owner = self
            self.conn: Any = libsumo
        elif backend == "traci":
            import traci

            self._label = f"fmat-{os.getpid()}-{next(_TRACI_LABELS)}"
            traci.start([program, *sumo_args], label=self._label)
            self.conn = traci.getConnection(self._label)
        else:
            raise ValueError(f"backend must be 'libsumo' or 'traci', not {backend!r}")
        self.closed = False
        self._lanes: list[str] = []

    def watch_lanes(self, lanes: list[str]) -> None:
        """Choose the lanes that `lane_values` reads."""
        self._lanes = list(lanes)
        if self.backend == "traci":  # one socket round trip per step instead of three per lane
            for lane in self._lanes:
                self.conn.lane.subscribe(lane, [_VEHICLES, _HALTING, _WAITING])

    def lane_values(self) -> np.ndarray:
        """[n_lanes, 3] float32: vehicles, halting vehicles, summed waiting time (s) on each watched lane."""
        lane = self.conn.lane
        if self.backend == "traci":
            res = lane.getAllSubscriptionResults()
            rows = [(r[_VEHICLES], r[_HALTING], r[_WAITING]) for r in map(res.__getitem__, self._lanes)]
        else:
            # libsumo's direct getters cost less than its subscriptions, and calling the compiled
            # functions skips a Python wrapper per call: together half of fmat's per-step overhead.
            raw = getattr(self.conn, "_libsumo", None)
            vehicles = getattr(raw, "lane_getLastStepVehicleNumber", lane.getLastStepVehicleNumber)
            halting = getattr(raw, "lane_getLastStepHaltingNumber", lane.getLastStepHaltingNumber)
            waiting = getattr(raw, "lane_getWaitingTime", lane.getWaitingTime)
            lanes = self._lanes
            return np.array(
                [list(map(vehicles, lanes)), list(map(halting, lanes)), list(map(waiting, lanes))], dtype=np.float32
            ).T.reshape(-1, 3)
        return np.array(rows, dtype=np.float32).reshape(-1, 3)

    def close(self) -> None:
        """End the simulation; SUMO writes its output files (tripinfo, statistics) now."""
        if self.closed:
            return
        self.closed = True
        if self.backend == "libsumo":
            global _libsumo_owner
            try:
                self.conn.close()
            finally:
                _libsumo_owner = None
        else:
            self.conn.close()
