"""Untrusted names, files and checkpoints: one line and exit 2, nothing outside its root touched,
nothing written before validation, no code run from a checkpoint."""
import os
import shutil

import pytest
import torch
import yaml

from fmat import checkpoint
from fmat.cli import main
from fmat.config import validate
from fmat.envs import get_scenario
from fmat.train import train

SHORT_ENV = {"begin": 25200, "end": 25400}


def run_config(output_dir, algorithm="fmat", **env):
    return {"algorithm": algorithm, "scenario": "cologne3", "seed": 0, "output_dir": str(output_dir),
            "env": {**SHORT_ENV, **env}, "train": {"episodes": 1, "num_envs": 1, "rollout_steps": 10},
            "ppo": {"epochs": 1}, "evaluation": {"episodes": 1}}


def one_line(capsys, code, expected_code=2) -> str:
    err = capsys.readouterr().err.strip()
    assert code == expected_code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    return train(validate(run_config(out), "test"), progress=False)


def copy_run(run_dir, dest):
    """A copy of a run whose config points at the copy's folder, so it can be resumed there."""
    target = dest / run_dir.name
    shutil.copytree(run_dir, target)
    cfg = yaml.safe_load((target / "config.yaml").read_text())
    cfg["output_dir"] = str(dest)
    (target / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return target


# ---------------------------------------------------------------------------- names

@pytest.fixture
def victim(tmp_path, fmat_home):
    """A folder outside the scenario registry that looks like a registered scenario."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("net: a.net.xml\n")
    rel = os.path.relpath(folder, fmat_home / "scenarios")
    (fmat_home / "scenarios").mkdir(exist_ok=True)
    return folder, rel


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_remove_and_show_refuse_names_outside_the_registry(capsys, victim, how):
    folder, rel = victim
    name = rel if how == "relative" else str(folder)
    for action in ("remove", "show"):
        err = one_line(capsys, main(["scenario", action, name]))
        assert "scenario name" in err
    assert (folder / "scenario.yaml").is_file()


@pytest.mark.parametrize("name", ["../x", "a/b", "/tmp/x", "", ".hidden", "a..b", "x" * 65])
def test_add_refuses_unsafe_names(capsys, name):
    err = one_line(capsys, main(["scenario", "add", name, "--net", get_scenario("cologne1").net]))
    assert "scenario name" in err


def test_train_refuses_a_scenario_that_escapes_and_writes_nothing(capsys, tmp_path, victim):
    folder, rel = victim
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run_config(tmp_path / "out")))
    err = one_line(capsys, main(["train", str(tmp_path / "run.yaml"), "--set", f"scenario={rel}"]))
    assert "run.yaml: scenario:" in err
    assert not (tmp_path / "out").exists() and sorted(p.name for p in folder.iterdir()) == ["scenario.yaml"]


def test_a_link_out_of_the_registry_is_refused(fmat_home, victim):
    from fmat.envs import InvalidOptionError
    from fmat.envs.user_scenarios import remove_scenario

    folder, _ = victim
    (fmat_home / "scenarios" / "linked").symlink_to(folder)
    with pytest.raises(InvalidOptionError, match="leads outside"):
        remove_scenario("linked")
    assert folder.is_dir()
    (fmat_home / "scenarios" / "linked").unlink()


# ---------------------------------------------------------------------------- checkpoints

def hostile_checkpoint(path, marker):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": 1, "algorithm": "fmat", "episode": 1, "env_steps": 1, "wall_seconds": 1.0,
                "policy": Payload()}, path)


def test_fmat_checkpoints_hold_only_safe_types(trained):
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert state["format"] == checkpoint.FORMAT_VERSION and state["algorithm"] == "fmat"


@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_hostile_checkpoint_does_not_run(capsys, tmp_path, trained, command):
    run = copy_run(trained, tmp_path)
    marker = tmp_path / "pwned"
    hostile_checkpoint(run / "checkpoint.pt", marker)
    args = ["evaluate", str(run)] if command == "evaluate" else \
        ["train", str(run / "config.yaml"), "--resume", "--quiet", "--set", "train.episodes=2"]
    err = one_line(capsys, main(args))
    assert "safe loader" in err and "checkpoint.pt" in err
    assert not marker.exists()


@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_truncated_checkpoint_is_one_line(capsys, tmp_path, trained, command):
    run = copy_run(trained, tmp_path)
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    before = (run / "metrics.csv").read_text()
    args = ["evaluate", str(run)] if command == "evaluate" else \
        ["train", str(run / "config.yaml"), "--resume", "--quiet", "--set", "train.episodes=2"]
    err = one_line(capsys, main(args))
    assert f"{run / 'checkpoint.pt'} is corrupt or truncated" in err
    assert (run / "metrics.csv").read_text() == before


def test_checkpoint_of_another_algorithm_or_format(tmp_path):
    state = {"episode": 1, "env_steps": 2, "wall_seconds": 3.0}
    checkpoint.save(tmp_path / "a.pt", "mat", state)
    with pytest.raises(checkpoint.CheckpointError, match="written by 'mat', not 'fmat'"):
        checkpoint.load(tmp_path / "a.pt", "fmat")
    torch.save({**state, "format": checkpoint.FORMAT_VERSION + 1, "algorithm": "fmat"}, tmp_path / "b.pt")
    with pytest.raises(checkpoint.CheckpointError, match="newer fmat"):
        checkpoint.load(tmp_path / "b.pt", "fmat")
    for odd in (True, "1", 1.0, -1):  # a format fmat never writes is refused, not compared
        torch.save({**state, "format": odd, "algorithm": "fmat"}, tmp_path / "b.pt")
        with pytest.raises(checkpoint.CheckpointError, match="not a whole number from 0, so fmat did not write it"):
            checkpoint.load(tmp_path / "b.pt", "fmat")
    torch.save({"format": 1, "algorithm": "fmat"}, tmp_path / "c.pt")
    with pytest.raises(checkpoint.CheckpointError, match="episode is None"):
        checkpoint.load(tmp_path / "c.pt", "fmat")
    (tmp_path / "d.pt").write_bytes(b"PK\x03\x04" + bytes(256))
    with pytest.raises(checkpoint.CheckpointError, match="corrupt or truncated"):
        checkpoint.load(tmp_path / "d.pt", "fmat")


def test_checkpoint_values_are_made_plain():
    import numpy as np

    assert checkpoint.plain({"a": np.int64(3), "b": (np.float32(0.5),)}) == {"a": 3, "b": (0.5,)}
    assert isinstance(checkpoint.plain(np.zeros(2)), torch.Tensor)
    with pytest.raises(TypeError):
        checkpoint.plain({"x": object()})


def test_weights_of_another_run_are_one_line(capsys, tmp_path, trained):
    run = copy_run(trained, tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["policy"] = {"w": torch.zeros(2)}
    torch.save(state, run / "checkpoint.pt")
    err = one_line(capsys, main(["evaluate", str(run)]))
    assert "does not fit this run's config" in err


# ---------------------------------------------------------------------------- files handed in

@pytest.mark.parametrize("content,message", [
    (b"\x89PNG\r\n\x1a\n\0\0", "is a binary file"),
    ("algorithm: fmat\nscenario: cologne3\n".encode("utf-16"), "is a binary file"),
    (b"algorithm: fmat\nscenario: k\xf6ln\n", ":2: not UTF-8"),
    (b"algorithm: [fmat\n", "not valid YAML"),
    (b"- fmat\n", "top level must be a mapping"),
])
def test_bad_config_files(capsys, tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    for args in (["train", str(path)], ["bench", str(path), "--quiet"]):
        err = one_line(capsys, main(args))
        assert str(path) in err and message in err


def test_bad_run_files_name_the_file_and_line(capsys, tmp_path, trained):
    run = copy_run(trained, tmp_path)
    metrics = run / "metrics.csv"
    metrics.write_text(metrics.read_text() + "7,oops\n")
    err = one_line(capsys, main(["table", str(tmp_path)]))
    assert f"{metrics}:3:" in err
    shutil.copy(trained / "metrics.csv", metrics)
    (run / "eval.json").write_text('{"mean": {"delay": ')
    err = one_line(capsys, main(["table", str(tmp_path)]))
    assert f"{run / 'eval.json'}:1: not valid JSON" in err
    (run / "config.yaml").write_bytes(b"\0\0\0")
    err = one_line(capsys, main(["table", str(tmp_path)]))
    assert f"{run / 'config.yaml'} is a binary file" in err


def test_bad_scenario_files_name_the_users_file(capsys, tmp_path):
    good = get_scenario("cologne1")
    net = tmp_path / "bin.net.xml"
    net.write_bytes(os.urandom(64) + b"\0")
    err = one_line(capsys, main(["scenario", "add", "bin", "--net", str(net), "--routes", good.routes[0]]))
    assert str(net) in err
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text(f'<configuration><input><net-file value="{good.net}"/></input>'
                   '<time><begin value="soon"/></time></configuration>')
    err = one_line(capsys, main(["scenario", "add", "cfg", "--sumocfg", str(cfg)]))
    assert str(cfg) in err and "'soon'" in err
    osm = tmp_path / "city.osm"
    osm.write_text("<osm><node id='1' lat='x'")
    err = one_line(capsys, main(["scenario", "add", "city", "--osm", str(osm)]))
    assert str(osm) in err


# ---------------------------------------------------------------------------- outputs

def test_unwritable_outputs_fail_before_any_work(capsys, tmp_path, trained, monkeypatch):
    import fmat.evaluate

    monkeypatch.setattr(fmat.evaluate, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    a_file = tmp_path / "file"
    a_file.write_text("")
    err = one_line(capsys, main(["evaluate", str(trained), "--out", str(a_file / "x.json")]))
    assert f"{a_file} is a file, not a folder" in err
    err = one_line(capsys, main(["evaluate", str(trained), "--out", str(tmp_path)]))
    assert "is a folder; give a file name" in err
    for command in (["table"], ["plot"]):
        one_line(capsys, main([*command, str(trained.parent), "--out", str(a_file / "t.png")]))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(run_config(a_file / "runs")))
    err = one_line(capsys, main(["train", str(cfg)]))
    assert "output_dir" in err and "is a file, not a folder" in err


# ---------------------------------------------------------------------------- validation first

@pytest.mark.parametrize("env,message", [
    ({"end": 25200}, "empty time window"),
    ({"yellow": 12}, "does not fit in a decision step"),
    ({"pad_phases": 1}, "more than the padding"),
])
def test_invalid_run_leaves_nothing_on_disk(capsys, tmp_path, env, message):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(run_config(tmp_path / "out", **env)))
    err = one_line(capsys, main(["train", str(cfg)]))
    assert message in err and str(cfg) in err
    assert not (tmp_path / "out").exists()


def test_invalid_grid_window_generates_nothing(capsys, tmp_path, fmat_home):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**run_config(tmp_path / "out"), "scenario": "grid-7x2", "env": {"end": 0}}))
    one_line(capsys, main(["train", str(cfg)]))
    assert not any("grid-7x2" in p.name for p in (fmat_home / "cache" / "grids").glob("*"))


def test_bench_checks_every_run_before_starting_any(capsys, tmp_path):
    sweep = {"algorithms": ["fixed_time", {"fmat": {"env": {"yellow": 12}}}], "scenarios": ["cologne3"], "seeds": 1,
             "output_dir": str(tmp_path / "out"), "env": SHORT_ENV, "train": {"episodes": 1}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    err = one_line(capsys, main(["bench", str(path), "--quiet", "--workers", "1"]))
    assert "[fmat on cologne3, seed 0]" in err and "does not fit" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- the CLI boundary

def test_unexpected_error_is_one_line_with_the_traceback_saved(capsys, monkeypatch, tmp_path):
    import fmat.cli

    def boom(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(fmat.cli, "cmd_scenarios", boom)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    err = one_line(capsys, main(["scenarios"]), expected_code=1)
    assert "internal error: ZeroDivisionError: a bug" in err
    saved = list(tmp_path.glob("fmat-crash-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in err and "ZeroDivisionError" in saved[0].read_text()
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "scenarios"])
