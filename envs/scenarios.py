"""RESCO's eight maps, a scenario source: the files ship in the sumo-rl package."""
from __future__ import annotations

import importlib.util
import os

from .errors import InvalidOptionError, ScenarioFileError
from .scenario import Scenario, register_source


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


class RescoSource:
    def owns(self, name: str) -> bool:
        return name in _RESCO

    def scenario(self, name: str, **options) -> Scenario:
        if options:
            raise InvalidOptionError(f"options {sorted(options)} only apply to synthetic grids, not to {name}")
        return resco_scenario(name)

    def names(self) -> list[str]:
        return builtin_names()


register_source(RescoSource())
