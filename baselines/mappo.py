"""MAPPO and IPPO (Yu et al., 2022): one actor shared by all agents on local observations plus an
agent-id one-hot; MAPPO's critic sees the global state (all agents' observations), IPPO's critic
only the agent's own. The agent id ties the weights to the number of agents: no transfer."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fmat.nn.common import ActorCritic, init_linear, observation_input


@dataclass
class MAPPOConfig:
    hidden: int = 64
    layers: int = 2


IPPOConfig = MAPPOConfig


def _mlp(inp: int, hidden: int, layers: int, out: int, out_gain: float) -> nn.Sequential:
    mods, width = [], inp
    for _ in range(layers):
        mods += [init_linear(nn.Linear(width, hidden)), nn.Tanh()]
        width = hidden
    mods.append(init_linear(nn.Linear(width, out), gain=out_gain))
    return nn.Sequential(nn.LayerNorm(inp), *mods)


class MAPPO(ActorCritic):
    centralised_critic = True

    def __init__(self, obs_dim: int, n_actions: int, graph, cfg: MAPPOConfig = MAPPOConfig()):
        super().__init__()
        self.n_agents = graph.num_nodes
        local = 2 * obs_dim + self.n_agents
        critic_in = (2 * obs_dim * self.n_agents + self.n_agents) if self.centralised_critic else local
        self.actor = _mlp(local, cfg.hidden, cfg.layers, n_actions, 0.01)
        self.critic = _mlp(critic_in, cfg.hidden, cfg.layers, 1, 1.0)

    def forward(self, obs):
        x = observation_input(obs)
        B, n, _ = x.shape
        ids = torch.eye(n).expand(B, n, n)
        local = torch.cat([x, ids], -1)
        if self.centralised_critic:
            critic_in = torch.cat([x.reshape(B, 1, -1).expand(B, n, -1), ids], -1)
        else:
            critic_in = local
        return self.actor(local), self.critic(critic_in).squeeze(-1)


class IPPO(MAPPO):
    centralised_critic = False
