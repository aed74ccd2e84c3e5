"""Synthetic grid scenarios, generated with SUMO's netgenerate and randomTrips and cached."""
from __future__ import annotations

import re
from pathlib import Path

from .errors import InvalidOptionError
from .paths import fmat_home, publish_dir
from .scenario import Scenario, register_source
from .generators import grid_net, random_trips

DEFAULT_DEMAND_PER_ENTRY = 100.0  # veh/h entering at each fringe road (RESCO's grid4x4 has ~92)
DELTA, YELLOW = 10.0, 3.0  # decision step and yellow of every synthetic grid
GRID_PATTERN = re.compile(r"^grid-(\d+)x(\d+)$")


def grid_scenario(
    name: str,
    rows: int,
    cols: int,
    demand: float | None = None,
    lanes: int = 2,
    length: float = 200.0,
    route_seed: int = 0,
    end: float = 3600.0,
) -> Scenario:
    """An R x C grid of signalised 4-way intersections with fringe-to-fringe random trips.

    Args:
        demand: vehicles per hour entering the whole grid; default 100 per fringe entry road.
        lanes: lanes per direction on every road.
        length: metres between neighbouring intersections.
        route_seed: seed of randomTrips (the demand), separate from the simulation's seed.
    """
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise InvalidOptionError(f"grid {name}: needs at least 2 intersections, got {rows}x{cols}")
    if demand is None:
        demand = DEFAULT_DEMAND_PER_ENTRY * 2 * (rows + cols)
    if not demand > 0:
        raise InvalidOptionError(f"grid {name}: demand={demand} veh/h; it must be a positive number of vehicles per hour")
    if lanes < 1:
        raise InvalidOptionError(f"grid {name}: lanes={lanes}; it must be at least 1")
    if not length >= 20:
        raise InvalidOptionError(f"grid {name}: length={length} m; roads shorter than 20 m cannot hold a queue")

    key = f"grid-{rows}x{cols}_d{demand:g}_l{lanes}_m{length:g}_s{route_seed}_e{end:g}"
    folder = publish_dir(
        lambda tmp: _generate(tmp, rows, cols, demand, lanes, length, route_seed, end),
        fmat_home() / "cache" / "grids" / key,
    )
    return Scenario(
        name=name,
        net=str(folder / "grid.net.xml"),
        routes=(str(folder / "grid.rou.xml"),),
        begin=0.0,
        end=end,
        delta=DELTA,
        yellow=YELLOW,
        source="synthetic",
        signals=rows * cols,
    )


def _generate(folder: Path, rows, cols, demand, lanes, length, seed, end) -> None:
    net = grid_net(folder / "grid.net.xml", rows, cols, lanes, length)
    random_trips(net, folder / "grid.rou.xml", demand, seed, end)


class GridSource:
    """grid-RxC for any R and C, generated on first use."""

    def owns(self, name: str) -> bool:
        return bool(GRID_PATTERN.match(name))

    def scenario(self, name: str, **options) -> Scenario:
        rows, cols = map(int, GRID_PATTERN.match(name).groups())
        return grid_scenario(name, rows=rows, cols=cols, **options)

    def names(self) -> list[str]:
        return ["grid-4x4", "grid-10x10"]


register_source(GridSource())
