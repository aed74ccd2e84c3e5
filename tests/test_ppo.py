import torch
import torch.nn.functional as F

from fmat.ppo import Batch, PPOConfig, ValueNormalizer, compute_gae, ppo_loss, ppo_update


def test_gae_by_hand_with_truncation_bootstrap():
    gamma, lam = 0.9, 0.5
    rewards = torch.tensor([1.0, 2.0, 3.0])
    values = torch.tensor([0.5, 1.0, 1.5])
    # step 1 ends an episode by truncation: bootstrap from its final observation's value 4.0
    next_values = torch.tensor([1.0, 4.0, 2.0])
    terminated = torch.zeros(3)
    episode_end = torch.tensor([0.0, 1.0, 0.0])
    adv, ret = compute_gae(rewards, values, next_values, terminated, episode_end, gamma, lam)
    d2 = 3 + 0.9 * 2.0 - 1.5
    d1 = 2 + 0.9 * 4.0 - 1.0  # bootstrapped, and the recursion stops here
    d0 = 1 + 0.9 * 1.0 - 0.5
    assert torch.allclose(adv, torch.tensor([d0 + gamma * lam * d1, d1, d2]))
    assert torch.allclose(ret, adv + values)


def test_termination_zeroes_the_bootstrap():
    adv, _ = compute_gae(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([5.0]),
                         torch.tensor([1.0]), torch.tensor([1.0]), 0.99, 0.95)
    assert adv.item() == 1.0


def test_ppo_loss_by_hand():
    cfg = PPOConfig(clip=0.2, entropy_coef=0.01, value_coef=1.0, huber_delta=10.0)
    old_logp = torch.log(torch.tensor([[0.5, 0.25]]))
    new_logp = torch.log(torch.tensor([[0.75, 0.25]]))  # ratios 1.5 (clipped to 1.2) and 1.0
    adv = torch.tensor([[1.0, -2.0]])
    old_v = torch.tensor([[0.0, 1.0]])
    new_v = torch.tensor([[1.0, 1.1]])  # first moves by 1.0, clipped to 0.2
    target = torch.tensor([[2.0, 0.0]])
    entropy = torch.tensor([[0.3, 0.5]])
    mb = Batch(obs={}, actions=torch.zeros(1, 2, dtype=torch.long), logprobs=old_logp, values=old_v,
               advantages=adv, returns=target)
    loss, stats = ppo_loss(new_logp, entropy, new_v, mb, target, cfg)
    policy = -((min(1.5 * 1, 1.2 * 1) + min(1.0 * -2, 1.0 * -2)) / 2)
    # per agent max(huber(unclipped), huber(clipped)); all errors < delta so huber = 0.5 e^2
    v0 = max(0.5 * (1.0 - 2.0) ** 2, 0.5 * (0.2 - 2.0) ** 2)
    v1 = max(0.5 * (1.1 - 0.0) ** 2, 0.5 * (1.1 - 0.0) ** 2)
    value = (v0 + v1) / 2
    expected = policy - 0.01 * 0.4 + 1.0 * value
    assert abs(stats["policy_loss"] - policy) < 1e-6
    assert abs(stats["value_loss"] - value) < 1e-6
    assert abs(loss.item() - expected) < 1e-6


def test_value_normalizer_round_trip():
    vn = ValueNormalizer(beta=0.9)
    x = torch.randn(1000) * 5 + 3
    for _ in range(50):
        vn.update(x)
    assert abs(vn.normalize(x).mean().item()) < 0.05
    assert abs(vn.normalize(x).std().item() - 1) < 0.05
    assert torch.allclose(vn.denormalize(vn.normalize(x)), x, atol=1e-4)
    assert F.mse_loss(vn.denormalize(vn.normalize(x)), x) < 1e-6


class _TinyPolicy(torch.nn.Module):
    """Per-agent logits and values from a linear map of obs["x"] [S, n, 3]."""

    def __init__(self):
        super().__init__()
        self.pi, self.v = torch.nn.Linear(3, 4), torch.nn.Linear(3, 1)

    def get_action_and_value(self, obs, action=None):
        dist = torch.distributions.Categorical(logits=self.pi(obs["x"]))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.v(obs["x"]).squeeze(-1)


def _update_steps(target_kl):
    torch.manual_seed(0)
    policy = _TinyPolicy()
    obs = {"x": torch.randn(16, 2, 3)}
    with torch.no_grad():
        action, logprob, _, value = policy.get_action_and_value(obs)
    batch = Batch(obs, action, logprob, value, advantages=torch.randn(16, 2), returns=torch.randn(16, 2))
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.1)  # big steps: the KL grows at once
    stats = ppo_update(policy, optimizer, ValueNormalizer(), batch, PPOConfig(epochs=4, minibatches=2, target_kl=target_kl))
    taken = optimizer.state[policy.pi.weight]["step"].item()
    assert stats["optimizer_steps"] == taken
    return taken


def test_target_kl_ends_the_update_once_the_policy_has_moved_past_it():
    assert _update_steps(None) == 8  # epochs x minibatches
    assert _update_steps(1e-6) == 1  # the first step is always taken
    assert 1 < _update_steps(0.05) < 8
