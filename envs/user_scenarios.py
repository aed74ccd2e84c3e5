"""Scenarios users add: validated, copied into $FMAT_HOME/scenarios/NAME/, then used by name like
built-in ones (make_env, run configs, experiment files, tables)."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from .errors import InvalidOptionError, NoTrafficLightsError, ScenarioFileError
from .grids import DEFAULT_DEMAND_PER_ENTRY
from .generators import arterial_net, grid_net, osm_net, random_net, random_trips
from .network import read_network
from .paths import check_name as check_path_name, fmat_home, inside, publish_dir
from .scenario import Scenario, owner, register_source, validate_scenario


def registry_dir() -> Path:
    return fmat_home() / "scenarios"


def user_names() -> list[str]:
    folder = registry_dir()
    return sorted(p.name for p in folder.iterdir() if (p / "scenario.yaml").is_file()) if folder.is_dir() else []


def load_user(name: str) -> Scenario | None:
    """The added scenario called `name`, or None; a name that could escape the registry is refused."""
    folder = inside(registry_dir(), name)
    path = folder / "scenario.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
        files = [data["net"], *data["routes"]]
        for file in files:
            check_path_name(file, "file name")
        return Scenario(name=name, net=str(folder / data["net"]), routes=tuple(str(folder / r) for r in data["routes"]),
                        begin=float(data["begin"]), end=float(data["end"]), delta=float(data["delta"]),
                        yellow=float(data["yellow"]), source=str(data.get("source", "user")), signals=data.get("signals"))
    except (yaml.YAMLError, UnicodeDecodeError, TypeError, KeyError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ScenarioFileError(f"{path} is damaged ({detail}); `fmat scenario remove {name}` and add it again") from None


def check_name(name: str) -> None:
    """A name that may be registered: safe as a folder name, not a built-in, not taken."""
    check_path_name(name)
    if owner(name) not in (None, USER_SOURCE):
        raise InvalidOptionError(f"scenario name {name!r} clashes with a built-in scenario; choose another name")
    if (registry_dir() / name).exists():
        raise InvalidOptionError(f"scenario {name!r} is already registered; `fmat scenario remove {name}` first")


def check_route_edges(route_file: str, net_file: str, edges: set[str]) -> None:
    """Every edge a route, trip or flow names must exist in the net; the error names the vehicle."""
    owner: str | None = None  # the vehicle or flow a nested <route> belongs to
    try:
        for event, elem in ET.iterparse(route_file, events=("start", "end")):
            if elem.tag in ("trip", "flow", "vehicle"):
                owner = f"<{elem.tag} id={elem.get('id')!r}>" if event == "start" else None
            if event != "end":
                continue
            if elem.tag == "route":
                names, who = elem.get("edges", "").split(), owner or f"<route id={elem.get('id')!r}>"
            elif elem.tag in ("trip", "flow", "vehicle"):
                names = [elem.get(k) for k in ("from", "to") if elem.get(k)] + elem.get("via", "").split()
                who = f"<{elem.tag} id={elem.get('id')!r}>"
            else:
                continue
            for edge in names:
                if edge not in edges:
                    raise ScenarioFileError(f"route file {route_file}: {who} uses edge {edge!r}, which is not in net {net_file}")
    except ET.ParseError as exc:
        raise ScenarioFileError(f"route file {route_file} is not valid XML: {exc}") from None


def _from_sumocfg(cfg: Path) -> tuple[Path, list[Path], float | None, float | None]:
    if not cfg.is_file():
        raise ScenarioFileError(f"sumocfg {cfg} does not exist")
    try:
        root = ET.parse(cfg).getroot()
    except ET.ParseError as exc:
        raise ScenarioFileError(f"sumocfg {cfg} is not valid XML: {exc}") from None

    def value(tag):
        elem = root.find(f".//{tag}")
        return None if elem is None else elem.get("value")

    net = value("net-file")
    if not net:
        raise ScenarioFileError(f"sumocfg {cfg} has no <net-file>; add one or pass --net")
    routes = [cfg.parent / r.strip() for r in (value("route-files") or "").split(",") if r.strip()]

    def seconds(tag):
        text = value(tag)
        try:
            return float(text) if text else None
        except ValueError:
            raise ScenarioFileError(f"sumocfg {cfg}: <{tag} value={text!r}> is not a number of seconds") from None

    return cfg.parent / net, routes, seconds("begin"), seconds("end")


def add_scenario(
    name: str,
    net: str | None = None,
    routes: list[str] = (),
    sumocfg: str | None = None,
    osm: str | None = None,
    begin: float | None = None,
    end: float | None = None,
    delta: float = 10.0,
    yellow: float = 3.0,
    demand: float | None = None,
    seed: int = 0,
    source: str = "user",
) -> Scenario:
    """Validate and register a scenario from a net + routes, a .sumocfg or an OSM extract.

    Without routes, demand (veh/h) is generated with randomTrips. Nothing is registered when any
    check fails.
    """
    check_name(name)
    given = [x for x in (net, sumocfg, osm) if x]
    if len(given) != 1:
        raise InvalidOptionError("give exactly one of --net, --sumocfg or --osm")
    routes = [Path(r) for r in routes]
    if sumocfg:
        net_path, cfg_routes, cfg_begin, cfg_end = _from_sumocfg(Path(sumocfg))
        routes = routes or cfg_routes
        begin = cfg_begin if begin is None else begin
        end = cfg_end if end is None else end
    else:
        net_path = Path(net) if net else None
    begin = 0.0 if begin is None else float(begin)
    end = begin + 3600.0 if end is None else float(end)
    if not end > begin:
        raise InvalidOptionError(f"empty time window: begin={begin:g} end={end:g}; end must be after begin")
    if not routes and demand is None:
        demand = 600.0
    if demand is not None and not demand > 0:
        raise InvalidOptionError(f"demand={demand} veh/h; it must be a positive number of vehicles per hour")
    if osm and not Path(osm).is_file():
        raise ScenarioFileError(f"OSM file {osm} does not exist")

    def build(folder: Path) -> None:
        target_net = folder / f"{name}.net.xml"
        if osm:
            try:
                osm_net(Path(osm), target_net)
            except RuntimeError as exc:
                raise ScenarioFileError(f"OSM file {osm} could not be converted: {exc}; is it an OpenStreetMap .osm XML extract?") from None
            try:
                network = read_network(str(target_net))
            except NoTrafficLightsError:
                raise NoTrafficLightsError(
                    f"OSM file {osm}: the converted network has no traffic light; map signals as highway=traffic_signals"
                ) from None
        else:
            network = read_network(str(net_path))  # missing / not SUMO XML / no traffic lights, naming the user's file
            shutil.copyfile(net_path, target_net)
        if routes:
            copied = []
            for i, route in enumerate(routes):
                if not route.is_file():
                    raise ScenarioFileError(f"route file {route} does not exist")
                check_route_edges(str(route), str(net_path or osm), set(network.edges))
                copied.append(folder / f"{name}.{i}.rou.xml")
                shutil.copyfile(route, copied[-1])
        else:
            copied = [random_trips(target_net, folder / f"{name}.rou.xml", demand, seed, end, begin)]
        scenario = Scenario(name=name, net=str(target_net), routes=tuple(map(str, copied)), begin=begin, end=end,
                            delta=delta, yellow=yellow, source=source, signals=len(network.signals))
        validate_scenario(scenario)  # window, files, and vehicles in the window
        meta = {"name": name, "net": target_net.name, "routes": [p.name for p in copied], "begin": begin, "end": end,
                "delta": delta, "yellow": yellow, "source": source, "signals": len(network.signals),
                "origin": {"net": str(net_path) if net_path else None, "routes": [str(r) for r in routes],
                           "osm": osm, "sumocfg": sumocfg, "demand": demand, "seed": seed}}
        (folder / "scenario.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))

    publish_dir(build, registry_dir() / name)
    return load_user(name)


def generate_scenario(name: str, kind: str, demand: float | None = None, seed: int = 0, lanes: int = 2,
                      rows: int = 0, cols: int = 0, signals: int = 0, iterations: int = 60,
                      end: float = 3600.0) -> Scenario:
    """Generate a grid, arterial or random network with netgenerate, add demand, and register it."""
    check_name(name)
    if kind == "grid" and (rows < 1 or cols < 1 or rows * cols < 2):
        raise InvalidOptionError(f"grid {name}: needs --rows and --cols with at least 2 intersections")
    if kind == "arterial" and signals < 2:
        raise InvalidOptionError(f"arterial {name}: --signals must be at least 2")
    if lanes < 1:
        raise InvalidOptionError(f"lanes={lanes}; it must be at least 1")
    tmp = registry_dir() / f".{name}.net"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        net = tmp / f"{name}.net.xml"
        if kind == "grid":
            grid_net(net, rows, cols, lanes)
            default_demand = DEFAULT_DEMAND_PER_ENTRY * 2 * (rows + cols)
        elif kind == "arterial":
            arterial_net(net, signals, lanes)
            default_demand = DEFAULT_DEMAND_PER_ENTRY * 2 * (signals + 1)
        elif kind == "random":
            random_net(net, iterations=iterations, seed=seed, lanes=lanes)
            default_demand = 600.0
        else:
            raise InvalidOptionError(f"unknown generator {kind!r}; choose grid, arterial or random")
        return add_scenario(name, net=str(net), demand=default_demand if demand is None else demand, seed=seed, begin=0.0, end=end,
                            source=f"generated ({kind})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_scenario(name: str) -> None:
    folder = inside(registry_dir(), name)
    if not (folder / "scenario.yaml").is_file():
        known = ", ".join(user_names()) or "none"
        raise InvalidOptionError(f"no added scenario named {name!r} (added scenarios: {known})")
    shutil.rmtree(folder)


class UserSource:
    """Scenarios registered with `fmat scenario add` (or generated) under $FMAT_HOME/scenarios."""

    def owns(self, name: str) -> bool:
        return (inside(registry_dir(), name) / "scenario.yaml").is_file()

    def scenario(self, name: str, **options) -> Scenario:
        if options:
            raise InvalidOptionError(f"options {sorted(options)} only apply to synthetic grid-RxC and rush-RxC scenarios, not {name}")
        return load_user(name)

    def names(self) -> list[str]:
        return user_names()


USER_SOURCE = register_source(UserSource())
