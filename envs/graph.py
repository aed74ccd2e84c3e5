"""The agent graph: which signals are neighbours, in torch_geometric's edge_index form. No SUMO here."""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch

from .network import Network


@dataclass(frozen=True)
class AgentGraph:
    """Signals as nodes; an undirected edge wherever a road leads from one signal to another.

    Attributes:
        agents: signal ids in the environment's stable agent order (node i is agents[i]).
        edge_index: LongTensor [2, E], both directions of every neighbour pair (source row 0).
        edge_length: FloatTensor [E], road distance in metres along the shortest connecting path.
        positions: FloatTensor [n, 2], signal coordinates in the net's metres.
    """

    agents: tuple[str, ...]
    edge_index: torch.Tensor
    edge_length: torch.Tensor
    positions: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return len(self.agents)

    def neighbours(self, i: int) -> list[int]:
        return sorted(self.edge_index[1, self.edge_index[0] == i].tolist())

    def degrees(self) -> np.ndarray:
        return np.bincount(self.edge_index[0].numpy(), minlength=self.num_nodes)


def build_graph(network: Network) -> AgentGraph:
    """Two signals are neighbours when a road leads from one to the other without passing a third
    signal: the shortest driving route between them (following the net's turning connections, no
    U-turns, through unsignalised junctions) meets no other signal. Taking the shortest route keeps
    long detours around a corridor in a real city net from linking every signal to every other."""
    owner = {j: i for i, s in enumerate(network.signals) for j in s.junctions}
    best: dict[tuple[int, int], float] = {}
    for i, signal in enumerate(network.signals):
        first = {lane.rsplit("_", 1)[0] for lane in signal.out_lanes}
        # heap entries: (distance, passed another signal?, edge); direct routes win ties
        heap = [(network.edges[e][2], False, e) for e in sorted(first) if e in network.edges]
        direct_left = len(heap)
        seen: set[str] = set()
        settled: set[int] = {i}
        while heap and direct_left:
            dist, passed, edge = heapq.heappop(heap)
            direct_left -= not passed
            if edge in seen:
                continue
            seen.add(edge)
            k = owner.get(network.edges[edge][1])
            if k == i:
                continue
            if k is not None:
                if k not in settled and not passed:
                    pair = (min(i, k), max(i, k))
                    best[pair] = min(best.get(pair, np.inf), dist)
                settled.add(k)
                passed = True
            for nxt in network.successors.get(edge, ()):
                if nxt not in seen:
                    heapq.heappush(heap, (dist + network.edges[nxt][2], passed, nxt))
                    direct_left += not passed

    pairs = sorted(best)
    src = [a for a, b in pairs] + [b for a, b in pairs]
    dst = [b for a, b in pairs] + [a for a, b in pairs]
    lengths = [best[p] for p in pairs] * 2
    return AgentGraph(
        agents=tuple(s.id for s in network.signals),
        edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
        edge_length=torch.tensor(lengths, dtype=torch.float32),
        positions=torch.tensor([s.position for s in network.signals], dtype=torch.float32).reshape(-1, 2),
    )


def grid_graph(rows: int, cols: int, spacing: float = 200.0) -> AgentGraph:
    """A synthetic rows x cols grid of agents with 4-neighbour edges, without any SUMO network
    (for model tests and benchmarks)."""
    idx = lambda r, c: r * cols + c  # noqa: E731
    pairs = [(idx(r, c), idx(r, c + 1)) for r in range(rows) for c in range(cols - 1)]
    pairs += [(idx(r, c), idx(r + 1, c)) for r in range(rows - 1) for c in range(cols)]
    src = [a for a, b in pairs] + [b for a, b in pairs]
    dst = [b for a, b in pairs] + [a for a, b in pairs]
    return AgentGraph(
        agents=tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols)),
        edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
        edge_length=torch.full((len(src),), spacing),
        positions=torch.tensor([[spacing * c, spacing * r] for r in range(rows) for c in range(cols)]).reshape(-1, 2),
    )
