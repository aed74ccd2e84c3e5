"""CoLight (Wei et al., CIKM 2019): graph attention between each signal and its neighbours, a Q value
per phase, one set of weights shared by all signals, trained with DQN.

Each signal's observation is embedded by an MLP; multi-head dot-product attention (torch_geometric's
TransformerConv) over the signal and its neighbours in the agent graph mixes them; a linear head
gives a Q value per phase (in the phases layout: fmat's shared phase encoder and phase-scoring head,
fmat/nn/observation.py). As in LibSignal: 5 heads of 16 dimensions, one attention layer.
Differences from the paper: neighbours are fmat's agent-graph neighbours (the signals a road leads
to without passing a third), not the k nearest by distance, and the observation is fmat's.
Its weights do not depend on the number of signals, so it can be evaluated on other maps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn import TransformerConv
from torch_geometric.utils import add_self_loops

from fmat.nn.common import QNetwork, observation_input
from fmat.nn.observation import Encoded, PhaseEncoder, PhaseScoreHead


@dataclass
class CoLightConfig:
    embed: int = 128
    heads: int = 5
    head_dim: int = 16


class CoLight(QNetwork):
    def __init__(self, spec, graph, cfg: CoLightConfig = CoLightConfig()):
        super().__init__()
        self.by_phase = spec.layout == "phases"
        if self.by_phase:
            self.embed = PhaseEncoder(spec, cfg.embed)
        else:
            self.embed = nn.Sequential(nn.Linear(2 * spec.obs_dim, cfg.embed), nn.ReLU(), nn.Linear(cfg.embed, cfg.embed),
                                       nn.ReLU())
        self.attention = TransformerConv(cfg.embed, cfg.head_dim, heads=cfg.heads, concat=False, root_weight=False)
        self.q = PhaseScoreHead(spec, cfg.head_dim, cfg.embed) if self.by_phase else nn.Linear(cfg.head_dim, spec.max_phases)
        self.set_graph(graph)

    def set_graph(self, graph) -> None:
        self.edge_index, _ = add_self_loops(graph.edge_index, num_nodes=graph.num_nodes)
        self.n_agents = graph.num_nodes
        self._batched: dict[int, torch.Tensor] = {}

    def _edges(self, batch: int) -> torch.Tensor:
        if batch not in self._batched:
            offsets = torch.arange(batch).repeat_interleave(self.edge_index.shape[1]) * self.n_agents
            self._batched = {batch: self.edge_index.repeat(1, batch) + offsets}
        return self._batched[batch]

    def forward(self, obs):
        encoded = self.embed(obs) if self.by_phase else Encoded(self.embed(observation_input(obs)))
        B, n, _ = encoded.tokens.shape
        h = torch.relu(self.attention(encoded.tokens.reshape(B * n, -1), self._edges(B))).reshape(B, n, -1)
        return self.q(h, encoded) if self.by_phase else self.q(h)
