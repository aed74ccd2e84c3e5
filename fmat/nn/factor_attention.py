r"""Factor attention: f-MAT's encoder and decoder layers on torch_geometric's TransformerConv.

With a membership list :math:`\mathcal{M} = \{(i, f)\}` (agent :math:`i` belongs to factor :math:`f`),
one layer updates factor tokens :math:`z_f` and agent tokens :math:`h_i` as

.. math::
    z_f &\leftarrow \mathrm{LN}\big(z_f + \mathrm{Attn}(z_f;\ \{h_i : (i, f) \in \mathcal{M}\})\big) \\
    h_i &\leftarrow \mathrm{LN}\big(h_i + \mathrm{Attn}(h_i;\ \{z_f : (i, f) \in \mathcal{M}\})\big) \\
    h_i &\leftarrow \mathrm{LN}\big(h_i + \mathrm{MLP}(h_i)\big)

Each Attn is a TransformerConv on the bipartite agent->factor (or factor->agent) graph, so the cost
is O(|M|): linear in the number of agents for bounded factor sizes, and no n x n matrix exists.
Information moves two graph hops per layer (agent -> factor -> agent).

A decoder layer adds cross-attention from each agent to the encoder's tokens of its own factors.

Shapes (batched by stacking B graphs, PyG style):
    agents [B * n, dim], factors [B * m, dim], members [2, B * M] (row 0 agent, row 1 factor).
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import TransformerConv

from .common import init_linear, mlp


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


class FactorAttentionLayer(nn.Module):
    """One encoder layer: factors <- members, agents <- factors, MLP; residual + LayerNorm around each."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__()
        self.to_factor, self.to_agent = _conv(dim, heads), _conv(dim, heads)
        self.ln_factor, self.ln_agent, self.ln_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = mlp(dim)

    def forward(self, agents: torch.Tensor, factors: torch.Tensor, members: torch.Tensor):
        factors = self.ln_factor(factors + self.to_factor((agents, factors), members))
        agents = self.ln_agent(agents + self.to_agent((factors, agents), members.flip(0)))
        agents = self.ln_mlp(agents + self.mlp(agents))
        return agents, factors


class FactorDecoderLayer(FactorAttentionLayer):
    """A decoder layer: factor-restricted self-attention, then cross-attention from each agent to the
    encoder's factor tokens of the factors it belongs to, then the MLP."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__(dim, heads)
        self.cross = _conv(dim, heads)
        self.ln_cross = nn.LayerNorm(dim)

    def forward(self, agents, factors, members, encoder_factors):
        factors = self.ln_factor(factors + self.to_factor((agents, factors), members))
        agents = self.ln_agent(agents + self.to_agent((factors, agents), members.flip(0)))
        agents = self.ln_cross(agents + self.cross((encoder_factors, agents), members.flip(0)))
        agents = self.ln_mlp(agents + self.mlp(agents))
        return agents, factors


def batch_members(members: torch.Tensor, n: int, m: int, batch: int) -> torch.Tensor:
    """Stack one graph's membership list `batch` times, shifting agent and factor ids (PyG batching)."""
    shift = torch.arange(batch, device=members.device).repeat_interleave(members.shape[1])
    tiled = members.repeat(1, batch)
    return torch.stack([tiled[0] + shift * n, tiled[1] + shift * m])


def factor_mean(agents: torch.Tensor, members: torch.Tensor, num_factors: int) -> torch.Tensor:
    """Initial factor tokens: the mean of their members' tokens."""
    out = torch.zeros(num_factors, agents.shape[-1], device=agents.device, dtype=agents.dtype)
    out.index_add_(0, members[1], agents[members[0]])
    count = torch.bincount(members[1], minlength=num_factors).clamp(min=1).unsqueeze(-1)
    return out / count
