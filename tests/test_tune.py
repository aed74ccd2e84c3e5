import json
from pathlib import Path

import pytest
import yaml

from fmat.cli import main
from fmat.registry import ConfigError
from fmat.sweep import expand
from fmat.tune import candidates, report

SPACE = {"ppo": {"lr": {"log_uniform": [1e-4, 1e-2]}, "epochs": [3, 5, 10]},
         "dqn": {"target_update": [250, 500, 1000], "n_step": [1, 3]}}


def tuning_file(tmp_path, **extra) -> dict:
    return {"algorithms": ["fmat", "ippo", "idqn"], "scenarios": ["grid4x4", "cologne8"], "seeds": [0],
            "output_dir": str(tmp_path / "tuning" / "runs"), "tune": {"trials": 4, "seed": 7, "space": SPACE}, **extra}


def finish(cfg, delay: float) -> None:
    """Write the files a finished run leaves, with a chosen evaluation delay."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "done.json").write_text(json.dumps({"episodes": cfg.train.episodes}))
    (cfg.run_dir / "eval.json").write_text(json.dumps({"mean": {"delay": delay}, "episodes": [{"delay": delay}]}))


def test_trials_are_the_defaults_then_the_same_draws_for_every_learner_of_a_kind(tmp_path):
    sweep = expand(tuning_file(tmp_path), "t.yaml")
    assert len(sweep.runs) == 3 * 4 * 2 and len(sweep.trials) == 3 * 4
    by = {(t.algorithm, t.index): runs for t, runs in sweep.trials}
    default = by[("fmat", 0)][0]
    assert default.ppo.lr == 5e-4 and default.ppo.epochs == 5            # trial 0: the defaults
    assert str(default.run_dir) == str(tmp_path / "tuning/runs/fmat/trial0/grid4x4__fmat__s0")
    for k in range(1, 4):                                                 # f-MAT and IPPO compete over the same settings
        assert by[("fmat", k)][0].ppo == by[("ippo", k)][0].ppo != default.ppo
        assert by[("idqn", k)][0].dqn.target_update in (250, 500, 1000)
        assert 1e-4 <= by[("fmat", k)][0].ppo.lr <= 1e-2
    assert len({by[("fmat", k)][0].ppo.model_dump_json() for k in range(4)}) == 4   # distinct trials
    again = expand(tuning_file(tmp_path), "t.yaml")
    assert [r.model_dump() for r in again.runs] == [r.model_dump() for r in sweep.runs]  # the seed fixes the draws
    other = expand(tuning_file(tmp_path, tune={"trials": 4, "seed": 8, "space": SPACE}), "t.yaml")
    assert [r.ppo for r in other.runs] != [r.ppo for r in sweep.runs]


def test_a_space_with_too_few_settings_says_so():
    with pytest.raises(ConfigError, match="only 2 distinct settings"):
        candidates({"dqn": {"n_step": [1, 3]}}, "dqn", 4, 0)


@pytest.mark.parametrize("change, message", [
    ({"tune": {"trials": 0, "space": SPACE}}, "tune.trials: expected the number of trials"),
    ({"tune": {"trials": 2, "space": {"ppo": {"nope": [1]}}}}, "tune.space.ppo.nope: unknown hyper-parameter; allowed: lr,"),
    ({"tune": {"trials": 2, "space": {"model": {"x": [1]}}}}, "tune.space.model: unknown section; allowed: ppo, dqn"),
    ({"tune": {"trials": 2, "space": {"ppo": {"lr": {"log_uniform": [0, 1]}}}}}, "lr.log_uniform: the low end must be above 0"),
    ({"tune": {"trials": 2, "space": {"ppo": {"lr": {"uniform": [2, 1]}}}}}, "expected \\[low, high\\] numbers with low < high"),
    ({"tune": {"trials": 2, "space": {"ppo": {"lr": "fast"}}}}, "expected a list of choices"),
    ({"tune": {"trials": 2, "space": SPACE, "budget": 3}}, "tune.budget: unknown key"),
    ({"algorithms": ["fmat", "greedy"]}, "greedy is a classical controller and has nothing to tune"),
    ({"algorithms": [{"fmat": {"ppo": {"lr": 0.1}}}]}, "fmat: ppo: set in a tuning file it would override"),
    ({"tune": {"trials": 2, "space": {"ppo": {"epochs": [0, 5]}}}}, "ppo.epochs: Input should be greater than or equal to 1"),
])
def test_bad_tuning_files_are_one_line(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        expand({**tuning_file(tmp_path), **change}, "t.yaml")


def test_report_scores_chooses_and_the_study_applies_the_choice(tmp_path):
    sweep = expand(tuning_file(tmp_path), "t.yaml")
    # f-MAT: trial 2 wins on the geometric mean though trial 1 has the best grid4x4 delay
    delays = {("fmat", 0): (40, 30), ("fmat", 1): (20, 90), ("fmat", 2): (30, 25), ("fmat", 3): (50, 50),
              ("ippo", 0): (30, 30), ("ippo", 1): (30, 30), ("ippo", 2): (45, 21), ("ippo", 3): (60, 60),
              ("idqn", 0): (30, 30)}                     # IDQN: trials 1-3 not finished
    for trial, runs in sweep.trials:
        for cfg in runs:
            if (trial.algorithm, trial.index) in delays:
                finish(cfg, delays[(trial.algorithm, trial.index)][["grid4x4", "cologne8"].index(cfg.scenario)])
    out = tmp_path / "tuning"
    rows, best = report(sweep.trials, out, "t.yaml")
    assert best["fmat"]["trial"] == 2 and best["fmat"]["score"] == pytest.approx((30 * 25) ** 0.5)
    assert best["ippo"]["trial"] == 0            # a tie with trial 1 (30, 30) goes to the defaults
    assert "idqn" not in best
    text = (out / "trials.md").read_text()
    assert "No choice yet for idqn: not every trial has finished." in text and text.count("**chosen**") == 2
    chosen = yaml.safe_load((out / "chosen.yaml").read_text())
    fmat2 = next(t for t, _ in sweep.trials if t.algorithm == "fmat" and t.index == 2)
    assert chosen == {"fmat": fmat2.settings, "ippo": {}}
    assert (out / "trials.csv").read_text().splitlines()[0] == "algorithm,trial,settings,grid4x4,cologne8,score,chosen"

    study = {"algorithms": ["fmat", {"ippo": {"ppo": {"clip": 0.3}}}, "greedy"], "scenarios": ["cologne8"], "seeds": [0],
             "output_dir": str(tmp_path / "study"), "tuned": str(out / "chosen.yaml")}
    runs = {r.algorithm: r for r in expand(study, "s.yaml").runs}
    assert runs["fmat"].ppo.lr == fmat2.settings["ppo"]["lr"] and runs["fmat"].ppo.epochs == fmat2.settings["ppo"]["epochs"]
    assert runs["ippo"].ppo.clip == 0.3 and runs["ippo"].ppo.lr == 5e-4     # its own overrides stay on top
    with pytest.raises(ConfigError, match=f"tuned: {out / 'chosen.yaml'} has no settings for idqn"):
        expand({**study, "algorithms": ["fmat", "ippo", "idqn"]}, "s.yaml")
    (out / "bad.yaml").write_text("fmat: {dqn: {lr: 0.1}}\n")
    with pytest.raises(ConfigError, match="bad.yaml: fmat: expected only a ppo: mapping"):
        expand({**study, "tuned": str(out / "bad.yaml")}, "s.yaml")
    with pytest.raises(ConfigError, match="tuned: .*missing.yaml does not exist; run `fmat tune` first"):
        expand({**study, "tuned": str(out / "missing.yaml")}, "s.yaml")


def test_cli_reports_without_running_and_rejects_a_plain_sweep(tmp_path, capsys):
    path = tmp_path / "tuning.yaml"
    path.write_text(yaml.safe_dump(tuning_file(tmp_path)))
    assert main(["tune", str(path), "--report-only"]) == 0
    assert "0 of 12 trials finished; chosen for no learner yet" in capsys.readouterr().out
    assert (tmp_path / "tuning" / "trials.md").is_file()
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({k: v for k, v in tuning_file(tmp_path).items() if k != "tune"}))
    assert main(["tune", str(plain), "--report-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fmat: error: {plain}: no tune section") and err.count("\n") == 1
    assert not Path(tmp_path / "tuning" / "runs").exists()
