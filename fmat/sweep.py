"""Experiment files: one YAML describing algorithms x scenarios x seeds, expanded into run configs.

The sweep keys are `algorithms`, `scenarios` and `seeds`; every other key is a run-config key
(`env`, `train`, `ppo`, `dqn`, `evaluation`, `output_dir`), shared by all runs; `ppo:` reaches
only the on-policy learners and `dqn:` only the off-policy ones. An algorithm entry is a name, or a
one-key mapping from the name to overrides for that algorithm's runs:

    algorithms: [fmat, {mat: {ppo: {clip: 0.1}}}, max_pressure]

The optional key `transfer` lists scenarios on which every trained policy is then evaluated with no
further training (a transfer study), each for `evaluation.episodes` episodes unless
`transfer_episodes` says otherwise (zero-shot cells are many, so a study may afford fewer episodes
for them than for each policy's own map). The optional key `tune` makes the file a tuning study (each
learner becomes a few trials, fmat/tune.py); `tuned: PATH` gives each learner the settings a tuning
study chose for it. Everything is validated before anything runs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from fmat.config import RunConfig, is_whole, read_yaml, validate
from fmat.envs.errors import FmatError
from fmat.envs.scenario import is_known
from fmat.envs.scenarios import builtin_names
from fmat.registry import ALGORITHMS, REGISTRY, SECTION, ConfigError
from fmat.tune import Trial, apply_tuned, check_tune, trial_entries

SWEEP_KEYS = ("algorithms", "scenarios", "seeds")
OPTIONAL_KEYS = ("transfer", "transfer_episodes", "tune", "tuned")
SHARED_KEYS = ("output_dir", "env", "train", "ppo", "dqn", "evaluation")


@dataclass
class Sweep:
    runs: list[RunConfig]
    transfer: list[str]  # scenarios every trained policy is evaluated on after training
    trials: list[tuple[Trial, list[RunConfig]]] = field(default_factory=list)  # a tuning file's trials and their runs
    transfer_episodes: int | None = None  # episodes per transfer evaluation; None: each run's evaluation.episodes


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _algorithm_entries(value, source: str) -> list[tuple[str, dict]]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{source}: algorithms: expected a non-empty list, e.g. [fmat, mat, max_pressure]")
    entries = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            name, overrides = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, overrides = next(iter(item.items()))
            overrides = overrides or {}
            if not isinstance(overrides, dict):
                raise ConfigError(f"{source}: algorithms[{i}].{name}: overrides must be a mapping of run-config keys")
        else:
            raise ConfigError(f"{source}: algorithms[{i}]: expected a name or {{name: overrides}}")
        if name not in ALGORITHMS:
            raise ConfigError(f"{source}: algorithms[{i}]: unknown algorithm {name!r}; allowed: {', '.join(ALGORITHMS)}")
        entries.append((name, overrides))
    return entries


def _scenarios(value, source: str, key: str = "scenarios") -> list[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{source}: {key}: expected a non-empty list of scenario names")
    for i, name in enumerate(value):
        try:
            known = isinstance(name, str) and is_known(name)
        except FmatError as exc:  # a name that could escape the scenario registry
            raise ConfigError(f"{source}: {key}[{i}]: {exc}") from None
        if not known:
            raise ConfigError(
                f"{source}: {key}[{i}]: unknown scenario {name!r}; allowed: {', '.join(builtin_names())}, "
                "grid-RxC, rush-RxC or a name added with `fmat scenario add`"
            )
    return list(value)


def _seeds(value, source: str) -> list[int]:
    if is_whole(value, 1):
        return list(range(value))
    if isinstance(value, list) and value and all(is_whole(s) for s in value):
        return list(value)
    raise ConfigError(f"{source}: seeds: expected a list of integers (e.g. [0, 1, 2]) or a count (e.g. 3)")


def expand(data: dict, source: str) -> Sweep:
    """All run configs of a sweep and its transfer targets, validated."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with algorithms, scenarios and seeds")
    allowed = SWEEP_KEYS + OPTIONAL_KEYS + SHARED_KEYS
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{source}: {key}: unknown key; allowed: {', '.join(allowed)}")
    for key in SWEEP_KEYS:
        if key not in data:
            raise ConfigError(f"{source}: {key}: missing; a sweep names {', '.join(SWEEP_KEYS)}")
    entries = _algorithm_entries(data["algorithms"], source)
    scenarios = _scenarios(data["scenarios"], source)
    seeds = _seeds(data["seeds"], source)
    if "tune" in data and "tuned" in data:
        raise ConfigError(f"{source}: tune and tuned: a tuning file searches from the defaults; remove `tuned`")
    if "tuned" in data:
        entries = apply_tuned(entries, data["tuned"], source)
    base = {k: data[k] for k in SHARED_KEYS if k in data}

    def runs_of(name: str, overrides: dict) -> list[RunConfig]:
        # a shared ppo: or dqn: section applies to the learners of its kind only
        own = {k: v for k, v in base.items() if k not in SECTION.values() or SECTION.get(REGISTRY[name].kind) == k}
        return [validate(_merge(_merge(own, overrides), {"algorithm": name, "scenario": scenario, "seed": seed}),
                         f"{source} [{name} on {scenario}, seed {seed}]")
                for scenario in scenarios for seed in seeds]

    trials = []
    if "tune" in data:
        tune = check_tune(data["tune"], source)
        trials = [(trial, runs_of(trial.algorithm, overrides))
                  for trial, overrides in trial_entries(entries, tune, data.get("output_dir", "runs"), source)]
        runs = [run for _, trial_runs in trials for run in trial_runs]
    else:
        runs = [run for name, overrides in entries for run in runs_of(name, overrides)]
    # one algorithm may appear twice (say with two observation layouts) if each has its own output_dir
    names = [str(r.run_dir) for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: algorithms/scenarios/seeds repeat a run: {duplicates[0]}; give repeated "
                          "algorithms their own output_dir")
    transfer = _scenarios(data["transfer"], source, "transfer") if "transfer" in data else []
    episodes = data.get("transfer_episodes")
    if episodes is not None:
        if not transfer:
            raise ConfigError(f"{source}: transfer_episodes: only a transfer study uses it; "
                              "add a `transfer` list or remove it")
        if not is_whole(episodes, 1):
            raise ConfigError(f"{source}: transfer_episodes: expected a whole number of episodes >= 1, "
                              f"got {episodes!r}")
    return Sweep(runs, transfer, trials, episodes)


def load_sweep(path: str | Path, overrides: list[str] = ()) -> Sweep:
    path = Path(path)
    return expand(read_yaml(path, "experiment file", overrides), str(path))
