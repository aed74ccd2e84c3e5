"""`fmat perf policy`: f-MAT vs MAT (or MAPPO, IPPO) as the number of agents grows, side by side in one process.

For each agent count n (a square-ish synthetic grid graph), time on the CPU (or `device`) with
batch 1:
- one action-selection step (f-MAT: one parallel pass; MAT: one full decoder pass per agent, as
  the original implements it; MAPPO and IPPO: one parallel pass);
- one PPO update on a fixed batch (same core, same settings for every policy).
MAPPO's centralised critic reads every agent's encoding once per agent, so its update and its
parameter count grow with n; the report gives each policy's parameters to show it.
"""
from __future__ import annotations

import math
import statistics
import time

import torch

from fmat.envs.graph import grid_graph
from fmat.envs.observations import DEFAULT_LAYOUT, PHASE_FEATURES, ObservationSpec, PhasesLayout
from fmat.ppo import Batch, PPOConfig, ValueNormalizer, ppo_update
from fmat.registry import ON_POLICY, REGISTRY, build_policy

N_ACTIONS = 8  # grid4x4's phase count
SPEC = ObservationSpec(DEFAULT_LAYOUT, PhasesLayout.obs_dim if DEFAULT_LAYOUT == "phases" else 33, N_ACTIONS)
# the policies f-MAT can be timed against: the other learners the PPO core trains
COMPARABLE = tuple(e.name for e in REGISTRY.values() if e.kind == ON_POLICY and e.name != "fmat")


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


def measure(agent_counts: list[int], against: tuple[str, ...] = ("mat",), update_batch: int = 8, repeats: int = 3,
            progress=None, device: str = "cpu") -> list[dict]:
    """One row per agent count: `<name>_act`, `<name>_update` (seconds) and `<name>_params` for f-MAT
    and each policy in `against` (names from COMPARABLE); `progress()` is called once per policy timed."""
    device = torch.device(device)
    torch.manual_seed(0)
    rows = []
    for n in agent_counts:
        graph = square_grid(n)
        row = {"agents": n}
        for name in ("fmat", *against):
            policy = build_policy(name, SPEC, graph, {}).to(device)
            row[f"{name}_params"] = sum(p.numel() for p in policy.parameters())
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
                action, logprob, _, value = policy.get_action_and_value(batch_obs) if name != "mat" else _mat_batch(policy, batch_obs)
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
    others = [k.removesuffix("_act") for k in rows[0] if k.endswith("_act") and k != "fmat_act"]
    label = {name: REGISTRY[name].label for name in others}

    def against_fmat(key: str, head: str, digits: str) -> list:
        """(heading, cell) pairs: each other policy's milliseconds for `key`, and its ratio to f-MAT's."""
        cols = []
        for name in others:
            cols.append((f"{label[name]} {head} ms", lambda r, n=name: format(r[f"{n}_{key}"] * 1e3, digits)))
            cols.append((f"{label[name]}/f-MAT", lambda r, n=name: f"{r[f'{n}_{key}'] / r[f'fmat_{key}']:.1f}x"))
        return cols

    cols = [("agents", lambda r: str(r["agents"])), ("f-MAT act ms", lambda r: f"{r['fmat_act'] * 1e3:.2f}")]
    cols += against_fmat("act", "act", ".2f")
    cols += [("f-MAT us/agent", lambda r: f"{r['fmat_act'] / r['agents'] * 1e6:.2f}"),
             ("f-MAT upd ms", lambda r: f"{r['fmat_update'] * 1e3:.1f}")]
    cols += against_fmat("update", "upd", ".1f")
    lines = [
        f"{where}, batch 1 for action selection; PPO update = 1 epoch on a batch of 8 joint samples",
        " ".join(f"{head:>{len(head) + 1}}" for head, _ in cols) + "  f-MAT attention",
    ]
    for r in rows:
        lines.append(" ".join(f"{cell(r):>{len(head) + 1}}" for head, cell in cols) + f"  {r['fmat_attention']}")
    small = next((r for r in rows if r["agents"] == 64), rows[0])
    big = rows[-1]
    if big is not small:
        per_small, per_big = small["fmat_act"] / small["agents"], big["fmat_act"] / big["agents"]
        lines.append(f"f-MAT time per agent at {big['agents']} vs {small['agents']} agents: {per_big / per_small:.2f}x")
    sizes = "/".join(str(r["agents"]) for r in rows)
    params = "; ".join(f"{REGISTRY[name].label} " + "/".join(f"{r[f'{name}_params'] / 1e6:.2f}" for r in rows)
                       for name in ("fmat", *others))
    lines.append(f"parameters (millions) at {sizes} agents: {params}")
    return "\n".join(lines)
