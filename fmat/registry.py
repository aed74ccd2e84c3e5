"""Algorithm names -> implementations. A new policy is one module plus one line here."""
from __future__ import annotations

import dataclasses

import pydantic

from fmat.baselines.classical import SOTL, FixedTime, Greedy, MaxPressure, Random
from fmat.baselines.mappo import IPPO, MAPPO, IPPOConfig, MAPPOConfig
from fmat.baselines.mat import MAT, MATConfig
from fmat.envs.errors import FmatError
from fmat.policies.fmat import FMAT, FMATConfig

LEARNERS = {
    "fmat": (FMATConfig, FMAT),
    "mat": (MATConfig, MAT),
    "mappo": (MAPPOConfig, MAPPO),
    "ippo": (IPPOConfig, IPPO),
}
CONTROLLERS = {
    "fixed_time": FixedTime,
    "max_pressure": MaxPressure,
    "greedy": Greedy,
    "sotl": SOTL,
    "random": Random,
}
ALGORITHMS = tuple(LEARNERS) + tuple(CONTROLLERS)


class ConfigError(FmatError, ValueError):
    """A configuration key or value that cannot be used."""


def model_config(algorithm: str, values: dict):
    """The algorithm's model config dataclass from a dict; unknown keys fail with the allowed ones."""
    cls = LEARNERS[algorithm][0]
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: unknown key for {algorithm}; allowed: {', '.join(allowed)}")
    try:
        return pydantic.TypeAdapter(cls).validate_python(values)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"model.{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r})") from None


def build_policy(algorithm: str, obs_dim: int, n_actions: int, graph, model: dict):
    cfg = model_config(algorithm, model)
    return LEARNERS[algorithm][1](obs_dim, n_actions, graph, cfg)
