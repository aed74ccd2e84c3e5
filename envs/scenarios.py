"""The scenario registry: a name -> net, routes, time window and decision timing.

Built-ins are RESCO's eight maps (files shipped in the sumo-rl package) and synthetic grids named
`grid-RxC`, generated on first use. Every environment is made from a `Scenario`.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

from .errors import InvalidOptionError, ScenarioFileError, UnknownScenarioError


@dataclass(frozen=True)
class Scenario:
    """Everything needed to start one scenario's simulation.

    Attributes:
        name: registry name, e.g. "grid4x4" or "grid-10x10".
        net: path of the .net.xml.
        routes: paths of the route files.
        begin, end: simulation window in seconds.
        delta: seconds between two decisions.
        yellow: seconds of yellow inserted on a phase change.
        source: where it comes from ("RESCO", "synthetic", "user").
        signals: number of signalised intersections (agents), when known without parsing.
    """

    name: str
    net: str
    routes: tuple[str, ...]
    begin: float = 0.0
    end: float = 3600.0
    delta: float = 10.0
    yellow: float = 3.0
    source: str = "user"
    signals: int | None = None
    extra_sumo_args: tuple[str, ...] = field(default=())

    def with_options(self, **changes) -> "Scenario":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# RESCO's maps: (signals, route file stem, begin, end, delta, yellow), from RESCO's paper and code.
_RESCO = {
    "grid4x4": (16, "grid4x4_1", 0, 3600, 10, 3),
    "arterial4x4": (16, "arterial4x4_1", 0, 3600, 5, 2),
    "cologne1": (1, "cologne1", 25200, 28800, 10, 3),
    "cologne3": (3, "cologne3", 25200, 28800, 10, 3),
    "cologne8": (8, "cologne8", 25200, 28800, 10, 3),
    "ingolstadt1": (1, "ingolstadt1", 57600, 61200, 10, 3),
    "ingolstadt7": (7, "ingolstadt7", 57600, 61200, 10, 3),
    "ingolstadt21": (21, "ingolstadt21", 57600, 61200, 10, 3),
}
GRID_PATTERN = re.compile(r"^grid-(\d+)x(\d+)$")


def _resco_dir() -> str:
    # Located without importing sumo_rl, which refuses to import unless SUMO_HOME is set.
    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioFileError("the sumo-rl package is not installed; `pip install sumo-rl` ships RESCO's maps")
    return os.path.join(list(spec.submodule_search_locations)[0], "nets", "RESCO")


def resco_scenario(name: str) -> Scenario:
    signals, stem, begin, end, delta, yellow = _RESCO[name]
    folder = os.path.join(_resco_dir(), name)
    return Scenario(
        name=name,
        net=os.path.join(folder, f"{name}.net.xml"),
        routes=(os.path.join(folder, f"{stem}.rou.xml"),),
        begin=begin,
        end=end,
        delta=delta,
        yellow=yellow,
        source="RESCO",
        signals=signals,
    )


def builtin_names() -> list[str]:
    return list(_RESCO)


def is_known(name: str) -> bool:
    """A built-in, a grid-RxC, or a scenario added with `fmat scenario add` (checked without building it)."""
    from .user_scenarios import load_user

    return name in _RESCO or bool(GRID_PATTERN.match(name)) or load_user(name) is not None


def get_scenario(name: str, **grid_options) -> Scenario:
    """Resolve a scenario name. `grid_options` (demand, lanes, length, route_seed) apply to grid-RxC.

    Raises UnknownScenarioError listing the close matches.
    """
    if not isinstance(name, str):
        raise UnknownScenarioError(f"scenario must be a name, not {type(name).__name__}")
    if name in _RESCO:
        if grid_options:
            raise InvalidOptionError(
                f"options {sorted(grid_options)} only apply to synthetic grids, not to {name}"
            )
        return resco_scenario(name)
    match = GRID_PATTERN.match(name)
    if match:
        from .grids import grid_scenario

        return grid_scenario(name, rows=int(match.group(1)), cols=int(match.group(2)), **grid_options)
    from .user_scenarios import load_user, user_names

    added = load_user(name)
    if added is not None:
        if grid_options:
            raise InvalidOptionError(f"options {sorted(grid_options)} only apply to synthetic grid-RxC scenarios, not {name}")
        return added
    known = builtin_names() + user_names() + ["grid-4x4", "grid-10x10"]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownScenarioError(
        f"unknown scenario {name!r}: {hint}run `fmat scenarios` for the list (grids are grid-RxC, e.g. grid-10x10)"
    )


_ROUTE_TAGS = {"vehicle", "trip"}


def count_departures(route_file: str, begin: float, end: float) -> int:
    """Vehicles scheduled to depart in [begin, end) in a route file (a flow counts as one).

    Raises ScenarioFileError if the file is missing or is not a SUMO routes file.
    """
    if not os.path.isfile(route_file):
        raise ScenarioFileError(f"route file {route_file} does not exist")
    count = 0
    try:
        events = ET.iterparse(route_file, events=("start", "end"))
        _, root = next(events)
        if root.tag not in ("routes", "additional"):
            raise ScenarioFileError(f"route file {route_file} has root <{root.tag}>, not <routes>; is it a SUMO .rou.xml?")
        for event, elem in events:
            if event != "end":
                continue
            if elem.tag in _ROUTE_TAGS:
                try:
                    t = float(elem.get("depart", "0"))
                except ValueError:  # "triggered", "containerTriggered", ...
                    t = begin
                count += begin <= t < end
            elif elem.tag == "flow":
                count += float(elem.get("begin", 0)) < end and float(elem.get("end", end)) > begin
            if elem.tag in _ROUTE_TAGS or elem.tag == "flow":
                root.clear()
    except (ET.ParseError, StopIteration) as exc:
        raise ScenarioFileError(f"route file {route_file} is not valid XML: {exc or 'empty file'}") from None
    return count


def check_timing(scenario: Scenario) -> None:
    """The window and decision timing, which need no file: a non-empty window and a yellow that fits
    in a decision step (the network's all-red is checked when the network is read)."""
    if not scenario.end > scenario.begin:
        raise InvalidOptionError(
            f"scenario {scenario.name}: empty time window begin={scenario.begin:g} end={scenario.end:g}; end must be after begin"
        )
    if not scenario.delta > 0 or scenario.yellow < 0:
        raise InvalidOptionError(f"delta={scenario.delta:g}, yellow={scenario.yellow:g}: delta must be > 0 and yellow >= 0")
    if scenario.yellow >= scenario.delta:
        raise InvalidOptionError(
            f"yellow = {scenario.yellow:g} s does not fit in a decision step of delta={scenario.delta:g} s; raise delta or lower yellow"
        )


def validate_scenario(scenario: Scenario) -> None:
    """Check the files and window before SUMO starts, so errors name the file rather than crash SUMO."""
    check_timing(scenario)
    if not os.path.isfile(scenario.net):
        raise ScenarioFileError(f"net file {scenario.net} does not exist")
    if not scenario.routes:
        raise ScenarioFileError(f"scenario {scenario.name} has no route file")
    total = sum(count_departures(r, scenario.begin, scenario.end) for r in scenario.routes)
    if total == 0:
        raise ScenarioFileError(
            f"route files {', '.join(scenario.routes)} schedule no vehicle between "
            f"{scenario.begin:g} s and {scenario.end:g} s; check the window or the demand"
        )
