import csv
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from fmat import checkpoint
from fmat import train as train_module
from fmat.cli import main
from fmat.config import validate
from fmat.envs.errors import FmatError
from fmat.evaluate import NotApplicableError, evaluate
from fmat.registry import ALGORITHMS, LEARNERS, ON_POLICY, REGISTRY, transfer_blocker
from fmat.train import Trained, train, train_run

SHORT = {"cologne3": {"begin": 25200, "end": 25400}, "grid-3x3": {"end": 200}}


def config(tmp_path, algorithm, scenario, **train_opts):
    return validate(
        {
            "algorithm": algorithm,
            "scenario": scenario,
            "seed": 0,
            "output_dir": str(tmp_path),
            "env": SHORT[scenario],
            "train": {"episodes": 1, "num_envs": 1, "rollout_steps": 10, **train_opts},
            **({"ppo": {"epochs": 2}} if REGISTRY[algorithm].kind == ON_POLICY else {}),
            "evaluation": {"episodes": 1},
        },
        "test",
    )


@pytest.mark.parametrize("scenario", ["cologne3", "grid-3x3"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_trains_and_evaluates(tmp_path, algorithm, scenario):
    run_dir = train(config(tmp_path, algorithm, scenario), progress=False)
    assert {p.name for p in run_dir.iterdir()} >= {"config.yaml", "metrics.csv", "checkpoint.pt", "eval.json", "tb"}
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert len(rows) == 1 and float(rows[0]["delay"]) > 0
    result = json.loads((run_dir / "eval.json").read_text())
    assert result["algorithm"] == algorithm and result["mean"]["delay"] > 0
    # a PPO learner's evaluation records greedy and sampled actions; the others act deterministically
    assert set(result.get("modes", {})) == ({"greedy", "sampled"} if REGISTRY[algorithm].kind == ON_POLICY else set())
    if algorithm in LEARNERS and scenario == "cologne3":
        # ingolstadt1 has 1 signal with 3 phases and 7 incoming lanes; cologne3 has 3, with up to 4 and 8
        if transfer_blocker(algorithm):
            with pytest.raises(NotApplicableError):
                evaluate(run_dir, scenario="ingolstadt1")
        else:
            assert evaluate(run_dir, scenario="ingolstadt1")["mean"]["delay"] > 0


def read_rows(run_dir):
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in csv.DictReader(open(run_dir / "metrics.csv"))]


def test_resume_continues_without_lost_or_repeated_episodes(tmp_path, monkeypatch):
    straight = train(config(tmp_path / "a", "fmat", "cologne3", episodes=3, rollout_steps=7), progress=False)
    first = train(config(tmp_path / "b", "fmat", "cologne3", episodes=1, rollout_steps=7), progress=False)
    with pytest.raises(Exception, match="--resume"):
        train(config(tmp_path / "b", "fmat", "cologne3", episodes=3, rollout_steps=7), progress=False)
    resumed = train(config(tmp_path / "b", "fmat", "cologne3", episodes=3, rollout_steps=7), resume=True, progress=False)
    assert first == resumed
    assert [r["episode"] for r in read_rows(resumed)] == ["0", "1", "2"]
    assert read_rows(resumed) == read_rows(straight)  # same seeds, same metrics, as if never stopped
    evaluated = (resumed / "eval.json").read_text()  # records its wall time, so a re-evaluation would change it
    same = config(tmp_path / "b", "fmat", "cologne3", episodes=3, rollout_steps=7)
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(same.model_dump()))
    proc = fmat_cli("train", str(tmp_path / "b.yaml"), "--resume", "--quiet")
    assert proc.returncode == 0 and "already finished this budget; nothing to do" in proc.stderr, proc.stderr
    assert (resumed / "eval.json").read_text() == evaluated  # a finished run is left alone
    assert train_run(same, resume=True) == Trained(resumed, already_done=True)  # decided under the run's lock
    checks, real_check = [], train_module.check_run
    monkeypatch.setattr(train_module, "check_run", lambda cfg: checks.append(cfg) or real_check(cfg))
    assert main(["train", str(tmp_path / "b.yaml"), "--resume", "--quiet"]) == 0
    assert len(checks) == 1  # `fmat train` checks the run (and reads its network) once, not again in train_run


@pytest.mark.parametrize("algorithm", ["idqn", "mplight", "colight"])
def test_off_policy_resume_is_exact_with_the_replay_buffer(tmp_path, algorithm):
    """A 3-episode run stopped after its first episode, then resumed, equals a straight one. (Epsilon
    falls over the configured budget, so the run is stopped by a time budget, not a shorter one.)"""
    def cfg(folder, **train_opts):
        c = config(folder, algorithm, "cologne3", episodes=3, **train_opts).model_dump()
        c["dqn"] = {"learning_starts": 8, "batch_size": 8, "target_update": 10, "n_step": 3}
        return validate(c, "test")

    straight = train(cfg(tmp_path / "a"), progress=False)
    stopped = train(cfg(tmp_path / "b", time_budget_s=1e-3), progress=False)
    assert len(read_rows(stopped)) == 1
    resumed = train(cfg(tmp_path / "b"), resume=True, progress=False)
    assert read_rows(resumed) == read_rows(straight)
    state = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert state["replay"]["size"] == 3 * 20 and state["dqn_steps"] == 60


def test_parallel_envs_and_reward_sharing(tmp_path):
    run_dir = train(config(tmp_path, "fmat", "grid-3x3", episodes=2, num_envs=2, reward_sharing="neighbours"), progress=False)
    rows = read_rows(run_dir)
    assert [r["episode"] for r in rows] == ["0", "1"]
    assert rows[0]["delay"] != rows[1]["delay"]  # two workers, two SUMO seeds


