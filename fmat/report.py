"""`fmat table`: comparison tables from run directories alone.

One row per algorithm, one column per scenario, plus the mean rank. A cell is the mean (or IQM)
over seeds with a 95% bootstrap confidence interval and the number of seeds; the best per column
is bold. Sources:
- `final` (default): final-policy evaluation (eval.json);
- `best`: the best training episode (how RESCO reported);
- `last`: the mean of the last K training episodes (the policy as it trains, sampling its actions).

The metric `episode_seconds` is training wall-clock time per episode, whatever the source. Only
finished runs (done.json) count, except for `final`, which needs eval.json. Missing or unfinished
runs show as "missing", never as zero; runs stopped by `train.time_budget_s` show as "over budget"
with their measured rate.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from fmat import resco_published
from fmat.config import legacy_defaults
from fmat.envs.errors import FmatError
from fmat.envs.observations import LAYOUTS
from fmat.envs.rewards import REWARDS
from fmat.envs.scenarios import builtin_names
from fmat.rundir import RunDir
from fmat.registry import ALGORITHMS, LEARNERS, REGISTRY, transfer_blocker
from fmat.stats import aggregate, average_ranks, bootstrap_ci

LOWER_IS_BETTER = {"delay": True, "travel_time": True, "waiting_time": True, "queue": True, "teleports": True,
                   "throughput": False, "return": False, "episode_seconds": True}
UNITS = {"delay": "s", "travel_time": "s", "waiting_time": "s", "queue": "vehicles", "teleports": "vehicles",
         "throughput": "vehicles", "return": "", "episode_seconds": "s"}
SOURCES = ("final", "median", "best", "last")


@dataclass
class Run:
    algorithm: str
    scenario: str
    seed: int
    path: Path
    observation: str = "lanes"  # the env.observation layout (run configs of fmat 0.2 have none: lanes)
    model: dict = field(default_factory=dict)
    reward: str = "wait"  # env.reward
    name: str = ""  # the table row: the algorithm, plus the layout and reward where a table mixes them (`variant`)

    def __post_init__(self):
        self.name = self.name or self.algorithm

    @property
    def transfer_blocker(self) -> str | None:
        return transfer_blocker(self.algorithm, self.model)

    @property
    def files(self) -> RunDir:
        return RunDir(self.path)

    # read once: a table consults a run's evaluation files several times
    @cached_property
    def evaluation(self) -> dict | None:
        return self.files.evaluation()

    @cached_property
    def transfers(self) -> dict[str, dict]:
        """Scenario -> transfer evaluation."""
        return self.files.transfers()

    def curve(self) -> list[dict]:
        return self.files.metrics()

    def compute_seconds(self) -> float:
        """Training wall time so far (the last metrics row), excluding evaluation."""
        rows = self.curve()
        return rows[-1]["wall_seconds"] if rows else 0.0

    def seconds_per_episode(self) -> float | None:
        rows = self.curve()
        return rows[-1]["wall_seconds"] / len(rows) if rows else None

    def final(self, mode: str = "greedy") -> dict | None:
        """Mean metrics of the final evaluation with greedy or sampled actions (None if not recorded).
        Controllers and value-based learners act deterministically, so either mode is their one
        evaluation."""
        evaluation = self.evaluation
        if not evaluation:
            return None
        if isinstance(evaluation.get("modes"), dict) and mode in evaluation["modes"]:
            return evaluation["modes"][mode].get("mean")
        text = str(evaluation.get("evaluation", ""))
        deterministic = not REGISTRY[self.algorithm].samples if self.algorithm in REGISTRY else False
        return evaluation["mean"] if deterministic or f"{mode} actions" in text else None

    def final_episodes(self, mode: str = "greedy") -> list[dict]:
        """Per-episode metrics of the final evaluation that final(mode) averages ([] if none)."""
        if self.final(mode) is None:
            return []
        evaluation = self.evaluation
        if isinstance(evaluation.get("modes"), dict) and mode in evaluation["modes"]:
            return evaluation["modes"][mode].get("episodes") or []
        return evaluation.get("episodes") or []

    def done(self) -> dict | None:
        return self.files.done()

    def over_budget(self) -> dict | None:
        """done.json's record of a run stopped by its time budget, else None."""
        return (self.done() or {}).get("over_budget")

    def machine(self) -> dict | None:
        """done.json's record of the machine that trained the run: CPU count, mean load, CPU and versions."""
        return (self.done() or {}).get("machine")


