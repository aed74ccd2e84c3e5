"""Networks and demand from SUMO's own tools: netgenerate, netconvert and randomTrips.

Each function writes into a folder and raises RuntimeError with SUMO's last output lines if the
tool fails.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .sumo import binary, run_tool, tool

NET_OPTIONS = ["--tls.default-type=static", "--no-turnarounds=true", "--no-warnings=true"]


def grid_net(out: Path, rows: int, cols: int, lanes: int = 2, length: float = 200.0) -> Path:
    """rows x cols signalised 4-way intersections, with dead-end roads at the fringe."""
    run_tool([binary("netgenerate"), "--grid", f"--grid.x-number={cols}", f"--grid.y-number={rows}",
              f"--grid.length={length}", f"--grid.attach-length={length}", f"--default.lanenumber={lanes}",
              "--default-junction-type=traffic_light", *NET_OPTIONS, f"--output-file={out}"], "netgenerate")
    return out


def arterial_net(out: Path, signals: int, lanes: int = 2, length: float = 250.0) -> Path:
    """One arterial of `signals` signalised intersections in a row, each crossed by a side street
    (netgenerate's grid with one row)."""
    return grid_net(out, rows=1, cols=signals, lanes=lanes, length=length)


def random_net(out: Path, iterations: int = 60, seed: int = 0, lanes: int = 2) -> Path:
    """A random planar road network (netgenerate --rand); junctions with 3+ roads get signals."""
    run_tool([binary("netgenerate"), "--rand", f"--rand.iterations={iterations}", f"--seed={seed}",
              "--rand.min-distance=150", "--rand.max-distance=300", f"--default.lanenumber={lanes}",
              "--tls.guess=true", "--tls.guess.threshold=0", *NET_OPTIONS, f"--output-file={out}"], "netgenerate")
    return out


def osm_net(osm: Path, out: Path) -> Path:
    """Convert an OpenStreetMap extract offline; mapped signals are kept and others guessed."""
    run_tool([binary("netconvert"), f"--osm-files={osm}", f"--output-file={out}", "--geometry.remove",
              "--ramps.guess", "--junctions.join", "--tls.guess-signals", "--tls.guess", "--tls.join",
              "--osm.elevation=false", *NET_OPTIONS], "netconvert")
    return out


def random_trips(net: Path, routes: Path, demand: float, seed: int, end: float, begin: float = 0.0) -> Path:
    """Fringe-to-fringe random trips at `demand` vehicles per hour, routed with duarouter."""
    trips = routes.with_name(routes.name.replace(".rou.xml", ".trips.xml"))
    run_tool([sys.executable, tool("randomTrips.py"), "-n", str(net), "-o", str(trips), "-r", str(routes),
              "-b", f"{begin:g}", "-e", f"{end:g}", "--insertion-rate", f"{demand:g}", "--fringe-factor", "max",
              "--seed", str(seed), "--validate"], "randomTrips")
    return routes
