"""`fmat table`: comparison tables from run directories alone.

One row per algorithm, one column per scenario, plus the mean rank. A cell is the mean (or IQM)
over seeds with a 95% bootstrap confidence interval and the number of seeds; the best per column
is bold. The default source is final-policy evaluation (eval.json); `best` uses the best training
episode (how RESCO reported). Missing runs show as "missing", never as zero.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from fmat.envs.errors import FmatError
from fmat.envs.scenarios import builtin_names
from fmat.registry import ALGORITHMS
from fmat.stats import aggregate, average_ranks, bootstrap_ci

LOWER_IS_BETTER = {"delay": True, "travel_time": True, "waiting_time": True, "queue": True, "teleports": True,
                   "throughput": False, "return": False}
UNITS = {"delay": "s", "travel_time": "s", "waiting_time": "s", "queue": "vehicles", "teleports": "vehicles",
         "throughput": "vehicles", "return": ""}


@dataclass
class Run:
    algorithm: str
    scenario: str
    seed: int
    path: Path

    def curve(self) -> list[dict]:
        path = self.path / "metrics.csv"
        if not path.is_file():
            return []
        with open(path) as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def compute_seconds(self) -> float:
        """Training wall time so far (the last metrics row), excluding evaluation."""
        rows = self.curve()
        return rows[-1]["wall_seconds"] if rows else 0.0

    def final(self) -> dict | None:
        path = self.path / "eval.json"
        return json.loads(path.read_text())["mean"] if path.is_file() else None


def collect(roots: list[str]) -> list[Run]:
    """Every run directory (config.yaml + metrics.csv) below the given roots."""
    runs = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FmatError(f"run root {root} does not exist")
        for cfg_path in sorted(root.rglob("config.yaml")):
            if not (cfg_path.parent / "metrics.csv").is_file():
                continue
            cfg = yaml.safe_load(cfg_path.read_text())
            runs.append(Run(cfg["algorithm"], cfg["scenario"], int(cfg["seed"]), cfg_path.parent))
    if not runs:
        raise FmatError(f"no run directories (config.yaml + metrics.csv) under {', '.join(map(str, roots))}")
    return runs


def _value(run: Run, metric: str, source: str) -> float | None:
    if source == "final":
        final = run.final()
        return None if final is None or metric not in final else float(final[metric])
    rows = run.curve()
    if not rows:
        return None
    values = [r[metric] for r in rows if not np.isnan(r[metric])]
    if not values:
        return None
    return min(values) if LOWER_IS_BETTER[metric] else max(values)


def ordered(names, preferred):
    return [n for n in preferred if n in names] + sorted(n for n in names if n not in preferred)


@dataclass
class Cell:
    values: list[float]
    statistic: str

    @property
    def center(self) -> float:
        return aggregate(self.values, self.statistic)

    @property
    def ci(self) -> tuple[float, float]:
        return bootstrap_ci(self.values, self.statistic)


def build(runs: list[Run], metric: str = "delay", statistic: str = "mean", source: str = "final"):
    if metric not in LOWER_IS_BETTER:
        raise FmatError(f"unknown metric {metric!r}; choose one of {', '.join(LOWER_IS_BETTER)}")
    algorithms = ordered({r.algorithm for r in runs}, ALGORITHMS)
    scenarios = ordered({r.scenario for r in runs}, builtin_names())
    cells: dict[tuple[str, str], Cell] = {}
    for run in runs:
        value = _value(run, metric, source)
        if value is not None:
            cells.setdefault((run.algorithm, run.scenario), Cell([], statistic)).values.append(value)
    ranks = _mean_ranks(cells, algorithms, scenarios, LOWER_IS_BETTER[metric])
    return algorithms, scenarios, cells, ranks


def _mean_ranks(cells, algorithms, scenarios, lower_better) -> dict[str, float]:
    per_alg: dict[str, list[float]] = {a: [] for a in algorithms}
    for s in scenarios:
        present = [a for a in algorithms if (a, s) in cells]
        if not present:
            continue
        centers = np.array([cells[(a, s)].center for a in present])
        ranks = average_ranks(centers if lower_better else -centers)
        for a, r in zip(present, ranks):
            per_alg[a].append(float(r))
    return {a: float(np.mean(r)) if r else float("nan") for a, r in per_alg.items()}


def _best(cells, algorithms, scenario, lower_better) -> str | None:
    present = [a for a in algorithms if (a, scenario) in cells]
    if not present:
        return None
    pick = min if lower_better else max
    return pick(present, key=lambda a: cells[(a, scenario)].center)


def render(runs: list[Run], metric: str = "delay", fmt: str = "md", statistic: str = "mean", source: str = "final") -> str:
    algorithms, scenarios, cells, ranks = build(runs, metric, statistic, source)
    lower = LOWER_IS_BETTER[metric]
    if fmt == "csv":
        return _csv(algorithms, scenarios, cells, ranks, metric, statistic, source)
    best = {s: _best(cells, algorithms, s, lower) for s in scenarios}
    header = ["algorithm", *scenarios, "mean rank"]
    rows = []
    for a in algorithms:
        row = [a]
        for s in scenarios:
            cell = cells.get((a, s))
            if cell is None:
                row.append("missing")
                continue
            low, high = cell.ci
            text = f"{cell.center:.1f} [{low:.1f}, {high:.1f}] ({len(cell.values)})"
            row.append(_bold(text, fmt) if best[s] == a else text)
        row.append("n/a" if np.isnan(ranks[a]) else f"{ranks[a]:.2f}")
        rows.append(row)
    unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
    what = "final-policy evaluation (eval.json)" if source == "final" else "best training episode (metrics.csv), as RESCO reported"
    stat = "mean" if statistic == "mean" else "interquartile mean"
    hours = sum(r.compute_seconds() for r in runs) / 3600
    note = (f"{metric}{unit}, {'lower' if lower else 'higher'} is better. Source: {what}. Cells: {stat} over seeds "
            f"[95% percentile-bootstrap CI] (number of seeds); best per column in bold; mean rank over the scenarios an algorithm has. "
            f"{len(runs)} runs, {hours:.2f} h of training wall time in total.")
    return _latex(header, rows, note) if fmt == "latex" else _markdown(header, rows, note)


def _bold(text: str, fmt: str) -> str:
    return f"\\textbf{{{text}}}" if fmt == "latex" else f"**{text}**"


def _markdown(header, rows, note) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + f"\n\n{note}\n"


def _latex(header, rows, note) -> str:
    def esc(s):
        return s.replace("_", r"\_").replace("[", "{[}").replace("]", "{]}") if not s.startswith("\\textbf") else \
            "\\textbf{" + esc(s[8:-1]) + "}"

    lines = [r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(esc(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", f"% {note}"]
    return "\n".join(lines) + "\n"


def _csv(algorithms, scenarios, cells, ranks, metric, statistic, source) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["algorithm", "scenario", "metric", "source", "statistic", "value", "ci_low", "ci_high", "seeds", "mean_rank"])
    for a in algorithms:
        for s in scenarios:
            cell = cells.get((a, s))
            if cell is None:
                writer.writerow([a, s, metric, source, statistic, "missing", "", "", 0, f"{ranks[a]:.3f}"])
            else:
                low, high = cell.ci
                writer.writerow([a, s, metric, source, statistic, f"{cell.center:.4f}", f"{low:.4f}", f"{high:.4f}",
                                 len(cell.values), f"{ranks[a]:.3f}"])
    return buf.getvalue()
