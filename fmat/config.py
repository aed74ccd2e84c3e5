"""Run configuration: one algorithm, one scenario, one seed. Validated with pydantic.

A YAML file plus `--set key=value` overrides (dotted keys, values parsed as YAML) becomes a
`RunConfig`; an unknown key, a wrong type or an unknown algorithm or scenario is one line naming
the file and the key.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fmat.envs.paths import NAME_MAX, inside
from fmat.files import read_yaml_mapping
from fmat.envs.grids import GRID_PATTERN
from fmat.envs.scenario import is_known
from fmat.envs.errors import FmatError
from fmat.envs.observations import LAYOUTS
from fmat.envs.rewards import REWARDS
from fmat.registry import ALGORITHMS, LEARNERS, REGISTRY, SECTION, ConfigError, model_config


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvConfig(Strict):
    reward: Literal[tuple(REWARDS)] = Field("wait", description="per-agent reward (envs/rewards.py)")
    observation: Literal[tuple(LAYOUTS)] = Field("phases", description="observation layout (envs/observations.py)")
    min_green: float = Field(5.0, ge=0)
    backend: Literal["libsumo", "traci"] = "libsumo"
    begin: float | None = None
    end: float | None = None
    delta: float | None = Field(None, gt=0)
    yellow: float | None = Field(None, ge=0)
    pad_phases: int = Field(0, ge=0)
    pad_lanes: int = Field(0, ge=0)
    demand: float | None = Field(None, gt=0)
    lanes: int | None = Field(None, ge=1)
    route_seed: int | None = None

    def options(self, scenario: str) -> dict:
        """make_env keyword arguments (grid-only keys only for grid scenarios)."""
        opts = self.model_dump(exclude_none=True)
        if not GRID_PATTERN.match(scenario):
            for key in ("demand", "lanes", "route_seed"):
                if key in opts:
                    raise ConfigError(f"env.{key}: only applies to synthetic grid-RxC and rush-RxC scenarios, not {scenario}")
        return opts


# An untrained policy's first episode is the slowest (its queues grow): the learners' first episode
# took 1.0-2.2 times their median later one on rush-4x4 and 1.2-3.0 times on rush-8x8
# (results/scaling/runs). So the rate measured early stops a run only when it projects past this
# multiple of the budget, which a run that would fit cannot reach with a first episode up to 4 times
# its later ones; any other run trains until it finishes or has spent the budget
# (fmat/train.py `over_budget`).
EARLY_STOP_MARGIN = 4.0


class TrainConfig(Strict):
    episodes: int = Field(10, ge=1, description="training episodes, counted over all parallel environments")
    env_steps: int | None = Field(None, ge=1, description="budget in environment steps (decisions x envs); when set it replaces episodes, rounded up to whole episodes")
    num_envs: int = Field(1, ge=1, description="environments simulated in parallel worker processes")
    rollout_steps: int = Field(120, ge=1, description="decisions per PPO update (an episode is split into chunks)")
    reward_sharing: Literal["none", "neighbours", "global"] = "none"
    threads: int = Field(1, ge=1, description="torch CPU threads, for training and for `fmat evaluate`")
    time_budget_s: float | None = Field(None, gt=0, description="wall-clock seconds allowed for training; a run that spends "
                                        f"it unfinished, or whose measured rate projects past {EARLY_STOP_MARGIN:g} times it, "
                                        "stops and is reported as over budget")


class PPOSection(Strict):
    lr: float = Field(5e-4, gt=0)
    adam_eps: float = Field(1e-5, gt=0)
    gamma: float = Field(0.99, ge=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip: float = Field(0.2, gt=0)
    epochs: int = Field(5, ge=1)
    minibatches: int = Field(1, ge=1)
    entropy_coef: float = Field(0.01, ge=0)
    value_coef: float = Field(1.0, ge=0)
    huber_delta: float = Field(10.0, gt=0)
    max_grad_norm: float = Field(10.0, gt=0)
    target_kl: float | None = Field(None, gt=0, description="end an update early: from the first minibatch whose approximate KL "
                                    "from the rollout's policy exceeds this, no more steps (the first step is always "
                                    "taken); None runs every epoch")


class DQNSection(Strict):
    """Off-policy learners' settings; the defaults are RESCO's IDQN (pfrl's DQN)."""

    lr: float = Field(1e-3, gt=0)
    gamma: float = Field(0.99, ge=0, le=1)
    buffer_size: int = Field(10_000, ge=1, description="transitions kept in the replay buffer")
    batch_size: int = Field(32, ge=1)
    learning_starts: int = Field(32, ge=1, description="transitions stored before the first update")
    target_update: int = Field(500, ge=1, description="decisions between copies of the online network to the target")
    epsilon_start: float = Field(1.0, ge=0, le=1)
    epsilon_end: float = Field(0.0, ge=0, le=1)
    epsilon_fraction: float = Field(0.8, gt=0, le=1, description="share of training over which epsilon falls linearly")
    n_step: int = Field(1, ge=1, description="n-step returns")
    double: bool = Field(True, description="double DQN: the online network picks the next action, the target scores it")
    max_grad_norm: float = Field(10.0, gt=0)


class EvalConfig(Strict):
    episodes: int = Field(1, ge=0, description="evaluation episodes after training")
    greedy: bool = Field(True, description="most likely action (True) or sampled actions (False)")


class RunConfig(Strict):
    algorithm: str
    scenario: str
    seed: int = 0
    output_dir: str = "runs"
    env: EnvConfig = EnvConfig()
    train: TrainConfig = TrainConfig()
    ppo: PPOSection = PPOSection()
    dqn: DQNSection = DQNSection()
    model: dict = Field(default_factory=dict)
    evaluation: EvalConfig = EvalConfig()

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, v: str) -> str:
        if v not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {v!r}; choose one of {', '.join(ALGORITHMS)}")
        return v

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, v: str) -> str:
        if not is_known(v):
            raise ValueError(f"unknown scenario {v!r}; run `fmat scenarios` for the list")
        return v

    def to_yaml(self) -> str:
        """The resolved config as YAML, with only its own kind's hyper-parameter section."""
        kind = REGISTRY[self.algorithm].kind
        others = {section for k, section in SECTION.items() if k != kind}
        return yaml.safe_dump(self.model_dump(exclude=others), sort_keys=False)

    @property
    def run_name(self) -> str:
        return f"{self.scenario}__{self.algorithm}__s{self.seed}"

    @property
    def run_dir(self) -> Path:
        return inside(self.output_dir, self.run_name, "run name", limit=2 * NAME_MAX)


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.episodes=5")
        key, raw = item.split("=", 1)
        if not re.fullmatch(r"[A-Za-z_][\w.]*", key):
            raise ConfigError(f"--set {item!r}: {key!r} is not a dotted key")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: --set {key}: {part} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML; quote it, e.g. --set '{key}=\"text\"'") from None
    return data


