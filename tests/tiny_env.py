"""A tiny deterministic multi-agent environment for testing learners in seconds, without SUMO.

Each of n agents on a path graph sees a one-hot "wanted phase"; the reward is 1 when it picks that
phase. The last action is masked for odd agents, to exercise masking.
"""
from __future__ import annotations

import numpy as np
import torch

from fmat.envs.graph import AgentGraph
from fmat.envs.observations import PHASE_FEATURES


def with_phases(obs: dict, wanted: torch.Tensor | None = None) -> dict:
    """Add the per-phase keys to a synthetic observation: every phase real and related only to
    itself; the pressure column is 1 on the `wanted` phase ([B, n] indices), if given."""
    B, n, A = obs["action_mask"].shape
    phases = torch.zeros(B, n, A, len(PHASE_FEATURES))
    if wanted is not None:
        phases[..., PHASE_FEATURES.index("pressure")] = torch.nn.functional.one_hot(wanted.long(), A).float()
    return {**obs, "phases": phases, "phase_relation": torch.eye(A, dtype=torch.bool).expand(B, n, A, A)}


def path_graph(n: int) -> AgentGraph:
    src = list(range(n - 1)) + list(range(1, n))
    dst = list(range(1, n)) + list(range(n - 1))
    return AgentGraph(
        agents=tuple(f"a{i}" for i in range(n)),
        edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
        edge_length=torch.ones(len(src)),
        positions=torch.tensor([[float(i), 0.0] for i in range(n)]),
    )


class TinyEnv:
    def __init__(self, n_agents: int = 4, n_actions: int = 3, batch: int = 8, seed: int = 0):
        self.n, self.A, self.B = n_agents, n_actions, batch
        self.obs_dim = n_actions + 1
        self.rng = np.random.default_rng(seed)
        self.graph = path_graph(n_agents)
        self.action_mask = np.ones((batch, n_agents, n_actions), dtype=bool)
        self.action_mask[:, 1::2, -1] = False

    def observe(self):
        self.target = self.rng.integers(0, self.A - 1, size=(self.B, self.n))  # never the masked action
        obs = np.zeros((self.B, self.n, self.obs_dim), dtype=np.float32)
        obs[np.arange(self.B)[:, None], np.arange(self.n)[None], self.target] = 1.0
        return with_phases({
            "observation": torch.as_tensor(obs),
            "observation_mask": torch.ones(self.B, self.n, self.obs_dim, dtype=torch.bool),
            "action_mask": torch.as_tensor(self.action_mask),
        }, wanted=torch.as_tensor(self.target))

    def reward(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(actions.numpy() == self.target, dtype=torch.float32)
