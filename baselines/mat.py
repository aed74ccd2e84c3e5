"""MAT: the Multi-Agent Transformer (Wen et al., NeurIPS 2022), as the original implements it.

Full self-attention encoder with a per-agent value head; a decoder that is autoregressive over
agents in rollout (one full decoder pass per agent, no cache) and teacher-forced with a causal
mask in training. Attention is dense: O(n^2) per pass.

The decoder reads the previous agent's action: as a one-hot in the lanes layout (as the original),
and as the chosen phase's embedding in the phases layout, so no weight depends on the number of
phases.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fmat.nn.common import ActorCritic, act, head, init_linear, mlp
from fmat.nn.observation import encoder, policy_head


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
    def __init__(self, spec, graph=None, cfg: MATConfig = MATConfig()):
        super().__init__()
        self.by_phase = spec.layout == "phases"
        self.embed = encoder(spec, cfg.dim)
        self.enc_ln = nn.LayerNorm(cfg.dim)
        self.encoder = nn.Sequential(*(EncodeBlock(cfg.dim, cfg.heads) for _ in range(cfg.blocks)))
        self.value_head = head(cfg.dim, 1)
        self.action_width = (cfg.dim if self.by_phase else spec.max_phases) + 1  # an action, or the start flag
        self.action_embed = nn.Sequential(init_linear(nn.Linear(self.action_width, cfg.dim, bias=False)), nn.GELU())
        self.dec_ln = nn.LayerNorm(cfg.dim)
        self.decoder = nn.ModuleList(DecodeBlock(cfg.dim, cfg.heads) for _ in range(cfg.blocks))
        self.policy_head = policy_head(spec, cfg.dim)

    def encode(self, obs):
        encoded = self.embed(obs)
        encoded.tokens = self.encoder(self.enc_ln(encoded.tokens))
        return encoded, self.value_head(encoded.tokens).squeeze(-1)

    def decode(self, shifted_actions, encoded):
        x = self.dec_ln(self.action_embed(shifted_actions))
        for block in self.decoder:
            x = block(x, encoded.tokens)
        return self.policy_head(x, encoded)

    def action_input(self, actions: torch.Tensor, encoded, agents: slice) -> torch.Tensor:
        """[B, k, action_width]: the actions [B, k] of `agents` as the decoder reads them (start flag 0)."""
        if self.by_phase:
            phases = encoded.phases[:, agents]
            chosen = phases.gather(2, actions[..., None, None].expand(-1, -1, 1, phases.shape[-1]))[:, :, 0]
        else:
            chosen = F.one_hot(actions, self.action_width - 1).float()
        return F.pad(chosen, (1, 0))

    def start(self, B: int, n: int, device) -> torch.Tensor:
        """Decoder input before any action is known: the start flag at position 0, zeros elsewhere."""
        shifted = torch.zeros(B, n, self.action_width, device=device)
        shifted[:, 0, 0] = 1.0
        return shifted

    def shift(self, actions: torch.Tensor, encoded) -> torch.Tensor:
        """Decoder input: a start token at position 0, then the previous agent's action."""
        B, n = actions.shape
        shifted = self.start(B, n, actions.device)
        shifted[:, 1:] = self.action_input(actions[:, :-1], encoded, slice(0, n - 1))
        return shifted

    def forward(self, obs):
        raise NotImplementedError("MAT's logits depend on the actions: use get_action_and_value")

    def get_value(self, obs):
        return self.encode(obs)[1]

    def get_action_and_value(self, obs, action=None, deterministic=False):
        encoded, values = self.encode(obs)
        mask = obs["action_mask"]
        if action is not None:  # training: teacher forcing, one pass with the causal mask
            logits = self.decode(self.shift(action, encoded), encoded)
            return (*act(logits, mask, action), values)
        B, n, _ = encoded.tokens.shape
        device = encoded.tokens.device
        shifted = self.start(B, n, device)
        actions = torch.zeros(B, n, dtype=torch.long, device=device)
        logprobs, entropies = torch.zeros(B, n, device=device), torch.zeros(B, n, device=device)
        for i in range(n):  # rollout: one full decoder pass per agent, as the original does
            logits = self.decode(shifted, encoded)[:, i]
            a, logprobs[:, i], entropies[:, i] = act(logits, mask[:, i], None, deterministic)
            actions[:, i] = a
            if i + 1 < n:
                shifted[:, i + 1] = self.action_input(actions[:, i:i + 1], encoded, slice(i, i + 1))[:, 0]
        return actions, logprobs, entropies, values
