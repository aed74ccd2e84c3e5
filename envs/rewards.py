"""Per-agent rewards, chosen by name or passed in as a callable.

A reward function takes the current and the previous `TrafficState` and returns one float per
agent (shape [n_agents]). Pass your own as `make_env(..., reward=fn)`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import InvalidOptionError
from .traffic_state import TrafficState

RewardFn = Callable[[TrafficState, TrafficState], np.ndarray]


def queue(state: TrafficState, previous: TrafficState) -> np.ndarray:
    """Minus the halted vehicles on the incoming lanes."""
    return -state.in_halting.sum(1)


def pressure(state: TrafficState, previous: TrafficState) -> np.ndarray:
    """Minus the absolute pressure |vehicles on incoming lanes - vehicles on outgoing lanes| (PressLight)."""
    return -np.abs(state.in_vehicles.sum(1) - state.out_vehicles.sum(1))


def diff_waiting_time(state: TrafficState, previous: TrafficState) -> np.ndarray:
    """Decrease of the total waiting time on the incoming lanes since the last decision, / 100 (sumo-rl)."""
    return (previous.in_waiting.sum(1) - state.in_waiting.sum(1)) / 100.0


def wait(state: TrafficState, previous: TrafficState) -> np.ndarray:
    """RESCO's normalised waiting time: -(total waiting time on incoming lanes) / 224, clipped to [-4, 4]."""
    return np.clip(-state.in_waiting.sum(1) / 224.0, -4.0, 4.0)


REWARDS: dict[str, RewardFn] = {
    "queue": queue,
    "pressure": pressure,
    "diff-waiting-time": diff_waiting_time,
    "wait": wait,
}


def get_reward(reward: str | RewardFn) -> RewardFn:
    if callable(reward):
        return reward
    if reward not in REWARDS:
        raise InvalidOptionError(f"unknown reward {reward!r}; choose one of {', '.join(REWARDS)} or pass a callable")
    return REWARDS[reward]
