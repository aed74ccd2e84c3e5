"""Adding networks: net + routes, sumocfg, OSM, generators; validation; show; training on them."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fmat.envs import InvalidOptionError, NoTrafficLightsError, ScenarioFileError, get_scenario, make_env
from fmat.envs.sumo import binary
from fmat.envs.user_scenarios import add_scenario, generate_scenario, registry_dir, remove_scenario, user_names

COLOGNE3 = get_scenario("cologne3")

OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="fmat-test">
  <bounds minlat="49.995" minlon="6.995" maxlat="50.015" maxlon="7.02"/>
  <node id="1" lat="50.005" lon="7.000" version="1"/>
  <node id="2" lat="50.005" lon="7.004" version="1"><tag k="highway" v="traffic_signals"/></node>
  <node id="3" lat="50.005" lon="7.008" version="1"><tag k="highway" v="traffic_signals"/></node>
  <node id="4" lat="50.005" lon="7.012" version="1"/>
  <node id="5" lat="50.008" lon="7.004" version="1"/>
  <node id="6" lat="50.002" lon="7.004" version="1"/>
  <node id="7" lat="50.008" lon="7.008" version="1"/>
  <node id="8" lat="50.002" lon="7.008" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><tag k="highway" v="primary"/><tag k="lanes" v="4"/></way>
  <way id="11" version="1"><nd ref="5"/><nd ref="2"/><nd ref="6"/><tag k="highway" v="secondary"/></way>
  <way id="12" version="1"><nd ref="7"/><nd ref="3"/><nd ref="8"/><tag k="highway" v="tertiary"/></way>
</osm>
"""


def odd_network(folder: Path) -> Path:
    """A 4-way signal beside a T-junction signal, with 1 to 3 lanes per road (netconvert from plain XML)."""
    nodes = folder / "odd.nod.xml"
    nodes.write_text("""<nodes>
  <node id="A" x="0" y="0" type="traffic_light"/><node id="B" x="250" y="0" type="traffic_light"/>
  <node id="W" x="-250" y="0"/><node id="E" x="500" y="0"/><node id="N" x="0" y="250"/>
  <node id="S" x="0" y="-250"/><node id="NB" x="250" y="250"/>
</nodes>""")
    edges = folder / "odd.edg.xml"
    pairs = [("W", "A", 3), ("A", "B", 2), ("B", "E", 2), ("N", "A", 1), ("S", "A", 2), ("NB", "B", 1)]
    lines = [f'<edge id="{a}{b}" from="{a}" to="{b}" numLanes="{k}"/><edge id="{b}{a}" from="{b}" to="{a}" numLanes="{k}"/>'
             for a, b, k in pairs]
    edges.write_text("<edges>\n" + "\n".join(lines) + "\n</edges>")
    net = folder / "odd.net.xml"
    subprocess.run([binary("netconvert"), f"--node-files={nodes}", f"--edge-files={edges}", f"--output-file={net}",
                    "--tls.default-type=static", "--no-turnarounds=true", "--no-warnings=true"], check=True, capture_output=True)
    return net


def nothing_registered(name):
    return name not in user_names() and not any(p.name.startswith(f".{name}") for p in registry_dir().glob(".*"))


def test_add_net_and_routes_then_make_env(tmp_path):
    sc = add_scenario("c3copy", net=COLOGNE3.net, routes=list(COLOGNE3.routes), begin=25200, end=25500)
    assert sc.signals == 3 and Path(sc.net).parent == registry_dir() / "c3copy"
    env = make_env("c3copy", seed=1)
    obs, _ = env.reset_arrays()
    _, rewards, _, _ = env.step_arrays(np.zeros(3, int))
    assert rewards.shape == (3,)
    env.close()
    out = subprocess.run([sys.executable, "-m", "fmat.cli", "scenarios"], capture_output=True, text=True).stdout
    assert "c3copy" in out
    remove_scenario("c3copy")
    assert "c3copy" not in user_names()
    with pytest.raises(InvalidOptionError, match="no added scenario"):
        remove_scenario("c3copy")


def test_add_from_sumocfg():
    cfg = Path(get_scenario("cologne8").net).with_name("cologne8.sumocfg")
    sc = add_scenario("c8cfg", sumocfg=str(cfg))
    assert (sc.begin, sc.end, sc.signals) == (25200, 28800, 8)
    remove_scenario("c8cfg")


def test_add_osm_extract_with_generated_demand(tmp_path):
    osm = tmp_path / "town.osm"
    osm.write_text(OSM)
    sc = add_scenario("town", osm=str(osm), demand=400, end=600)
    assert sc.signals == 2
    env = make_env("town")
    assert env.graph.degrees().tolist() == [1, 1]
    env.close()


