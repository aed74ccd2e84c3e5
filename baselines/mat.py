"""MAT: the Multi-Agent Transformer (Wen et al., NeurIPS 2022), as the original implements it.

Full self-attention encoder with a per-agent value head; a decoder that is autoregressive over
agents in rollout (one full decoder pass per agent, no cache) and teacher-forced with a causal
mask in training. Attention is dense: O(n^2) per pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fmat.nn.common import ActorCritic, act, embedding, head, init_linear, mlp, observation_input


@dataclass
class MATConfig:
    dim: int = 64
    heads: int = 1
    blocks: int = 1


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, causal: bool):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q, self.k, self.v = (init_linear(nn.Linear(dim, dim), gain=0.01) for _ in range(3))
        self.proj = init_linear(nn.Linear(dim, dim), gain=0.01)

    def forward(self, key, value, query):
        B, n, d = query.shape

        def split(x):
            return x.view(B, -1, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q(query)), split(self.k(key)), split(self.v(value)), is_causal=self.causal)
        return self.proj(out.transpose(1, 2).reshape(B, n, d))


class EncodeBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn, self.mlp = Attention(dim, heads, causal=False), mlp(dim)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x):
        x = self.ln1(x + self.attn(x, x, x))
        return self.ln2(x + self.mlp(x))


class DecodeBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn1, self.attn2 = Attention(dim, heads, causal=True), Attention(dim, heads, causal=True)
        self.mlp = mlp(dim)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, rep):
        x = self.ln1(x + self.attn1(x, x, x))
        x = self.ln2(rep + self.attn2(key=x, value=x, query=rep))
        return self.ln3(x + self.mlp(x))


class MAT(ActorCritic):
    def __init__(self, obs_dim: int, n_actions: int, graph=None, cfg: MATConfig = MATConfig()):
        super().__init__()
        self.n_actions = n_actions
        self.embed = embedding(2 * obs_dim, cfg.dim)
        self.enc_ln = nn.LayerNorm(cfg.dim)
        self.encoder = nn.Sequential(*(EncodeBlock(cfg.dim, cfg.heads) for _ in range(cfg.blocks)))
        self.value_head = head(cfg.dim, 1)
        self.action_embed = nn.Sequential(init_linear(nn.Linear(n_actions + 1, cfg.dim, bias=False)), nn.GELU())
        self.dec_ln = nn.LayerNorm(cfg.dim)
        self.decoder = nn.ModuleList(DecodeBlock(cfg.dim, cfg.heads) for _ in range(cfg.blocks))
        self.policy_head = head(cfg.dim, n_actions)

    def encode(self, obs):
        rep = self.encoder(self.enc_ln(self.embed(observation_input(obs))))
        return rep, self.value_head(rep).squeeze(-1)

    def decode(self, shifted_actions, rep):
        x = self.dec_ln(self.action_embed(shifted_actions))
        for block in self.decoder:
            x = block(x, rep)
        return self.policy_head(x)

    def shift(self, actions: torch.Tensor) -> torch.Tensor:
        """Decoder input: a start token at position 0, then the one-hot of the previous agent's action."""
        B, n = actions.shape
        shifted = torch.zeros(B, n, self.n_actions + 1, device=actions.device)
        shifted[:, 0, 0] = 1.0
        shifted[:, 1:, 1:] = F.one_hot(actions[:, :-1], self.n_actions).float()
        return shifted

    def forward(self, obs):
        raise NotImplementedError("MAT's logits depend on the actions: use get_action_and_value")

    def get_value(self, obs):
        return self.encode(obs)[1]

    def get_action_and_value(self, obs, action=None, deterministic=False):
        rep, values = self.encode(obs)
        mask = obs["action_mask"]
        if action is not None:  # training: teacher forcing, one pass with the causal mask
            logits = self.decode(self.shift(action), rep)
            return (*act(logits, mask, action), values)
        B, n, _ = rep.shape
        device = rep.device
        shifted = torch.zeros(B, n, self.n_actions + 1, device=device)
        shifted[:, 0, 0] = 1.0
        actions = torch.zeros(B, n, dtype=torch.long, device=device)
        logprobs, entropies = torch.zeros(B, n, device=device), torch.zeros(B, n, device=device)
        for i in range(n):  # rollout: one full decoder pass per agent, as the original does
            logits = self.decode(shifted, rep)[:, i]
            a, logprobs[:, i], entropies[:, i] = act(logits, mask[:, i], None, deterministic)
            actions[:, i] = a
            if i + 1 < n:
                shifted[:, i + 1, 1:] = F.one_hot(a, self.n_actions).float()
        return actions, logprobs, entropies, values
