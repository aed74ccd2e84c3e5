"""The off-policy core on hand-computed cases, and the value-based learners on the tiny environment."""
import pytest
import torch

from fmat.dqn import DQNConfig, NStep, ReplayBuffer, dqn_target, dqn_update, epsilon, epsilon_greedy
from fmat.envs.graph import grid_graph
from fmat.registry import OFF_POLICY, REGISTRY, build_policy
from tiny_env import TinyEnv, random_obs, spec

OFF_POLICY_LEARNERS = [name for name, e in REGISTRY.items() if e.kind == OFF_POLICY]


def test_target_double_q_masked_max_and_truncation():
    rewards = torch.tensor([[1.0, 2.0]])
    online = torch.tensor([[[5.0, 1.0, 9.0], [0.0, 3.0, 1.0]]])  # agent 0's best online action (2) is masked
    target = torch.tensor([[[10.0, 20.0, 30.0], [4.0, 6.0, 8.0]]])
    mask = torch.tensor([[[True, True, False], [True, True, True]]])
    discount = torch.full((1, 2), 0.9)
    not_terminated = torch.zeros(1, 2)  # truncated or running: bootstrap
    y = dqn_target(rewards, discount, not_terminated, online, target, mask, double=True)
    # agent 0: online picks action 0 among the valid {0, 1}; target scores it 10. agent 1: online picks 1; target 6
    assert torch.allclose(y, torch.tensor([[1.0 + 0.9 * 10.0, 2.0 + 0.9 * 6.0]]))
    y = dqn_target(rewards, discount, not_terminated, online, target, mask, double=False)
    assert torch.allclose(y, torch.tensor([[1.0 + 0.9 * 20.0, 2.0 + 0.9 * 8.0]]))  # max of the target over valid actions
    terminated = torch.ones(1, 2)
    assert torch.equal(dqn_target(rewards, discount, terminated, online, target, mask), rewards)


def step(t, terminated=False):
    return {"obs": {"o": torch.tensor([float(t)])}, "action": torch.tensor([t]), "reward": torch.tensor([float(t + 1)]),
            "next_obs": {"o": torch.tensor([float(t + 1)])}, "terminated": torch.tensor([float(terminated)])}


def test_n_step_returns_and_flush_at_the_episode_end():
    acc = NStep(3, gamma=0.5)
    assert acc.push(step(0), False) == [] and acc.push(step(1), False) == []
    [first] = acc.push(step(2), False)
    assert first["reward"].item() == 1 + 0.5 * 2 + 0.25 * 3 and first["discount"].item() == 0.125
    assert first["obs"]["o"].item() == 0 and first["next_obs"]["o"].item() == 3
    flushed = acc.push(step(3), episode_over=True)  # truncated: t=1..3 complete, then the shorter tails
    assert [t["obs"]["o"].item() for t in flushed] == [1, 2, 3]
    assert [t["reward"].item() for t in flushed] == [2 + 0.5 * 3 + 0.25 * 4, 3 + 0.5 * 4, 4]
    assert [t["discount"].item() for t in flushed] == [0.125, 0.25, 0.5]
    assert all(t["next_obs"]["o"].item() == 4 and t["terminated"].item() == 0 for t in flushed)
    assert acc.pending == []
    acc.push(step(0), False)
    [only] = acc.push(step(1, terminated=True), episode_over=True)[-1:]
    assert only["terminated"].item() == 1  # no bootstrap past a real terminal state


def test_epsilon_schedule():
    cfg = DQNConfig(epsilon_start=1.0, epsilon_end=0.0, epsilon_fraction=0.8)
    assert epsilon(0, 1000, cfg) == 1.0 and epsilon(400, 1000, cfg) == pytest.approx(0.5)
    assert epsilon(800, 1000, cfg) == 0.0 and epsilon(1000, 1000, cfg) == 0.0


def test_epsilon_greedy_never_picks_a_masked_action():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(200, 5, 4)
    mask = torch.rand(200, 5, 4) > 0.5
    mask[..., 1] = True
    for eps in (0.0, 0.5, 1.0):
        a = epsilon_greedy(q, mask, eps, g)
        assert mask.gather(-1, a[..., None]).all()


def test_replay_buffer_round_trips_and_wraps():
    buf = ReplayBuffer(3)
    for t in range(5):
        buf.add({"obs": {"o": torch.tensor([float(t)])}, "reward": torch.tensor([float(t)])})
    assert len(buf) == 3 and sorted(buf.data["reward"][:, 0].tolist()) == [2.0, 3.0, 4.0]
    other = ReplayBuffer(1)
    other.load_state_dict(buf.state_dict())
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = buf.sample(8, g1), other.sample(8, g2)
    assert torch.equal(a["reward"], b["reward"]) and torch.equal(a["obs"]["o"], b["obs"]["o"])


@pytest.mark.parametrize("algorithm", OFF_POLICY_LEARNERS)
def test_masked_actions_are_never_selected(algorithm):
    torch.manual_seed(0)
    net = build_policy(algorithm, spec(), grid_graph(2, 3), {})
    obs = random_obs(spec(), 64, 6)
    assert obs["action_mask"].gather(-1, net.select(obs)[..., None]).all()


@pytest.mark.parametrize("algorithm,layout", [(a, "phases") for a in OFF_POLICY_LEARNERS] + [("idqn", "lanes")])
def test_value_learner_beats_random_on_tiny_env(algorithm, layout):
    """A one-step bandit (gamma 0): DQN must learn each agent's wanted phase from its observation."""
    import copy

    torch.manual_seed(0)
    env = TinyEnv(n_agents=4, n_actions=3, batch=16, layout=layout)
    net = build_policy(algorithm, env.spec, env.graph, {})
    target = copy.deepcopy(net)
    cfg = DQNConfig(gamma=0.0, lr=3e-3, batch_size=64)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    buf, g = ReplayBuffer(4000), torch.Generator().manual_seed(0)
    for it in range(150):
        obs = env.observe()
        with torch.no_grad():
            action = epsilon_greedy(net(obs), obs["action_mask"], max(0.1, 1 - it / 100), g)
        reward = env.reward(action)
        for b in range(env.B):
            buf.add({"obs": {k: v[b] for k, v in obs.items()}, "action": action[b], "reward": reward[b],
                     "next_obs": {k: v[b] for k, v in obs.items()}, "terminated": torch.ones(env.n),
                     "discount": torch.zeros(env.n)})
        dqn_update(net, target, optimizer, buf.sample(cfg.batch_size, g), cfg)
    obs = env.observe()
    with torch.no_grad():
        greedy = env.reward(net.select(obs)).mean().item()
    random_level = 0.5 * (1 / 3) + 0.5 * (1 / 2)
    assert greedy > random_level + 0.35
