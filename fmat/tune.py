"""Hyper-parameter tuning with the same budget for every learner: a seeded random search.

An experiment file with a `tune` section turns each learner into `trials` variants:

    tune:
      trials: 6          # per learner; trial 0 is the learner's defaults
      seed: 0            # the draws
      space:             # per hyper-parameter section: a list to choose from, or a range
        ppo: {lr: {log_uniform: [1.0e-4, 2.0e-3]}, epochs: [3, 5, 10]}
        dqn: {lr: {log_uniform: [1.0e-4, 3.0e-3]}, target_update: [250, 500, 1000]}

- Every learner of one kind draws the same candidate settings (the draws depend on the seed and the
  section only), so the PPO learners compete over identical trials, as do the value-based ones.
- Trial k of learner A runs under OUTPUT_DIR/A/trialK/, on every scenario and seed of the file.
- A trial's score is the geometric mean, over the file's scenarios, of the final-evaluation delay
  (mean over seeds), so no map's scale dominates. The lowest score wins; a tie goes to the earlier
  trial, so the defaults keep a tie.
- `fmat tune FILE` runs the trials (resumably) and writes trials.md, trials.csv and chosen.yaml; an
  experiment file's `tuned: PATH/chosen.yaml` then gives each learner its chosen settings.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from fmat import atomic
from fmat.config import PPOSection, DQNSection, RunConfig, is_whole
from fmat.files import read_yaml_mapping
from fmat.registry import LEARNERS, REGISTRY, SECTION, ConfigError
from fmat.rundir import RunDir

SECTIONS = {"ppo": PPOSection, "dqn": DQNSection}
RANGES = ("log_uniform", "uniform")
TUNE_KEYS = ("trials", "seed", "space")


@dataclass(frozen=True)
class Trial:
    algorithm: str
    index: int
    settings: dict  # {section: {key: value}}; empty for the defaults
    output_dir: str

    @property
    def label(self) -> str:
        flat = [f"{section}.{key}={_fmt(value)}" for section, keys in self.settings.items() for key, value in keys.items()]
        return ", ".join(flat) or "defaults"


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _check_space(space, source: str) -> dict:
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{source}: tune.space: expected a mapping of sections ({', '.join(SECTIONS)}) to hyper-parameters")
    for section, keys in space.items():
        where = f"{source}: tune.space.{section}"
        if section not in SECTIONS:
            raise ConfigError(f"{where}: unknown section; allowed: {', '.join(SECTIONS)}")
        if not isinstance(keys, dict) or not keys:
            raise ConfigError(f"{where}: expected a mapping of hyper-parameters to a list or a range")
        fields = SECTIONS[section].model_fields
        for key, values in keys.items():
            at = f"{where}.{key}"
            if key not in fields:
                raise ConfigError(f"{at}: unknown hyper-parameter; allowed: {', '.join(fields)}")
            if isinstance(values, list):
                if not values:
                    raise ConfigError(f"{at}: the list of choices is empty")
                continue
            if not (isinstance(values, dict) and len(values) == 1 and next(iter(values)) in RANGES):
                raise ConfigError(f"{at}: expected a list of choices or {{log_uniform: [low, high]}} / {{uniform: [low, high]}}")
            kind, bounds = next(iter(values.items()))
            if not (isinstance(bounds, list) and len(bounds) == 2
                    and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) and bounds[0] < bounds[1]):
                raise ConfigError(f"{at}.{kind}: expected [low, high] numbers with low < high")
            if kind == "log_uniform" and bounds[0] <= 0:
                raise ConfigError(f"{at}.log_uniform: the low end must be above 0")
    return space


def _draw(keys: dict, rng: random.Random) -> dict:
    out = {}
    for key in sorted(keys):
        values = keys[key]
        if isinstance(values, list):
            out[key] = copy.deepcopy(rng.choice(values))
        else:
            kind, (low, high) = next(iter(values.items()))
            x = math.exp(rng.uniform(math.log(low), math.log(high))) if kind == "log_uniform" else rng.uniform(low, high)
            out[key] = float(f"{x:.3g}")
    return out


def candidates(space: dict, section: str, trials: int, seed: int) -> list[dict]:
    """The settings of trials 0..trials-1 for one section: the defaults, then distinct random draws."""
    keys = space.get(section)
    if not keys:
        return [{}] * trials
    rng = random.Random(f"{seed}:{section}")
    out, seen = [{}], set()
    for _ in range(1000 * trials):
        if len(out) == trials:
            break
        drawn = _draw(keys, rng)
        key = yaml.safe_dump(drawn, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append({section: drawn})
    if len(out) < trials:
        raise ConfigError(f"tune.space.{section}: only {len(out) - 1} distinct settings exist; ask for fewer trials or widen the space")
    return out


def check_tune(value, source: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: tune: expected a mapping with {', '.join(TUNE_KEYS)}")
    for key in value:
        if key not in TUNE_KEYS:
            raise ConfigError(f"{source}: tune.{key}: unknown key; allowed: {', '.join(TUNE_KEYS)}")
    trials, seed = value.get("trials"), value.get("seed", 0)
    if not is_whole(trials, 1):
        raise ConfigError(f"{source}: tune.trials: expected the number of trials per learner, at least 1 (the issue's studies use 6)")
    if not is_whole(seed):
        raise ConfigError(f"{source}: tune.seed: expected an integer")
    return {"trials": trials, "seed": seed, "space": _check_space(value.get("space"), source)}


def trial_entries(entries: list[tuple[str, dict]], tune: dict, output_dir: str, source: str) -> list[tuple[Trial, dict]]:
    """Each learner entry of a sweep as `trials` entries with their drawn settings and own folders."""
    out = []
    for name, overrides in entries:
        if name not in LEARNERS:
            raise ConfigError(f"{source}: algorithms: {name} is a classical controller and has nothing to tune; "
                              "compare controllers in the study itself")
        section = SECTION[REGISTRY[name].kind]
        if section in overrides:
            raise ConfigError(f"{source}: algorithms: {name}: {section}: set in a tuning file it would override the "
                              "searched settings; put fixed values outside tune.space or remove them")
        for index, settings in enumerate(candidates(tune["space"], section, tune["trials"], tune["seed"])):
            trial = Trial(name, index, settings, str(Path(output_dir) / name / f"trial{index}"))
            out.append((trial, {**copy.deepcopy(overrides), **copy.deepcopy(settings), "output_dir": trial.output_dir}))
    return out


def apply_tuned(entries: list[tuple[str, dict]], path, source: str) -> list[tuple[str, dict]]:
    """Give each learner entry the settings chosen for it in a chosen.yaml written by `fmat tune`."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{source}: tuned: expected the path of a chosen.yaml written by `fmat tune`")
    if not Path(path).is_file():
        raise ConfigError(f"{source}: tuned: {path} does not exist; run `fmat tune` first or remove the key")
    chosen = read_yaml_mapping(path)
    for name, settings in chosen.items():
        if name not in LEARNERS:
            raise ConfigError(f"{path}: {name}: not a learner; allowed: {', '.join(LEARNERS)}")
        section = SECTION[REGISTRY[name].kind]
        if not isinstance(settings, dict) or set(settings) - {section}:
            raise ConfigError(f"{path}: {name}: expected only a {section}: mapping of hyper-parameters")
    out = []
    for name, overrides in entries:
        if name in LEARNERS:
            if name not in chosen:
                raise ConfigError(f"{source}: tuned: {path} has no settings for {name}; every learner of a study is "
                                  "tuned the same way, so tune it too or remove `tuned`")
            section = SECTION[REGISTRY[name].kind]
            merged = {**(chosen[name].get(section) or {}), **overrides.get(section, {})}
            overrides = {**overrides, **({section: merged} if merged else {})}
        out.append((name, overrides))
    return out


