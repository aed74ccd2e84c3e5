"""What each agent observes: the observation layouts, picked by name (`env.observation`), the way
rewards are (envs/rewards.py). Every layout's dict holds:

    observation       float32 [obs_dim], the layout's per-agent vector, zero on padding
    observation_mask  int8 [obs_dim], 1 where the feature exists for this signal
    action_mask       int8 [max_phases], 1 for phases that may be chosen now (during min green only
                      the current one)
    phases            float32 [max_phases, 6], per-phase features (below), zero on padding rows
    phase_relation    int8 [max_phases, max_phases], 1 where two phases serve a common incoming
                      lane (FRAP's "partial competition"), on real phases only; its diagonal
                      marks the real phases

Layouts differ in `observation` and in which keys a learner reads:

- `phases` (default): `observation` is a small agent-level vector [min green served, seconds green
  / GREEN_SCALE]; learners read the phase rows, so no weight depends on the number of phases,
  lanes or signals, and the features mean the same on every map.
- `lanes` (fmat 0.2's observation, kept for the ablation): `observation` is the phase one-hot
  (max_phases), the min-green-served flag (1), then per incoming lane the density and the queue
  (vehicles / lane capacity, clipped to [0, 1]), each padded to max_lanes. Learners read this
  vector, whose slots mean different lanes on different signals. The phase keys are still there
  for MPLight, whose published form is built on them.

Per-phase features, one row per green phase of the signal's own programme, built from the lanes the
phase lets through (`SignalSpec.phase_movements`: the structure greedy and max-pressure read). Counts
are divided by the served lanes' capacity (or taken per lane), so one set of weights fits 1-lane
and 4-lane approaches:

    0 queue      halted vehicles on the incoming lanes the phase serves / their capacity
    1 demand     vehicles (halted or approaching) on those lanes / their capacity
    2 pressure   (halted per served incoming lane - halted per outgoing lane it feeds) / PER_LANE
    3 waiting    mean accumulated waiting time of the vehicles on those lanes / WAIT_SCALE s, clipped
    4 current    1 for the phase that is green now
    5 green      seconds the current phase has been green / GREEN_SCALE, clipped (0 on other rows)
    6 halted     halted vehicles on the incoming lanes the phase serves / VEHICLE_SCALE
    7 vehicles   vehicles (halted or approaching) on those lanes / VEHICLE_SCALE

The shares (0, 1) compare phases of different widths; the counts (6, 7) say how many vehicles a
green would serve, which is what greedy compares: a phase serving 8 movements and one serving 3 can
have equal shares and very different counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from .errors import InvalidOptionError

PHASE_FEATURES = ("queue", "demand", "pressure", "waiting", "current", "green", "halted", "vehicles")
PER_LANE = 20.0  # vehicles per lane that make a pressure of 1
VEHICLE_SCALE = 20.0  # vehicles that make a count of 1
WAIT_SCALE = 100.0
GREEN_SCALE = 60.0


class PhaseFeatures:
    """Precomputed lane-to-phase selections for a scenario's signals, padded to `max_phases`."""

    def __init__(self, signals, in_width: int, out_width: int, max_phases: int):
        n = len(signals)
        self.served = np.zeros((n, max_phases, in_width), np.float32)  # incoming lanes a phase serves
        self.fed = np.zeros((n, max_phases, out_width), np.float32)  # outgoing lanes it feeds
        self.real = np.zeros((n, max_phases), bool)
        for i, s in enumerate(signals):
            for p, moves in enumerate(s.phase_movements):
                self.real[i, p] = True
                for in_lane, out_lane in moves:
                    self.served[i, p, in_lane] = 1.0
                    self.fed[i, p, out_lane] = 1.0
        shared = np.einsum("npl,nql->npq", self.served, self.served) > 0
        self.relation = (shared & self.real[:, :, None] & self.real[:, None, :]).astype(np.int8)
        self.n_served = np.maximum(self.served.sum(-1), 1.0)
        self.n_fed = np.maximum(self.fed.sum(-1), 1.0)

    def compute(self, state) -> np.ndarray:
        """[n_agents, max_phases, len(PHASE_FEATURES)] from a TrafficState."""
        lanes = np.stack([state.in_capacity * state.in_mask, state.in_halting, state.in_vehicles, state.in_waiting], -1)
        capacity, halted, vehicles, waiting = np.moveaxis(self.served @ lanes, -1, 0)  # sums over served lanes
        capacity = np.maximum(capacity, 1e-6)
        out_halted = (self.fed @ state.out_halting[..., None])[..., 0]
        current = np.zeros_like(halted)
        current[np.arange(len(current)), state.phase] = 1.0
        features = np.stack([
            halted / capacity,
            vehicles / capacity,
            (halted / self.n_served - out_halted / self.n_fed) / PER_LANE,
            np.minimum(waiting / np.maximum(vehicles, 1.0) / WAIT_SCALE, 5.0),
            current,
            current * np.clip(state.green_time, 0.0, None)[:, None].clip(max=5 * GREEN_SCALE) / GREEN_SCALE,
            halted / VEHICLE_SCALE,
            vehicles / VEHICLE_SCALE,
        ], axis=-1).astype(np.float32)
        return features * self.real[..., None]


