"""The one off-policy core every value-based learner shares (IDQN, CoLight).

Pure functions and small classes, tested without SUMO: a replay buffer whose every sample holds all
agents of one decision, n-step returns that bootstrap on truncation, the double-DQN target with
invalid actions masked in the max, a linear epsilon schedule, masked epsilon-greedy acting, and one
gradient step. Q networks map an observation dict to Q values [B, n_agents, n_actions].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fmat.config import DQNSection as DQNConfig  # the settings and their defaults live in one place

NEG = -1e9  # Q value given to invalid actions before a max


def epsilon(step: int, total_steps: int, cfg: DQNConfig) -> float:
    """Linear from epsilon_start to epsilon_end over the first epsilon_fraction of training, then flat."""
    span = max(1.0, cfg.epsilon_fraction * total_steps)
    frac = min(1.0, step / span)
    return cfg.epsilon_start + frac * (cfg.epsilon_end - cfg.epsilon_start)


def masked_greedy(q: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    return q.masked_fill(~action_mask.bool(), NEG).argmax(-1)


def epsilon_greedy(q: torch.Tensor, action_mask: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """Per agent: a uniformly random valid action with probability eps, else the best valid one."""
    greedy = masked_greedy(q, action_mask)
    mask = action_mask.bool()
    random = torch.multinomial(mask.reshape(-1, mask.shape[-1]).float(), 1, generator=generator).reshape(greedy.shape)
    explore = torch.rand(greedy.shape, generator=generator) < eps
    return torch.where(explore, random, greedy)


def dqn_target(rewards, discounts, terminated, next_q_online, next_q_target, next_action_mask, double: bool = True):
    """r + discount * (1 - terminated) * Q_target(s', a*), per agent.

    a* is the best valid next action under the online network (double DQN) or the target network;
    `discounts` is gamma^k for a k-step transition; a truncated transition (terminated=0)
    bootstraps from its next state.
    """
    mask = next_action_mask.bool()
    chooser = next_q_online if double else next_q_target
    best = chooser.masked_fill(~mask, NEG).argmax(-1, keepdim=True)
    next_value = next_q_target.gather(-1, best).squeeze(-1)
    return rewards + discounts * (1.0 - terminated.float()) * next_value


class NStep:
    """Turns each environment's stream of 1-step transitions into n-step ones.

    `push` takes one decision of every environment and returns the n-step transitions that are
    complete; at an episode's end (terminated or truncated) the remaining shorter ones are flushed,
    each bootstrapping from the episode's last next-observation unless the episode terminated.
    """

    def __init__(self, n: int, gamma: float):
        self.n, self.gamma = n, gamma
        self.pending: list[dict] = []  # one decision each: obs, action, reward, next_obs, terminated

    def push(self, step: dict, episode_over: bool) -> list[dict]:
        self.pending.append(step)
        out = []
        while self.pending and (len(self.pending) >= self.n or episode_over):
            out.append(self._combine(self.pending[: self.n]))
            self.pending.pop(0)
        return out

    def _combine(self, steps: list[dict]) -> dict:
        reward = torch.zeros_like(steps[0]["reward"])
        for k, s in enumerate(steps):
            reward = reward + (self.gamma ** k) * s["reward"]
        last = steps[-1]
        return {"obs": steps[0]["obs"], "action": steps[0]["action"], "reward": reward, "next_obs": last["next_obs"],
                "terminated": last["terminated"], "discount": torch.full_like(reward, self.gamma ** len(steps))}

    def state_dict(self) -> dict:
        return {"pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pending = list(state["pending"])


class ReplayBuffer:
    """A circular buffer of transitions; each sample is one decision of one environment, all agents.

    Stored as preallocated tensors so it can be saved in the checkpoint (exact resume).
    """

    def __init__(self, capacity: int):
        self.capacity, self.pos, self.size = capacity, 0, 0
        self.data: dict[str, torch.Tensor] | None = None

    def _allocate(self, item: dict) -> None:
        def empty(x):
            return torch.zeros((self.capacity, *x.shape), dtype=x.dtype)

        self.data = {k: ({kk: empty(vv) for kk, vv in v.items()} if isinstance(v, dict) else empty(v)) for k, v in item.items()}

    def add(self, item: dict) -> None:
        """item: tensors of one transition (obs and next_obs are dicts of tensors)."""
        if self.data is None:
            self._allocate(item)
        for k, v in item.items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    self.data[k][kk][self.pos] = vv
            else:
                self.data[k][self.pos] = v
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> dict:
        idx = torch.randint(0, self.size, (batch_size,), generator=generator)
        return {k: ({kk: vv[idx] for kk, vv in v.items()} if isinstance(v, dict) else v[idx]) for k, v in self.data.items()}

    def __len__(self) -> int:
        return self.size

    def state_dict(self) -> dict:
        # only the filled part: a checkpoint early in training stays small
        filled = slice(0, self.size)
        data = None if self.data is None else {
            k: ({kk: vv[filled].clone() for kk, vv in v.items()} if isinstance(v, dict) else v[filled].clone())
            for k, v in self.data.items()}
        return {"capacity": self.capacity, "pos": self.pos, "size": self.size, "data": data}

    def load_state_dict(self, state: dict) -> None:
        self.capacity, self.pos, self.size = int(state["capacity"]), int(state["pos"]), int(state["size"])
        self.data = None
        if state["data"] is not None:
            saved = state["data"]

            def grow(x):
                out = torch.zeros((self.capacity, *x.shape[1:]), dtype=x.dtype)
                out[: x.shape[0]] = x
                return out

            self.data = {k: ({kk: grow(vv) for kk, vv in v.items()} if isinstance(v, dict) else grow(v)) for k, v in saved.items()}


def dqn_update(qnet: nn.Module, target: nn.Module, optimizer, batch: dict, cfg: DQNConfig) -> dict[str, float]:
    """One gradient step of the (double) DQN loss, Huber as in pfrl's DQN, on a sampled batch."""
    with torch.no_grad():
        next_online = qnet(batch["next_obs"]) if cfg.double else None
        next_target = target(batch["next_obs"])
        y = dqn_target(batch["reward"], batch["discount"], batch["terminated"], next_online, next_target,
                       batch["next_obs"]["action_mask"], cfg.double)
    q = qnet(batch["obs"]).gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
    loss = F.smooth_l1_loss(q, y)
    optimizer.zero_grad()
    loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(qnet.parameters(), cfg.max_grad_norm).item()
    optimizer.step()
    return {"q_loss": loss.item(), "q_mean": q.mean().item(), "grad_norm": grad_norm}


class DQNLearner:
    """A Q network trained by DQN, in the runner's protocol: epsilon-greedy acting, every decision
    stored (as n-step transitions) and followed by one gradient step once the buffer holds
    `learning_starts` transitions; the target network is refreshed every `target_update` decisions."""

    def __init__(self, qnet: nn.Module, cfg: DQNConfig, num_envs: int, total_steps: int, seed: int):
        import copy

        self.qnet, self.cfg, self.total_steps = qnet, cfg, total_steps
        self.target = copy.deepcopy(qnet).requires_grad_(False)
        self.optimizer = torch.optim.Adam(qnet.parameters(), lr=cfg.lr)
        self.buffer = ReplayBuffer(cfg.buffer_size)
        self.nstep = [NStep(cfg.n_step, cfg.gamma) for _ in range(num_envs)]
        self.generator = torch.Generator().manual_seed(seed)
        self.steps = 0  # decisions taken, over all environments

    def begin_episode(self, seeds) -> None:
        pass

    def act(self, obs):
        from fmat.rollout import to_tensors

        self._obs = to_tensors(obs)
        with torch.no_grad():
            q = self.qnet(self._obs)
        return epsilon_greedy(q, self._obs["action_mask"], epsilon(self.steps, self.total_steps, self.cfg), self.generator).numpy()

    def observe(self, obs, actions, rewards, next_obs, terminated, truncated) -> list[dict]:
        from fmat.rollout import to_tensors

        nxt, n_agents = to_tensors(next_obs), len(actions[0])
        for e, acc in enumerate(self.nstep):
            step = {"obs": {k: v[e] for k, v in self._obs.items()}, "action": torch.as_tensor(actions[e]),
                    "reward": torch.as_tensor(rewards[e], dtype=torch.float32),
                    "next_obs": {k: v[e] for k, v in nxt.items()},
                    "terminated": torch.full((n_agents,), float(terminated[e]))}
            for transition in acc.push(step, episode_over=bool(terminated[e] or truncated[e])):
                self.buffer.add(transition)
        before, self.steps = self.steps, self.steps + len(actions)
        if self.steps // self.cfg.target_update > before // self.cfg.target_update:
            self.target.load_state_dict(self.qnet.state_dict())
        if len(self.buffer) < self.cfg.learning_starts:
            return []
        batch = self.buffer.sample(self.cfg.batch_size, self.generator)
        stats = dqn_update(self.qnet, self.target, self.optimizer, batch, self.cfg)
        stats["epsilon"] = epsilon(self.steps, self.total_steps, self.cfg)
        return [stats]

    def state_dict(self) -> dict:
        return {"policy": self.qnet.state_dict(), "target": self.target.state_dict(), "optimizer": self.optimizer.state_dict(),
                "replay": self.buffer.state_dict(), "nstep": [acc.state_dict() for acc in self.nstep],
                "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(), "dqn_steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.qnet.load_state_dict(state["policy"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["replay"])
        for acc, saved in zip(self.nstep, state["nstep"]):
            acc.load_state_dict(saved)
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.steps = int(state["dqn_steps"])