def _delay(cfg: RunConfig) -> float | None:
    files = RunDir(cfg.run_dir)
    if files.done() is None:
        return None
    result = files.evaluation()
    try:
        return float(result["mean"]["delay"])
    except (TypeError, KeyError, ValueError):
        return None


def score(trials: list[tuple[Trial, list[RunConfig]]]) -> list[dict]:
    """One row per trial: its settings, each scenario's delay (mean over seeds) and its score."""
    rows = []
    for trial, runs in trials:
        scenarios = sorted({r.scenario for r in runs}, key=[r.scenario for r in runs].index)
        row = {"algorithm": trial.algorithm, "trial": trial.index, "settings": trial.label, "runs": 0, "of": len(runs)}
        logs = []
        for scenario in scenarios:
            delays = [d for d in (_delay(r) for r in runs if r.scenario == scenario) if d is not None]
            row["runs"] += len(delays)
            complete = len(delays) == sum(r.scenario == scenario for r in runs)
            row[scenario] = sum(delays) / len(delays) if complete else None
            logs.append(math.log(row[scenario]) if complete and row[scenario] > 0 else None)
        row["score"] = math.exp(sum(logs) / len(logs)) if logs and None not in logs else None
        rows.append(row)
    return rows


def choose(rows: list[dict]) -> dict[str, dict]:
    """For each learner whose trials all have a score, its best row (ties: the earlier trial)."""
    best = {}
    for name in dict.fromkeys(r["algorithm"] for r in rows):
        mine = [r for r in rows if r["algorithm"] == name]
        if all(r["score"] is not None for r in mine):
            best[name] = min(mine, key=lambda r: (r["score"], r["trial"]))
    return best


