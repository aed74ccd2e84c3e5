"""Per-phase observation features: what each green phase would serve, built from the lanes the phase
lets through (`SignalSpec.phase_movements`), the same structure greedy and max-pressure read.

`phases` is float32 [n_agents, max_phases, F], one row per green phase of the signal's own
programme and zero rows on padding. Counts are divided by the served lanes' capacity (or taken per
lane), so one set of weights fits 1-lane and 4-lane approaches:

    0 queue      halted vehicles on the incoming lanes the phase serves / their capacity
    1 demand     vehicles (halted or approaching) on those lanes / their capacity
    2 pressure   (halted per served incoming lane - halted per outgoing lane it feeds) / PER_LANE
    3 waiting    mean accumulated waiting time of the vehicles on those lanes / WAIT_SCALE s, clipped
    4 current    1 for the phase that is green now
    5 green      seconds the current phase has been green / GREEN_SCALE, clipped (0 on other rows)

`phase_relation` is int8 [n_agents, max_phases, max_phases]: 1 where two phases serve a common
incoming lane (FRAP's "partial competition"), on real phases only.
"""
from __future__ import annotations

import numpy as np

PHASE_FEATURES = ("queue", "demand", "pressure", "waiting", "current", "green")
PER_LANE = 20.0  # vehicles per lane that make a pressure of 1
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
        ], axis=-1).astype(np.float32)
        return features * self.real[..., None]
