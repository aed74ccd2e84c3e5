"""A scenario (a name -> net, routes, time window and decision timing), the checks every scenario
passes before SUMO starts, and the registry of scenario sources.

Sources register themselves on import (envs/__init__.py imports them all): RESCO's maps
(scenarios.py), synthetic grids (grids.py) and the networks users add (user_scenarios.py). This
module imports none of them, so no source imports another through it.
"""
from __future__ import annotations

import difflib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Protocol

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



class ScenarioSource(Protocol):
    """Where scenarios of one kind come from."""

    def owns(self, name: str) -> bool:
        """Whether `name` is one of this source's scenarios (cheap: builds nothing)."""

    def scenario(self, name: str, **options) -> Scenario:
        """The scenario `name` (which this source owns), built on first use where needed."""

    def names(self) -> list[str]:
        """Names to list and to suggest for a misspelt name."""


SOURCES: list[ScenarioSource] = []


def register_source(source: ScenarioSource) -> ScenarioSource:
    SOURCES.append(source)
    return source


def owner(name: str) -> ScenarioSource | None:
    return next((s for s in SOURCES if s.owns(name)), None)


def is_known(name: str) -> bool:
    """Whether any source has a scenario called `name` (checked without building it)."""
    return owner(name) is not None


def get_scenario(name: str, **options) -> Scenario:
    """Resolve a scenario name. `options` (demand, lanes, length, route_seed) apply to grid-RxC and rush-RxC.

    Raises UnknownScenarioError listing the close matches.
    """
    if not isinstance(name, str):
        raise UnknownScenarioError(f"scenario must be a name, not {type(name).__name__}")
    source = owner(name)
    if source is not None:
        return source.scenario(name, **options)
    known = [n for s in SOURCES for n in s.names()]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownScenarioError(
        f"unknown scenario {name!r}: {hint}run `fmat scenarios` for the list (grids are grid-RxC or rush-RxC, e.g. grid-10x10)"
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