@dataclass(frozen=True)
class ObservationSpec:
    """What a policy network is built for: the layout's name and the sizes of its arrays."""

    layout: str
    obs_dim: int
    max_phases: int
    phase_features: int = len(PHASE_FEATURES)


class Layout:
    """Builds every agent's observation from a TrafficState. Subclasses set `name` and define
    `obs_dim`, `observation_mask` and `vector(state, can_change)`."""

    name = ""

    def __init__(self, signals, lanes, max_phases: int):
        self.max_phases = max_phases
        self.n_phases = np.array([s.n_phases for s in signals])
        self.valid_phases = np.arange(max_phases)[None, :] < self.n_phases[:, None]
        self.phase_features = PhaseFeatures(signals, lanes.in_index.shape[1], lanes.out_index.shape[1], max_phases)

    @property
    def spec(self) -> ObservationSpec:
        return ObservationSpec(self.name, self.obs_dim, self.max_phases)

    def spaces(self, agents: tuple[int, ...] = ()) -> dict:
        """The observation dict's spaces for one agent (or, with `agents`, stacked over agents)."""
        p = self.max_phases
        return {
            "observation": gym.spaces.Box(0.0, self.high, (*agents, self.obs_dim), np.float32),
            "observation_mask": gym.spaces.MultiBinary((*agents, self.obs_dim)),
            "action_mask": gym.spaces.MultiBinary((*agents, p)),
            "phases": gym.spaces.Box(-np.inf, np.inf, (*agents, p, len(PHASE_FEATURES)), np.float32),
            "phase_relation": gym.spaces.MultiBinary((*agents, p, p)),
        }

    def observe(self, state, min_green: float) -> dict[str, np.ndarray]:
        can_change = state.green_time >= min_green
        action_mask = self.valid_phases.copy()
        stuck = ~can_change
        action_mask[stuck] = False
        action_mask[stuck, state.phase[stuck]] = True
        return {"observation": self.vector(state, can_change), "observation_mask": self.observation_mask,
                "action_mask": action_mask.astype(np.int8), "phases": self.phase_features.compute(state),
                "phase_relation": self.phase_features.relation}

    @staticmethod
    def state_vector(obs: dict[str, np.ndarray]) -> np.ndarray:
        """The global state: every agent's observation vector and phase rows, concatenated."""
        n = len(obs["observation"])
        return np.concatenate([obs["observation"], obs["phases"].reshape(n, -1)], axis=1).reshape(-1)

    @property
    def state_dim(self) -> int:
        return len(self.n_phases) * (self.obs_dim + self.max_phases * len(PHASE_FEATURES))


class PhasesLayout(Layout):
    name = "phases"
    high = 5.0  # green time / GREEN_SCALE is clipped at 5
    obs_dim = 2

    def __init__(self, signals, lanes, max_phases: int):
        super().__init__(signals, lanes, max_phases)
        self.observation_mask = np.ones((len(signals), self.obs_dim), np.int8)

    def vector(self, state, can_change) -> np.ndarray:
        green = np.clip(state.green_time, 0.0, 5 * GREEN_SCALE) / GREEN_SCALE
        return np.stack([can_change.astype(np.float32), green], axis=1).astype(np.float32)


class LanesLayout(Layout):
    name = "lanes"
    high = 1.0

    def __init__(self, signals, lanes, max_phases: int):
        super().__init__(signals, lanes, max_phases)
        self.obs_dim = max_phases + 1 + 2 * lanes.in_index.shape[1]
        self.observation_mask = np.concatenate(
            [self.valid_phases, np.ones((len(signals), 1), bool), lanes.in_mask, lanes.in_mask], axis=1
        ).astype(np.int8)

    def vector(self, state, can_change) -> np.ndarray:
        n = len(state.phase)
        one_hot = np.zeros((n, self.max_phases), np.float32)
        one_hot[np.arange(n), state.phase] = 1.0
        return np.concatenate([
            one_hot,
            can_change[:, None].astype(np.float32),
            np.minimum(state.in_vehicles / state.in_capacity, 1.0),
            np.minimum(state.in_halting / state.in_capacity, 1.0),
        ], axis=1).astype(np.float32)


LAYOUTS: dict[str, type[Layout]] = {"phases": PhasesLayout, "lanes": LanesLayout}
DEFAULT_LAYOUT = "phases"


def get_layout(name: str) -> type[Layout]:
    if name not in LAYOUTS:
        raise InvalidOptionError(f"unknown observation layout {name!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
