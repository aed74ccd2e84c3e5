"""The one PPO core every learning agent shares (MAT's recipe).

Pure functions and a small update routine, tested without SUMO:
GAE with bootstrapping on truncation, advantage normalisation, per-agent clipped ratios, a clipped
Huber value loss on running-normalised values, an entropy bonus, grad-norm clipping, minibatches
and epochs. Everything is per agent: tensors are [..., n_agents].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fmat.config import PPOSection as PPOConfig  # the settings and their defaults live in one place


class ValueNormalizer(nn.Module):
    """Running mean/variance of value targets (MAPPO/MAT's ValueNorm, debiased EMA).

    The critic predicts normalised values; `denormalize` maps them back for GAE.
    """

    def __init__(self, beta: float = 0.99999, eps: float = 1e-5):
        super().__init__()
        self.beta, self.eps = beta, eps
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("mean_sq", torch.zeros(()))
        self.register_buffer("debias", torch.zeros(()))

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().double().reshape(-1)
        self.mean.mul_(self.beta).add_((1 - self.beta) * x.mean().float())
        self.mean_sq.mul_(self.beta).add_((1 - self.beta) * (x**2).mean().float())
        self.debias.mul_(self.beta).add_(1 - self.beta)

    def _stats(self):
        debias = self.debias.clamp(min=self.eps)
        mean = self.mean / debias
        var = (self.mean_sq / debias - mean**2).clamp(min=1e-2)
        return mean, var.sqrt()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats()
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats()
        return x * std + mean


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    episode_end: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a rollout of T steps.

    Args:
        rewards, values: [T, ...] per step.
        next_values: [T, ...] value of the state after step t within the same episode; at a
            truncation (time limit) it is the value of the final observation, so the return is
            bootstrapped instead of cut to zero.
        terminated: [T, ...] true terminal states (value 0 after them).
        episode_end: [T, ...] terminated or truncated: the advantage recursion stops there.
    Returns:
        advantages, returns (= advantages + values), both [T, ...].
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    not_terminal = 1.0 - terminated.float()
    continues = 1.0 - episode_end.float()
    for t in reversed(range(T)):
        delta = rewards[t] + gamma * next_values[t] * not_terminal[t] - values[t]
        running = delta + gamma * lam * continues[t] * running
        advantages[t] = running
    return advantages, advantages + values


@dataclass
class Batch:
    """A flattened rollout: leading dimension = samples (env x time); each sample holds all agents."""

    obs: dict[str, torch.Tensor]  # [S, n, ...]
    actions: torch.Tensor  # [S, n]
    logprobs: torch.Tensor  # [S, n]
    values: torch.Tensor  # [S, n] normalised, as predicted
    advantages: torch.Tensor  # [S, n]
    returns: torch.Tensor  # [S, n] de-normalised

    def __len__(self) -> int:
        return self.actions.shape[0]

    def index(self, idx: torch.Tensor) -> "Batch":
        return Batch(
            obs={k: v[idx] for k, v in self.obs.items()},
            actions=self.actions[idx],
            logprobs=self.logprobs[idx],
            values=self.values[idx],
            advantages=self.advantages[idx],
            returns=self.returns[idx],
        )


def ppo_loss(
    new_logprobs: torch.Tensor,
    entropy: torch.Tensor,
    new_values: torch.Tensor,
    mb: Batch,
    normalized_returns: torch.Tensor,
    cfg: PPOConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """MAT's PPO loss on one minibatch; advantages are expected already normalised."""
    ratio = torch.exp(new_logprobs - mb.logprobs)  # per agent
    surr1 = ratio * mb.advantages
    surr2 = torch.clamp(ratio, 1 - cfg.clip, 1 + cfg.clip) * mb.advantages
    policy_loss = -torch.min(surr1, surr2).mean()

    clipped = mb.values + (new_values - mb.values).clamp(-cfg.clip, cfg.clip)
    loss_unclipped = F.huber_loss(new_values, normalized_returns, delta=cfg.huber_delta, reduction="none")
    loss_clipped = F.huber_loss(clipped, normalized_returns, delta=cfg.huber_delta, reduction="none")
    value_loss = torch.max(loss_unclipped, loss_clipped).mean()

    entropy_mean = entropy.mean()
    loss = policy_loss - cfg.entropy_coef * entropy_mean + cfg.value_coef * value_loss
    stats = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy_mean.item(),
        "approx_kl": ((ratio - 1) - torch.log(ratio)).mean().item(),
        "clip_fraction": ((ratio - 1).abs() > cfg.clip).float().mean().item(),
    }
    return loss, stats