def load_note(runs: list[Run]) -> str:
    """How busy the machine was while the runs trained: seconds measured on a shared machine are inflated."""
    finished = [r for r in runs if r.done()]
    known = [m for m in (r.machine() for r in finished) if m]
    if not known:
        return "Machine load was not recorded for these runs."
    shared = sum(m["mean_load"] > m["cpus"] for m in known)
    text = (f"Machine load while training (done.json): {shared} of {len(known)} runs had a mean 1-minute load "
            f"above the CPU count, so the machine was shared and their seconds are inflated")
    if len(finished) > len(known):
        text += f"; {len(finished) - len(known)} runs did not record it"
    cpus = Counter(" ".join(filter(None, (m.get("cpu"), m.get("cpu_capability")))) or "unrecorded" for m in known)
    if len(cpus) > 1:  # one CPU's kernels can be twice as fast as another's, whatever the load
        text += (f". The runs trained on {len(cpus)} kinds of CPU ({', '.join(f'{n} on {c}' for c, n in cpus.most_common())}): "
                 "seconds compare only between runs on the same one")
    return text + "."


def collect(roots: list[str], algorithms: list[str] | None = None, scenarios: list[str] | None = None) -> list[Run]:
    """Every run directory (config.yaml + metrics.csv) below the given roots, optionally only those of
    the given algorithms and scenarios."""
    runs = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FmatError(f"run root {root} does not exist")
        for cfg_path in sorted(root.rglob("config.yaml")):
            if not RunDir(cfg_path.parent).is_run():
                continue
            cfg = RunDir(cfg_path.parent).config_data()
            try:
                cfg = legacy_defaults(cfg)  # a run of fmat 0.2 keeps the meaning it had (MAPPO's agent id)
                env, model = cfg.get("env") or {}, cfg.get("model") or {}
                runs.append(Run(str(cfg["algorithm"]), str(cfg["scenario"]), int(cfg["seed"]), cfg_path.parent,
                                str(env.get("observation", "lanes")), dict(model), str(env.get("reward", "wait"))))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise FmatError(f"{cfg_path}: not a run config ({type(exc).__name__}: {exc}); "
                                "the run directory is damaged or not written by fmat") from None
    if not runs:
        raise FmatError(f"no run directories (config.yaml + metrics.csv) under {', '.join(map(str, roots))}")
    for key, wanted in (("algorithm", algorithms), ("scenario", scenarios)):
        if wanted:
            present = {getattr(r, key) for r in runs}
            missing = [w for w in wanted if w not in present]
            if missing:
                raise FmatError(f"--{key}s {missing[0]}: no such run under {', '.join(map(str, roots))}; "
                                f"they hold {', '.join(sorted(present))}")
            runs = [r for r in runs if getattr(r, key) in wanted]
    layouts, rewards = named_settings(runs)
    for r in runs:
        if r.algorithm in LEARNERS:
            settings = [r.observation] * layouts + [r.reward] * (r.algorithm in rewards)
            r.name = variant(r.algorithm, *settings)
    return runs


def named_settings(runs: list[Run]) -> tuple[bool, set[str]]:
    """Which settings a learner's row names: the observation layout when the learners use more than
    one (first), and the reward for the learners whose own runs use more than one (the set). A
    reward is not named merely because learners differ in it: some come with their own (MPLight's
    pressure), which is no variant of theirs."""
    layouts, rewards = set(), {}
    for r in runs:
        if r.algorithm in LEARNERS:
            layouts.add(r.observation)
            rewards.setdefault(r.algorithm, set()).add(r.reward)
    return len(layouts) > 1, {a for a, used in rewards.items() if len(used) > 1}


