"""fmat.envs: SUMO traffic-signal environments as PettingZoo ParallelEnvs.

    from fmat.envs import make_env
    env = make_env("grid4x4", seed=0)
"""
from __future__ import annotations

from .errors import FmatError, InvalidOptionError, NoTrafficLightsError, ScenarioFileError, UnknownScenarioError
from .scenario import Scenario, get_scenario, is_known
from . import scenarios, grids, user_scenarios  # noqa: F401,E402  the scenario sources register on import
from .scenarios import builtin_names

_GRID_OPTIONS = ("demand", "lanes", "length", "route_seed")
_TIMING_OPTIONS = ("begin", "end", "delta", "yellow")


def resolve_scenario(scenario: str | Scenario, **options) -> tuple[Scenario, dict]:
    """The Scenario that make_env would build for these options, and the options left for the env.

    Grid options (demand, lanes, length, route_seed) pick the generated grid; timing options
    (begin, end, delta, yellow) override the scenario's preset.
    """
    grid = {k: options.pop(k) for k in _GRID_OPTIONS if k in options}
    timing = {k: options.pop(k) for k in _TIMING_OPTIONS if k in options}
    if not isinstance(scenario, Scenario):
        scenario = get_scenario(scenario, **grid)
    elif grid:
        raise InvalidOptionError(f"options {sorted(grid)} only apply when the scenario is given by grid name")
    return scenario.with_options(**timing), options


def make_env(scenario: str | Scenario, seed: int = 0, **options):
    """Build the environment of a scenario.

    Args:
        scenario: a registry name ("grid4x4", "grid-10x10", ...) or a `Scenario`.
        seed: SUMO's seed for the first episode (episode k uses seed + k until reset(seed=...)).
        **options: reward ("wait", "queue", "pressure", "diff-waiting-time" or a callable),
            control ("agents" or "fixed"), backend ("libsumo" or "traci"), gui, min_green,
            time_to_teleport; pad_phases, pad_lanes (pad observations and actions to at least
            this size, to run a lanes-layout policy trained on another map); observation (the
            layout: "phases", the default, or "lanes"; envs/observations.py); begin, end, delta, yellow
            override the scenario's preset; demand,
            lanes, length, route_seed configure synthetic grids.

    Raises:
        FmatError subclasses for bad names, files or option values.
    """
    from .sumo_env import TrafficSignalEnv

    scenario, options = resolve_scenario(scenario, **options)
    allowed = {"reward", "control", "backend", "gui", "min_green", "time_to_teleport", "pad_phases", "pad_lanes",
               "observation"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidOptionError(
            f"unknown environment option(s) {unknown}; allowed: {sorted(allowed | set(_GRID_OPTIONS) | set(_TIMING_OPTIONS))}"
        )
    return TrafficSignalEnv(scenario, seed=seed, **options)


def check_env(scenario: str | Scenario, **options) -> None:
    """Every check make_env makes, without starting SUMO. The window and timing are checked first,
    before a synthetic grid is generated into the cache."""
    from .grids import DELTA, GRID_PATTERN, YELLOW
    from .scenario import check_timing

    timing = {k: options[k] for k in _TIMING_OPTIONS if options.get(k) is not None}
    if isinstance(scenario, str) and GRID_PATTERN.match(scenario):
        preset = Scenario(name=scenario, net="", routes=(), begin=0.0, end=3600.0, delta=DELTA, yellow=YELLOW)
    else:
        preset = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
    check_timing(preset.with_options(**timing))
    make_env(scenario, **options).close()


def make_vector_env(scenario: str | Scenario, num_envs: int = 1, seed: int = 0, autoreset: bool = True, **options):
    """N environments of one scenario in worker processes, batched as [num_envs, n_agents, ...] arrays."""
    from .vector import VectorTrafficEnv

    return VectorTrafficEnv(scenario, num_envs=num_envs, seed=seed, autoreset=autoreset, **options)


__all__ = [
    "make_env",
    "make_vector_env",
    "check_env",
    "resolve_scenario",
    "Scenario",
    "get_scenario",
    "is_known",
    "builtin_names",
    "FmatError",
    "InvalidOptionError",
    "NoTrafficLightsError",
    "ScenarioFileError",
    "UnknownScenarioError",
]
