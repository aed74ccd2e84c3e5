"""Pieces every policy network shares: observation input, masked action distributions, init."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Categorical
from torch_geometric.nn import Linear as PyGLinear

MASKED_LOGIT = -1e10  # MAT's value for unavailable actions


def observation_input(obs: dict[str, torch.Tensor]) -> torch.Tensor:
    """[..., 2 * obs_dim]: the observation with padding zeroed, then the mask itself, so a shared
    network can tell a zero reading from a feature the signal does not have."""
    mask = obs["observation_mask"].float()
    return torch.cat([obs["observation"] * mask, mask], dim=-1)


def masked_distribution(logits: torch.Tensor, action_mask: torch.Tensor) -> Categorical:
    """Categorical over valid actions only: masked actions have probability 0 in sampling,
    log-probabilities and entropy."""
    return Categorical(logits=logits.masked_fill(~action_mask.bool(), MASKED_LOGIT))


def act(logits, action_mask, action=None, deterministic=False):
    """Sample (or score the given) actions. Returns action, logprob, entropy, all [B, n]."""
    dist = masked_distribution(logits, action_mask)
    if action is None:
        action = dist.probs.argmax(-1) if deterministic else dist.sample()
    return action, dist.log_prob(action), dist.entropy()


def init_linear(module: nn.Module, gain: float = math.sqrt(2)) -> nn.Module:
    """Orthogonal weights and zero bias (MAT/MAPPO's init), on torch's and torch_geometric's linears."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, PyGLinear)):
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def embedding(in_dim: int, dim: int) -> nn.Sequential:
    """MAT's observation embedding: LayerNorm -> Linear -> GELU."""
    return nn.Sequential(nn.LayerNorm(in_dim), init_linear(nn.Linear(in_dim, dim)), nn.GELU())


def head(dim: int, out: int) -> nn.Sequential:
    """MAT's output head: Linear -> GELU -> LayerNorm -> Linear, last layer with gain 0.01."""
    return nn.Sequential(
        init_linear(nn.Linear(dim, dim)), nn.GELU(), nn.LayerNorm(dim), init_linear(nn.Linear(dim, out), gain=0.01)
    )


def mlp(dim: int, hidden: int | None = None) -> nn.Sequential:
    hidden = hidden or dim
    return nn.Sequential(init_linear(nn.Linear(dim, hidden)), nn.GELU(), init_linear(nn.Linear(hidden, dim), gain=0.01))


class ActorCritic(nn.Module):
    """The interface the PPO core uses (CleanRL's two methods).

    Subclasses implement `forward(obs) -> (logits [B, n, A], values [B, n])`; `obs` holds the
    observation dict's tensors (envs/observations.py), [B, n, ...] each.
    """

    def get_value(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self(obs)[1]

    def get_action_and_value(self, obs, action=None, deterministic=False):
        logits, values = self(obs)
        action, logprob, entropy = act(logits, obs["action_mask"], action, deterministic)
        return action, logprob, entropy, values

    def select(self, obs, deterministic: bool = True) -> torch.Tensor:
        """Actions [B, n] for evaluation: the most likely valid action, or a sample."""
        return self.get_action_and_value(obs, deterministic=deterministic)[0]

    def set_graph(self, graph) -> None:
        """Point the policy at another scenario's agent graph (for transfer); default: no graph."""

    def load_actor(self, state: dict) -> None:
        """Load what acting needs (all weights, unless a critic depends on the agent count)."""
        self.load_state_dict(state)


class QNetwork(nn.Module):
    """The interface the DQN core uses: `forward(obs) -> Q values [B, n, A]`."""

    def select(self, obs, deterministic: bool = True) -> torch.Tensor:
        """The best valid action of every agent. A value-based policy has no distribution to sample,
        so evaluation is greedy either way."""
        return self(obs).masked_fill(~obs["action_mask"].bool(), MASKED_LOGIT).argmax(-1)

    def set_graph(self, graph) -> None:
        """Point the network at another scenario's agent graph (for transfer); default: no graph."""

    def load_actor(self, state: dict) -> None:
        self.load_state_dict(state)