def variant(algorithm: str, *settings: str) -> str:
    """A table row for one algorithm with some settings (`named_settings`), e.g. "fmat (lanes)" or
    "fmat (phases, queue)"."""
    return f"{algorithm} ({', '.join(settings)})" if settings else algorithm


def _row_order() -> list[str]:
    order = []
    for a in ALGORITHMS:
        order.append(a)
        for layout in LAYOUTS:
            order += [variant(a, layout)] + [variant(a, layout, reward) for reward in REWARDS]
        order += [variant(a, reward) for reward in REWARDS]
    return order


ROW_ORDER = _row_order()


def _value(run: Run, metric: str, source: str, last: int, mode: str = "greedy") -> float | None:
    if source == "final" and metric != "episode_seconds":
        final = run.final(mode)
        return None if final is None or metric not in final else float(final[metric])
    if source == "median" and metric != "episode_seconds":
        values = [e[metric] for e in run.final_episodes(mode) if metric in e]
        return float(np.median(values)) if values else None
    # An unfinished run's curve (or its rate so far) would mix budgets, and would let a
    # half-trained run that was committed by mistake change a committed table.
    if run.done() is None:
        return None
    if metric == "episode_seconds":
        return run.seconds_per_episode()
    rows = run.curve()
    if source == "last":
        rows = rows[-last:]
    values = [r[metric] for r in rows if not np.isnan(r[metric])]
    if not values:
        return None
    if source == "last":
        return float(np.mean(values))
    return min(values) if LOWER_IS_BETTER[metric] else max(values)


EVAL_MODES = ("greedy", "sampled")


def describe_source(source: str, last: int, mode: str = "greedy") -> str:
    return {"final": f"final-policy evaluation (eval.json), {mode} actions (controllers and value-based learners act "
                     "deterministically either way)",
            "median": f"median over each run's final-evaluation episodes (eval.json), {mode} actions; "
                      "a rare episode that gridlocks moves it little",
            "best": "best training episode (metrics.csv), as RESCO reported",
            "last": f"mean of the last {last} training episodes (metrics.csv; actions sampled from the policy)"}[source]


def ordered(names, preferred):
    """`preferred` names first, in that order; the rest in natural order (grid-4x4 before grid-12x12)."""
    def natural(name):
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    return [n for n in preferred if n in names] + sorted((n for n in names if n not in preferred), key=natural)


@dataclass
class Cell:
    values: list[float]
    statistic: str
    over_budget: list[dict] = field(default_factory=list)  # done.json records of seeds stopped by the time budget

    def over_budget_text(self) -> str:
        rate = np.mean([o["seconds_per_episode"] for o in self.over_budget])
        seeds = len(self.over_budget) + len(self.values)
        return f"over budget ({len(self.over_budget)}/{seeds} seeds, {rate:.1f} s/episode)"

    @property
    def center(self) -> float:
        return aggregate(self.values, self.statistic)

    @property
    def ci(self) -> tuple[float, float] | None:
        """None for a single seed: one value has no spread to show, and [x, x] would read as certainty."""
        return bootstrap_ci(self.values, self.statistic) if len(self.values) > 1 else None

    def ci_fields(self) -> list[str]:
        """ci_low and ci_high for a CSV row, empty for a single seed."""
        ci = self.ci
        return [f"{bound:.4f}" for bound in ci] if ci else ["", ""]


def build(runs: list[Run], metric: str = "delay", statistic: str = "mean", source: str = "final", last: int = 10,
          mode: str = "greedy"):
    """Cells keyed by (row name, scenario), each row's mean rank, and the scenarios it is taken
    over. A cell with any seed over its time budget shows no value (its seeds did not all train for
    the same budget) and ranks below every row that finished in its column."""
    if metric not in LOWER_IS_BETTER:
        raise FmatError(f"unknown metric {metric!r}; choose one of {', '.join(LOWER_IS_BETTER)}")
    if source not in SOURCES:
        raise FmatError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if mode not in EVAL_MODES:
        raise FmatError(f"unknown evaluation {mode!r}; choose one of {', '.join(EVAL_MODES)}")
    algorithms = ordered({r.name for r in runs}, ROW_ORDER)
    scenarios = ordered({r.scenario for r in runs}, builtin_names())
    cells: dict[tuple[str, str], Cell] = {}
    for run in runs:
        stopped = run.over_budget() if metric != "episode_seconds" else None
        value = None if stopped else _value(run, metric, source, last, mode)
        if stopped is None and value is None:
            continue
        cell = cells.setdefault((run.name, run.scenario), Cell([], statistic))
        if stopped:
            cell.over_budget.append(stopped)
        else:
            cell.values.append(value)
    ranks, ranked = _mean_ranks(cells, algorithms, scenarios, LOWER_IS_BETTER[metric])
    return algorithms, scenarios, cells, ranks, ranked


