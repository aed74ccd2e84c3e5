"""Networks and demand from SUMO's own tools: netgenerate, netconvert and randomTrips.

Each function writes into a folder and raises RuntimeError with SUMO's last output lines if the
tool fails.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .sumo import binary, run_tool, tool

NET_OPTIONS = ["--tls.default-type=static", "--no-turnarounds=true", "--no-warnings=true"]


def grid_net(out: Path, rows: int, cols: int, lanes: int = 2, length: float = 200.0, left_lanes: int = 0) -> Path:
    """rows x cols signalised 4-way intersections, with dead-end roads at the fringe. With
    `left_lanes`, every approach gets that many exclusive left-turn lanes (over half its length) and
    netgenerate's programmes have 4 green phases: each axis through, then its protected left turns."""
    turn = [f"--turn-lanes={left_lanes}", f"--turn-lanes.length={length / 2:g}"] if left_lanes else []
    run_tool([binary("netgenerate"), "--grid", f"--grid.x-number={cols}", f"--grid.y-number={rows}",
              f"--grid.length={length}", f"--grid.attach-length={length}", f"--default.lanenumber={lanes}", *turn,
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


# A rush hour on a grid: each axis's peak, as a share of the peak rate in each sixth of the window.
# West-to-east traffic peaks early, south-to-north late, so the heavy approach changes over the hour.
RUSH_PROFILE = {("west", "east"): (0.3, 1.0, 0.7, 0.2, 0.1, 0.1),
                ("south", "north"): (0.1, 0.1, 0.2, 0.7, 1.0, 0.3)}


def fringe_edges(net_file: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """A grid's entry and exit roads by side (west, east, south, north), each in order along the side."""
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    xs = [n.getCoord()[0] for n in net.getNodes()]
    ys = [n.getCoord()[1] for n in net.getNodes()]

    def side(node) -> str | None:
        x, y = node.getCoord()
        return {x == min(xs): "west", x == max(xs): "east", y == min(ys): "south", y == max(ys): "north"}.get(True)

    entries, exits = {}, {}
    for edge in sorted(net.getEdges(), key=lambda e: e.getFromNode().getCoord() + e.getToNode().getCoord()):
        start, stop = edge.getFromNode(), edge.getToNode()
        if side(start):  # only the dead ends outside the grid lie on its bounding box
            entries.setdefault(side(start), []).append(edge.getID())
        if side(stop):
            exits.setdefault(side(stop), []).append(edge.getID())
    return entries, exits


def rush_trips(net: Path, routes: Path, background: float, peak: float, seed: int, end: float) -> Path:
    """Uneven, time-varying demand for a grid, routed with duarouter.

    - background: veh/h over the whole grid, fringe to fringe, constant (as `random_trips`);
    - peak: veh/h per entry road of the peak axis at the top of its profile (RUSH_PROFILE), from
      that side's entries to random exits on the opposite side.
    Departures are Poisson in each sixth of the window; the same seed gives the same trips.
    """
    import numpy as np

    entries, exits = fringe_edges(net)
    rng = np.random.default_rng(seed)
    trips = []  # (depart, from, to)
    sides = sorted(entries)
    for start in np.cumsum(rng.exponential(3600.0 / background, size=int(background * end / 3600 * 2) + 10)):
        if start >= end:
            break
        src_side = sides[rng.integers(len(sides))]
        dst_side = [s for s in sides if s != src_side][rng.integers(len(sides) - 1)]
        trips.append((start, rng.choice(entries[src_side]), rng.choice(exits[dst_side])))
    sixth = end / 6
    for (src_side, dst_side), shares in RUSH_PROFILE.items():
        for k, share in enumerate(shares):
            rate = peak * share * len(entries[src_side])
            t = k * sixth + rng.exponential(3600.0 / rate)
            while t < (k + 1) * sixth:
                trips.append((t, rng.choice(entries[src_side]), rng.choice(exits[dst_side])))
                t += rng.exponential(3600.0 / rate)
    trips.sort()
    trip_file = routes.with_name(routes.name.replace(".rou.xml", ".trips.xml"))
    lines = ['<routes>', '    <vType id="car" departLane="best" departSpeed="max"/>']
    lines += [f'    <trip id="r{i}" type="car" depart="{t:.2f}" from="{a}" to="{b}"/>' for i, (t, a, b) in enumerate(trips)]
    trip_file.write_text("\n".join(lines + ["</routes>", ""]))
    run_tool([binary("duarouter"), "-n", str(net), "--route-files", str(trip_file), "-o", str(routes),
              "--no-step-log", "--no-warnings"], "duarouter")
    return routes
