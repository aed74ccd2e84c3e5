r"""Factor attention: f-MAT's encoder and decoder layers on torch_geometric's TransformerConv.

With a membership list :math:`\mathcal{M} = \{(i, f)\}` (agent :math:`i` belongs to factor :math:`f`),
one layer updates factor tokens :math:`z_f` and agent tokens :math:`h_i` as

.. math::
    z_f &\leftarrow \mathrm{LN}\big(z_f + \mathrm{Attn}(z_f;\ \{h_i : (i, f) \in \mathcal{M}\})\big) \\
    h_i &\leftarrow \mathrm{LN}\big(h_i + \mathrm{Attn}(h_i;\ \{z_f : (i, f) \in \mathcal{M}\})\big) \\
    h_i &\leftarrow \mathrm{LN}\big(h_i + \mathrm{MLP}(h_i)\big)

Each Attn is a TransformerConv on the bipartite agent->factor (or factor->agent) graph, so the cost
is O(|M|): linear in the number of agents for bounded factor sizes. Information moves two graph hops per layer (agent -> factor -> agent).

A decoder layer adds cross-attention from each agent to the encoder's tokens of its own factors.

Two exact implementations of Attn, picked per graph by `FactorGraph`:
- sparse: TransformerConv on the membership list (PyG batching), O(|M|); the reference;
- dense: the same projections and one `scaled_dot_product_attention` call under the boolean
  membership mask. It computes all n x m scores, but at up to a few hundred agents one fused call
  beats PyG's gather/scatter (`fmat perf policy`); tests check the two agree.

Shapes: agents [B, n, dim], factors [B, m, dim].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import TransformerConv

from .common import init_linear, mlp

# Above this many agent x factor pairs the dense scores cost more than PyG's sparse messages
# (crossover measured between 256 and 400 agents on grid graphs, one CPU thread).
DENSE_MAX_PAIRS = 256 * 256


def _conv(dim: int, heads: int) -> TransformerConv:
    if dim % heads:
        raise ValueError(f"model width {dim} must be divisible by heads {heads}")
    conv = TransformerConv((dim, dim), dim // heads, heads=heads, root_weight=False)
    # MAT's attention init (orthogonal, gain 0.01): a new layer adds almost nothing to each token, so
    # an agent's own observation reaches its heads undiluted. PyG's default init adds full-size
    # neighbourhood messages, and with it f-MAT never left the uniform policy on grid4x4.
    for lin in (conv.lin_key, conv.lin_query, conv.lin_value):
        init_linear(lin, gain=0.01)
    return conv


class FactorGraph:
    """One scenario's factorisation, ready for attention in either direction, batched or dense.

    members: LongTensor [2, M] (row 0 agent, row 1 factor), from fmat.factors.build_factors.
    """

    def __init__(self, members: torch.Tensor, n_agents: int, n_factors: int, dense: bool | None = None):
        self.members, self.n_agents, self.n_factors = members, n_agents, n_factors
        self.factor_size = torch.bincount(members[1], minlength=n_factors)
        # A query with no keys gets a zero message from PyG but NaN from a fully masked softmax.
        complete = bool(self.factor_size.all() and torch.bincount(members[0], minlength=n_agents).all())
        self.dense = (n_agents * n_factors <= DENSE_MAX_PAIRS and complete) if dense is None else dense
        self._cache: dict = {}

    def _get(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _edges(self, to_factors: bool, batch: int, device: torch.device) -> torch.Tensor:
        """The membership list stacked `batch` times (PyG batching); only the latest batch size is
        kept, as batch sizes alternate between acting and updates and large graphs make big lists."""
        key = ("edges", to_factors, device)
        if self._cache.get(key, (None,))[0] != batch:
            m = self.members.to(device)
            shift = torch.arange(batch, device=device).repeat_interleave(m.shape[1])
            tiled = m.repeat(1, batch)
            edges = torch.stack([tiled[0] + shift * self.n_agents, tiled[1] + shift * self.n_factors])
            self._cache[key] = (batch, edges if to_factors else edges.flip(0))
        return self._cache[key][1]

    def _mask(self, to_factors: bool, device: torch.device) -> torch.Tensor:
        def make():
            mask = torch.zeros(self.n_factors, self.n_agents, dtype=torch.bool)
            mask[self.members[1], self.members[0]] = True
            return (mask if to_factors else mask.t()).to(device)
        return self._get(("mask", to_factors, device), make)

    def attend(self, conv: TransformerConv, source: torch.Tensor, target: torch.Tensor, to_factors: bool) -> torch.Tensor:
        """Each target token's attention message over its linked source tokens: factors over their
        member agents (`to_factors`), or agents over the factors they belong to."""
        B, n_target, _ = target.shape
        if not self.dense:
            edges = self._edges(to_factors, B, target.device)
            out = conv((source.reshape(-1, source.shape[-1]), target.reshape(-1, target.shape[-1])), edges)
            return out.reshape(B, n_target, -1)
        heads, width = conv.heads, conv.out_channels

        def split(x):  # [B, N, heads * width] -> [B, heads, N, width]
            return x.reshape(B, x.shape[1], heads, width).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(conv.lin_query(target)), split(conv.lin_key(source)), split(conv.lin_value(source)),
            attn_mask=self._mask(to_factors, target.device),
        )
        return out.transpose(1, 2).reshape(B, n_target, heads * width)

    def factor_mean(self, agents: torch.Tensor) -> torch.Tensor:
        """Initial factor tokens [B, m, dim]: the mean of their members' tokens."""
        count = self.factor_size.clamp(min=1).to(agents.device, agents.dtype).unsqueeze(-1)
        if self.dense:
            return self._mask(True, agents.device).to(agents.dtype) @ agents / count
        out = agents.new_zeros(agents.shape[0], self.n_factors, agents.shape[-1])
        members = self.members.to(agents.device)
        out.index_add_(1, members[1], agents[:, members[0]])
        return out / count


class FactorAttentionLayer(nn.Module):
    """One encoder layer: factors <- members, agents <- factors, MLP; residual + LayerNorm around each."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__()
        self.to_factor, self.to_agent = _conv(dim, heads), _conv(dim, heads)
        self.ln_factor, self.ln_agent, self.ln_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = mlp(dim)

    def forward(self, agents: torch.Tensor, factors: torch.Tensor, graph: FactorGraph):
        factors = self.ln_factor(factors + graph.attend(self.to_factor, agents, factors, to_factors=True))
        agents = self.ln_agent(agents + graph.attend(self.to_agent, factors, agents, to_factors=False))
        agents = self.ln_mlp(agents + self.mlp(agents))
        return agents, factors


class FactorDecoderLayer(FactorAttentionLayer):
    """A decoder layer: factor-restricted self-attention, then cross-attention from each agent to the
    encoder's factor tokens of the factors it belongs to, then the MLP."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__(dim, heads)
        self.cross = _conv(dim, heads)
        self.ln_cross = nn.LayerNorm(dim)

    def forward(self, agents, factors, graph: FactorGraph, encoder_factors):
        factors = self.ln_factor(factors + graph.attend(self.to_factor, agents, factors, to_factors=True))
        agents = self.ln_agent(agents + graph.attend(self.to_agent, factors, agents, to_factors=False))
        agents = self.ln_cross(agents + graph.attend(self.cross, encoder_factors, agents, to_factors=False))
        agents = self.ln_mlp(agents + self.mlp(agents))
        return agents, factors