def _comparable(cells: dict) -> dict:
    return {key: cell for key, cell in cells.items() if not cell.over_budget}


def _mean_ranks(cells, algorithms, scenarios, lower_better) -> tuple[dict[str, float], list[str]]:
    """Mean ranks over the scenarios every row has a cell in, so that every row is ranked against
    the same rows in the same columns; a rank over the columns each row happens to have would let a
    row gain from the columns where stronger rows are missing. Over-budget cells rank last, tied."""
    ranked = [s for s in scenarios if all((a, s) in cells for a in algorithms)]
    worst = np.inf if lower_better else -np.inf
    per_alg: dict[str, list[float]] = {a: [] for a in algorithms}
    for s in ranked:
        centers = np.array([worst if cells[(a, s)].over_budget else cells[(a, s)].center for a in algorithms])
        for a, r in zip(algorithms, average_ranks(centers if lower_better else -centers)):
            per_alg[a].append(float(r))
    return {a: float(np.mean(r)) if r else float("nan") for a, r in per_alg.items()}, ranked


def _best(cells, algorithms, scenario, lower_better) -> str | None:
    present = [a for a in algorithms if (a, scenario) in cells]
    if not present:
        return None
    pick = min if lower_better else max
    return pick(present, key=lambda a: cells[(a, scenario)].center)


def cell_text(cell: Cell | None) -> str:
    """A cell where some seeds finished and others ran over budget shows both, e.g.
    "81.2 [81.0, 81.4] (2); over budget (1/3 seeds, 90.0 s/episode)"; it still ranks as over budget."""
    if cell is None:
        return "missing"
    if cell.over_budget and not cell.values:
        return cell.over_budget_text()
    ci = cell.ci
    if ci is None:
        text = f"{cell.center:.1f} (1, no interval)"
    else:
        text = f"{cell.center:.1f} [{ci[0]:.1f}, {ci[1]:.1f}] ({len(cell.values)})"
    return f"{text}; {cell.over_budget_text()}" if cell.over_budget else text


def render(runs: list[Run], metric: str = "delay", fmt: str = "md", statistic: str = "mean", source: str = "final",
           last: int = 10, with_resco: bool = False, mode: str = "greedy") -> str:
    """The table; `with_resco` adds RESCO's published delays as rows of their own, labelled as theirs;
    `mode` picks the greedy or the sampled final evaluation."""
    if with_resco and metric != "delay":
        raise FmatError(f"--with-resco: RESCO published average delay only, not {metric}; use --metric delay")
    algorithms, scenarios, cells, ranks, ranked = build(runs, metric, statistic, source, last, mode)
    lower = LOWER_IS_BETTER[metric]
    if fmt == "csv":
        return _csv(algorithms, scenarios, cells, ranks, ranked, metric, statistic,
                    source if source not in ("final", "median") or mode == "greedy" else f"{source}-sampled", with_resco)
    comparable = _comparable(cells)
    best = {s: _best(comparable, algorithms, s, lower) for s in scenarios}
    header = ["algorithm", *scenarios, "mean rank"]
    rows = []
    for a in algorithms:
        row = [a]
        for s in scenarios:
            text = cell_text(cells.get((a, s)))
            row.append(_bold(text, fmt) if best[s] == a else text)
        row.append("n/a" if np.isnan(ranks[a]) else f"{ranks[a]:.2f}")
        rows.append(row)
    if with_resco:
        rows += resco_published.rows(scenarios)
    unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
    what = ("training wall-clock seconds per episode (metrics.csv), on the machine that ran it"
            if metric == "episode_seconds" else describe_source(source, last, mode))
    stat = "mean" if statistic == "mean" else "interquartile mean"
    hours = sum(r.compute_seconds() for r in runs) / 3600
    note = (f"{metric}{unit}, {'lower' if lower else 'higher'} is better. Source: {what}. Cells: {stat} over seeds "
            f"[95% percentile-bootstrap CI] (number of seeds); best per column in bold; {rank_scope(scenarios, ranked)}. "
            f"{len(runs)} runs, {hours:.2f} h of training wall time in total.")
    layouts, rewards = named_settings(runs)
    if layouts:
        note += " Rows name the observation layout (env.observation) where the runs use more than one."
    if rewards:
        note += " Rows name the reward (env.reward) where one algorithm's runs use more than one."
    budget = over_budget_note(cells.values())
    if budget:
        note += f" {budget}; it ranks below every row that finished in its column."
    if budget or metric == "episode_seconds":
        note += " " + load_note(runs)
    if with_resco:
        note += " " + resco_published.NOTE
    return latex(header, rows, note) if fmt == "latex" else markdown(header, rows, note)


