"""Synthetic grid scenarios, generated with SUMO's netgenerate and randomTrips and cached.

- grid-RxC: 2 green phases per signal and constant, even fringe-to-fringe demand. Control is
  nearly trivial there: every learner found the same policy in the first edition's scaling study.
- rush-RxC: the same grid with a protected left-turn lane on every approach (4 green phases) and a
  rush hour: a west-to-east peak early and a south-to-north peak late over light background traffic
  (generators.RUSH_PROFILE), so the heavy approach moves during the episode.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import InvalidOptionError
from .paths import fmat_home, publish_dir
from .scenario import Scenario, register_source
from .generators import grid_net, random_trips, rush_trips

DEFAULT_DEMAND_PER_ENTRY = 100.0  # veh/h entering at each fringe road (RESCO's grid4x4 has ~92)
RUSH_BACKGROUND_PER_ENTRY = 40.0  # rush grids: constant background, veh/h per fringe road
RUSH_PEAK_PER_ENTRY = 600.0       # rush grids: veh/h per entry road of the peak axis at its top
DELTA, YELLOW = 10.0, 3.0  # decision step and yellow of every synthetic grid
GRID_PATTERN = re.compile(r"^(?:grid|rush)-(\d+)x(\d+)$")


def grid_scenario(
    name: str,
    rows: int,
    cols: int,
    demand: float | None = None,
    lanes: int = 2,
    length: float = 200.0,
    route_seed: int = 0,
    end: float = 3600.0,
    rush: bool = False,
) -> Scenario:
    """An R x C grid of signalised 4-way intersections with fringe-to-fringe random trips.

    Args:
        demand: vehicles per hour entering the whole grid; default 100 per fringe entry road. For a
            rush grid, the background's veh/h; the peaks scale with it (default 40 per fringe road
            and 600 per peak entry road).
        lanes: lanes per direction on every road.
        length: metres between neighbouring intersections.
        route_seed: seed of randomTrips (the demand), separate from the simulation's seed.
        rush: protected left turns and a rush hour (module docstring).
    """
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise InvalidOptionError(f"grid {name}: needs at least 2 intersections, got {rows}x{cols}")
    if demand is None:
        demand = (RUSH_BACKGROUND_PER_ENTRY if rush else DEFAULT_DEMAND_PER_ENTRY) * 2 * (rows + cols)
    if not demand > 0:
        raise InvalidOptionError(f"grid {name}: demand={demand} veh/h; it must be a positive number of vehicles per hour")
    if lanes < 1:
        raise InvalidOptionError(f"grid {name}: lanes={lanes}; it must be at least 1")
    if not length >= 20:
        raise InvalidOptionError(f"grid {name}: length={length} m; roads shorter than 20 m cannot hold a queue")

    key = f"{'rush' if rush else 'grid'}-{rows}x{cols}_d{demand:g}_l{lanes}_m{length:g}_s{route_seed}_e{end:g}"
    folder = publish_dir(
        lambda tmp: _generate(tmp, rows, cols, demand, lanes, length, route_seed, end, rush),
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


def _generate(folder: Path, rows, cols, demand, lanes, length, seed, end, rush) -> None:
    net = grid_net(folder / "grid.net.xml", rows, cols, lanes, length, left_lanes=1 if rush else 0)
    if rush:
        peak = demand / (2 * (rows + cols)) * RUSH_PEAK_PER_ENTRY / RUSH_BACKGROUND_PER_ENTRY
        rush_trips(net, folder / "grid.rou.xml", demand, peak, seed, end)
    else:
        random_trips(net, folder / "grid.rou.xml", demand, seed, end)


class GridSource:
    """grid-RxC and rush-RxC for any R and C, generated on first use."""

    def owns(self, name: str) -> bool:
        return bool(GRID_PATTERN.match(name))

    def scenario(self, name: str, **options) -> Scenario:
        rows, cols = map(int, GRID_PATTERN.match(name).groups())
        return grid_scenario(name, rows=rows, cols=cols, rush=name.startswith("rush"), **options)

    def names(self) -> list[str]:
        return ["grid-4x4", "grid-10x10", "rush-4x4", "rush-16x16"]


register_source(GridSource())
