"""Classical signal controllers: no training, same evaluation path as the learners.

Each controller reads the environment's `traffic_state` (padded lane measurements) and the
signals' phase definitions, so it works on any network, not a per-map table.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class Controller:
    """act(state, action_mask) -> one phase index per agent."""

    env_options: dict = {}

    def __init__(self, env, seed: int = 0):
        self.env = env
        self.signals = env.signals
        self.rng = np.random.default_rng(seed)
        # For each agent and phase, the (in_lane, out_lane) index pairs the phase lets through.
        self.moves = [[np.array(m, dtype=np.int64).reshape(-1, 2) for m in s.phase_movements] for s in self.signals]

    def act(self, state, action_mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _argmax_valid(self, scores: list[np.ndarray], state, action_mask) -> np.ndarray:
        """Best valid phase per agent; ties keep the current phase, else the lowest index."""
        actions = np.empty(len(scores), dtype=np.int64)
        for i, s in enumerate(scores):
            s = np.where(action_mask[i, : len(s)].astype(bool), s, -np.inf)
            best = np.flatnonzero(s == s.max())
            actions[i] = state.phase[i] if state.phase[i] in best else best[0]
        return actions


class FixedTime(Controller):
    """The network's own signal programmes (the environment ignores the actions)."""

    env_options = {"control": "fixed"}

    def act(self, state, action_mask):
        return np.zeros(len(self.signals), dtype=np.int64)


class MaxPressure(Controller):
    """The phase whose green movements have the largest pressure: sum over its movements of
    incoming-lane queue minus outgoing-lane queue (halted vehicles)."""

    def act(self, state, action_mask):
        scores = [
            np.array([(state.in_halting[i, m[:, 0]] - state.out_halting[i, m[:, 1]]).sum() for m in moves])
            for i, moves in enumerate(self.moves)
        ]
        return self._argmax_valid(scores, state, action_mask)


class Greedy(Controller):
    """The phase serving the most queued and approaching vehicles on its incoming lanes."""

    def act(self, state, action_mask):
        scores = [
            np.array([state.in_vehicles[i, np.unique(m[:, 0])].sum() for m in moves])
            for i, moves in enumerate(self.moves)
        ]
        return self._argmax_valid(scores, state, action_mask)


@dataclass
class SOTLConfig:
    theta: float = 3.0  # vehicles halted on red lanes that ask for a switch
    mu: float = 3.0  # at most this many vehicles still moving on the green lanes


class SOTL(Controller):
    """Self-organising traffic lights (after Gershenson), in the form used by benchmark suites:
    once min green is served, switch to the next phase of the cycle when at least theta vehicles
    are halted on red lanes and at most mu vehicles are still moving on the green ones.

    Gershenson's original counter (vehicle-seconds on red, with a platoon rule over whole lanes)
    gave 120 s delay on cologne3 and 307 s on grid4x4 here; this rule gives 40 s and 119 s. The 6
    settings tried on those two maps are in the project history (theta 3-40, mu 1-10).
    """

    def __init__(self, env, seed: int = 0, cfg: SOTLConfig = SOTLConfig()):
        super().__init__(env, seed)
        self.cfg = cfg

    def act(self, state, action_mask):
        actions = state.phase.copy()
        for i, moves in enumerate(self.moves):
            green = np.unique(moves[state.phase[i]][:, 0])
            red = np.setdiff1d(np.flatnonzero(state.in_mask[i]), green)
            halted_on_red = state.in_halting[i, red].sum()
            moving_on_green = (state.in_vehicles[i, green] - state.in_halting[i, green]).sum()
            nxt = (state.phase[i] + 1) % len(moves)
            if halted_on_red >= self.cfg.theta and moving_on_green <= self.cfg.mu and action_mask[i, nxt]:
                actions[i] = nxt
        return actions


class Random(Controller):
    """A uniformly random valid phase at every decision."""

    def act(self, state, action_mask):
        return np.array([self.rng.choice(np.flatnonzero(row)) for row in action_mask.astype(bool)])
