"""MAPPO and IPPO (Yu et al., 2022): one actor shared by all agents on local observations; MAPPO's
critic sees the global state (all agents' encoded observations), IPPO's critic only the agent's own.

The published actors also take an agent-id one-hot, which ties their weights to the number of
agents. Here the actor leaves it out by default, so it runs on any map; `model.agent_id: true`
brings it back (and the policy can then not transfer). The critics always know which agent they
score (MAPPO's through the id, IPPO's through its own input); MAPPO's critic, which reads every
agent, fits only the training map, but evaluation does not need it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fmat.nn.common import ActorCritic, init_linear
from fmat.nn.observation import encoder, policy_head


@dataclass
class MAPPOConfig:
    hidden: int = 64
    layers: int = 2
    agent_id: bool = False


IPPOConfig = MAPPOConfig


def _mlp(inp: int, hidden: int, layers: int) -> nn.Sequential:
    mods, width = [], inp
    for _ in range(layers):
        mods += [init_linear(nn.Linear(width, hidden)), nn.Tanh()]
        width = hidden
    return nn.Sequential(nn.LayerNorm(inp), *mods)


class MAPPO(ActorCritic):
    centralised_critic = True

    def __init__(self, spec, graph, cfg: MAPPOConfig = MAPPOConfig()):
        super().__init__()
        self.n_agents, self.agent_id = graph.num_nodes, cfg.agent_id
        ids = self.n_agents if cfg.agent_id else 0
        self.actor_embed = encoder(spec, cfg.hidden)
        self.actor = _mlp(cfg.hidden + ids, cfg.hidden, cfg.layers)
        self.policy_head = policy_head(spec, cfg.hidden)
        self.critic_embed = encoder(spec, cfg.hidden)
        critic_in = cfg.hidden * self.n_agents + self.n_agents if self.centralised_critic else cfg.hidden + ids
        self.critic = nn.Sequential(_mlp(critic_in, cfg.hidden, cfg.layers), init_linear(nn.Linear(cfg.hidden, 1), gain=1.0))

    def _ids(self, B: int, n: int, device) -> torch.Tensor:
        return torch.eye(n, device=device).expand(B, n, n)

    def forward(self, obs):
        encoded = self.actor_embed(obs)
        x = encoded.tokens
        B, n, _ = x.shape
        if self.agent_id:
            x = torch.cat([x, self._ids(B, n, x.device)], -1)
        logits = self.policy_head(self.actor(x), encoded)
        critic_x = self.critic_embed(obs).tokens
        if self.centralised_critic:
            critic_x = torch.cat([critic_x.reshape(B, 1, -1).expand(B, n, -1), self._ids(B, n, x.device)], -1)
        elif self.agent_id:
            critic_x = torch.cat([critic_x, self._ids(B, n, x.device)], -1)
        return logits, self.critic(critic_x).squeeze(-1)

    def load_actor(self, state: dict) -> None:
        """Load only the actor's weights, e.g. a policy trained on a map with another agent count."""
        actor = {k: v for k, v in state.items() if not k.startswith("critic")}
        missing, unexpected = self.load_state_dict(actor, strict=False)
        missing = [k for k in missing if not k.startswith("critic")]
        if missing or unexpected:
            raise RuntimeError(f"actor weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")


class IPPO(MAPPO):
    centralised_critic = False
