"""MPLight (Chen et al., AAAI 2020; as in RESCO): one Q network shared by every signal, FRAP's phase
competition over per-phase pressure, trained with DQN.

Each phase row of the observation (`phases`, envs/observations.py) gives its pressure and whether
it is green now. FRAP's network: a demand embedding of the pressure plus an embedding of the
current-phase flag make each phase's vector; every ordered pair of phases (p, q) is embedded by a
1x1 convolution, multiplied by an embedding of their relation (whether they serve a common lane),
and reduced to one number; p's Q value sums its pairs. No weight depends on the number of phases,
lanes or signals, it reads the phase rows in either observation layout, and the relation comes
from the signal's own programme, so it works on every map
with no per-map phase table (RESCO needed `phase_pairs` per map).

Differences from RESCO's MPLight: pressure is summed per phase from fmat's lane readings rather
than over 12 canonical movements, and the target network is refreshed every `dqn.target_update`
decisions (RESCO: 500 x the number of signals, since pfrl counted each signal's step). RESCO also
used pressure as the reward; set `env.reward: pressure` for that.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fmat.envs.observations import PHASE_FEATURES
from fmat.nn.common import QNetwork

PRESSURE, CURRENT = PHASE_FEATURES.index("pressure"), PHASE_FEATURES.index("current")


@dataclass
class MPLightConfig:
    embed: int = 4  # FRAP's demand and phase embeddings
    hidden: int = 20  # FRAP's pair and relation convolutions


class MPLight(QNetwork):
    def __init__(self, spec, graph, cfg: MPLightConfig = MPLightConfig()):
        super().__init__()
        self.demand = nn.Sequential(nn.Linear(1, cfg.embed), nn.Sigmoid())
        self.phase = nn.Embedding(2, cfg.embed)
        self.pair = nn.Sequential(nn.Linear(4 * cfg.embed, cfg.hidden), nn.ReLU())
        self.relation = nn.Sequential(nn.Embedding(2, cfg.embed), nn.Linear(cfg.embed, cfg.hidden), nn.ReLU())
        self.out = nn.Linear(cfg.hidden, 1)

    def forward(self, obs):
        phases, relation = obs["phases"], obs["phase_relation"].long()
        real = torch.diagonal(obs["phase_relation"], dim1=-2, dim2=-1).bool()  # a real phase serves its own lanes
        e = torch.cat([self.demand(phases[..., PRESSURE:PRESSURE + 1]),
                       self.phase(phases[..., CURRENT].long())], -1)  # [B, n, P, 2 * embed]
        P = e.shape[-2]
        pairs = torch.cat([e.unsqueeze(-2).expand(*e.shape[:-1], P, e.shape[-1]),
                           e.unsqueeze(-3).expand(*e.shape[:-2], P, P, e.shape[-1])], -1)  # [B, n, P, P, 4 * embed]
        scores = self.out(self.pair(pairs) * self.relation(relation)).squeeze(-1)  # [B, n, P, P]
        others = real.unsqueeze(-2) & ~torch.eye(P, dtype=torch.bool, device=e.device)  # q real and q != p
        return (scores * others).sum(-1)
