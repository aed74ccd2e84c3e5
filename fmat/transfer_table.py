"""`fmat table --transfer`: policies trained on one map, evaluated on others with no further training.

One row per algorithm and training map. The first column is the policy on its own map
(eval.json); the others are RUN/transfer/SCENARIO.json, written by `fmat bench` for an experiment
file with a `transfer` list, with the same evaluation settings. A cell is the mean over seeds with a
95% bootstrap confidence interval and the number of seeds. An algorithm whose weights depend on the
number of agents shows "not applicable" off its own map, and the note says why.

Beside the zero-shot rows, each algorithm gets a row "each target" when the collected runs include
the same algorithm trained on a target map (for example `fmat table --transfer results/transfer/runs
results/resco/runs`): each cell is then that learner trained there, the reference a zero-shot
policy is read against; one stopped by its time budget (train.time_budget_s) says "over budget"
with its rate, as in `fmat table`. A run found under two roots (same algorithm, map and seed) counts once.
"""
from __future__ import annotations

import csv
import io

from fmat.envs.errors import FmatError
from fmat.envs.scenarios import builtin_names
from fmat.registry import LEARNERS
from fmat.report import (LOWER_IS_BETTER, ROW_ORDER, UNITS, Cell, Run, cell_text, latex, markdown, ordered,
                         over_budget_note)

OWN = "own map"
ON_TARGET = "each target"  # the "trained on" of the row holding each learner trained on the target map itself


def _values(run: Run, metric: str) -> dict[str, float]:
    """Target scenario -> the run's metric there (its own map from eval.json)."""
    out = {}
    final = run.final()
    if final and metric in final:
        out[run.scenario] = float(final[metric])
    for target, result in run.transfers.items():
        if metric in result["mean"]:
            out[target] = float(result["mean"][metric])
    return out


def _compute(runs: list[Run]) -> str:
    """Training and transfer-evaluation wall time; evaluation files written before fmat recorded it lack it."""
    seconds = [result.get("wall_seconds") for r in runs for result in r.transfers.values()]
    timed = [s for s in seconds if s is not None]
    text = f"{len(runs)} runs, {sum(r.compute_seconds() for r in runs) / 3600:.2f} h of training wall time"
    if timed:
        text += f"; {sum(timed) / 3600:.2f} h of wall time for {len(timed)} transfer evaluations"
    if len(timed) < len(seconds):
        text += f" ({len(seconds) - len(timed)} transfer evaluations do not record their time)"
    return text + "."


def _evaluations(runs: list[Run]) -> list[str]:
    return sorted({e.get("evaluation", "?") for e in (r.evaluation for r in runs if r.algorithm in LEARNERS) if e})


def build(runs: list[Run], metric: str, statistic: str):
    """Rows (algorithm, training map), target columns, cells keyed by (algorithm, training map, target),
    and the runs those cells come from."""
    if metric not in LOWER_IS_BETTER or metric == "episode_seconds":
        raise FmatError(f"unknown metric {metric!r} for a transfer table; choose one of "
                        f"{', '.join(m for m in LOWER_IS_BETTER if m != 'episode_seconds')}")
    unique = _unique(runs)
    controllers = [r for r in unique if r.algorithm not in LEARNERS]
    runs = [r for r in unique if r.algorithm in LEARNERS]
    if not runs:
        raise FmatError("no trained policies among the runs; a transfer table needs learners")
    cells: dict[tuple[str, str, str], Cell] = {}
    for run in runs:
        for target, value in _values(run, metric).items():
            cells.setdefault((run.name, run.scenario, target), Cell([], statistic)).values.append(value)
        if stopped := run.over_budget():  # trained on a target within a time budget, and did not fit it
            cells.setdefault((run.name, run.scenario, run.scenario), Cell([], statistic)).over_budget.append(stopped)
    # training maps are those some policy was evaluated away from; with no transfer evaluations yet,
    # every map is one (a study in progress still shows its own-map figures)
    maps = {r.scenario for r in runs if r.transfers} or {r.scenario for r in runs}
    sources = {(r.name, r.scenario) for r in runs if r.scenario in maps}
    trained_on = ordered({s for _, s in sources}, builtin_names())
    algorithms = ordered({a for a, _ in sources}, ROW_ORDER)
    targets = ordered({t for (a, s, t) in cells if t != s and (a, s) in sources}, builtin_names())
    rows = []
    for a in algorithms:
        rows += [(a, s) for s in trained_on if (a, s) in sources]
        for t in targets:
            if (a, t, t) in cells:
                cells[(a, ON_TARGET, t)] = cells[(a, t, t)]
        if any((a, ON_TARGET, t) in cells for t in targets):
            rows.append((a, ON_TARGET))
    # a classical controller needs no training, so its row is it on each target: the yardstick a
    # zero-shot policy is read against (say fixed-time)
    for run in controllers:
        if run.scenario in targets and (value := _values(run, metric).get(run.scenario)) is not None:
            cells.setdefault((run.name, ON_TARGET, run.scenario), Cell([], statistic)).values.append(value)
    rows += [(c, ON_TARGET) for c in ordered({c for c, s, _ in cells if s == ON_TARGET} - set(algorithms), ROW_ORDER)]
    used = [r for r in runs if (r.name, r.scenario) in sources or (r.name in algorithms and r.scenario in targets)]
    used += [r for r in controllers if r.scenario in targets]
    return rows, targets, cells, used


