"""Each kind of bad input gets a typed exception from the API and one line + exit 2 from the CLI."""
import os
import subprocess
import sys

import pytest

from fmat.envs import (
    InvalidOptionError,
    NoTrafficLightsError,
    Scenario,
    ScenarioFileError,
    UnknownScenarioError,
    get_scenario,
    make_env,
)
from fmat.envs.sumo import binary

GOOD = get_scenario("cologne1")


def custom(tmp_path, net=None, routes=None, **kw):
    return Scenario(name="custom", net=str(net or GOOD.net), routes=(str(routes or GOOD.routes[0]),),
                    begin=kw.pop("begin", GOOD.begin), end=kw.pop("end", GOOD.end), **kw)


def test_unknown_scenario_lists_close_matches():
    with pytest.raises(UnknownScenarioError, match="did you mean grid4x4"):
        make_env("grid4x5")
    with pytest.raises(UnknownScenarioError, match="fmat scenarios"):
        make_env("nowhere")


def test_missing_net(tmp_path):
    with pytest.raises(ScenarioFileError, match="does not exist"):
        make_env(custom(tmp_path, net=tmp_path / "missing.net.xml"))


def test_malformed_net(tmp_path):
    bad = tmp_path / "bad.net.xml"
    bad.write_text("<net><edge id='a'")
    with pytest.raises(ScenarioFileError, match="bad.net.xml is not a SUMO network"):
        make_env(custom(tmp_path, net=bad))


def test_xml_that_is_not_a_net(tmp_path):
    bad = tmp_path / "page.net.xml"
    bad.write_text("<html><body/></html>")
    with pytest.raises(ScenarioFileError, match="page.net.xml"):
        make_env(custom(tmp_path, net=bad))


def test_missing_and_malformed_routes(tmp_path):
    with pytest.raises(ScenarioFileError, match="missing.rou.xml does not exist"):
        make_env(custom(tmp_path, routes=tmp_path / "missing.rou.xml"))
    bad = tmp_path / "bad.rou.xml"
    bad.write_text("<routes><vehicle id='1' depart='0'>")
    with pytest.raises(ScenarioFileError, match="bad.rou.xml is not valid XML"):
        make_env(custom(tmp_path, routes=bad))
    wrong = tmp_path / "wrong.rou.xml"
    wrong.write_text("<net/>")
    with pytest.raises(ScenarioFileError, match="not <routes>"):
        make_env(custom(tmp_path, routes=wrong))


def test_routes_with_no_vehicle_in_window(tmp_path):
    with pytest.raises(ScenarioFileError, match="schedule no vehicle"):
        make_env(custom(tmp_path, begin=0, end=3600))  # cologne's demand is 25200-28800


def test_empty_window():
    with pytest.raises(InvalidOptionError, match="empty time window"):
        make_env("cologne1", end=25200)


def test_network_without_traffic_lights(tmp_path):
    net = tmp_path / "plain.net.xml"
    subprocess.run([binary("netgenerate"), "--grid", "--grid.number=3", f"--output-file={net}"], check=True, capture_output=True)
    with pytest.raises(NoTrafficLightsError, match="no traffic light"):
        make_env(custom(tmp_path, net=net))


def test_zero_demand_and_bad_grid_options():
    with pytest.raises(InvalidOptionError, match="demand=0"):
        make_env("grid-3x3", demand=0)
    with pytest.raises(InvalidOptionError, match="lanes"):
        make_env("grid-3x3", lanes=0)
    with pytest.raises(InvalidOptionError, match="only apply to synthetic grids"):
        make_env("grid4x4", demand=100)


def test_bad_env_options():
    with pytest.raises(InvalidOptionError, match="unknown environment option"):
        make_env("cologne1", rewards="wait")
    with pytest.raises(InvalidOptionError, match="control"):
        make_env("cologne1", control="auto")
    with pytest.raises(InvalidOptionError, match="does not fit"):
        make_env("cologne1", delta=3)


def test_failed_generation_leaves_nothing_in_cache(monkeypatch, fmat_home):
    from fmat.envs import generators

    calls = []

    def flaky(args, what):
        calls.append(what)
        if what == "randomTrips":
            raise RuntimeError("randomTrips failed (exit 1): simulated crash")
        return real(args, what)

    real = generators.run_tool
    monkeypatch.setattr(generators, "run_tool", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        get_scenario("grid-2x5")
    assert calls == ["netgenerate", "randomTrips"]
    cache = fmat_home / "cache" / "grids"
    assert not any("grid-2x5" in p.name for p in cache.iterdir())
    monkeypatch.setattr(generators, "run_tool", real)
    assert os.path.isfile(get_scenario("grid-2x5").net)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fmat.cli", *args], capture_output=True, text=True)


def test_cli_reports_one_line_and_exit_2():
    proc = run_cli("perf", "env", "--scenario", "grid4x5")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "grid4x5" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (("perf", "policy", "--agents", "16", "--device", "tpu"), "--device 'tpu'"),
        (("perf", "policy", "--agents", "16", "--against", "mappo,idqn"), "--against 'idqn': expected a comma-separated list of mat, mappo, ippo"),
        (("perf", "policy", "--agents", "16", "--against", ","), "--against ','"),
        (("table", "/nonexistent/runs"), "/nonexistent/runs does not exist"),
        (("evaluate", "/nonexistent/run", "--out", "x.json"), "not a run directory"),
    ],
)
def test_cli_options_added_for_the_studies_fail_in_one_line(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