def test_transfer_and_not_applicable(tmp_path):
    fm = train(config(tmp_path, "fmat", "grid-3x3"), progress=False)
    torch.set_num_threads(2)
    result = evaluate(fm, scenario="grid-2x3")
    assert torch.get_num_threads() == 1  # the run's train.threads, not one thread per core
    assert result["scenario"] == "grid-2x3" and result["trained_on"] == "grid-3x3"
    cfg = config(tmp_path, "mappo", "grid-3x3").model_dump()
    mappo = train(validate({**cfg, "model": {"agent_id": True}}, "test"), progress=False)
    with pytest.raises(NotApplicableError, match="mappo's input layers .* number of agents, so it cannot run on grid-2x3"):
        evaluate(mappo, scenario="grid-2x3")
    # the lanes layout's slots are padded positions: a map with bigger signals does not fit
    lanes = train(validate({**config(tmp_path / "lanes", "fmat", "grid-3x3").model_dump(),
                            "env": {**SHORT["grid-3x3"], "observation": "lanes"}}, "test"), progress=False)
    with pytest.raises(FmatError, match="more than the padding"):
        evaluate(lanes, scenario="cologne3")


def fmat_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fmat.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_bad_config_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("algorithm: fmat\nscenario: cologne3\ntrain:\n  episods: 3\n")
    proc = fmat_cli("train", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "train.episods" in proc.stderr and "episodes" in proc.stderr
    proc = fmat_cli("train", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = fmat_cli("train", str(bad), "--set", "algorithm=dqn")
    assert proc.returncode == 2
    proc = fmat_cli("evaluate", str(tmp_path))
    assert proc.returncode == 2 and "not a run directory" in proc.stderr


def test_sampled_evaluation_is_reproducible(tmp_path):
    run_dir = train(config(tmp_path, "fmat", "cologne3"), progress=False)
    first = evaluate(run_dir, greedy=False)
    assert first["evaluation"] == "final policy, sampled actions"
    assert evaluate(run_dir, greedy=False)["mean"] == first["mean"]
    assert evaluate(run_dir)["evaluation"] == "final policy, greedy actions"


def test_time_budget_stops_early_then_a_raised_budget_continues(tmp_path):
    from fmat.train import is_done

    tight = config(tmp_path, "max_pressure", "cologne3", episodes=3, time_budget_s=1e-6)
    run_dir = train(tight, progress=False)
    done = json.loads((run_dir / "done.json").read_text())
    assert done["episodes"] == 1 and not (run_dir / "eval.json").exists()  # stopped after the episode that showed it
    stopped = done["over_budget"]
    assert stopped["time_budget_s"] == 1e-6 and stopped["seconds_per_episode"] > 0
    assert stopped["projected_seconds"] == pytest.approx(3 * stopped["seconds_per_episode"])
    assert is_done(tight)  # a rerun under the same budget does no work
    roomy = config(tmp_path, "max_pressure", "cologne3", episodes=3, time_budget_s=1e6)
    assert not is_done(roomy)
    train(roomy, resume=True, progress=False)
    done = json.loads((run_dir / "done.json").read_text())
    assert done["episodes"] == 3 and "over_budget" not in done and (run_dir / "eval.json").is_file()
    # the load is sampled at each start and once a minute; these episodes take seconds, so one
    # sample from before the resume and one after it
    assert done["machine"]["cpus"] == os.cpu_count() and done["machine"]["mean_load"] >= 0
    assert done["machine"]["cpu"] and done["machine"]["torch"] == torch.__version__ and "eclipse-sumo" in done["machine"]
    assert checkpoint.load(run_dir / "checkpoint.pt", "max_pressure")["load"][1] == 2
    assert [r["episode"] for r in read_rows(run_dir)] == ["0", "1", "2"]


def test_load_is_sampled_once_a_minute_while_training(monkeypatch):
    from fmat import runner

    now = [0.0]
    monkeypatch.setattr(runner.os, "getloadavg", lambda: (1.5, 0.0, 0.0))
    load = runner.LoadSampler((4.0, 2), clock=lambda: now[0])  # resumed: two samples summing to 4
    for t in (0.0, 30.0, 59.9, 60.0, 61.0, 125.0):  # decisions at these seconds
        now[0] = t
        load.tick()
    assert load.state() == [4.0 + 3 * 1.5, 5]  # at 0, 60 and 125 s


def test_a_slow_first_episode_alone_does_not_stop_a_run(tmp_path):
    """An untrained policy's first episode can take 3 times its later ones (IPPO on rush-8x8), so a
    projection from it stops a run only far past the budget; otherwise the run stops once it has
    spent the budget."""
    from fmat.train import over_budget

    cfg = config(tmp_path, "ippo", "cologne3", episodes=100, time_budget_s=7200)
    assert over_budget(cfg, 1, 100, 80.0) is None  # projects 8000 s: could still finish, so it trains on
    # a 150 s first episode, 3 times later ones of 50 s: 15000 s projected, but 5000 s would do
    assert over_budget(cfg, 1, 100, 150.0) is None
    assert over_budget(cfg, 2, 100, 200.0) is None
    assert over_budget(cfg, 1, 100, 300.0)["projected_seconds"] == pytest.approx(30000)  # hopeless: stops now
    assert over_budget(cfg, 89, 100, 7199.0) is None
    spent = over_budget(cfg, 90, 100, 7210.0)  # the budget is spent with 10 episodes left
    assert spent["episodes"] == 90 and spent["seconds_per_episode"] == pytest.approx(7210 / 90)
    assert over_budget(cfg, 100, 100, 9000.0) is None  # finished: never over budget
