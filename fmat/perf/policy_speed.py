"""`fmat perf policy`: f-MAT vs MAT as the number of agents grows, side by side in one process.

For each agent count n (a square-ish synthetic grid graph), time on the CPU (or `device`) with
batch 1:
- one action-selection step (f-MAT: one parallel pass; MAT: one full decoder pass per agent, as
  the original implements it);
- one PPO update on a fixed batch (same core, same settings for both).
"""
from __future__ import annotations

import math
import statistics
import time

import torch

from fmat.envs.graph import grid_graph
from fmat.envs.observations import DEFAULT_LAYOUT, PHASE_FEATURES, ObservationSpec, PhasesLayout
from fmat.ppo import Batch, PPOConfig, ValueNormalizer, ppo_update
from fmat.registry import build_policy

N_ACTIONS = 8  # grid4x4's phase count
SPEC = ObservationSpec(DEFAULT_LAYOUT, PhasesLayout.obs_dim if DEFAULT_LAYOUT == "phases" else 33, N_ACTIONS)


def square_grid(n: int):
    """A rows x cols grid graph with rows * cols = n, rows as close to sqrt(n) as divides n."""
    rows = max(r for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0)
    return grid_graph(rows, n // rows)


def _obs(batch: int, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    d, p = SPEC.obs_dim, N_ACTIONS
    return {
        "observation": torch.rand(batch, n, d, generator=g).to(device),
        "observation_mask": torch.ones(batch, n, d, dtype=torch.bool, device=device),
        "action_mask": torch.ones(batch, n, p, dtype=torch.bool, device=device),
        "phases": torch.rand(batch, n, p, len(PHASE_FEATURES), generator=g).to(device),
        "phase_relation": torch.eye(p, dtype=torch.bool, device=device).expand(batch, n, p, p),
    }


def _timed(fn, repeats: int, device: torch.device) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(agent_counts: list[int], update_batch: int = 8, repeats: int = 3, progress=None, device: str = "cpu") -> list[dict]:
    device = torch.device(device)
    torch.manual_seed(0)
    rows = []
    for n in agent_counts:
        graph = square_grid(n)
        row = {"agents": n}
        for name in ("fmat", "mat"):
            policy = build_policy(name, SPEC, graph, {}).to(device)
            if name == "fmat":
                row["fmat_attention"] = "dense" if policy.factor_graph.dense else "sparse"
            obs1 = _obs(1, n, device)
            with torch.no_grad():
                policy.eval()
                # MAT's rollout is n sequential decoder passes: time it once beyond 256 agents
                row[f"{name}_act"] = _timed(lambda: policy.get_action_and_value(obs1),
                                            1 if (name == "mat" and n > 256) else repeats, device)
            batch_obs = _obs(update_batch, n, device)
            with torch.no_grad():
                action, logprob, _, value = policy.get_action_and_value(batch_obs) if name == "fmat" else _mat_batch(policy, batch_obs)
            noise = torch.randn(2, update_batch, n).to(device)
            batch = Batch(batch_obs, action, logprob, value, noise[0], noise[1])
            cfg = PPOConfig(epochs=1, minibatches=1)
            optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
            policy.train()
            row[f"{name}_update"] = _timed(
                lambda: ppo_update(policy, optimizer, ValueNormalizer().to(device), _copy(batch), cfg), repeats, device
            )
            if progress:
                progress()
        rows.append(row)
    return rows


def _mat_batch(policy, obs):
    """Actions for a fixed update batch without MAT's slow rollout (teacher-forced scoring of random actions)."""
    action = torch.randint(0, N_ACTIONS, obs["action_mask"].shape[:2]).to(obs["action_mask"].device)
    _, logprob, _, value = policy.get_action_and_value(obs, action)
    return action, logprob, None, value


def _copy(batch: Batch) -> Batch:
    return Batch(batch.obs, batch.actions, batch.logprobs, batch.values, batch.advantages.clone(), batch.returns)


def report(rows: list[dict], device: str = "cpu") -> str:
    where = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "CPU"
    lines = [
        f"{where}, batch 1 for action selection; PPO update = 1 epoch on a batch of 8 joint samples",
        f"{'agents':>7} {'f-MAT act ms':>13} {'MAT act ms':>12} {'MAT/f-MAT':>10} {'f-MAT us/agent':>15} "
        f"{'f-MAT upd ms':>13} {'MAT upd ms':>11} {'MAT/f-MAT':>10}  f-MAT attention",
    ]
    for r in rows:
        n = r["agents"]
        lines.append(
            f"{n:>7} {r['fmat_act'] * 1e3:>13.2f} {r['mat_act'] * 1e3:>12.1f} {r['mat_act'] / r['fmat_act']:>9.1f}x "
            f"{r['fmat_act'] / n * 1e6:>15.2f} {r['fmat_update'] * 1e3:>13.1f} {r['mat_update'] * 1e3:>11.1f} "
            f"{r['mat_update'] / r['fmat_update']:>9.1f}x  {r['fmat_attention']}"
        )
    if len(rows) > 1:
        small = next((r for r in rows if r["agents"] == 64), rows[0])
        big = rows[-1]
        per_small, per_big = small["fmat_act"] / small["agents"], big["fmat_act"] / big["agents"]
        lines.append(f"f-MAT time per agent at {big['agents']} vs {small['agents']} agents: {per_big / per_small:.2f}x")
    return "\n".join(lines)
