import pytest
import torch

from fmat.envs.graph import AgentGraph, grid_graph
from fmat.factors import build_factors
from fmat.nn.factor_attention import FactorAttentionLayer, FactorDecoderLayer, FactorGraph
from fmat.ppo import Batch, PPOConfig, ValueNormalizer, compute_gae, ppo_update
from fmat.registry import ON_POLICY, REGISTRY, build_policy
from tiny_env import TinyEnv, path_graph, random_obs, spec


ON_POLICY_LEARNERS = [name for name, e in REGISTRY.items() if e.kind == ON_POLICY]
LAYOUTS = ("phases", "lanes")


def test_factor_counts_on_3x3_grid():
    g = grid_graph(3, 3)
    members, m = build_factors(g, "neighbourhood")
    assert m == 9 and members.shape[1] == 9 + 24  # each node plus its 12 * 2 directed neighbours
    # a corner sits in 3 neighbourhoods (its own + 2 neighbours'), the centre in 5
    counts = torch.bincount(members[0], minlength=9)
    assert counts[0] == 3 and counts[4] == 5
    members, m = build_factors(g, "grid")
    assert m == 4 and members.shape[1] == 16
    assert torch.bincount(members[0], minlength=9).tolist() == [1, 2, 1, 2, 4, 2, 1, 2, 1]
    members, m = build_factors(g, "edges")
    assert m == 12 and members.shape[1] == 24
    with pytest.raises(ValueError, match="rectangular grid"):
        build_factors(path_graph(3).__class__(agents=("a", "b", "c"), edge_index=torch.tensor([[0, 1], [1, 2]]),
                                               edge_length=torch.ones(2), positions=torch.tensor([[0.0, 0], [1, 0], [5, 3]])), "grid")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("algorithm", ON_POLICY_LEARNERS)
def test_masked_actions_are_never_sampled(algorithm, layout):
    torch.manual_seed(0)
    g = grid_graph(2, 3)
    policy = build_policy(algorithm, spec(layout), g, {})
    obs = random_obs(spec(layout), 64, 6)
    for _ in range(5):
        action, logprob, entropy, value = policy.get_action_and_value(obs)
        assert obs["action_mask"].gather(-1, action[..., None]).all()
        assert torch.isfinite(logprob).all() and torch.isfinite(entropy).all()
        assert value.shape == (64, 6)
    # masked actions carry no probability mass in entropy either: one valid action -> zero entropy
    only_first = dict(obs, action_mask=torch.zeros_like(obs["action_mask"]).index_fill_(-1, torch.tensor([0]), True))
    _, _, entropy, _ = policy.get_action_and_value(only_first)
    assert torch.allclose(entropy, torch.zeros_like(entropy), atol=1e-6)