def ppo_update(policy, optimizer, value_norm: ValueNormalizer, batch: Batch, cfg: PPOConfig, generator=None) -> dict[str, float]:
    """Epochs x shuffled minibatches of PPO on one batch; returns the mean of the loss statistics
    over the steps taken, and their number (`optimizer_steps`, fewer than epochs x minibatches when
    `target_kl` ended the update)."""
    value_norm.update(batch.returns)
    adv = batch.advantages
    batch.advantages = (adv - adv.mean()) / (adv.std() + 1e-8)
    sums: dict[str, float] = {}
    count = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(batch), generator=generator)
        for idx in order.chunk(max(1, min(cfg.minibatches, len(batch)))):
            mb = batch.index(idx)
            _, logprobs, entropy, values = policy.get_action_and_value(mb.obs, mb.actions)
            loss, stats = ppo_loss(logprobs, entropy, values, mb, value_norm.normalize(mb.returns), cfg)
            if cfg.target_kl is not None and count and stats["approx_kl"] > cfg.target_kl:
                return _means(sums, count)
            optimizer.zero_grad()
            loss.backward()
            stats["grad_norm"] = nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm).item()
            optimizer.step()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
    return _means(sums, count)


def _means(sums: dict[str, float], count: int) -> dict[str, float]:
    return {**{k: v / count for k, v in sums.items()}, "optimizer_steps": float(count)}


class PPOLearner:
    """An actor-critic trained by PPO, in the runner's protocol: rollouts of `train.rollout_steps`
    decisions (an episode's last rollout is shorter), each followed by one update."""

    def __init__(self, policy, cfg: PPOConfig, graph, train_cfg, seed: int):
        from fmat.rollout import sharing_matrix

        self.policy, self.cfg, self.horizon = policy, cfg, train_cfg.rollout_steps
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        self.value_norm = ValueNormalizer()
        self.generator = torch.Generator().manual_seed(seed)
        self.share = sharing_matrix(graph, train_cfg.reward_sharing)
        self.steps: list[dict] = []

    def begin_episode(self, seeds) -> None:
        self.steps = []

    def act(self, obs):
        from fmat.rollout import to_tensors

        self.policy.eval()
        with torch.no_grad():
            o = to_tensors(obs)
            action, logprob, _, value = self.policy.get_action_and_value(o)
        self._last = {"obs": o, "action": action, "logprob": logprob, "value": value}
        return action.numpy()

    def observe(self, obs, actions, rewards, next_obs, terminated, truncated) -> list[dict]:
        r = torch.as_tensor(rewards, dtype=torch.float32)
        if self.share is not None:
            r = r @ self.share.T
        self.steps.append({**self._last, "reward": r, "terminated": torch.as_tensor(terminated)})
        done = bool((terminated | truncated).all())
        if len(self.steps) < self.horizon and not done:
            return []
        stats = self._update(next_obs, done)
        self.steps = []
        return [stats]

    def _update(self, next_obs, done: bool) -> dict[str, float]:
        from fmat.rollout import to_tensors

        steps, cfg = self.steps, self.cfg
        with torch.no_grad():
            last_value = self.policy.get_value(to_tensors(next_obs))  # the final observation when truncated
        stack = {k: torch.stack([s[k] for s in steps]) for k in ("action", "logprob", "value", "reward")}
        values = self.value_norm.denormalize(stack["value"])
        next_values = torch.cat([values[1:], self.value_norm.denormalize(last_value)[None]])
        terminated = torch.stack([s["terminated"] for s in steps])[..., None].expand_as(values)
        episode_end = torch.zeros_like(values)
        if done:
            episode_end[-1] = 1.0
        advantages, returns = compute_gae(stack["reward"], values, next_values, terminated, episode_end, cfg.gamma, cfg.gae_lambda)

        def flat(x):
            return x.reshape(-1, *x.shape[2:])

        batch = Batch(
            obs={k: flat(torch.stack([s["obs"][k] for s in steps])) for k in steps[0]["obs"]},
            actions=flat(stack["action"]), logprobs=flat(stack["logprob"]), values=flat(stack["value"]),
            advantages=flat(advantages), returns=flat(returns),
        )
        self.policy.train()
        return ppo_update(self.policy, self.optimizer, self.value_norm, batch, cfg, self.generator)

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "value_norm": self.value_norm.state_dict(), "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.value_norm.load_state_dict(state["value_norm"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
