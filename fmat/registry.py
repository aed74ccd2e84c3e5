"""Algorithm names -> what they are and where they live. A new algorithm is one module plus one
entry here.

Entries name their classes by import path and are resolved only when an algorithm is built, so
`fmat table`, `fmat plot` and `fmat scenarios` read names, labels and colours without importing
torch or torch_geometric.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

import pydantic

from fmat.envs.errors import FmatError

ON_POLICY, OFF_POLICY, CONTROLLER = "on-policy", "off-policy", "controller"
SECTION = {ON_POLICY: "ppo", OFF_POLICY: "dqn"}  # the run-config section of each learner kind's hyper-parameters


@dataclass(frozen=True)
class Entry:
    """One algorithm.

    Attributes:
        name: the name in configs, run directories and tables.
        kind: ON_POLICY (trained by the PPO core), OFF_POLICY (the DQN core) or CONTROLLER (no training).
        builder: "module:Class" of the policy network, or of the controller.
        config: "module:Class" of its `model:` settings (a dataclass), or None.
        agent_count_dependent: None, or why the actor's weights depend on the number of agents
            (phrased to follow "<name>'s "); such a policy cannot be evaluated on another map.
            (`model.agent_id: true` has the same effect on MAPPO and IPPO: `transfer_blocker`.)
        label, colour: how tables and figures show it.
    """

    name: str
    kind: str
    builder: str
    config: str | None
    agent_count_dependent: str | None
    label: str
    colour: str

    @property
    def learns(self) -> bool:
        return self.kind != CONTROLLER

    @property
    def samples(self) -> bool:
        """Whether its policy is a distribution to sample at evaluation. Controllers and value-based
        learners act deterministically, so greedy and sampled evaluation are the same for them."""
        return self.kind == ON_POLICY

    def load(self, what: str = "builder"):
        module, attr = getattr(self, what).split(":")
        return getattr(importlib.import_module(module), attr)


AGENT_ID = "input layers take an agent-id one-hot, so the weights fit only the training map's number of agents"
PER_SIGNAL = "network is a separate Q network per signal, so the weights fit only the training map's signals"
ENTRIES = (
    Entry("fmat", ON_POLICY, "fmat.policies.fmat:FMAT", "fmat.policies.fmat:FMATConfig", None, "f-MAT", "#d62728"),
    Entry("mat", ON_POLICY, "fmat.baselines.mat:MAT", "fmat.baselines.mat:MATConfig", None, "MAT", "#1f77b4"),
    Entry("mappo", ON_POLICY, "fmat.baselines.mappo:MAPPO", "fmat.baselines.mappo:MAPPOConfig", None, "MAPPO", "#2ca02c"),
    Entry("ippo", ON_POLICY, "fmat.baselines.mappo:IPPO", "fmat.baselines.mappo:IPPOConfig", None, "IPPO", "#9467bd"),
    Entry("idqn", OFF_POLICY, "fmat.baselines.idqn:IDQN", "fmat.baselines.idqn:IDQNConfig", PER_SIGNAL, "IDQN", "#17becf"),
    Entry("mplight", OFF_POLICY, "fmat.baselines.mplight:MPLight", "fmat.baselines.mplight:MPLightConfig", None, "MPLight",
          "#637939"),
    Entry("colight", OFF_POLICY, "fmat.baselines.colight:CoLight", "fmat.baselines.colight:CoLightConfig", None, "CoLight",
          "#393b79"),
    Entry("fixed_time", CONTROLLER, "fmat.baselines.classical:FixedTime", None, None, "fixed-time", "#ff7f0e"),
    Entry("max_pressure", CONTROLLER, "fmat.baselines.classical:MaxPressure", None, None, "max-pressure", "#7f7f7f"),
    Entry("greedy", CONTROLLER, "fmat.baselines.classical:Greedy", None, None, "greedy", "#8c564b"),
    Entry("sotl", CONTROLLER, "fmat.baselines.classical:SOTL", None, None, "SOTL", "#e377c2"),
    Entry("random", CONTROLLER, "fmat.baselines.classical:Random", None, None, "random", "#bcbd22"),
)
REGISTRY = {e.name: e for e in ENTRIES}
ALGORITHMS = tuple(REGISTRY)
LEARNERS = tuple(e.name for e in ENTRIES if e.learns)
CONTROLLERS = tuple(e.name for e in ENTRIES if not e.learns)


class ConfigError(FmatError, ValueError):
    """A configuration key or value that cannot be used."""


def model_config(algorithm: str, values: dict):
    """The algorithm's model config dataclass from a dict; unknown keys fail with the allowed ones."""
    cls = REGISTRY[algorithm].load("config")
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: unknown key for {algorithm}; allowed: {', '.join(allowed)}")
    try:
        return pydantic.TypeAdapter(cls).validate_python(values)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"model.{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r})") from None


def build_policy(algorithm: str, spec, graph, model: dict):
    """The algorithm's network for an observation spec (envs/observations.py) and agent graph."""
    cfg = model_config(algorithm, model)
    return REGISTRY[algorithm].load()(spec, graph, cfg)


def transfer_blocker(algorithm: str, model: dict | None = None) -> str | None:
    """Why a policy trained with `algorithm` (and these model settings) cannot run on another map,
    or None when it can."""
    if (model or {}).get("agent_id"):
        return AGENT_ID
    return REGISTRY[algorithm].agent_count_dependent


def controller_class(algorithm: str):
    """The controller class of a classical algorithm."""
    return REGISTRY[algorithm].load()