def _unique(runs: list[Run]) -> list[Run]:
    """One run per (algorithm, map, seed), preferring the copy that holds transfer evaluations."""
    best: dict[tuple[str, str, int], Run] = {}
    for r in runs:
        key = (r.name, r.scenario, r.seed)
        if key not in best or (r.transfers and not best[key].transfers):
            best[key] = r
    return list(best.values())


def _blockers(runs: list[Run]) -> dict[str, str | None]:
    """Row name -> why its policies cannot run on another map (None if they can)."""
    blockers: dict[str, str | None] = {}
    for r in runs:
        blockers[r.name] = blockers.get(r.name) or r.transfer_blocker
    return blockers


def _text(cells, blockers, algorithm: str, trained_on: str, target: str) -> str:
    if target == trained_on:
        return "—"
    if trained_on == ON_TARGET:
        return cell_text(cells.get((algorithm, ON_TARGET, target)))
    if blockers.get(algorithm):
        return "not applicable"
    return cell_text(cells.get((algorithm, trained_on, target)))


def render(runs: list[Run], metric: str = "delay", fmt: str = "md", statistic: str = "mean") -> str:
    rows, targets, cells, runs = build(runs, metric, statistic)
    blockers = _blockers(runs)
    if fmt == "csv":
        return _csv(rows, targets, cells, blockers, metric, statistic)
    controllers = {r.name for r in runs if r.algorithm not in LEARNERS}  # row names: variant labels when layouts mix
    header = ["algorithm", "trained on", OWN, *targets]
    table = [[a, s, "—" if s == ON_TARGET else cell_text(cells.get((a, s, s))), *(_text(cells, blockers, a, s, t) for t in targets)]
             for a, s in rows]
    unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
    stat = "mean" if statistic == "mean" else "interquartile mean"
    blocked = {}  # reason -> algorithms, so algorithms sharing a reason share one sentence
    for a in dict.fromkeys(a for a, _ in rows):
        if why := blockers.get(a):
            blocked.setdefault(why, []).append(f"{a}'s")
    note = (f"{metric}{unit}, {'lower' if LOWER_IS_BETTER[metric] else 'higher'} is better. Each policy is evaluated "
            f"with no further training ({'; '.join(_evaluations(runs)) or 'no evaluations yet'}); '{OWN}' is the same "
            f"policy on the map it was trained on, and '—' marks that map among the targets. "
            + (f"Rows '{ON_TARGET}': the same learner trained on that column's map" + (
                ", or a classical controller run there" if any(a in controllers for a, _ in rows) else "") + ". "
               if any(s == ON_TARGET for _, s in rows) else "")
            + f"Cells: {stat} over seeds "
            "[95% percentile-bootstrap CI] (number of seeds). " + _compute(runs))
    shown = [(a, s, t) for a, s in rows for t in {s, *targets}]  # the own-map column and the targets
    if budget := over_budget_note([cells[k] for k in shown if k in cells]):
        note += f" {budget}, and was not evaluated."
    if blocked:
        note += " Not applicable: " + "; ".join(f"{' and '.join(names)} {why}" for why, names in blocked.items()) + "."
    return latex(header, table, note) if fmt == "latex" else markdown(header, table, note)


def _csv(rows, targets, cells, blockers, metric, statistic) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["algorithm", "trained_on", "scenario", "metric", "statistic", "value", "ci_low", "ci_high", "seeds"])
    for a, s in rows:
        for target in targets if s == ON_TARGET else [s, *targets]:
            cell = cells.get((a, s, target))
            if target != s and s != ON_TARGET and blockers.get(a):
                writer.writerow([a, s, target, metric, statistic, "not applicable", "", "", 0])
            elif cell is None:
                writer.writerow([a, s, target, metric, statistic, "missing", "", "", 0])
            elif cell.over_budget:
                writer.writerow([a, s, target, metric, statistic, "over budget", "", "", len(cell.values)])
            else:
                writer.writerow([a, s, target, metric, statistic, f"{cell.center:.4f}", *cell.ci_fields(), len(cell.values)])
    return buf.getvalue()
