"""The traffic-signal environment: a PettingZoo ParallelEnv over one SUMO simulation.

Each signalised intersection is an agent. An action picks the next green phase of the signal's own
programme; yellow (and all-red, where the programme has it) is inserted on a change, and a green
lasts at least `min_green` seconds. Observations are padded to one size across agents, with masks.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from .errors import InvalidOptionError
from .metrics import teleports, tripinfo_metrics
from .network import read_network, transition_states
from .observations import DEFAULT_LAYOUT, get_layout
from .rewards import RewardFn, get_reward
from .scenario import Scenario, validate_scenario
from .sumo import Simulation
from .traffic_state import LaneLayout, TrafficState

CONTROLS = ("agents", "fixed")


class TrafficSignalEnv(ParallelEnv):
    """PettingZoo ParallelEnv over a SUMO scenario; build it with `fmat.envs.make_env`.

    Observation of each agent: a dict whose layout is picked by `observation` ("phases", the
        default, or "lanes"); envs/observations.py documents both. Every layout has `observation`,
        `observation_mask`, `action_mask` (the phases that may be chosen now), `phases` (per-phase
        features, zero on padding rows) and `phase_relation`.
    Action: Discrete(max_phases), the index of the next green phase.
    Rewards: one per agent, by name (queue, pressure, diff-waiting-time, wait) or a callable.
    """

    metadata = {"name": "fmat_traffic_signals_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        reward: str | RewardFn = "wait",
        control: str = "agents",
        backend: str = "libsumo",
        gui: bool = False,
        min_green: float = 5.0,
        time_to_teleport: float = -1,
        pad_phases: int = 0,
        pad_lanes: int = 0,
        observation: str = DEFAULT_LAYOUT,
    ):
        validate_scenario(scenario)
        if control not in CONTROLS:
            raise InvalidOptionError(f"control={control!r}; choose 'agents' (policies act) or 'fixed' (the net's own programmes)")
        if backend not in ("libsumo", "traci"):
            raise InvalidOptionError(f"backend={backend!r}; choose 'libsumo' (fast) or 'traci' (needed for the GUI)")
        if gui and backend != "traci":
            backend = "traci"  # sumo-gui only runs behind TraCI
        if min_green < 0:
            raise InvalidOptionError(f"min_green={min_green}: it must be >= 0")
        self.scenario = scenario
        self.network = read_network(scenario.net)
        self.signals = self.network.signals
        longest_change = scenario.yellow + max(s.all_red for s in self.signals)
        if longest_change >= scenario.delta:
            raise InvalidOptionError(
                f"yellow + all-red = {longest_change:g} s does not fit in a decision step of delta={scenario.delta:g} s; "
                "raise delta or lower yellow"
            )
        self.reward_fn = get_reward(reward)
        layout_cls = get_layout(observation)
        self.control, self.backend, self.gui = control, backend, gui
        self.min_green, self.time_to_teleport = float(min_green), time_to_teleport

        self.possible_agents = [s.id for s in self.signals]
        self.agents: list[str] = []
        self.n_phases = np.array([s.n_phases for s in self.signals])
        widest = max(len(s.in_lanes) for s in self.signals)
        if (pad_phases and self.n_phases.max() > pad_phases) or (pad_lanes and widest > pad_lanes):
            raise InvalidOptionError(
                f"scenario {scenario.name} has signals with {self.n_phases.max()} phases and {widest} incoming lanes, "
                f"more than the padding pad_phases={pad_phases}, pad_lanes={pad_lanes} (a policy trained elsewhere)"
            )
        self.layout = LaneLayout(self.signals, min_lanes=pad_lanes)
        self.max_phases = max(int(self.n_phases.max()), pad_phases)
        self.max_lanes = self.layout.in_index.shape[1]
        self.observer = layout_cls(self.signals, self.layout, self.max_phases)
        self.obs_dim, self.valid_phases = self.observer.obs_dim, self.observer.valid_phases
        single_obs = gym.spaces.Dict(self.observer.spaces())
        self.observation_spaces = {a: single_obs for a in self.possible_agents}
        self.action_spaces = {a: gym.spaces.Discrete(self.max_phases) for a in self.possible_agents}
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (self.observer.state_dim,), np.float32)

        self._seed = int(seed)
        self._episode = 0
        self._graph = None
        self._sim: Simulation | None = None
        self._metrics: dict[str, float] | None = None
        self._signal_metrics: dict[str, dict[str, float]] | None = None
        self._outdir = tempfile.mkdtemp(prefix="fmat-sumo-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._outdir, True)

    # ----------------------------------------------------------------- PettingZoo API
    def observation_space(self, agent: str) -> gym.spaces.Dict:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return self.action_spaces[agent]

    @property
    def graph(self):
        """The agent graph (`AgentGraph`): stable agent order, edge_index [2, E], edge lengths."""
        if self._graph is None:
            from .graph import build_graph

            self._graph = build_graph(self.network)
        return self._graph

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.reset_arrays(seed)
        self.agents = list(self.possible_agents)
        return self._to_dicts(obs), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise RuntimeError("the episode is over; call reset() first")
        missing = [a for a in self.possible_agents if a not in actions]
        if missing and self.control == "agents":
            raise InvalidOptionError(f"no action for agents {missing[:5]}; step() needs one action per agent")
        array = np.array([int(actions.get(a, 0)) for a in self.possible_agents])
        obs, rewards, done, info = self.step_arrays(array)
        agent_obs = self._to_dicts(obs)
        rew = {a: float(r) for a, r in zip(self.possible_agents, rewards)}
        terminated = {a: False for a in self.possible_agents}
        truncated = {a: done for a in self.possible_agents}
        infos = {a: dict(info) for a in self.possible_agents}
        if done:
            self.agents = []
        return agent_obs, rew, terminated, truncated, infos

    @property
    def observation_spec(self):
        """What a policy network for this environment is built for (envs/observations.py)."""
        return self.observer.spec

    def state(self) -> np.ndarray:
        """Global state: every agent's observation vector and phase rows, concatenated in agent order."""
        return self.observer.state_vector(self._last_obs)

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None
        self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- array API (vector envs, trainers)
    def reset_arrays(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Start a new episode. Returns ({observation, observation_mask, action_mask} arrays
        of shape [n_agents, ...], info). Episode k after reset(seed=s) uses SUMO seed s + k."""
        if seed is not None:
            self._seed, self._episode = int(seed), 0
        if self._sim is not None:
            self._sim.close()
        sc = self.scenario
        args = [
            "-n", sc.net, "-r", ",".join(sc.routes),
            "-b", f"{sc.begin:g}", "-e", f"{sc.end:g}",
            "--seed", str(self._seed + self._episode),
            "--time-to-teleport", f"{self.time_to_teleport:g}",
            "--tripinfo-output", self._path("tripinfo.xml"),
            "--tripinfo-output.write-unfinished", "--tripinfo-output.write-undeparted",
            "--statistic-output", self._path("statistics.xml"),
            "--no-step-log", "--no-warnings", "--duration-log.disable",
            *sc.extra_sumo_args,
        ]
        if self.gui:
            args += ["--start", "--quit-on-end"]
        self._episode += 1
        self._sim = Simulation(args, backend=self.backend, gui=self.gui)
        conn = self._sim.conn
        self._sim.watch(self.layout.lanes, [s.id for s in self.signals] if self.control == "fixed" else [])

        n = len(self.signals)
        self._phase = np.zeros(n, dtype=np.int64)
        self._green_time = np.zeros(n)
        if self.control == "agents":
            for s in self.signals:
                conn.trafficlight.setRedYellowGreenState(s.id, s.green_phases[0])
        self._metrics = None
        self._queue_sum, self._decisions = 0.0, 0
        self._per_signal = {k: np.zeros(n) for k in ("queue", "waiting", "vehicles", "switches")}
        self._time = float(conn.simulation.getTime())
        self._state = self._measure(self._sim.read()[0])
        return self._observe(), {}

    def step_arrays(self, actions: np.ndarray):
        """Apply one action per agent (array [n_agents]) and advance one decision step.

        Returns (observations, rewards [n_agents], done, info). On the last step info["episode"]
        holds the episode metrics and the simulation is closed.
        """
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions, dtype=np.int64).reshape(-1)
        if actions.shape[0] != len(self.signals):
            raise InvalidOptionError(f"got {actions.shape[0]} actions for {len(self.signals)} agents")
        if self.control == "agents":
            bad = np.flatnonzero((actions < 0) | (actions >= self.n_phases))
            if bad.size:
                i = int(bad[0])
                raise InvalidOptionError(
                    f"agent {self.possible_agents[i]} has {self.n_phases[i]} phases; action {actions[i]} is invalid "
                    "(sample with the observation's action_mask)"
                )
            self._apply(actions)
        else:
            self._advance(self._time + self.scenario.delta)
            self._green_time += self.scenario.delta
        lane_values, programme_phases = self._sim.read()
        if self.control == "fixed":
            self._follow_programme(programme_phases)

        previous, self._state = self._state, self._measure(lane_values)
        rewards = np.asarray(self.reward_fn(self._state, previous), dtype=np.float32).reshape(-1)
        self._queue_sum += float(self._state.in_halting.sum(1).mean())
        self._decisions += 1
        self._accumulate_signals(previous)
        obs = self._observe()
        done = self._time >= self.scenario.end - 1e-6
        info: dict[str, Any] = {"time": self._time}
        if done:
            info["episode"] = self._finish()
        return obs, rewards, done, info

    @property
    def traffic_state(self) -> TrafficState:
        """The measurements behind the latest observation (classical controllers read these)."""
        return self._state

    def signal_metrics(self) -> dict[str, dict[str, float]]:
        """Per signal, over the last finished episode's decisions: `queue`, the mean number of halted
        vehicles on its incoming lanes; `waiting`, the mean accumulated waiting time (s) of the
        vehicles on them (weighted by vehicle, so empty moments do not count); `switches`, the
        number of changes of green phase between decisions (under `control="fixed"`, a programme
        that changes more than once within a decision step counts once)."""
        if self._signal_metrics is None:
            raise RuntimeError("no episode has finished yet")
        return {a: dict(m) for a, m in self._signal_metrics.items()}

    def episode_metrics(self) -> dict[str, float]:
        """Metrics of the last finished episode: delay, travel_time, waiting_time, throughput, queue, teleports."""
        if self._metrics is None:
            raise RuntimeError("no episode has finished yet")
        return dict(self._metrics)

    # ----------------------------------------------------------------- internals
    def _path(self, name: str) -> str:
        return os.path.join(self._outdir, name)

    def _advance(self, until: float) -> None:
        until = min(until, self.scenario.end)
        if until > self._time:
            self._sim.conn.simulationStep(until)
            self._time = until

    def _apply(self, actions: np.ndarray) -> None:
        t0, delta, yellow = self._time, self.scenario.delta, self.scenario.yellow
        changing = np.flatnonzero((actions != self._phase) & (self._green_time >= self.min_green))
        # A changing signal shows yellow, then its programme's all-red (if any), then the new green.
        events: list[tuple[float, int, str]] = []
        for i in changing:
            s = self.signals[i]
            new_green = s.green_phases[actions[i]]
            yellow_state, red_state = transition_states(s.green_phases[self._phase[i]], new_green)
            events.append((0.0, i, yellow_state))
            if s.all_red > 0:
                events.append((yellow, i, red_state))
            events.append((yellow + s.all_red, i, new_green))
            self._green_time[i] = -(yellow + s.all_red)
        tl = self._sim.conn.trafficlight
        for offset, i, state in sorted(events, key=lambda e: e[0]):
            self._advance(t0 + offset)
            tl.setRedYellowGreenState(self.signals[i].id, state)
        self._advance(t0 + delta)
        self._green_time += delta
        self._phase[changing] = actions[changing]

    def _follow_programme(self, programme_phases: list[int]) -> None:
        for i, (s, phase) in enumerate(zip(self.signals, programme_phases)):
            green = s.programme_green[phase % len(s.programme_green)]
            if green != self._phase[i]:
                self._phase[i], self._green_time[i] = green, 0.0

    def _accumulate_signals(self, previous: TrafficState) -> None:
        st, acc = self._state, self._per_signal
        acc["queue"] += st.in_halting.sum(1)
        acc["waiting"] += st.in_waiting.sum(1)
        acc["vehicles"] += st.in_vehicles.sum(1)
        acc["switches"] += st.phase != previous.phase

    def _measure(self, lane_values: np.ndarray) -> TrafficState:
        return self.layout.state(self._time, lane_values, self._phase.copy(), self._green_time.copy())

    def _observe(self) -> dict[str, np.ndarray]:
        self._last_obs = self.observer.observe(self._state, self.min_green)
        return self._last_obs

    def _to_dicts(self, obs: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        return {a: {k: v[i] for k, v in obs.items()} for i, a in enumerate(self.possible_agents)}

    def _finish(self) -> dict[str, float]:
        self._sim.close()
        self._sim = None
        metrics = tripinfo_metrics(self._path("tripinfo.xml"))
        metrics["queue"] = self._queue_sum / max(self._decisions, 1)
        metrics["teleports"] = teleports(self._path("statistics.xml"))
        self._metrics = metrics
        acc = self._per_signal
        self._signal_metrics = {
            a: {"queue": float(acc["queue"][i] / max(self._decisions, 1)),
                "waiting": float(acc["waiting"][i] / max(acc["vehicles"][i], 1.0)),
                "switches": int(acc["switches"][i])}
            for i, a in enumerate(self.possible_agents)
        }
        return dict(metrics)