def validate(data: dict, source: str) -> RunConfig:
    try:
        cfg = RunConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(map(str, err["loc"])) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            section = _section(err["loc"][:-1])
            msg = f"unknown key; allowed: {', '.join(section.model_fields)}"
        raise ConfigError(f"{source}: {key}: {msg}") from None
    entry = REGISTRY[cfg.algorithm]
    for kind, section in SECTION.items():
        value = getattr(cfg, section)
        if kind != entry.kind and value != type(value)():
            changed = next(k for k in type(value).model_fields if getattr(value, k) != getattr(type(value)(), k))
            home = f"its settings go under {SECTION[entry.kind]}:" if entry.kind in SECTION else "it takes no training settings"
            raise ConfigError(f"{source}: {section}.{changed}: {cfg.algorithm} is {entry.kind}, not {kind}; {home}")
    if cfg.algorithm in LEARNERS:
        try:
            model_config(cfg.algorithm, cfg.model)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    elif cfg.model:
        raise ConfigError(f"{source}: model: {cfg.algorithm} is a classical controller and takes no model settings")
    cfg.env.options(cfg.scenario)
    try:
        cfg.run_dir
    except FmatError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cfg


def _section(loc) -> type[BaseModel]:
    model: type[BaseModel] = RunConfig
    for part in loc:
        model = model.model_fields[part].annotation
    return model


def is_whole(value, minimum: int | None = None) -> bool:
    """An integer (at least `minimum`) as a YAML value: YAML's true and false are not numbers here."""
    return isinstance(value, int) and not isinstance(value, bool) and (minimum is None or value >= minimum)


def read_yaml(path: Path, what: str, overrides: list[str] = ()) -> dict:
    """A YAML mapping with --set overrides applied; one-line ConfigErrors for a missing or bad file."""
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    return apply_overrides(read_yaml_mapping(path), list(overrides), str(path))


def load_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    path = Path(path)
    return validate(read_yaml(path, "config file", overrides), str(path))


def legacy_defaults(data: dict) -> dict:
    """A run config written by fmat 0.2 (before `env.observation` existed) meant what 0.2 did: the
    lanes layout, and MAPPO and IPPO actors with the agent id. New configs get the new defaults."""
    env = data.get("env")
    if isinstance(env, dict) and "observation" not in env:
        data = {**data, "env": {**env, "observation": "lanes"}}
        if data.get("algorithm") in ("mappo", "ippo") and isinstance(data.get("model"), dict):
            data["model"] = {"agent_id": True, **data["model"]}
    return data


def load_run_config(path: str | Path) -> RunConfig:
    """The config.yaml of a run directory, read with the defaults of the fmat that wrote it."""
    path = Path(path)
    return validate(legacy_defaults(read_yaml(path, "config file")), str(path))
