"""Static description of a road network's signals, read once from the .net.xml with sumolib.

Nothing here runs SUMO. The environment uses `SignalSpec` to build observations, actions and the
agent graph; its phases come from each signal's own programme in the net file.
"""
from __future__ import annotations

import functools
import os
import xml.sax
from dataclasses import dataclass, field

import numpy as np

from .errors import NoTrafficLightsError, ScenarioFileError, first_line

VEHICLE_SPACE_M = 7.5  # one vehicle's length plus the gap SUMO keeps behind it, for lane capacity
# An incoming lane that holds fewer vehicles than this is observed together with the lanes that feed
# it through junctions without signals: otherwise its queue waits where no observation, reward or
# controller sees it (e.g. ingolstadt7's 1 m lanes into gneJ143). RESCO extends such lanes by hand.
MIN_OBSERVED_VEHICLES = 3


@dataclass
class SignalSpec:
    """One signalised intersection (an agent)."""

    id: str
    junctions: list[str]
    position: tuple[float, float]
    in_lanes: list[str]
    out_lanes: list[str]
    in_capacity: np.ndarray  # vehicles that fit on each incoming lane, with its upstream lanes
    green_phases: list[str]  # RYG states, one per action
    programme: list[tuple[float, str]]  # the net's own (duration, state) cycle
    programme_green: list[int]  # green phase index shown during each programme phase
    all_red: float  # seconds of all-red the programme puts between greens (0 if none)
    phase_movements: list[list[tuple[int, int]]] = field(default_factory=list)
    """For each green phase, the (in_lane, out_lane) index pairs it lets through (max-pressure)."""
    in_upstream: list[list[str]] = field(default_factory=list)
    """For each incoming lane, the lanes upstream of it whose vehicles count as its own (empty for
    lanes long enough to hold MIN_OBSERVED_VEHICLES)."""

    @property
    def n_phases(self) -> int:
        return len(self.green_phases)


@dataclass
class Network:
    path: str
    signals: list[SignalSpec]
    edges: dict[str, tuple[str, str, float]]  # edge id -> (from node, to node, length in m)
    successors: dict[str, list[str]]  # edge id -> edges a vehicle can turn into (no U-turns)
    node_positions: dict[str, tuple[float, float]]


def _is_green(state: str) -> bool:
    return ("G" in state or "g" in state) and "y" not in state and "Y" not in state


@functools.lru_cache(maxsize=4096)  # a few (from, to) pairs per signal, asked for at every switch
def transition_states(from_state: str, to_state: str) -> tuple[str, str]:
    """Yellow and all-red states between two green states.

    A link green in both stays as it is; a link that loses green turns yellow, then red.
    """
    yellow, red = [], []
    for a, b in zip(from_state, to_state):
        if a in "Gg" and b in "Gg":
            yellow.append(a)
            red.append(a)
        elif a in "Gg":
            yellow.append("y")
            red.append("r")
        else:
            yellow.append(a)
            red.append(a)
    return "".join(yellow), "".join(red)


def _read_sumolib_net(path: str):
    import sumolib

    if not os.path.isfile(path):
        raise ScenarioFileError(f"net file {path} does not exist")
    try:
        net = sumolib.net.readNet(path, withPrograms=True)
    except (xml.sax.SAXException, ValueError, KeyError, IndexError, AttributeError, TypeError, UnicodeError) as exc:
        raise ScenarioFileError(f"net file {path} is not a SUMO network: {first_line(exc, 200)}") from None
    if not net.getEdges():
        raise ScenarioFileError(f"net file {path} has no <edge> elements; is it a SUMO .net.xml?")
    return net


