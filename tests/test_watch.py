"""Watching a policy: per-signal metrics, `fmat map`, and `fmat evaluate --gui`."""
import ast
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from fmat.cli import main
from fmat.config import validate
from fmat.envs import get_scenario, make_env
from fmat.envs.network import read_network
from fmat.train import train

SHORT = {"begin": 25200, "end": 25400}


def test_per_signal_metrics_match_a_hand_count():
    env = make_env("cologne3", seed=3, min_green=5, **SHORT)
    obs, _ = env.reset_arrays()
    n = len(env.possible_agents)
    queue, waiting, vehicles, switches = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    phase, steps, done = np.zeros(n, int), 0, False
    while not done:
        actions = np.full(n, steps % 2)  # 0, 1, 0, 1, ...: every decision after the first changes phase
        obs, _, done, info = env.step_arrays(actions)
        st = env.traffic_state
        real = st.in_mask
        queue += np.where(real, st.in_halting, 0).sum(1)
        waiting += np.where(real, st.in_waiting, 0).sum(1)
        vehicles += np.where(real, st.in_vehicles, 0).sum(1)
        switches += actions != phase
        phase, steps = actions, steps + 1
    per_signal = env.signal_metrics()
    env.close()
    assert steps == 20 and list(per_signal) == env.possible_agents
    for i, agent in enumerate(env.possible_agents):
        assert per_signal[agent]["switches"] == switches[i] == steps - 1
        assert per_signal[agent]["queue"] == pytest.approx(queue[i] / steps)
        assert per_signal[agent]["waiting"] == pytest.approx(waiting[i] / max(vehicles[i], 1))
    assert np.mean([m["queue"] for m in per_signal.values()]) == pytest.approx(info["episode"]["queue"])
    assert sum(m["queue"] for m in per_signal.values()) > 0


@pytest.fixture(scope="module")
def greedy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("greedy")
    cfg = validate({"algorithm": "greedy", "scenario": "cologne3", "output_dir": str(out), "env": SHORT,
                    "train": {"episodes": 1}, "evaluation": {"episodes": 2}}, "test")
    return train(cfg, progress=False)


def test_eval_json_carries_per_signal_metrics(greedy_run):
    result = json.loads((greedy_run / "eval.json").read_text())
    agents = [s.id for s in read_network(get_scenario("cologne3").net).signals]
    assert sorted(result["signals"]) == sorted(agents)
    assert all(set(m) == {"queue", "waiting", "switches"} for m in result["signals"].values())


def fake_eval(folder, scenario, values, algorithm="fmat", delay=30.0):
    folder.mkdir(parents=True)
    signals = {s: {"queue": v, "waiting": 2 * v, "switches": 10.0} for s, v in values.items()}
    (folder / "eval.json").write_text(json.dumps({"algorithm": algorithm, "seed": 0, "scenario": scenario,
                                                  "mean": {"delay": delay}, "signals": signals}))
    return folder


def described(png):
    text = Image.open(png).text["Description"]
    return ast.literal_eval(text.removeprefix("fmat map: "))


def test_map_colours_one_marker_per_signal(capsys, tmp_path):
    agents = [s.id for s in read_network(get_scenario("cologne8").net).signals]
    mine = fake_eval(tmp_path / "a", "cologne8", {a: float(i) for i, a in enumerate(agents)})
    theirs = fake_eval(tmp_path / "b", "cologne8", {a: 3.0 for a in agents}, algorithm="greedy")
    assert main(["map", str(mine), "--out", str(tmp_path / "a.png")]) == 0
    info = described(tmp_path / "a.png")
    assert info["signals"] == len(agents) == len(info["values"])
    assert info["values"] == {a: float(i) for i, a in enumerate(agents)}
    assert main(["map", str(mine), "--against", str(theirs), "--metric", "waiting", "--out", str(tmp_path / "b.png")]) == 0
    diff = described(tmp_path / "b.png")["values"]
    assert diff == {a: 6.0 - 2.0 * i for i, a in enumerate(agents)}  # positive (green) where mine waits less
    assert "figure written" in capsys.readouterr().out


def test_map_against_another_scenario_is_one_line(capsys, tmp_path):
    mine = fake_eval(tmp_path / "a", "cologne1", {"cluster_357187_359543": 1.0})
    theirs = fake_eval(tmp_path / "b", "ingolstadt1", {"x": 1.0})
    assert main(["map", str(mine), "--against", str(theirs), "--out", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "same scenario" in err and "ingolstadt1" in err
    assert not (tmp_path / "m.png").exists()


def test_map_of_an_evaluation_without_signals_says_how_to_get_them(capsys, tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    (run / "eval.json").write_text(json.dumps({"scenario": "cologne1", "mean": {"delay": 1.0}}))
    assert main(["map", str(run), "--out", str(tmp_path / "m.png")]) == 2
    assert "fmat evaluate" in capsys.readouterr().err


def test_gui_without_a_display_is_one_line(capsys, monkeypatch, greedy_run):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["evaluate", str(greedy_run), "--gui"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no display" in err and "fmat map" in err


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="Xvfb is not installed (apt-get install xvfb)")
def test_gui_runs_the_policy_in_sumo_gui_under_xvfb(greedy_run):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(["xvfb-run", "-a", sys.executable, "-m", "fmat.cli", "evaluate", str(greedy_run), "--gui"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    gui = json.loads(proc.stdout)
    plain = json.loads((greedy_run / "eval.json").read_text())
    # the same seed as the first evaluation episode, through TraCI and sumo-gui instead of libsumo
    assert gui["episodes"][0]["delay"] == pytest.approx(plain["episodes"][0]["delay"])
    assert yaml.safe_load((greedy_run / "config.yaml").read_text())["algorithm"] == "greedy"
