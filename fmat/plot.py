"""`fmat plot`: learning curves from run directories alone.

One subplot per scenario, one line per algorithm: the mean over seeds with a shaded 95% bootstrap
band; classical controllers, which do not learn, are a dashed level. Colours are fixed per
algorithm, so every figure uses the same ones; where a learner appears with several settings (its
`fmat table` rows, e.g. "fmat (phases)" and "fmat (lanes)"), each gets its own line style.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from fmat import atomic
from fmat.envs.errors import FmatError
from fmat.registry import ALGORITHMS, CONTROLLERS, REGISTRY
from fmat.report import LOWER_IS_BETTER, ROW_ORDER, UNITS, Run, ordered
from fmat.envs.scenarios import builtin_names
from fmat.stats import bootstrap_band

COLOURS = {name: e.colour for name, e in REGISTRY.items()}
LABELS = {name: e.label for name, e in REGISTRY.items()}
X_AXES = {"episodes": ("episode", "training episode"), "steps": ("env_steps", "environment steps (decisions)"),
          "seconds": ("wall_seconds", "wall-clock time (s)")}
VARIANT_STYLES = ("-", ":", "-.", (0, (6, 2, 1, 2, 1, 2)))  # dashed ("--") marks the controllers
TITLE = "mean over seeds, shaded: 95% bootstrap band; dashed: controllers that do not learn (mean of their episodes)"
DOTS = "; dots without a line: runs stopped after their first episode, one per seed"


def _curves(runs: list[Run], metric: str, x: str):
    """Per run: (x values, metric values)."""
    column = X_AXES[x][0]
    out = []
    for run in runs:
        rows = run.curve()
        if rows:
            xs = np.array([r[column] + (1 if column == "episode" else 0) for r in rows])
            out.append((xs, np.array([r[metric] for r in rows])))
    return out


def _on_grid(curves):
    """Resample curves onto a common x grid (within each run's own range; NaN beyond it)."""
    xs = np.unique(np.concatenate([c[0] for c in curves]))
    if len(xs) > 200:
        xs = np.linspace(xs.min(), xs.max(), 200)
    ys = np.full((len(curves), len(xs)), np.nan)
    for i, (cx, cy) in enumerate(curves):
        inside = (xs >= cx.min()) & (xs <= cx.max())
        ys[i, inside] = np.interp(xs[inside], cx, cy)
    return xs, ys


def seed_note(seeds: dict[str, int], per_line: int = 4) -> str:
    """The panel's footnote: "3 seeds each" for the most common number (the larger on a tie), then
    the algorithms with another number, a few to a line, so that the note stays short and inside a
    narrow panel: "3 seeds each, except IDQN 2"."""
    counts = list(seeds.values())
    n = max(set(counts), key=lambda c: (counts.count(c), c))
    note = f"{n} seed{'s' if n != 1 else ''} each"
    items = [f"{label} {k}" for label, k in seeds.items() if k != n]
    if not items:
        return note
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return f"{note}, except " + ",\n".join(lines)


def legend_label(algorithm: str, name: str) -> str:
    """The legend's label for a row: the algorithm's display name with the row's settings,
    e.g. "f-MAT (queue)" for the row "fmat (queue)"."""
    return LABELS.get(algorithm, algorithm) + name[len(algorithm):]


def line_styles(runs: list[Run]) -> dict:
    """Row name -> line style: the n-th setting of one learner in the figure gets the n-th style, so
    "fmat (phases)" is solid and "fmat (lanes)" dotted in every panel."""
    styles, seen = {}, {}
    for name in ordered({r.name for r in runs}, ROW_ORDER):
        algorithm = next(r.algorithm for r in runs if r.name == name)
        styles[name] = VARIANT_STYLES[seen.get(algorithm, 0) % len(VARIANT_STYLES)]
        seen[algorithm] = seen.get(algorithm, 0) + 1
    return styles


def plot(runs: list[Run], out: str, metric: str = "delay", x: str = "episodes", log_y: bool = False) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metric not in LOWER_IS_BETTER:
        raise FmatError(f"unknown metric {metric!r}; choose one of {', '.join(LOWER_IS_BETTER)}")
    if x not in X_AXES:
        raise FmatError(f"unknown x axis {x!r}; choose one of {', '.join(X_AXES)}")
    out = Path(out)
    atomic.check_writable_file(out, "--out", atomic.FIGURES)
    scenarios = ordered({r.scenario for r in runs}, builtin_names())
    cols = min(4, len(scenarios))
    rows = math.ceil(len(scenarios) / cols)
    width = max(5.0, 4.2 * cols)
    styles = line_styles(runs)  # one per row name, so also the legend's entries
    entry = 0.65 + 0.065 * max(len(legend_label(r.algorithm, r.name)) for r in runs)  # inches a legend entry takes at 8 pt
    ncol = min(len(styles), max(2, int(width / entry)))
    legend_rows = math.ceil(len(styles) / ncol)
    height = 3.4 * rows + 0.25 * legend_rows
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    unit = f" ({UNITS[metric]})" if UNITS[metric] else ""
    legend = {}  # label -> handle, one shared legend for the figure
    algorithm_of = {}  # label -> its algorithm, to order the legend
    title = TITLE
    for ax, scenario in zip(axes.flat, scenarios):
        seeds = {}  # label -> number of seeds drawn
        for name in ordered({r.name for r in runs if r.scenario == scenario}, ROW_ORDER):
            mine = [r for r in runs if r.scenario == scenario and r.name == name]
            curves = _curves(mine, metric, x)
            if not curves:
                continue
            algorithm = mine[0].algorithm
            colour, label = COLOURS.get(algorithm), legend_label(algorithm, name)
            seeds[label] = len(curves)
            algorithm_of[label] = algorithm
            if algorithm in CONTROLLERS:
                # controllers do not learn: a dashed level (mean of each seed's episodes) with its band,
                # across the whole axis whatever x is (their own few seconds or episodes say nothing)
                per_seed = np.array([[np.nanmean(c[1])] for c in curves])
                level, low, high = bootstrap_band(per_seed)
                legend[label] = ax.axhline(level[0], color=colour, ls="--", lw=1.2)
                ax.axhspan(low[0], high[0], color=colour, alpha=0.12, lw=0)
                continue
            stopped = [c for c in curves if len(c[0]) == 1]
            curves = [c for c in curves if len(c[0]) > 1]
            if stopped:
                # runs stopped after their first episode: one point per seed; a line through them would
                # read as a learning curve, and their mean as one seed's value at another's x (also
                # when other seeds of the same cell trained on: those alone make the curve)
                points, = ax.plot([c[0][0] for c in stopped], [c[1][0] for c in stopped], color=colour, ls="none",
                                  marker="o", ms=3)
                legend.setdefault(label, points)  # a line drawn in another panel is the better legend entry
                title = TITLE + DOTS
            if not curves:
                continue
            xs, ys = _on_grid(curves)
            mean, low, high = bootstrap_band(ys)
            legend[label], = ax.plot(xs, mean, color=colour, ls=styles[name], lw=1.6, marker="o" if len(xs) < 15 else None, ms=3)
            ax.fill_between(xs, low, high, color=colour, alpha=0.2, lw=0)
        ax.text(0.01, 0.01, seed_note(seeds), transform=ax.transAxes, fontsize=6, color="0.35", va="bottom")
        ax.set_title(scenario)
        ax.set_xlabel(X_AXES[x][1])
        ax.set_ylabel(f"{metric.replace('_', ' ')}{unit}")
        if log_y:
            ax.set_yscale("log")
            # plain numbers (40, 60, 100) rather than 4x10^1 on the log axis
            plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "1235" else "")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(scenarios):]:
        ax.axis("off")
    rank = {a: i for i, a in enumerate(ALGORITHMS)}
    order = sorted(legend, key=lambda label: rank.get(algorithm_of[label], len(ALGORITHMS)))
    fig.legend([legend[k] for k in order], order, loc="lower center", ncol=ncol, frameon=False, fontsize=8)
    fig.suptitle(textwrap.fill(title, int(width * 14)), fontsize=9)  # about 14 characters an inch at 9 pt
    fig.tight_layout(rect=(0, (0.05 + 0.25 * legend_rows) / height, 1, 1))
    return atomic.save_figure(fig, out)