def test_generate_grid_and_arterial():
    grid = generate_scenario("g23", "grid", rows=2, cols=3)
    assert grid.signals == 6
    arterial = generate_scenario("art4", "arterial", signals=4)
    assert arterial.signals == 4
    assert sorted(make_env("art4").graph.degrees().tolist()) == [1, 1, 2, 2]


@pytest.mark.parametrize("case", ["missing net", "not xml", "no lights", "bad edge", "empty window", "no vehicles", "clash"])
def test_validation_failures_register_nothing(tmp_path, case):
    net, routes, kwargs, error, match = COLOGNE3.net, [COLOGNE3.routes[0]], {"begin": 25200, "end": 25500}, ScenarioFileError, None
    if case == "missing net":
        net, match = str(tmp_path / "none.net.xml"), "none.net.xml does not exist"
    elif case == "not xml":
        (tmp_path / "bad.net.xml").write_text("this is not xml")
        net, match = str(tmp_path / "bad.net.xml"), "bad.net.xml is not a SUMO network"
    elif case == "no lights":
        net = tmp_path / "plain.net.xml"
        subprocess.run([binary("netgenerate"), "--grid", "--grid.number=3", f"--output-file={net}"], check=True, capture_output=True)
        error, match, routes, kwargs = NoTrafficLightsError, "no traffic light", [], {"demand": 100}
    elif case == "bad edge":
        bad = tmp_path / "bad.rou.xml"
        bad.write_text('<routes><vehicle id="v7" depart="25300"><route edges="nowhere_road"/></vehicle></routes>')
        routes, match = [str(bad)], re.escape("bad.rou.xml: <vehicle id='v7'> uses edge 'nowhere_road', which is not in net")
    elif case == "empty window":
        kwargs, error, match = {"begin": 25500, "end": 25500}, InvalidOptionError, "empty time window"
    elif case == "no vehicles":
        kwargs, match = {"begin": 0, "end": 600}, "schedule no vehicle"
    elif case == "clash":
        error, match = InvalidOptionError, "clashes with a built-in"
    name = "grid-2x2" if case == "clash" else "broken"
    with pytest.raises(error, match=match):
        add_scenario(name, net=str(net), routes=routes, **kwargs)
    assert nothing_registered(name)


def test_odd_network_runs_every_algorithm(tmp_path):
    from fmat.config import validate
    from fmat.registry import ALGORITHMS, REGISTRY, SECTION
    from fmat.train import train

    sc = add_scenario("odd", net=str(odd_network(tmp_path)), demand=500, end=300)
    env = make_env("odd")
    assert len({len(s.in_lanes) for s in env.signals}) == 2  # a 4-way and a T-junction: padding and masks at work
    env.close()
    for algorithm in ALGORITHMS:
        cfg = validate({"algorithm": algorithm, "scenario": "odd", "output_dir": str(tmp_path / "runs"),
                        "train": {"episodes": 1, "rollout_steps": 10}, "evaluation": {"episodes": 1},
                        **({SECTION[REGISTRY[algorithm].kind]: {"gamma": 0.9}} if REGISTRY[algorithm].learns else {})}, "t")
        run = train(cfg, progress=False)
        assert (run / "eval.json").is_file(), algorithm
    assert sc.signals == 2


def test_show_draws_every_signal(tmp_path):
    generate_scenario("g33", "grid", rows=3, cols=3)
    out = tmp_path / "g33.png"
    proc = subprocess.run([sys.executable, "-m", "fmat.cli", "scenario", "show", "g33", "--out", str(out), "--factors", "grid"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "degree min 2, mean 2.67, max 4" in proc.stdout
    description = Image.open(out).text["Description"]
    assert "'nodes': 9" in description and "'links': 12" in description and "'factors': 4" in description


def test_short_incoming_lanes_are_observed_with_the_lanes_feeding_them():
    from fmat.envs.network import read_network
    from fmat.scenario_show import report

    # gneJ143's approach on ingolstadt7 has 1 m lanes; its queue waits on 10425609#0 (44 m), which
    # no signal controls. RESCO's signal config maps the same lanes by hand.
    signal = next(s for s in read_network(get_scenario("ingolstadt7").net).signals if s.id == "gneJ143")
    lane = signal.in_lanes.index("10425609#1_1")
    assert signal.in_upstream[lane] == ["10425609#0_1"] and signal.in_capacity[lane] > 5
    assert not any(signal.in_upstream[i] for i, l in enumerate(signal.in_lanes) if l.startswith("124812857#0"))  # 143 m
    assert all(not up for s in read_network(get_scenario("grid4x4").net).signals for up in s.in_upstream)
    _, warnings = report("ingolstadt7")
    assert not any("longer queues are not observed" in w for w in warnings)
    _, warnings = report("ingolstadt21")  # 4 signals have lanes fed straight from another signal
    short = [w for w in warnings if "longer queues are not observed" in w]
    assert len(short) == 4 and short[0].startswith("signal 243641585: 2 of 6 incoming lanes")
