"""`fmat map`: the road network with each signal coloured by a per-signal evaluation metric.

It reads only run directories (eval.json's `signals`, written by `fmat train` and `fmat evaluate`)
and the scenario's net file, as `fmat scenario show` does; nothing is simulated. With `against`, a
signal's colour is the difference between the two runs on a diverging scale centred at zero, with
green where RUN is better (lower queue or waiting time).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fmat import atomic
from fmat.envs.errors import FmatError
from fmat.files import read_json
from fmat.rundir import RunDir

METRICS = {"queue": "mean halted vehicles on incoming lanes", "waiting": "mean waiting time of vehicles on incoming lanes (s)",
           "switches": "phase switches per episode"}


def _evaluation(run: str | Path, metric: str) -> dict:
    run = Path(run)
    path = RunDir(run).eval_json if run.is_dir() else run
    if not path.is_file():
        raise FmatError(f"{run} has no eval.json; train the run to the end or write one with `fmat evaluate {run} --out {run}/eval.json`")
    result = read_json(path, ("scenario", "mean"))
    if "signals" not in result:
        raise FmatError(f"{path} has no per-signal metrics (written by an older fmat); "
                        f"re-evaluate with `fmat evaluate {run} --episodes 3 --out {path}`")
    bad = [a for a, m in result["signals"].items() if not isinstance(m, dict) or not isinstance(m.get(metric), (int, float))]
    if bad:
        raise FmatError(f"{path}: signals.{bad[0]} has no number for {metric!r}; the file is damaged")
    result["path"] = path
    return result


def _short(result: dict) -> str:
    from fmat.registry import REGISTRY

    name = result.get("algorithm", "?")
    return f"{REGISTRY[name].label if name in REGISTRY else name} s{result.get('seed', '?')}"


def _label(result: dict) -> str:
    return f"{_short(result)} ({result['mean'].get('delay', float('nan')):.1f} s delay)"


def draw_map(run: str, out: str, against: str | None = None, metric: str = "queue") -> dict:
    """Write the figure; returns {"signals": n, "scenario": name, "values": {signal: value}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from fmat.envs import get_scenario
    from fmat.envs.network import read_network
    from fmat.scenario_show import draw_roads

    if metric not in METRICS:
        raise FmatError(f"--metric {metric!r}: choose one of {', '.join(METRICS)}")
    atomic.check_writable_file(out, "--out", atomic.FIGURES)
    mine = _evaluation(run, metric)
    theirs = _evaluation(against, metric) if against else None
    if theirs and theirs["scenario"] != mine["scenario"]:
        raise FmatError(f"--against {against}: it was evaluated on {theirs['scenario']}, {run} on {mine['scenario']}; "
                        "compare runs evaluated on the same scenario")
    scenario = get_scenario(mine["scenario"])
    network = read_network(scenario.net)
    signals = [s.id for s in network.signals]
    for result in filter(None, (mine, theirs)):
        unknown = sorted(set(result["signals"]) - set(signals))
        if unknown or set(result["signals"]) != set(signals):
            raise FmatError(f"{result['path']}: its signals do not match {mine['scenario']}'s network "
                            f"({unknown[0] if unknown else 'some are missing'}); was the scenario changed since?")
    values = np.array([mine["signals"][s][metric] for s in signals], dtype=float)
    if theirs:
        other = np.array([theirs["signals"][s][metric] for s in signals], dtype=float)
        # queue and waiting: lower is better, so their minus mine is positive (green) where mine wins
        values = other - values if metric != "switches" else values - other
    positions = np.array([s.position for s in network.signals], dtype=float).reshape(-1, 2)

    fig, ax = plt.subplots(figsize=(8, 8))
    draw_roads(ax, scenario.net)
    if theirs:
        bound = float(np.abs(values).max()) or 1.0
        cmap = "RdYlGn" if metric != "switches" else "PuOr"
        norm = mcolors.TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound)
    else:
        cmap, norm = "viridis", mcolors.Normalize(vmin=float(values.min()), vmax=float(values.max()) or 1.0)
    points = ax.scatter(positions[:, 0], positions[:, 1], c=values, cmap=cmap, norm=norm, s=90, edgecolors="black",
                        linewidths=0.6, zorder=5)
    unit = METRICS[metric]
    if theirs:
        a, b = _short(mine), _short(theirs)
        what = f"{unit}\n{b} minus {a} (green: {a} better)" if metric != "switches" else f"{unit}\n{a} minus {b}"
        title = f"{mine['scenario']}: {_label(mine)} against {_label(theirs)}"
    else:
        what, title = unit, f"{mine['scenario']}: {_label(mine)}"
    fig.colorbar(points, ax=ax, shrink=0.7).set_label(what, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    fig.tight_layout()
    info = {"signals": len(signals), "scenario": mine["scenario"], "metric": metric,
            "values": {s: round(float(v), 4) for s, v in zip(signals, values)}}
    atomic.save_figure(fig, out, dpi=130, description=f"fmat map: {info}")
    return info

