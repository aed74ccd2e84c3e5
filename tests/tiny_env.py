"""A tiny deterministic multi-agent environment for testing learners in seconds, without SUMO.

Each of n agents on a path graph must pick its "wanted" phase; the reward is 1 when it does. The
last action is masked for odd agents, to exercise masking. In the lanes layout the wanted phase is
a one-hot in `observation`; in the phases layout `observation` is constant and only the phase rows
say which phase has the longest queue, so a policy that ignores the phase rows cannot do better
than chance.
"""
from __future__ import annotations

import numpy as np
import torch

from fmat.envs.graph import AgentGraph
from fmat.envs.observations import PHASE_FEATURES, ObservationSpec

QUEUE, PRESSURE = PHASE_FEATURES.index("queue"), PHASE_FEATURES.index("pressure")


def spec(layout: str = "phases", obs_dim: int | None = None, max_phases: int = 4) -> ObservationSpec:
    return ObservationSpec(layout, obs_dim or (2 if layout == "phases" else 7), max_phases)


def random_obs(spec: ObservationSpec, B: int, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random observations of every key, with random action and observation masks (action 0 always
    valid) and every phase real."""
    g = torch.Generator().manual_seed(seed)
    D, A = spec.obs_dim, spec.max_phases
    mask = torch.rand(B, n, A, generator=g) > 0.5
    mask[..., 0] = True
    obs_mask = torch.rand(B, n, D, generator=g) > 0.2
    return {"observation": torch.rand(B, n, D, generator=g) * obs_mask, "observation_mask": obs_mask, "action_mask": mask,
            "phases": torch.rand(B, n, A, spec.phase_features, generator=g),
            "phase_relation": torch.eye(A, dtype=torch.bool).expand(B, n, A, A).clone()}


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
    def __init__(self, n_agents: int = 4, n_actions: int = 3, batch: int = 8, seed: int = 0, layout: str = "lanes"):
        self.n, self.A, self.B = n_agents, n_actions, batch
        self.spec = spec(layout, n_actions + 1 if layout == "lanes" else 2, n_actions)
        self.rng = np.random.default_rng(seed)
        self.graph = path_graph(n_agents)
        self.action_mask = np.ones((batch, n_agents, n_actions), dtype=bool)
        self.action_mask[:, 1::2, -1] = False

    def observe(self):
        B, n, A = self.B, self.n, self.A
        self.target = self.rng.integers(0, A - 1, size=(B, n))  # never the masked action
        phases = np.zeros((B, n, A, len(PHASE_FEATURES)), np.float32)
        queue = self.rng.uniform(0.0, 0.5, size=(B, n, A))
        queue[np.arange(B)[:, None], np.arange(n)[None], self.target] += 0.5
        phases[..., QUEUE] = phases[..., PRESSURE] = queue
        if self.spec.layout == "lanes":
            obs = np.zeros((B, n, self.spec.obs_dim), dtype=np.float32)
            obs[np.arange(B)[:, None], np.arange(n)[None], self.target] = 1.0
        else:
            obs = np.ones((B, n, self.spec.obs_dim), dtype=np.float32)
        return {
            "observation": torch.as_tensor(obs),
            "observation_mask": torch.ones(B, n, self.spec.obs_dim, dtype=torch.bool),
            "action_mask": torch.as_tensor(self.action_mask),
            "phases": torch.as_tensor(phases),
            "phase_relation": torch.eye(A, dtype=torch.bool).expand(B, n, A, A),
        }

    def reward(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(actions.numpy() == self.target, dtype=torch.float32)
