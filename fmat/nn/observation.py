"""The input and output ends every policy shares, for each observation layout (envs/observations.py).

`encoder(spec, dim)` turns an observation dict into one token per agent, [B, n, dim], which the
algorithm's own body (attention, an MLP, a critic) consumes; `policy_head(spec, dim)` turns the
body's output back into one logit (or Q value) per phase.

- lanes: the token embeds the padded per-lane vector with its mask (MAT's embedding), and the head
  is a linear map to `max_phases` logits, so slot k means "phase k" of whichever signal it is.
- phases: one small network embeds every phase row with the same weights. The agent's token is
  the mean and the max of its real phases' embeddings plus its agent-level vector. The head scores
  each phase from its own embedding plus the body's output for the agent, with the same weights
  for every phase, so permuting a signal's phases permutes its logits, and no weight depends on the
  number of phases, lanes or agents.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fmat.nn.common import embedding, head, init_linear, observation_input


@dataclass
class Encoded:
    tokens: torch.Tensor  # [B, n, dim]
    phases: torch.Tensor | None = None  # [B, n, P, dim] per-phase embeddings (phases layout)


def real_phases(obs: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, n, P] bool: the signal's own phases (not padding); the relation's diagonal marks them."""
    return torch.diagonal(obs["phase_relation"], dim1=-2, dim2=-1).bool()


class LaneEncoder(nn.Module):
    def __init__(self, spec, dim: int):
        super().__init__()
        self.embed = embedding(2 * spec.obs_dim, dim)

    def forward(self, obs) -> Encoded:
        return Encoded(self.embed(observation_input(obs)))


class PhaseEncoder(nn.Module):
    def __init__(self, spec, dim: int):
        super().__init__()
        # no LayerNorm on a phase row: it would erase how the rows of one signal compare
        self.phase = nn.Sequential(init_linear(nn.Linear(spec.phase_features, dim)), nn.GELU(),
                                   init_linear(nn.Linear(dim, dim)), nn.GELU())
        self.agent = embedding(2 * dim + 2 * spec.obs_dim, dim)

    def forward(self, obs) -> Encoded:
        real = real_phases(obs).unsqueeze(-1)
        phases = self.phase(obs["phases"]) * real
        mean = phases.sum(-2) / real.sum(-2).clamp(min=1)
        largest = torch.where(real.any(-2), phases.masked_fill(~real, -1e4).amax(-2), 0.0)
        token = self.agent(torch.cat([mean, largest, observation_input(obs)], -1))
        return Encoded(token, phases)


class LaneHead(nn.Module):
    def __init__(self, spec, dim: int):
        super().__init__()
        self.head = head(dim, spec.max_phases)

    def forward(self, x: torch.Tensor, encoded: Encoded) -> torch.Tensor:
        return self.head(x)


class PhaseScoreHead(nn.Module):
    def __init__(self, spec, dim: int, phase_dim: int | None = None):
        super().__init__()
        self.context = init_linear(nn.Linear(dim, phase_dim or dim))
        # The context is the same for every phase of a signal, so it cannot tell phases apart; added
        # at full size it drowned the phase embeddings and the scores barely moved (on cologne3 the
        # entropy stayed near uniform for 40 episodes). It enters through a gate that starts at 0.
        self.gate = nn.Parameter(torch.zeros(phase_dim or dim))
        self.score = head(phase_dim or dim, 1)

    def forward(self, x: torch.Tensor, encoded: Encoded) -> torch.Tensor:
        return self.score(encoded.phases + (self.gate * self.context(x)).unsqueeze(-2)).squeeze(-1)


def flat_input(obs, spec) -> torch.Tensor:
    """[B, n, flat_width(spec)]: the whole observation as one vector per agent, for networks with
    weights of their own per signal (IDQN), to which slot positions may mean different things."""
    x = observation_input(obs)
    if spec.layout == "phases":
        x = torch.cat([x, obs["phases"].flatten(-2)], -1)
    return x


def flat_width(spec) -> int:
    return 2 * spec.obs_dim + (spec.max_phases * spec.phase_features if spec.layout == "phases" else 0)


def encoder(spec, dim: int) -> nn.Module:
    return PhaseEncoder(spec, dim) if spec.layout == "phases" else LaneEncoder(spec, dim)


def policy_head(spec, dim: int, phase_dim: int | None = None) -> nn.Module:
    """Logits [B, n, P] from the body's output [B, n, dim]; `phase_dim` is the width of the encoder's
    phase embeddings when it differs from the body's."""
    return PhaseScoreHead(spec, dim, phase_dim) if spec.layout == "phases" else LaneHead(spec, dim)