@pytest.mark.parametrize("factorisation", ["neighbourhood", "grid", "edges"])
def test_fmat_is_local(factorisation):
    """Agent i's logits and value do not move when an agent beyond the receptive field changes."""
    torch.manual_seed(0)
    rows, cols = 3, 12
    g = grid_graph(rows, cols)
    policy = build_policy("fmat", spec(max_phases=3), g, {"factorisation": factorisation, "encoder_layers": 1,
                                                          "decoder_layers": 1})
    hops = policy.receptive_field_hops
    obs = random_obs(spec(max_phases=3), 1, rows * cols)
    far = rows * cols - 1  # bottom-right corner
    logits, values = policy(obs)
    changed = {k: v.clone() for k, v in obs.items()}
    changed["phases"][0, far] = 1.0 - changed["phases"][0, far]
    logits2, values2 = policy(changed)
    distance = torch.tensor([abs(i // cols - far // cols) + abs(i % cols - far % cols) for i in range(rows * cols)])
    outside = distance > hops
    assert outside.any()
    assert torch.allclose(logits[0, outside], logits2[0, outside])
    assert torch.allclose(values[0, outside], values2[0, outside])
    assert not torch.allclose(logits[0, far], logits2[0, far])  # the agent itself does change


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mat_teacher_forcing_matches_autoregressive_rollout(layout):
    torch.manual_seed(0)
    policy = build_policy("mat", spec(layout), grid_graph(2, 3), {})
    obs = random_obs(spec(layout), 16, 6)
    action, logprob, entropy, value = policy.get_action_and_value(obs)
    _, logprob_tf, entropy_tf, value_tf = policy.get_action_and_value(obs, action)
    assert torch.allclose(logprob, logprob_tf, atol=1e-5)
    assert torch.allclose(entropy, entropy_tf, atol=1e-5)
    assert torch.allclose(value, value_tf)


# every learner with the default layout; the lanes layout's encoder and head once (the slowest tests here)
@pytest.mark.parametrize("algorithm,layout", [(a, "phases") for a in ON_POLICY_LEARNERS] + [("ippo", "lanes")])
def test_learner_beats_random_on_tiny_env(algorithm, layout):
    """In the phases layout only the phase rows say which phase has the longer queue: the learner
    must serve it, and the same policy with its phase rows hidden falls back to chance."""
    torch.manual_seed(0)
    env = TinyEnv(n_agents=4, n_actions=3, batch=32, layout=layout)
    policy = build_policy(algorithm, env.spec, env.graph, {})
    # fmat's default PPO settings: with lr 3e-3 and no entropy bonus, MAT and f-MAT learn this
    # bandit and then collapse to one action, so a pass would depend on the torch thread count
    cfg = PPOConfig(epochs=4, minibatches=2)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    value_norm = ValueNormalizer()

    def mean_reward(deterministic, hide_phases=False):
        with torch.no_grad():
            obs = env.observe()
            if hide_phases:
                obs = dict(obs, phases=obs["phases"][torch.randperm(env.B)])  # another sample's rows
            action = policy.get_action_and_value(obs, deterministic=deterministic)[0]
        return env.reward(action).mean().item()

    for _ in range(40):
        obs = env.observe()
        with torch.no_grad():
            action, logprob, _, value = policy.get_action_and_value(obs)
        reward = env.reward(action)
        values = value_norm.denormalize(value)
        one = torch.ones(1, *reward.shape)
        adv, ret = compute_gae(reward[None], values[None], torch.zeros_like(one), one, one, 0.99, 0.95)
        ppo_update(policy, optimizer, value_norm, Batch(obs, action, logprob, value, adv[0], ret[0]), cfg)
    random_level = 0.5 * (1 / 3) + 0.5 * (1 / 2)  # uniform over valid actions
    assert mean_reward(deterministic=True) > random_level + 0.35
    if layout == "phases":  # without its rows, the best a policy can do is a fixed valid phase: 1/2
        assert mean_reward(deterministic=True, hide_phases=True) < 0.5 + 0.15


def test_policy_speed_benchmark_reports_both_models():
    from fmat.perf.policy_speed import measure, report

    rows = measure([4, 6], repeats=1)
    assert [r["agents"] for r in rows] == [4, 6]
    assert all(r[k] > 0 for r in rows for k in ("fmat_act", "mat_act", "fmat_update", "mat_update"))
    text = report(rows)
    assert text.startswith("CPU, batch 1") and "time per agent at 6 vs 4 agents" in text
    assert all(r["fmat_attention"] == "dense" for r in rows) and text.splitlines()[2].endswith("dense")
    assert "MAPPO" not in text


def test_policy_speed_benchmark_times_mappo_and_ippo_beside_fmat():
    """MAPPO's centralised critic reads every agent's encoding, so its parameters grow with the agent
    count while f-MAT's and IPPO's do not; the report's last line shows it."""
    from fmat.perf.policy_speed import measure, report

    rows = measure([4, 9], against=("mappo", "ippo"), repeats=1)
    assert all(r[f"{name}_{k}"] > 0 for r in rows for name in ("fmat", "mappo", "ippo") for k in ("act", "update"))
    assert "mat_act" not in rows[0]
    assert rows[0]["fmat_params"] == rows[1]["fmat_params"] and rows[0]["ippo_params"] == rows[1]["ippo_params"]
    assert rows[1]["mappo_params"] > rows[0]["mappo_params"]
    lines = report(rows).splitlines()
    assert "MAPPO act ms" in lines[1] and "IPPO/f-MAT" in lines[1] and " MAT act ms" not in lines[1]
    assert len(lines[2].split()) == len(lines[3].split()) == 2 + 2 * 2 + 2 + 2 * 2 + 1
    assert lines[-1].startswith("parameters (millions) at 4/9 agents: f-MAT ") and "; MAPPO " in lines[-1]


def test_factor_attention_starts_near_identity():
    """f-MAT's attention starts as MAT's does (projections with gain 0.01): a new layer's messages are
    small next to the tokens they are added to, so each agent's own observation reaches its heads
    undiluted. With PyG's default init the messages were full-size, and f-MAT stayed at the uniform
    policy on grid4x4 (results/README.md, "f-MAT's attention init")."""
    torch.manual_seed(0)
    members, m = build_factors(grid_graph(3, 3), "neighbourhood")
    layer = FactorAttentionLayer(64)
    agents, factors = torch.randn(9, 64), torch.randn(m, 64)
    for message, token in ((layer.to_factor((agents, factors), members), factors),
                           (layer.to_agent((factors, agents), members.flip(0)), agents)):
        assert message.norm() < 0.05 * token.norm()


def random_graph(n: int, p: float, seed: int) -> AgentGraph:
    """An undirected random graph; at small p some agents are isolated."""
    g = torch.Generator().manual_seed(seed)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if torch.rand(1, generator=g).item() < p]
    edges = torch.tensor(pairs + [(j, i) for i, j in pairs], dtype=torch.long).reshape(-1, 2).t()
    return AgentGraph(agents=tuple(f"a{i}" for i in range(n)), edge_index=edges.reshape(2, -1),
                      edge_length=torch.ones(edges.shape[1]), positions=torch.rand(n, 2, generator=g))


@pytest.mark.parametrize("factorisation", ["neighbourhood", "edges"])
@pytest.mark.parametrize("n,p,seed", [(7, 0.1, 0), (12, 0.3, 1), (30, 0.15, 2)])
def test_dense_factor_attention_equals_torch_geometric(factorisation, n, p, seed):
    """The dense masked attention that f-MAT uses on small graphs gives PyG's TransformerConv result,
    forward and backward, on graphs with isolated agents and factors of different sizes."""
    graph = random_graph(n, p, seed)
    members, m = build_factors(graph, factorisation)
    assert torch.bincount(members[1]).unique().numel() > 1  # factors of different sizes
    dense, sparse = FactorGraph(members, n, m, dense=True), FactorGraph(members, n, m, dense=False)
    torch.manual_seed(seed)
    layers = (FactorAttentionLayer(16, heads=2), FactorDecoderLayer(16, heads=4))
    agents, factors, encoded = torch.randn(3, n, 16), torch.randn(3, m, 16), torch.randn(3, m, 16)
    for layer in layers:
        for lin in layer.modules():
            if isinstance(lin, torch.nn.Linear):  # full-size messages, so a mismatch cannot hide in the residual
                torch.nn.init.normal_(lin.weight)
        outputs, grads = [], []
        for fg in (dense, sparse):
            layer.zero_grad()
            extra = (encoded,) if isinstance(layer, FactorDecoderLayer) else ()
            out_agents, out_factors = layer(agents, fg.factor_mean(agents) + factors, fg, *extra)
            (out_agents.square().sum() + out_factors.square().sum()).backward()
            outputs.append(torch.cat([out_agents.flatten(), out_factors.flatten()]))
            grads.append(torch.cat([q.grad.flatten() for q in layer.parameters() if q.grad is not None]))  # lin_skip unused
        torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=1e-4)


def test_factor_graph_picks_dense_only_where_it_is_exact_and_small():
    members, m = build_factors(grid_graph(4, 4), "neighbourhood")
    assert FactorGraph(members, 16, m).dense
    members, m = build_factors(grid_graph(32, 32), "neighbourhood")
    assert not FactorGraph(members, 1024, m).dense
    # agent 2 belongs to no factor: a fully masked softmax row would be NaN, so stay sparse
    assert not FactorGraph(torch.tensor([[0, 1], [0, 0]]), 3, 1).dense


def test_fmat_policy_is_the_same_function_dense_or_sparse():
    torch.manual_seed(0)
    graph = grid_graph(3, 4)
    policy = build_policy("fmat", spec("phases"), graph, {})
    obs = random_obs(spec("phases"), 2, graph.num_nodes)
    assert policy.factor_graph.dense
    logits, values = policy(obs)
    policy.factor_graph.dense = False
    sparse_logits, sparse_values = policy(obs)
    torch.testing.assert_close(logits, sparse_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(values, sparse_values, atol=1e-5, rtol=1e-4)


def test_train_benchmark_report_compares_with_raw_sumo():
    from fmat.perf.train_overhead import report

    times = {"raw": [(2.0, 1.5), (1.0, 1.0), (3.0, 2.0)], "env": [(3.0, 2.5)] * 3, "train": [(4.0, 3.0), (4.0, 3.0), (5.0, 4.0)]}
    lines = report("cologne3", "fmat", times).splitlines()
    assert lines[2].split()[-3:] == ["2.00", "1.50", "1.00x"]  # medians of wall and CPU seconds
    assert lines[4].split()[-3:] == ["4.00", "3.00", "2.00x"]
    assert lines[-2].startswith("training overhead: 0.33x")
    assert lines[-1] == "training episode: 2.00x raw SUMO"


def test_env_benchmark_report_separates_libsumo_from_fmat_work():
    from fmat.perf.env_speed import report

    times = {"raw_sumo": [2.0, 2.0], "libsumo_loop": [2.5, 2.5], "fmat_fixed": [3.0, 3.0], "sumo_rl_fixed": [4.5, 4.5]}
    lines = report("grid4x4", times).splitlines()
    assert lines[3].split() == ["libsumo_loop", "2.50", "1.25x"]
    assert lines[-1] == "fmat is 1.50x faster than sumo-rl; fmat's own work adds 1.20x to the libsumo loop"


def test_graph_attention_leaves_no_generated_module_in_the_temporary_folder(tmp_path):
    # torch_geometric writes each message-passing layer's generated code to a temporary file and
    # never deletes it; fmat.nn removes the files at exit
    import os
    import subprocess
    import sys

    code = ("import os, tempfile\n"
            "from fmat.nn.factor_attention import TransformerConv\n"
            "TransformerConv(4, 4)\n"
            "print(sorted(os.listdir(tempfile.gettempdir())))\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp_path)},
                         capture_output=True, text=True, check=True).stdout
    assert "TransformerConv_propagate" in out  # it was written while the process ran
    assert list(tmp_path.iterdir()) == []
