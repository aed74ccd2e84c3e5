"""What the environment measures at each decision, laid out as padded [agents, lanes] arrays.

Intersections differ in lanes and phases, so every per-agent quantity is padded to the largest
signal of the scenario, with masks saying which entries are real.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import SignalSpec


@dataclass
class TrafficState:
    """One decision's measurements for all agents (rewards and observations are computed from it).

    Lane arrays are [n_agents, max_lanes], zero on padding; `in_mask`/`out_mask` mark real lanes.
    `in_waiting` is the summed waiting time (s) of the vehicles on each lane.
    """

    time: float
    in_vehicles: np.ndarray
    in_halting: np.ndarray
    in_waiting: np.ndarray
    in_capacity: np.ndarray
    in_mask: np.ndarray
    out_vehicles: np.ndarray
    out_halting: np.ndarray
    out_mask: np.ndarray
    phase: np.ndarray  # [n_agents] current green phase index
    green_time: np.ndarray  # [n_agents] seconds since that green began


class LaneLayout:
    """Maps the scenario's lanes onto padded per-agent arrays. An incoming lane's readings are the
    sums over it and its upstream lanes (`SignalSpec.in_upstream`)."""

    def __init__(self, signals: list[SignalSpec], min_lanes: int = 0):
        upstream = [s.in_upstream or [[] for _ in s.in_lanes] for s in signals]
        self.lanes: list[str] = sorted({l for s, up in zip(signals, upstream)
                                        for l in s.in_lanes + s.out_lanes + [u for chain in up for u in chain]})
        position = {lane: i for i, lane in enumerate(self.lanes)}
        pad = len(self.lanes)  # index of an always-zero slot

        def table(lists, min_width=0):
            width = max(min_width, max(len(x) for x in lists))
            out = np.full((len(lists), width), pad, dtype=np.int64)
            for i, lanes in enumerate(lists):
                out[i, : len(lanes)] = [position[l] for l in lanes]
            return out

        chains = [[[lane, *chain] for lane, chain in zip(s.in_lanes, up)] for s, up in zip(signals, upstream)]
        depth = max(len(c) for agent in chains for c in agent)
        self.in_index = table([s.in_lanes for s in signals], min_lanes)
        # [n_agents, max_lanes, depth]: each incoming lane, then its upstream lanes, padded
        self.in_chain = np.full((*self.in_index.shape, depth), pad, dtype=np.int64)
        for i, agent in enumerate(chains):
            for j, chain in enumerate(agent):
                self.in_chain[i, j, : len(chain)] = [position[l] for l in chain]
        self.out_index = table([s.out_lanes for s in signals])
        self.in_mask = self.in_index != pad
        self.out_mask = self.out_index != pad
        self.in_capacity = np.ones(self.in_index.shape, dtype=np.float32)
        for i, s in enumerate(signals):
            self.in_capacity[i, : len(s.in_lanes)] = s.in_capacity

    def state(self, time: float, lane_values: np.ndarray, phase, green_time) -> TrafficState:
        """Build the padded state from [n_lanes, 3] (vehicles, halting, waiting) in `self.lanes` order."""
        padded = np.concatenate([lane_values, np.zeros((1, 3), lane_values.dtype)])
        inside, outside = padded[self.in_chain].sum(axis=2), padded[self.out_index]
        return TrafficState(
            time=time,
            in_vehicles=inside[..., 0],
            in_halting=inside[..., 1],
            in_waiting=inside[..., 2],
            in_capacity=self.in_capacity,
            in_mask=self.in_mask,
            out_vehicles=outside[..., 0],
            out_halting=outside[..., 1],
            out_mask=self.out_mask,
            phase=phase,
            green_time=green_time,
        )