def over_budget_note(cells) -> str:
    """The footer's account of "over budget" cells, or "" when there are none."""
    budgets = sorted({o["time_budget_s"] for c in cells for o in c.over_budget})
    if not budgets:
        return ""
    return ("Over budget: at its measured rate (in the cell) the run's training would not fit "
            f"train.time_budget_s ({', '.join(f'{b:g}' for b in budgets)} s), so it stopped early")


def rank_scope(scenarios: list[str], ranked: list[str]) -> str:
    """The footer's account of which columns the mean rank covers."""
    if len(ranked) == len(scenarios):
        return "mean rank over the scenarios an algorithm has"
    if not ranked:
        return "no mean rank: no scenario has a cell for every row"
    return (f"mean rank over the {len(ranked)} of {len(scenarios)} scenarios every row has ({', '.join(ranked)}), "
            "so that rows are ranked against the same rows")


def _bold(text: str, fmt: str) -> str:
    return f"\\textbf{{{text}}}" if fmt == "latex" else f"**{text}**"


def markdown(header, rows, note) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + f"\n\n{note}\n"


def latex(header, rows, note) -> str:
    def esc(s):
        return s.replace("_", r"\_").replace("[", "{[}").replace("]", "{]}") if not s.startswith("\\textbf") else \
            "\\textbf{" + esc(s[8:-1]) + "}"

    lines = [r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(esc(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", f"% {note}"]
    return "\n".join(lines) + "\n"


def _csv(algorithms, scenarios, cells, ranks, ranked, metric, statistic, source, with_resco) -> str:
    """One row per cell; `rank_scenarios` names the scenarios `mean_rank` is taken over (those every
    row has a cell in), which the md footer says in words."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["algorithm", "scenario", "metric", "source", "statistic", "value", "ci_low", "ci_high", "seeds",
                     "mean_rank", "rank_scenarios", "note"])
    rank_scenarios = ";".join(ranked)
    for a in algorithms:
        rank = f"{ranks[a]:.3f}"
        for s in scenarios:
            cell = cells.get((a, s))
            if cell is None:
                writer.writerow([a, s, metric, source, statistic, "missing", "", "", 0, rank, rank_scenarios])
            elif cell.over_budget:
                writer.writerow([a, s, metric, source, statistic, "over budget", "", "", len(cell.values), rank,
                                 rank_scenarios, cell_text(cell)])
            else:
                writer.writerow([a, s, metric, source, statistic, f"{cell.center:.4f}", *cell.ci_fields(),
                                 len(cell.values), rank, rank_scenarios])
    if with_resco:
        for name, *values, _ in resco_published.rows(scenarios):
            for s, value in zip(scenarios, values):
                if value != "-":
                    writer.writerow([name, s, metric, "resco_published", "", value, "", "", "", "", "",
                                     "RESCO's number, not fmat's"])
    return buf.getvalue()
