"""IDQN (RESCO's independent DQN): a separate Q network per signal, each on its own observation.

RESCO's network is a 2x2 convolution (64 channels) over its per-lane features, then two fully
connected layers of 64; here each signal's network is an MLP of the same width over fmat's
observation (padding zeroed, with its mask; in the phases layout followed by the phase rows),
since fmat's features are already a flat vector.
All signals' networks are evaluated in one batched pass (per-agent weight tensors), which computes
exactly what separate networks would. The weights belong to the signals of the training map, so the
policy cannot run on another map.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from fmat.nn.common import QNetwork
from fmat.nn.observation import flat_input, flat_width


@dataclass
class IDQNConfig:
    hidden: int = 64
    layers: int = 2


class AgentLinear(nn.Module):
    """A linear layer with its own weights for each agent: [B, n, i] -> [B, n, o]."""

    def __init__(self, n_agents: int, inp: int, out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(inp)  # torch's nn.Linear initialisation, per agent
        self.weight = nn.Parameter(torch.empty(n_agents, inp, out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_agents, out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bni,nio->bno", x, self.weight) + self.bias


class IDQN(QNetwork):
    def __init__(self, spec, graph, cfg: IDQNConfig = IDQNConfig()):
        super().__init__()
        self.spec = spec
        layers, width = [], flat_width(spec)
        for _ in range(cfg.layers):
            layers += [AgentLinear(graph.num_nodes, width, cfg.hidden), nn.ReLU()]
            width = cfg.hidden
        layers.append(AgentLinear(graph.num_nodes, width, spec.max_phases))
        self.net = nn.Sequential(*layers)

    def forward(self, obs):
        return self.net(flat_input(obs, self.spec))