def report(trials: list[tuple[Trial, list[RunConfig]]], out_dir: str | Path, source: str) -> tuple[list[dict], dict]:
    """Write trials.md, trials.csv and chosen.yaml (learners with every trial finished) into out_dir."""
    out_dir = Path(out_dir)
    atomic.check_writable_dir(out_dir, "tuning report folder")
    rows = score(trials)
    best = choose(rows)
    scenarios = [k for k in rows[0] if k not in ("algorithm", "trial", "settings", "runs", "of", "score")] if rows else []
    columns = ["algorithm", "trial", "settings", *scenarios, "score", "chosen"]
    for row in rows:
        row["chosen"] = best.get(row["algorithm"]) is row
    atomic.write_csv(out_dir / "trials.csv", [{k: row.get(k) for k in columns} for row in rows], columns)

    def cell(value) -> str:
        return "not finished" if value is None else f"{value:.1f}"

    lines = [f"| learner | trial | settings | {' | '.join(scenarios)} | score | |", "|---|---|---|" + "---|" * (len(scenarios) + 2)]
    for row in rows:
        mark = "**chosen**" if row["chosen"] else ""
        lines.append(f"| {row['algorithm']} | {row['trial']} | {row['settings']} | "
                     + " | ".join(cell(row[s]) for s in scenarios) + f" | {cell(row['score'])} | {mark} |")
    waiting = sorted({r["algorithm"] for r in rows} - set(best))
    lines += ["", f"delay (s) of the final-policy evaluation, mean over seeds; score: geometric mean over "
              f"{', '.join(scenarios)} (lower is better). Trial 0 is each learner's defaults. From {source}."]
    if waiting:
        lines.append(f"No choice yet for {', '.join(waiting)}: not every trial has finished.")
    atomic.write_text(out_dir / "trials.md", "\n".join(lines) + "\n")
    chosen = {name: next(t.settings for t, _ in trials if t.algorithm == name and t.index == row["trial"]) for name, row in best.items()}
    header = (f"# Settings chosen by `fmat tune {source}` (lowest score in trials.md); an experiment file's\n"
              f"# `tuned: {out_dir / 'chosen.yaml'}` gives them to its learners. {{}}: the defaults won.\n")
    atomic.write_text(out_dir / "chosen.yaml", header + yaml.safe_dump(chosen, sort_keys=False))
    return rows, best


def default_report_dir(trials: list[tuple[Trial, list[RunConfig]]]) -> Path:
    """Where the report goes: beside the file's output_dir (results/tuning for results/tuning/runs)."""
    output_dir = Path(trials[0][0].output_dir).parent.parent
    return output_dir if str(output_dir.parent) in ("", ".") else output_dir.parent
