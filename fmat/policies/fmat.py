"""f-MAT: the factor-based multi-agent transformer (Fan et al., AAAI 2025).

Encoder: factor attention layers over overlapping agent groups, with a value head on each agent.
Decoder: factor attention layers with cross-attention to the encoder, producing every agent's
action logits in one parallel pass; nothing is autoregressive, in rollout or in training.
Weights do not depend on the number of agents, so a policy transfers to other networks; with the
phases observation they do not depend on the number of phases or lanes either (fmat/nn/observation.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from fmat.factors import build_factors
from fmat.nn.common import ActorCritic, head
from fmat.nn.factor_attention import FactorAttentionLayer, FactorDecoderLayer, FactorGraph
from fmat.nn.observation import encoder, policy_head


@dataclass
class FMATConfig:
    dim: int = 64
    heads: int = 1
    encoder_layers: int = 1
    decoder_layers: int = 1
    factorisation: str = "neighbourhood"  # or "grid" (2x2 blocks) or "edges"


class FMAT(ActorCritic):
    def __init__(self, spec, graph, cfg: FMATConfig = FMATConfig()):
        super().__init__()
        self.cfg = cfg
        self.embed = encoder(spec, cfg.dim)
        self.encoder = torch.nn.ModuleList(FactorAttentionLayer(cfg.dim, cfg.heads) for _ in range(cfg.encoder_layers))
        self.decoder = torch.nn.ModuleList(FactorDecoderLayer(cfg.dim, cfg.heads) for _ in range(cfg.decoder_layers))
        self.value_head = head(cfg.dim, 1)
        self.policy_head = policy_head(spec, cfg.dim)
        self.set_graph(graph)

    @property
    def receptive_field_hops(self) -> int:
        """Graph hops beyond which an agent's observation cannot affect another agent's output:
        agent -> factor -> agent spans 2 hops per layer (1 with edge factors)."""
        per_layer = 1 if self.cfg.factorisation == "edges" else 2
        return per_layer * (len(self.encoder) + len(self.decoder))

    def set_graph(self, graph) -> None:
        members, m = build_factors(graph, self.cfg.factorisation)
        self.factor_graph = FactorGraph(members, graph.num_nodes, m)

    def forward(self, obs):
        encoded = self.embed(obs)
        graph = self.factor_graph
        agents = encoded.tokens
        factors = graph.factor_mean(agents)
        for layer in self.encoder:
            agents, factors = layer(agents, factors, graph)
        values = self.value_head(agents).squeeze(-1)
        encoder_factors = factors
        dec_agents, dec_factors = agents, graph.factor_mean(agents)
        for layer in self.decoder:
            dec_agents, dec_factors = layer(dec_agents, dec_factors, graph, encoder_factors)
        logits = self.policy_head(dec_agents, encoded)
        return logits, values