def _signal_from_tls(tls) -> SignalSpec | None:
    programs = tls.getPrograms()
    if not programs:
        return None
    program = programs.get("0") or next(iter(programs.values()))
    programme = [(float(p.duration), p.state) for p in program.getPhases()]

    greens: list[str] = []
    for _, state in programme:
        if _is_green(state) and state not in greens:
            greens.append(state)
    if not greens:
        return None

    # Which green is "on" in each programme phase: the last green shown before it, cyclically.
    programme_green, current = [], greens.index(next(s for _, s in programme if _is_green(s)))
    for _, state in programme * 2:
        if _is_green(state):
            current = greens.index(state)
        programme_green.append(current)
    programme_green = programme_green[len(programme):]

    all_red = max((d for d, s in programme if not any(c in s for c in "GgyY")), default=0.0)

    connections = sorted(tls.getConnections(), key=lambda c: c[2])
    in_lanes: list[str] = []
    out_lanes: list[str] = []
    in_capacity: list[float] = []
    in_upstream: list[list[str]] = []
    own = {c[0].getID() for c in connections}
    link_pairs: dict[int, tuple[int, int]] = {}
    junctions: list[str] = []
    for in_lane, out_lane, link_index in connections:
        if in_lane.getID() not in in_lanes:
            upstream = _upstream_lanes(in_lane, own)
            in_lanes.append(in_lane.getID())
            in_upstream.append([lane.getID() for lane in upstream])
            length = in_lane.getLength() + sum(lane.getLength() for lane in upstream)
            in_capacity.append(max(1.0, length / VEHICLE_SPACE_M))
        if out_lane.getID() not in out_lanes:
            out_lanes.append(out_lane.getID())
        link_pairs[link_index] = (in_lanes.index(in_lane.getID()), out_lanes.index(out_lane.getID()))
        node = in_lane.getEdge().getToNode()
        if node.getID() not in junctions:
            junctions.append(node.getID())
    if not in_lanes:
        return None

    movements = [
        sorted({link_pairs[i] for i, c in enumerate(state) if c in "Gg" and i in link_pairs})
        for state in greens
    ]
    xs, ys = zip(*(tls_node.getCoord()[:2] for tls_node in _nodes_of(tls, junctions)))
    return SignalSpec(
        id=tls.getID(),
        junctions=junctions,
        position=(float(np.mean(xs)), float(np.mean(ys))),
        in_lanes=in_lanes,
        out_lanes=out_lanes,
        in_capacity=np.asarray(in_capacity, dtype=np.float32),
        green_phases=greens,
        programme=programme,
        programme_green=programme_green,
        all_red=all_red,
        phase_movements=movements,
        in_upstream=in_upstream,
    )


def _upstream_lanes(lane, own: set[str]) -> list:
    """The lanes feeding a short incoming lane through junctions without signals, nearest first,
    until together they hold MIN_OBSERVED_VEHICLES; none for a lane long enough on its own.
    Lanes of the signal itself (`own`) and U-turns out of the signal's junction are not followed."""
    signal_node = lane.getEdge().getToNode()
    chain, frontier, seen = [], [lane], set(own)
    length = lane.getLength()
    while frontier and length < MIN_OBSERVED_VEHICLES * VEHICLE_SPACE_M:
        feeding = []
        for current in frontier:
            if current.getEdge().getFromNode().getType().startswith("traffic_light"):
                continue  # fed by another signal: its queue is that signal's outgoing traffic
            for source in current.getIncoming():
                if source.getID() not in seen and source.getEdge().getFromNode() is not signal_node:
                    seen.add(source.getID())
                    feeding.append(source)
        chain += feeding
        length += sum(source.getLength() for source in feeding)
        frontier = feeding
    return chain


def _nodes_of(tls, junction_ids):
    nodes = {c[0].getEdge().getToNode().getID(): c[0].getEdge().getToNode() for c in tls.getConnections()}
    return [nodes[j] for j in junction_ids]


_CACHE: dict[tuple[str, float], Network] = {}


def read_network(path: str) -> Network:
    """Parse a .net.xml into signals and road topology (cached per file and modification time)."""
    path = os.path.abspath(path)
    key = (path, os.path.getmtime(path) if os.path.exists(path) else 0.0)
    if key in _CACHE:
        return _CACHE[key]
    net = _read_sumolib_net(path)
    try:
        signals = [s for s in (_signal_from_tls(t) for t in net.getTrafficLights()) if s is not None]
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, StopIteration) as exc:
        raise ScenarioFileError(f"net file {path}: a traffic-light programme cannot be read ({type(exc).__name__}: "
                                f"{first_line(exc)}); check its <tlLogic> elements") from None
    if not signals:
        raise NoTrafficLightsError(
            f"net file {path} has no traffic light with a green phase; fmat controls signalised "
            "intersections (build the net with netconvert --tls.guess or mark junctions type=traffic_light)"
        )
    signals.sort(key=lambda s: s.id)
    edges = {
        e.getID(): (e.getFromNode().getID(), e.getToNode().getID(), float(e.getLength()))
        for e in net.getEdges()
    }
    successors = {
        e.getID(): [
            o.getID()
            for o in e.getOutgoing()
            if o.getToNode().getID() != e.getFromNode().getID()  # a U-turn leads back, not onward
        ]
        for e in net.getEdges()
    }
    positions = {n.getID(): tuple(map(float, n.getCoord()[:2])) for n in net.getNodes()}
    network = Network(path=path, signals=signals, edges=edges, successors=successors, node_positions=positions)
    _CACHE[key] = network
    return network
