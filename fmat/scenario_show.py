"""`fmat scenario show`: the road network with the agent graph on top, plus a text report."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fmat import atomic
from fmat.envs import get_scenario
from fmat.envs.errors import FmatError
from fmat.envs.graph import AgentGraph, build_graph
from fmat.envs.network import MIN_OBSERVED_VEHICLES, VEHICLE_SPACE_M, read_network


def components(graph: AgentGraph) -> list[list[int]]:
    neighbours = {i: set() for i in range(graph.num_nodes)}
    for a, b in graph.edge_index.t().tolist():
        neighbours[a].add(b)
    seen, parts = set(), []
    for start in range(graph.num_nodes):
        if start in seen:
            continue
        stack, part = [start], []
        seen.add(start)
        while stack:
            node = stack.pop()
            part.append(node)
            for nxt in neighbours[node] - seen:
                seen.add(nxt)
                stack.append(nxt)
        parts.append(sorted(part))
    return parts


def report(name: str) -> tuple[str, list[str]]:
    """Signals with their phases and lanes, degree statistics, and warnings."""
    scenario = get_scenario(name)
    network = read_network(scenario.net)
    graph = build_graph(network)
    degrees = graph.degrees()
    lines = [f"scenario {name} ({scenario.source}): {len(network.signals)} signals, "
             f"window {scenario.begin:g}-{scenario.end:g} s, delta {scenario.delta:g} s, yellow {scenario.yellow:g} s",
             f"{'signal':<28}{'phases':>7}{'in lanes':>9}{'out lanes':>10}{'neighbours':>11}"]
    for signal, degree in zip(network.signals, degrees):
        lines.append(f"{signal.id[:27]:<28}{signal.n_phases:>7}{len(signal.in_lanes):>9}{len(signal.out_lanes):>10}{degree:>11}")
    parts = components(graph)
    lines.append(f"agent graph: {graph.edge_index.shape[1] // 2} neighbour links; degree min {degrees.min()}, "
                 f"mean {degrees.mean():.2f}, max {degrees.max()}; {len(parts)} connected component(s)")
    warnings = [f"isolated signal {graph.agents[i]}: no neighbour, so graph-based policies see it alone"
                for i in np.flatnonzero(degrees == 0)]
    warnings += [f"signal {s.id} has a single green phase: its only action is to keep it" for s in network.signals if s.n_phases == 1]
    if len(parts) > 1:
        warnings.append(f"the agent graph has {len(parts)} disconnected components (sizes {sorted(map(len, parts), reverse=True)})")
    warnings += _short_lane_warnings(network)
    return "\n".join(lines), warnings


SHORT_LANE_VEHICLES = MIN_OBSERVED_VEHICLES


def _short_lane_warnings(network) -> list[str]:
    """Incoming lanes too short to hold a queue even with the lanes feeding them through junctions
    without signals (envs.network extends short lanes that way): a longer queue waits where
    observations, rewards and the classical controllers do not see it."""
    out = []
    for signal in network.signals:
        short = np.flatnonzero(signal.in_capacity < SHORT_LANE_VEHICLES)
        if len(short):
            shortest = min(short, key=lambda i: signal.in_capacity[i])
            out.append(f"signal {signal.id}: {len(short)} of {len(signal.in_lanes)} incoming lanes hold fewer than "
                       f"{SHORT_LANE_VEHICLES} vehicles of {VEHICLE_SPACE_M:g} m even with the lanes feeding them "
                       f"(shortest {signal.in_lanes[shortest]}: room for {signal.in_capacity[shortest]:.1f}); "
                       "longer queues are not observed")
    return out


def draw_roads(ax, net_file: str) -> None:
    """The network's roads in grey, beneath whatever is drawn on them."""
    import sumolib

    for edge in sumolib.net.readNet(net_file).getEdges():
        xs, ys = zip(*edge.getShape())
        ax.plot(xs, ys, color="#bbbbbb", lw=0.8, zorder=1)


def draw(name: str, out: str, factors: str | None = None) -> dict:
    """Draw roads (grey), signals (nodes) and neighbour links; optionally f-MAT's factors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    atomic.check_writable_file(out, "--out", atomic.FIGURES)
    scenario = get_scenario(name)
    network = read_network(scenario.net)
    graph = build_graph(network)
    fig, ax = plt.subplots(figsize=(8, 8))
    draw_roads(ax, scenario.net)
    pos = graph.positions.numpy()
    for a, b in graph.edge_index.t().tolist():
        if a < b:
            ax.plot(*zip(pos[a], pos[b]), color="#1f77b4", lw=1.6, alpha=0.8, zorder=2)
    n_factors = 0
    if factors:
        from fmat.factors import build_factors

        try:
            members, n_factors = build_factors(graph, factors)
        except ValueError as exc:
            raise FmatError(str(exc)) from None
        for f in range(n_factors):
            idx = members[0, members[1] == f].numpy()
            centre = pos[idx].mean(0) + np.array([6.0, 6.0])  # offset so single-member factors stay visible
            for i in idx:
                ax.plot(*zip(centre, pos[i]), color="#2ca02c", lw=0.6, alpha=0.6, zorder=3)
            ax.scatter(*centre, marker="D", s=14, color="#2ca02c", zorder=4)
    ax.scatter(pos[:, 0], pos[:, 1], s=40, color="#d62728", zorder=5, label=f"signals ({graph.num_nodes})")
    ax.plot([], [], color="#1f77b4", label=f"neighbour links ({graph.edge_index.shape[1] // 2})")
    if factors:
        ax.scatter([], [], marker="D", s=14, color="#2ca02c", label=f"{factors} factors ({n_factors})")
    ax.set_aspect("equal")
    ax.set_title(f"{name}: signals and agent graph")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    info = {"nodes": graph.num_nodes, "links": graph.edge_index.shape[1] // 2, "factors": n_factors}
    atomic.save_figure(fig, out, dpi=130, description=f"fmat scenario {name}: {info}")
    return info
