import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from fmat.bench import bench
from fmat.envs.errors import FmatError
from fmat.registry import ConfigError
from fmat.report import collect, render
from fmat.stats import bootstrap_ci, iqm

SWEEP = {
    "algorithms": ["fmat", "max_pressure"],
    "scenarios": ["cologne3"],
    "seeds": [0, 1],
    "env": {"begin": 25200, "end": 25300},
    "train": {"episodes": 1, "rollout_steps": 5},
    "ppo": {"epochs": 1},
    "evaluation": {"episodes": 1},
}


def write_sweep(tmp_path, name="sweep.yaml", **changes):
    data = {**SWEEP, "output_dir": str(tmp_path / "runs"), **changes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def rows(run_dir):
    return list(csv.DictReader(open(run_dir / "metrics.csv")))


@pytest.mark.parametrize("launcher", ["local", "ray"])
def test_sweep_end_to_end_then_rerun_does_nothing(tmp_path, launcher, monkeypatch):
    path = write_sweep(tmp_path)
    result = bench(str(path), launcher=launcher, workers=2, progress=False)
    assert (len(result.done), len(result.failed), result.total) == (4, 0, 4), result.failed
    for run in collect([str(tmp_path / "runs")]):
        assert len(rows(run.path)) == 1 and (run.path / "eval.json").is_file()
    again = bench(str(path), launcher=launcher, workers=2, progress=False)
    assert len(again.skipped) == 4 and not again.done

    table = render(collect([str(tmp_path / "runs")]))
    assert "| fmat |" in table and "| max_pressure |" in table and "(2)" in table and "**" in table
    from fmat.plot import plot

    png = plot(collect([str(tmp_path / "runs")]), str(tmp_path / "curves.png"))
    assert png.stat().st_size > 10_000
    import matplotlib.axes

    levels, axhline = [], matplotlib.axes.Axes.axhline
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline", lambda ax, *a, **k: levels.append(a) or axhline(ax, *a, **k))
    plot(collect([str(tmp_path / "runs")]), str(tmp_path / "seconds.png"), x="seconds")
    assert len(levels) == 1  # max_pressure is a dashed level on a wall-clock axis too, not a few-second stub


def test_failed_run_is_reported_and_others_go_on(tmp_path):
    from fmat.sweep import load_sweep

    path = write_sweep(tmp_path)
    for cfg in load_sweep(path).runs:  # fmat's runs hold a damaged checkpoint, which only the run itself reads
        if cfg.algorithm == "fmat":
            cfg.run_dir.mkdir(parents=True)
            (cfg.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
            (cfg.run_dir / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    proc = subprocess.run([sys.executable, "-m", "fmat.cli", "bench", str(path), "--quiet", "--workers", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "2 trained now" in proc.stdout and "2 failed" in proc.stdout
    assert "cologne3__fmat__s0: fmat: error:" in proc.stdout and "corrupt or truncated" in proc.stdout


def test_killed_sweep_rerun_completes(tmp_path):
    path = write_sweep(tmp_path, seeds=[0, 1, 2], algorithms=["max_pressure"], train={"episodes": 2})
    proc = subprocess.Popen([sys.executable, "-m", "fmat.cli", "bench", str(path), "--quiet", "--workers", "1"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs.glob("*/done.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(runs.glob("*/done.json")))
    assert 1 <= finished < 3
    result = bench(str(path), workers=1, progress=False)
    assert len(result.skipped) == finished and len(result.done) == 3 - finished and not result.failed
    for run_dir in runs.iterdir():
        assert [r["episode"] for r in rows(run_dir)] == ["0", "1"]  # nothing lost or repeated


def _live_processes_in_group(pgid: int) -> list[str]:
    """Processes of a process group that have not exited (zombies awaiting a reaper do not count)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(stat.parent.name)
    return live


def _terminate_when_ready(args: list[str], scratch: Path, ready, settle_s: float = 0.0) -> float:
    """Run `fmat ARGS` in a process group of its own, with `scratch` as its temporary folder; once
    `ready(pid)` holds (and `settle_s` later) send SIGTERM to its own process only, as `kill PID` or
    a scheduler does. Checks that it exits 143 saying "fmat: terminated", that every process of its
    group exits and that it leaves nothing in `scratch`. Returns the seconds from the signal until
    the group had exited."""
    proc = subprocess.Popen([sys.executable, "-m", "fmat.cli", *args],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.time() + 120
    while time.time() < deadline and not ready(proc.pid):
        time.sleep(0.05)
    assert ready(proc.pid), "the command never reached the point to terminate it at"
    time.sleep(settle_s)
    proc.send_signal(signal.SIGTERM)
    signalled = time.time()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "fmat: terminated"
    while _live_processes_in_group(proc.pid) and time.time() < signalled + 10:
        time.sleep(0.05)
    assert not _live_processes_in_group(proc.pid)  # its runs, timing processes and SUMO have exited with it
    assert list(scratch.iterdir()) == []  # no SUMO output folder left behind
    return time.time() - signalled


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_terminated_sweep_stops_its_runs_and_leaves_no_temporary_files(tmp_path):
    path = write_sweep(tmp_path, algorithms=["max_pressure"], seeds=[0], train={"episodes": 20})
    scratch = tmp_path / "tmp"  # the temporary folder of the sweep and of every process it starts
    scratch.mkdir()
    metrics = tmp_path / "runs" / "cologne3__max_pressure__s0" / "metrics.csv"
    _terminate_when_ready(["bench", str(path), "--quiet", "--workers", "1"], scratch,
                          lambda pid: metrics.is_file() and len(rows(metrics.parent)) >= 1)
    assert len(rows(metrics.parent)) < 20, "the run finished before it was terminated; the test proves nothing"
    assert "fmat: terminated" in (metrics.parent / "train.log").read_text()
    assert not [p for p in metrics.parent.iterdir() if p.name.startswith(".") and p.name != ".lock"]  # nor an atomic write's temporary file
    assert bench(str(path), workers=1, progress=False).done == [str(metrics.parent)]
    assert [r["episode"] for r in rows(metrics.parent)] == [str(e) for e in range(20)]  # resumed, nothing lost or repeated


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_terminated_perf_env_stops_its_timing_process_at_once(tmp_path):
    # `fmat perf env` times each method in a spawned process; terminated, it must not wait for that
    # process to time its episode to the end
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def timing_child(pgid):
        for pid in _live_processes_in_group(pgid):
            try:
                if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                pass
        return False

    seconds = _terminate_when_ready(["perf", "env", "--scenario", "ingolstadt21", "--repeats", "1"], scratch, timing_child,
                                    settle_s=1)
    assert seconds < 4  # the timing process's episode of ingolstadt21 takes about 9 s


def test_run_finished_by_another_sweep_after_listing_counts_as_skipped(tmp_path):
    from fmat.launchers import run_command, train_task
    from fmat.rundir import RunDir
    from fmat.sweep import load_sweep

    path = write_sweep(tmp_path, algorithms=["max_pressure"], seeds=[0])
    [cfg] = load_sweep(path).runs
    listed = RunDir(cfg.run_dir)
    listed.write_sweep_config(cfg)  # this sweep has listed the run ...
    assert bench(str(path), workers=1, progress=False).done == [str(cfg.run_dir)]  # ... another one trains it
    assert run_command(train_task(listed)) == ("skipped", "")


def test_runs_import_the_sweeps_fmat_not_a_checkout_in_the_working_directory(tmp_path, monkeypatch):
    from fmat.launchers import Task, run_command

    (tmp_path / "fmat").mkdir()  # a checkout whose fmat/ is not the package running this sweep
    (tmp_path / "fmat" / "__init__.py").write_text("raise ImportError('the checkout was imported')\n")
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "scenarios.log"
    assert run_command(Task(("scenarios",), str(log))) == ("done", "")
    assert "grid4x4" in log.read_text()


def test_two_sweeps_on_one_directory(tmp_path):
    path = write_sweep(tmp_path, algorithms=["max_pressure", "greedy"])
    results = []
    threads = [threading.Thread(target=lambda: results.append(bench(str(path), workers=1, progress=False))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not any(r.failed for r in results)
    assert sum(len(r.done) for r in results) == results[0].total  # each run counted as trained once
    for run_dir in (tmp_path / "runs").iterdir():
        assert (run_dir / "done.json").is_file()
        assert [r["episode"] for r in rows(run_dir)] == ["0"]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"algorithms": ["fmat", "dqn"]}, "algorithms[1]: unknown algorithm 'dqn'"),
        ({"scenarios": ["cologne3", "colgne8"]}, "scenarios[1]: unknown scenario 'colgne8'"),
        ({"trian": {"episodes": 1}}, "trian: unknown key"),
        ({"train": {"episodes": "many"}}, "train.episodes"),
        ({"seeds": "all"}, "seeds"),
        ({"algorithms": [{"mat": {"model": {"width": 3}}}]}, "model.width: unknown key for mat"),
        ({"transfer": ["cologne3", "grid4"]}, "transfer[1]: unknown scenario 'grid4'"),
        ({"transfer": ["cologne1"], "transfer_episodes": 0}, "transfer_episodes: expected a whole number"),
        ({"transfer_episodes": 3}, "transfer_episodes: only a transfer study uses it"),
    ],
)
def test_bad_sweep_fails_before_any_run(tmp_path, change, message):
    path = write_sweep(tmp_path, **change)
    with pytest.raises(ConfigError) as err:
        bench(str(path), progress=False)
    assert message in str(err.value) and str(path) in str(err.value)
    assert not (tmp_path / "runs").exists()


def fake_run(root: Path, algorithm, scenario, seed, delay, curve=None, done=True):
    """A run directory as `fmat train` leaves it: training delays `curve` (default: delay + 5), then eval.json."""
    run = root / f"{scenario}__{algorithm}__s{seed}"
    run.mkdir(parents=True)
    curve = curve or [delay + 5]
    (run / "config.yaml").write_text(yaml.safe_dump({"algorithm": algorithm, "scenario": scenario, "seed": seed}))
    (run / "metrics.csv").write_text("episode,env_steps,wall_seconds,return,delay\n" +
                                     "".join(f"{i},{i + 1},{2 * (i + 1)},0,{d}\n" for i, d in enumerate(curve)))
    if done:
        (run / "eval.json").write_text('{"mean": {"delay": %s}, "evaluation": "final policy, greedy actions"}' % delay)
        (run / "done.json").write_text(json.dumps({"episodes": len(curve)}))
    return run


def test_table_numbers_by_hand(tmp_path):
    fake_run(tmp_path, "fmat", "grid4x4", 0, 10.0)
    fake_run(tmp_path, "fmat", "grid4x4", 1, 20.0)
    fake_run(tmp_path, "mat", "grid4x4", 0, 30.0)
    fake_run(tmp_path, "fmat", "cologne1", 0, 50.0)
    fake_run(tmp_path, "mat", "cologne1", 0, 40.0)
    fake_run(tmp_path, "greedy", "cologne1", 0, 45.0)
    table = render(collect([str(tmp_path)]))
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:5]}
    # mean of 10 and 20 is 15; bootstrap means of 2 values are 10, 15 or 20 with P = 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are exactly 10 and 20
    assert lines["fmat"][0] == "**15.0 [10.0, 20.0] (2)**"
    assert lines["mat"][0] == "30.0 (1, no interval)"
    assert lines["greedy"][0] == "missing"
    assert lines["mat"][1] == "**40.0 (1, no interval)**"
    # greedy has no grid4x4 cell, so the mean rank is over cologne1 alone: mat 1, greedy 2, fmat 3
    # (over both maps fmat would average 2.00 and tie greedy, which never ran where fmat won)
    assert lines["fmat"][2] == "3.00" and lines["mat"][2] == "1.00" and lines["greedy"][2] == "2.00"
    assert "mean rank over the 1 of 2 scenarios every row has (cologne1)" in table
    assert "final-policy evaluation" in table
    best = render(collect([str(tmp_path)]), source="best")
    assert "20.0 [15.0, 25.0] (2)" in best and "best training episode" in best
    csv_text = render(collect([str(tmp_path)]), fmt="csv")
    assert "fmat,grid4x4,delay,final,mean,15.0000,10.0000,20.0000,2" in csv_text
    assert "greedy,grid4x4,delay,final,mean,missing" in csv_text
    assert "mat,grid4x4,delay,final,mean,30.0000,,,1" in csv_text  # one seed: no interval, not [30, 30]
    rows = {(r["algorithm"], r["scenario"]): r for r in csv.DictReader(io.StringIO(csv_text))}
    assert rows[("fmat", "grid4x4")]["mean_rank"] == "3.000" and rows[("fmat", "grid4x4")]["rank_scenarios"] == "cologne1"


def test_table_without_a_common_scenario_has_no_rank(tmp_path):
    fake_run(tmp_path, "fmat", "grid4x4", 0, 10.0)
    fake_run(tmp_path, "greedy", "cologne1", 0, 45.0)
    table = render(collect([str(tmp_path)]))
    assert "| fmat | **10.0 (1, no interval)** | missing | n/a |" in table
    assert "no mean rank: no scenario has a cell for every row" in table


def test_runs_of_fmat_0_2_keep_their_meaning_in_tables(tmp_path):
    """A fmat 0.2 config (no env.observation) meant MAPPO and IPPO with the agent id, so their
    policies do not transfer; a new config without `agent_id` means without it."""
    old = fake_run(tmp_path, "mappo", "grid4x4", 0, 40.0)
    (old / "config.yaml").write_text(yaml.safe_dump({"algorithm": "mappo", "scenario": "grid4x4", "seed": 0,
                                                     "env": {"reward": "wait"}, "model": {}}))
    new = fake_run(tmp_path, "ippo", "grid4x4", 0, 40.0)
    (new / "config.yaml").write_text(yaml.safe_dump({"algorithm": "ippo", "scenario": "grid4x4", "seed": 0,
                                                     "env": {"reward": "wait", "observation": "phases"}, "model": {}}))
    runs = {r.algorithm: r for r in collect([str(tmp_path)])}
    assert runs["mappo"].transfer_blocker and runs["mappo"].observation == "lanes"
    assert runs["ippo"].transfer_blocker is None


def test_table_sampled_evaluation_and_two_layouts(tmp_path):
    """--eval picks a PPO learner's greedy or sampled evaluation (a controller has one); runs of one
    learner with two observation layouts get a row each."""
    for layout, delay in (("phases", 10.0), ("lanes", 30.0)):
        run = fake_run(tmp_path / layout, "fmat", "grid4x4", 0, delay)
        (run / "config.yaml").write_text(yaml.safe_dump({"algorithm": "fmat", "scenario": "grid4x4", "seed": 0,
                                                         "env": {"observation": layout}}))
        modes = {"greedy": {"mean": {"delay": delay}}, "sampled": {"mean": {"delay": delay + 1}}}
        (run / "eval.json").write_text(json.dumps({"mean": {"delay": delay}, "modes": modes,
                                                   "evaluation": "final policy, greedy actions"}))
    fake_run(tmp_path, "greedy", "grid4x4", 0, 20.0)
    old = fake_run(tmp_path / "old", "ippo", "grid4x4", 0, 40.0)  # fmat 0.2: greedy only, no layout (lanes)
    greedy = render(collect([str(tmp_path)]))
    sampled = render(collect([str(tmp_path)]), mode="sampled")
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in sampled.splitlines()[2:6]}
    assert rows == {"fmat (phases)": "**11.0 (1, no interval)**", "fmat (lanes)": "31.0 (1, no interval)",
                    "ippo (lanes)": "missing", "greedy": "20.0 (1, no interval)"}, sampled
    assert "| fmat (phases) | **10.0 (1, no interval)** |" in greedy and "ippo (lanes) | 40.0" in greedy
    assert "sampled actions" in sampled and "greedy actions" in greedy and "observation layout" in greedy
    assert "fmat (lanes),grid4x4,delay,final-sampled,mean,31.0000" in render(collect([str(tmp_path)]), fmt="csv",
                                                                             mode="sampled")
    assert collect([str(old.parent)])[0].name == "ippo"  # one layout: plain names


def test_table_two_rewards_of_one_learner(tmp_path):
    """Runs of one learner with two rewards get a row each, not one cell pooling both as seeds; a
    learner with a reward of its own (MPLight's pressure) beside others' keeps its plain name."""
    for algorithm, reward, seed, delay in (("fmat", "wait", 0, 10.0), ("fmat", "wait", 1, 12.0),
                                           ("fmat", "queue", 0, 30.0), ("ippo", "wait", 0, 20.0),
                                           ("mplight", "pressure", 0, 40.0)):
        run = fake_run(tmp_path / reward, algorithm, "rush-4x4", seed, delay)
        (run / "config.yaml").write_text(yaml.safe_dump({"algorithm": algorithm, "scenario": "rush-4x4", "seed": seed,
                                                         "env": {"observation": "phases", "reward": reward}}))
    table = render(collect([str(tmp_path)]))
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:6]]
    assert rows == ["fmat (queue)", "fmat (wait)", "ippo", "mplight"], table
    assert "| fmat (wait) | **11.0 [10.0, 12.0] (2)** |" in table and "| fmat (queue) | 30.0 (1, no interval) |" in table
    assert "Rows name the reward (env.reward) where one algorithm's runs use more than one." in table
    assert "observation layout" not in table
    plain = render(collect([str(tmp_path / "wait"), str(tmp_path / "pressure")]))
    assert "| fmat |" in plain and "reward" not in plain.split("\n\n")[-1]


def test_table_episode_median_resists_one_gridlocked_episode(tmp_path):
    """--episode-median: each run's median over its evaluation episodes, per mode, so one gridlocked
    episode in ten does not decide the cell; the mean table still shows it."""
    run = fake_run(tmp_path, "fmat", "cologne3", 0, 0.0)
    greedy = [20.0] * 9 + [650.0]
    modes = {"greedy": {"mean": {"delay": sum(greedy) / 10}, "episodes": [{"delay": d} for d in greedy]},
             "sampled": {"mean": {"delay": 22.0}, "episodes": [{"delay": d} for d in (21.0, 22.0, 23.0)]}}
    (run / "eval.json").write_text(json.dumps({"mean": modes["greedy"]["mean"], "modes": modes,
                                               "evaluation": "final policy, greedy actions"}))
    controller = fake_run(tmp_path, "greedy", "cologne3", 0, 0.0)
    (controller / "eval.json").write_text(json.dumps({"mean": {"delay": 24.0}, "evaluation": "final policy, greedy actions",
                                                      "episodes": [{"delay": d} for d in (18.0, 19.0, 35.0)]}))
    runs = collect([str(tmp_path)])
    assert "| fmat | 83.0 (1, no interval) |" in render(runs)
    median = render(runs, source="median")
    assert "| fmat | 20.0 (1, no interval) |" in median and "| greedy | **19.0 (1, no interval)** |" in median
    assert "median over each run's final-evaluation episodes" in median
    assert "| fmat | 22.0 (1, no interval) |" in render(runs, source="median", mode="sampled")
    assert "fmat,cologne3,delay,median-sampled,mean,22.0000" in render(runs, source="median", mode="sampled", fmt="csv")


def test_iqm_and_bootstrap_by_hand():
    assert iqm([1, 2, 3, 4]) == pytest.approx(2.5)
    assert iqm([4, 1, 100, 2, 3, 3, 2, 0]) == pytest.approx(2.5)  # middle four of 0 1 2 2 3 3 4 100
    assert bootstrap_ci([7.0]) == (7.0, 7.0)
    assert bootstrap_ci([1.0, 2.0, 3.0]) == (1.0, 3.0)  # P(mean=1) = 1/27 > 2.5%, P(mean=3) = 1/27


def test_table_last_episodes_unfinished_runs_and_seconds(tmp_path):
    fake_run(tmp_path, "fmat", "grid4x4", 0, 10.0, curve=[90, 50, 30, 20])
    fake_run(tmp_path, "fmat", "grid4x4", 1, 10.0, curve=[80, 60, 40, 40])
    fake_run(tmp_path, "mat", "grid4x4", 0, 10.0, curve=[70, 1], done=False)  # still training
    last = render(collect([str(tmp_path)]), source="last", last=2)
    # seed 0: (30 + 20) / 2 = 25, seed 1: 40; an unfinished run gives no curve value
    assert "**32.5 [25.0, 40.0] (2)**" in last and "| mat | missing |" in last
    assert "mean of the last 2 training episodes" in last
    best = render(collect([str(tmp_path)]), source="best")
    assert "**30.0 [20.0, 40.0] (2)**" in best and "| mat | missing |" in best
    seconds = render(collect([str(tmp_path)]), metric="episode_seconds")  # 2 s per episode in every fake run
    # the unfinished run's rate so far is left out too, so a committed half-run cannot change a table
    assert "2.0 [2.0, 2.0] (2)" in seconds and "| mat | missing |" in seconds and "seconds per episode" in seconds


def test_cost_table_says_when_the_machine_was_shared(tmp_path):
    for seed, load in ((0, 1.9), (1, 3.4)):
        run = fake_run(tmp_path, "fmat", "grid4x4", seed, 10.0)
        (run / "done.json").write_text(json.dumps({"episodes": 1, "machine": {"cpus": 2, "mean_load": load}}))
    fake_run(tmp_path, "mat", "grid4x4", 0, 10.0)  # written before the load was recorded
    seconds = render(collect([str(tmp_path)]), metric="episode_seconds")
    assert "1 of 2 runs had a mean 1-minute load above the CPU count" in seconds
    assert "1 runs did not record it" in seconds and "kinds of CPU" not in seconds
    assert "load" not in render(collect([str(tmp_path)]))  # delay tables do not depend on the machine


def test_cost_table_says_when_runs_trained_on_different_cpus(tmp_path):
    for seed, capability in ((0, "AVX2"), (1, "AVX512"), (2, "AVX512")):
        run = fake_run(tmp_path, "fmat", "grid4x4", seed, 10.0)
        (run / "done.json").write_text(json.dumps({"episodes": 1, "machine": {
            "cpus": 2, "mean_load": 1.0, "cpu": "AMD EPYC", "cpu_capability": capability}}))
    seconds = render(collect([str(tmp_path)]), metric="episode_seconds")
    assert "2 kinds of CPU (2 on AMD EPYC AVX512, 1 on AMD EPYC AVX2)" in seconds


def test_table_says_over_budget_with_the_rate(tmp_path):
    fake_run(tmp_path, "fmat", "grid-16x16", 0, 50.0)
    fake_run(tmp_path, "mappo", "grid-16x16", 0, 60.0)
    for seed, rate in ((0, 100.0), (1, 120.0)):
        run = fake_run(tmp_path, "mat", "grid-16x16", seed, 0.0)
        (run / "eval.json").unlink()
        (run / "done.json").write_text(json.dumps({"episodes": 1, "over_budget": {
            "time_budget_s": 3600, "seconds_per_episode": rate, "projected_seconds": 30 * rate, "episodes": 1}}))
    table = render(collect([str(tmp_path)]))
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:5]}
    assert lines["mat"] == ["over budget (2/2 seeds, 110.0 s/episode)", "3.00"]  # below every finished row
    assert lines["fmat"] == ["**50.0 (1, no interval)**", "1.00"] and lines["mappo"][1] == "2.00"
    assert "train.time_budget_s (3600 s)" in table and "mean rank over the scenarios an algorithm has" in table
    assert "| mat | 2.0 [2.0, 2.0] (2) |" in render(collect([str(tmp_path)]), metric="episode_seconds")
    fake_run(tmp_path, "fmat", "grid-8x8", 0, 20.0)  # a column no other row has: no rank can use it
    table = render(collect([str(tmp_path)]))
    assert "| fmat | **20.0 (1, no interval)** | **50.0 (1, no interval)** | 1.00 |" in table
    assert "mean rank over the 1 of 2 scenarios every row has (grid-16x16)" in table
    assert "mat,grid-16x16,delay,final,mean,over budget" in render(collect([str(tmp_path)]), fmt="csv")
    fake_run(tmp_path, "mat", "grid-16x16", 2, 70.0)  # a seed that finished: its value shows beside the others
    table = render(collect([str(tmp_path)]))
    assert "| mat | missing | 70.0 (1, no interval); over budget (2/3 seeds, 110.0 s/episode) | 3.00 |" in table


def test_transfer_sweep_table_and_rerun(tmp_path):
    from fmat import transfer_table

    pad = {"begin": 25200, "end": 25300, "pad_phases": 4, "pad_lanes": 8}  # one layout fits cologne3 and cologne1
    path = write_sweep(tmp_path, algorithms=["fmat", {"mappo": {"model": {"agent_id": True}}}], scenarios=["cologne3"],
                       seeds=[0], env=pad, transfer=["cologne3", "cologne1"], transfer_episodes=2)
    result = bench(str(path), workers=2, progress=False)
    assert not result.failed and result.transfer.total == 1 and len(result.transfer.done) == 1, result.transfer
    runs = tmp_path / "runs"
    moved = json.loads((runs / "cologne3__fmat__s0" / "transfer" / "cologne1.json").read_text())
    assert moved["scenario"] == "cologne1" and moved["trained_on"] == "cologne3" and moved["mean"]["delay"] > 0
    assert len(moved["episodes"]) == 2  # transfer_episodes, not the runs' own evaluation.episodes (1)
    assert not (runs / "cologne3__mappo__s0" / "transfer").exists()
    again = bench(str(path), workers=2, progress=False)
    assert again.transfer.skipped and not again.transfer.done
    done = runs / "cologne3__fmat__s0" / "done.json"
    assert moved["trained"] == json.loads(done.read_text())
    done.write_text(json.dumps(dict(moved["trained"], wall_seconds=123.0)))  # as if trained again
    assert len(bench(str(path), workers=2, progress=False).transfer.done) == 1  # its transfer result is redone
    (runs / "cologne3__fmat__s0" / "checkpoint.pt").unlink()  # as in a clone, which keeps only the small files
    assert not bench(str(path), workers=2, progress=False).transfer.done  # every evaluation written: nothing needs it
    done.write_text(json.dumps(dict(moved["trained"], wall_seconds=456.0)))
    with pytest.raises(FmatError, match=r"cologne3__fmat__s0 finished training but no checkpoint.pt is left"):
        bench(str(path), workers=2, progress=False)

    table = transfer_table.render(collect([str(runs)]))
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table.splitlines()[2:4]}
    own = json.loads((runs / "cologne3__fmat__s0" / "eval.json").read_text())["mean"]["delay"]
    assert table.splitlines()[0] == "| algorithm | trained on | own map | cologne1 |"
    assert lines["fmat"] == ["cologne3", f"{own:.1f} (1, no interval)", f"{moved['mean']['delay']:.1f} (1, no interval)"]
    assert lines["mappo"][2] == "not applicable" and "agent-id one-hot" in table
    moved = json.loads((runs / "cologne3__fmat__s0" / "transfer" / "cologne1.json").read_text())
    assert moved["wall_seconds"] > 0
    assert f"{moved['wall_seconds'] / 3600:.2f} h of wall time for 1 transfer evaluations" in table
    untimed = runs / "cologne3__fmat__s0" / "transfer" / "cologne8.json"  # as written before evaluations were timed
    untimed.write_text(json.dumps({k: v for k, v in moved.items() if k != "wall_seconds"}))
    assert "(1 transfer evaluations do not record their time)" in transfer_table.render(collect([str(runs)]))
    assert "mappo,cologne3,cologne1,delay,mean,not applicable" in transfer_table.render(collect([str(runs)]), fmt="csv")
    ippo = runs / "cologne3__ippo__s0"  # a second algorithm with the same reason shares mappo's sentence
    shutil.copytree(runs / "cologne3__mappo__s0", ippo)
    (ippo / "config.yaml").write_text((ippo / "config.yaml").read_text().replace("algorithm: mappo", "algorithm: ippo"))
    note = transfer_table.render(collect([str(runs)])).splitlines()[-1]
    assert note.count("agent-id one-hot") == 1 and "mappo's and ippo's input layers" in note, note

    # the same learner trained on the target map, from another root, sits beside the zero-shot row;
    # a run found under both roots counts once
    reference = tmp_path / "reference"
    shutil.copytree(runs / "cologne3__fmat__s0", reference / "cologne3__fmat__s0")
    target_run = reference / "cologne1__fmat__s0"
    shutil.copytree(runs / "cologne3__fmat__s0", target_run, ignore=shutil.ignore_patterns("transfer"))
    (target_run / "config.yaml").write_text((target_run / "config.yaml").read_text().replace("scenario: cologne3", "scenario: cologne1"))
    evaluation = json.loads((target_run / "eval.json").read_text())
    for mean in [evaluation["mean"], *(m["mean"] for m in evaluation.get("modes", {}).values())]:
        mean["delay"] = 7.0
    (target_run / "eval.json").write_text(json.dumps(evaluation))
    table = transfer_table.render(collect([str(runs), str(reference)]))
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:] if line.startswith("| fmat")]
    assert rows[1][:4] == ["fmat", "each target", "—", "7.0 (1, no interval)"], rows
    assert rows[0][2] == f"{own:.1f} (1, no interval)"  # not counted twice
    assert "Rows 'each target'" in table and "fmat,each target,cologne1,delay,mean,7.0000" in transfer_table.render(
        collect([str(runs), str(reference)]), fmt="csv")
    lanes = fake_run(tmp_path / "lanes", "ippo", "cologne1", 0, 8.0)  # no env.observation: lanes, so layouts mix
    table = transfer_table.render(collect([str(runs), str(reference), str(lanes.parent)]))
    assert "| fmat (phases) | each target |" in table and "or a classical controller" not in table, table

    # a classical controller's row is it on each target, the yardstick a zero-shot policy is read against
    controller = fake_run(reference, "fixed_time", "cologne1", 0, 9.0)
    (controller / "eval.json").write_text('{"mean": {"delay": 9.0}, "evaluation": "classical controller"}')
    fake_run(reference, "fixed_time", "grid4x4", 0, 5.0)  # not a target: left out
    table = transfer_table.render(collect([str(runs), str(reference)]))
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:] if line.startswith("| fixed_time")]
    assert rows == [["fixed_time", "each target", "—", "9.0 (1, no interval)", "missing"]], table  # cologne1, cologne8
    assert "or a classical controller run there" in table and "training (final policy, greedy actions)" in table


def test_transfer_table_says_when_a_learner_trained_on_a_target_went_over_budget(tmp_path):
    from fmat import transfer_table

    for seed, moved in ((0, 30.0), (1, 40.0)):
        (fake_run(tmp_path / "transfer", "fmat", "grid4x4", seed, 20.0) / "transfer").mkdir()
        (tmp_path / "transfer" / f"grid4x4__fmat__s{seed}" / "transfer" / "grid-16x16.json").write_text(
            '{"mean": {"delay": %s}}' % moved)
    for seed, rate in ((0, 300.0), (1, 400.0)):  # trained on the target itself, within a 2-hour budget it did not fit
        run = fake_run(tmp_path / "targets", "fmat", "grid-16x16", seed, 0.0)
        (run / "eval.json").unlink()
        (run / "done.json").write_text(json.dumps({"episodes": 24, "over_budget": {
            "time_budget_s": 7200, "seconds_per_episode": rate, "projected_seconds": 100 * rate, "episodes": 24}}))
    runs = collect([str(tmp_path / "transfer"), str(tmp_path / "targets")])
    table = transfer_table.render(runs)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:4]]
    assert rows == [["fmat", "grid4x4", "20.0 [20.0, 20.0] (2)", "35.0 [30.0, 40.0] (2)"],
                    ["fmat", "each target", "—", "over budget (2/2 seeds, 350.0 s/episode)"]], table
    assert "train.time_budget_s (7200 s), so it stopped early, and was not evaluated." in table
    assert "fmat,each target,grid-16x16,delay,mean,over budget,,,0" in transfer_table.render(
        runs, fmt="csv")
    assert "over budget" not in transfer_table.render(collect([str(tmp_path / "transfer")]))  # no such run: no such note
    source = tmp_path / "transfer" / "grid4x4__fmat__s1"  # a training map that is no target: its own-map cell counts too
    (source / "eval.json").unlink()
    (source / "done.json").write_text(json.dumps({"episodes": 9, "over_budget": {
        "time_budget_s": 600, "seconds_per_episode": 90.0, "projected_seconds": 9000.0, "episodes": 9}}))
    table = transfer_table.render(collect([str(tmp_path / "transfer")]))
    assert "over budget (1/2 seeds, 90.0 s/episode)" in table and "train.time_budget_s (600 s)" in table, table


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].glob("experiments/*.yaml")), ids=lambda p: p.name)
def test_shipped_experiment_files_are_valid(path):
    from fmat.config import load_config
    from fmat.sweep import load_sweep

    data = yaml.safe_load(path.read_text())
    if "algorithms" in data:
        assert load_sweep(path).runs
    else:
        assert load_config(path).algorithm


def test_table_with_resco_published_rows(tmp_path):
    fake_run(tmp_path, "fmat", "grid4x4", 0, 10.0)
    fake_run(tmp_path, "fmat", "cologne1", 0, 50.0)
    table = render(collect([str(tmp_path)]), with_resco=True)
    # RESCO's own figures for these two maps, in the table's column order, never bold or ranked
    assert "| IDQN (RESCO, theirs, 100 ep) | 32.9 | 26.1 | - |" in table
    assert "| Greedy (RESCO, theirs) | 34.3 | 27.8 | - |" in table and "SUMO 1.9" in table
    with pytest.raises(FmatError, match="delay only"):
        render(collect([str(tmp_path)]), metric="queue", with_resco=True)


def test_table_subset_of_algorithms_and_scenarios(tmp_path, capsys):
    from fmat.cli import main

    for algorithm in ("fmat", "greedy", "idqn"):
        for scenario in ("cologne1", "cologne3"):
            fake_run(tmp_path / "runs", algorithm, scenario, 0, 10.0)
    runs = collect([str(tmp_path / "runs")], algorithms=["idqn", "greedy"], scenarios=["cologne3"])
    assert sorted((r.algorithm, r.scenario) for r in runs) == [("greedy", "cologne3"), ("idqn", "cologne3")]
    assert main(["table", str(tmp_path / "runs"), "--algorithms", "idqn,colight"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--algorithms colight" in err
