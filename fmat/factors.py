"""Factorisations for f-MAT: overlapping groups of agents, each represented by one factor token.

A factorisation is a membership list `members` (LongTensor [2, M]: row 0 agent, row 1 factor)
and the number of factors. It is built from the agent graph alone.
"""
from __future__ import annotations

import torch

FACTORISATIONS = ("neighbourhood", "grid", "edges")


def neighbourhood_factors(edge_index: torch.Tensor, n: int) -> tuple[torch.Tensor, int]:
    """One factor per agent j holding j and its graph neighbours (its closed neighbourhood)."""
    self_loops = torch.arange(n)
    agents = torch.cat([self_loops, edge_index[0]])
    factors = torch.cat([self_loops, edge_index[1]])
    return _sorted(agents, factors), n


def edge_factors(edge_index: torch.Tensor, n: int) -> tuple[torch.Tensor, int]:
    """One factor per undirected edge {i, j}; an isolated agent gets a factor of its own."""
    pairs = sorted({(min(a, b), max(a, b)) for a, b in edge_index.t().tolist()})
    isolated = sorted(set(range(n)) - {a for p in pairs for a in p})
    agents, factors = [], []
    for f, (a, b) in enumerate(pairs):
        agents += [a, b]
        factors += [f, f]
    for k, a in enumerate(isolated):
        agents.append(a)
        factors.append(len(pairs) + k)
    return _sorted(torch.tensor(agents), torch.tensor(factors)), len(pairs) + len(isolated)


def grid_factors(positions: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Overlapping 2x2 blocks of neighbouring intersections, from the signals' coordinates.

    Raises ValueError when the signals do not form a full rectangular grid.
    """
    xs = sorted({round(float(x), 1) for x in positions[:, 0]})
    ys = sorted({round(float(y), 1) for y in positions[:, 1]})
    if len(xs) * len(ys) != positions.shape[0] or len(xs) < 2 or len(ys) < 2:
        raise ValueError(
            f"grid factorisation needs signals on a full rectangular grid, got {positions.shape[0]} signals on "
            f"{len(xs)} x {len(ys)} coordinates; use factorisation 'neighbourhood'"
        )
    cell = {(xs.index(round(float(x), 1)), ys.index(round(float(y), 1))): i for i, (x, y) in enumerate(positions.tolist())}
    agents, factors = [], []
    f = 0
    for cx in range(len(xs) - 1):
        for cy in range(len(ys) - 1):
            for dx in (0, 1):
                for dy in (0, 1):
                    agents.append(cell[(cx + dx, cy + dy)])
                    factors.append(f)
            f += 1
    return _sorted(torch.tensor(agents), torch.tensor(factors)), f


def build_factors(graph, kind: str = "neighbourhood") -> tuple[torch.Tensor, int]:
    if kind == "neighbourhood":
        return neighbourhood_factors(graph.edge_index, graph.num_nodes)
    if kind == "edges":
        return edge_factors(graph.edge_index, graph.num_nodes)
    if kind == "grid":
        return grid_factors(graph.positions)
    raise ValueError(f"unknown factorisation {kind!r}; choose one of {', '.join(FACTORISATIONS)}")


def _sorted(agents: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    members = torch.stack([agents.long(), factors.long()])
    order = torch.argsort(members[1] * (int(members[0].max()) + 1) + members[0])
    return members[:, order]
