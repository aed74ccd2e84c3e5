"""The algorithm registry: every entry builds, says truthfully whether it transfers, and reading
names does not load torch."""
import subprocess
import sys

import pytest

from fmat.config import validate
from fmat.envs.graph import grid_graph
from fmat.registry import CONTROLLER, ENTRIES, REGISTRY, SECTION, ConfigError, build_policy
from tiny_env import random_obs, spec


def test_reading_names_does_not_import_torch():
    code = "import sys, fmat.report, fmat.plot, fmat.transfer_table, fmat.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("agent_id", [False, True])
@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.learns], ids=lambda e: e.name)
def test_agent_count_dependence_is_declared_truthfully(entry, agent_id):
    """An actor trained on 6 signals with 4 phases loads into the same learner on 12 signals with 6
    phases exactly when the registry says it transfers."""
    from fmat.registry import model_config, transfer_blocker

    model = {"agent_id": True} if agent_id else {}
    try:
        model_config(entry.name, model)
    except ConfigError:
        pytest.skip(f"{entry.name} has no agent_id setting")
    small = build_policy(entry.name, spec(max_phases=4), grid_graph(2, 3), model)
    large = build_policy(entry.name, spec(max_phases=6), grid_graph(3, 4), model)
    try:
        large.load_actor(small.state_dict())
        transfers = True
    except RuntimeError:
        transfers = False
    assert transfers == (transfer_blocker(entry.name, model) is None)
    if transfers:
        assert large.select(random_obs(spec(max_phases=6), 2, 12)).shape == (2, 12)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not e.learns], ids=lambda e: e.name)
def test_controllers_load(entry):
    assert entry.kind == CONTROLLER and entry.config is None and callable(entry.load().act)


@pytest.mark.parametrize("algorithm,section,key", [("idqn", "ppo", "clip"), ("fmat", "dqn", "lr"),
                                                   ("greedy", "ppo", "lr")])
def test_hyper_parameters_of_the_wrong_kind_are_one_line(algorithm, section, key):
    with pytest.raises(ConfigError) as err:
        validate({"algorithm": algorithm, "scenario": "cologne1", section: {key: 0.5}}, "run.yaml")
    message = str(err.value)
    assert message.startswith(f"run.yaml: {section}.{key}: {algorithm} is {REGISTRY[algorithm].kind}")
    assert len(message.splitlines()) == 1
    home = SECTION.get(REGISTRY[algorithm].kind)
    assert (f"go under {home}:" in message) if home else "no training settings" in message
