"""Turning observations into tensors and rewards into the training signal."""
from __future__ import annotations

import numpy as np
import torch


MASKS = ("observation_mask", "action_mask", "phase_relation")


def to_tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Every observation key as a tensor: masks as bool, features as float32."""
    return {k: torch.as_tensor(v).bool() if k in MASKS else torch.as_tensor(v, dtype=torch.float32) for k, v in obs.items()}


def add_batch_dim(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: v.unsqueeze(0) for k, v in to_tensors(obs).items()}


def sharing_matrix(graph, mode: str) -> torch.Tensor | None:
    """[n, n] row-stochastic matrix that pools per-agent rewards: None (own reward), the mean over
    the closed graph neighbourhood, or the mean over the whole network."""
    n = graph.num_nodes
    if mode == "none":
        return None
    if mode == "global":
        return torch.full((n, n), 1.0 / n)
    adj = torch.eye(n)
    adj[graph.edge_index[0], graph.edge_index[1]] = 1.0
    return adj / adj.sum(1, keepdim=True)
