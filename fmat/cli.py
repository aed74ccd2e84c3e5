"""The `fmat` command line. Each subcommand is a thin call into the module that does the work.

User errors (bad names, files, options) print one line on stderr and exit with code 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fmat import atomic, termination
from fmat.envs.errors import FmatError, first_line
from fmat.registry import LEARNERS


def cmd_scenarios(args: argparse.Namespace) -> None:
    from fmat.envs.scenarios import builtin_names, resco_scenario

    print(f"{'name':<14}{'signals':>8}  source")
    for name in builtin_names():
        sc = resco_scenario(name)
        print(f"{name:<14}{sc.signals:>8}  {sc.source} (window {sc.begin:g}-{sc.end:g} s, delta {sc.delta:g} s, yellow {sc.yellow:g} s)")
    print(f"{'grid-RxC':<14}{'R*C':>8}  synthetic, generated on first use with netgenerate + randomTrips (e.g. grid-10x10)")
    print(f"{'rush-RxC':<14}{'R*C':>8}  synthetic, protected left turns (4 green phases) and a rush hour on alternating axes")
    from fmat.envs.user_scenarios import load_user, user_names

    for name in user_names():
        sc = load_user(name)
        print(f"{name:<14}{sc.signals:>8}  {sc.source} (window {sc.begin:g}-{sc.end:g} s, delta {sc.delta:g} s, yellow {sc.yellow:g} s)")


def cmd_scenario(args: argparse.Namespace) -> None:
    from fmat.envs import user_scenarios as user

    if args.action == "add":
        sc = user.add_scenario(args.name, net=args.net, routes=args.routes, sumocfg=args.sumocfg, osm=args.osm,
                               begin=args.begin, end=args.end, delta=args.delta, yellow=args.yellow,
                               demand=args.demand, seed=args.seed)
    elif args.action in ("grid", "arterial", "random"):
        sc = user.generate_scenario(args.name, args.action, demand=args.demand, seed=args.seed, lanes=args.lanes,
                                    rows=getattr(args, "rows", 0), cols=getattr(args, "cols", 0),
                                    signals=getattr(args, "signals", 0), iterations=getattr(args, "iterations", 60))
    elif args.action == "remove":
        user.remove_scenario(args.name)
        print(f"removed {args.name}")
        return
    else:  # show
        from fmat.scenario_show import draw, report

        if args.out:
            atomic.check_writable_file(args.out, "--out", atomic.FIGURES)
        text, warnings = report(args.name)
        print(text)
        for warning in warnings:
            print(f"warning: {warning}")
        if args.out:
            info = draw(args.name, args.out, factors=args.factors)
            print(f"figure written to {args.out} ({info['nodes']} signals, {info['links']} neighbour links)")
        return
    print(f"registered {sc.name}: {sc.signals} signals, window {sc.begin:g}-{sc.end:g} s, in {user.registry_dir() / sc.name}")


def cmd_perf_env(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from fmat.perf.env_speed import METHODS, measure, report

    with Progress(transient=True) as progress:
        task = progress.add_task(f"timing {args.scenario}", total=args.repeats * len(METHODS))
        times = measure(args.scenario, repeats=args.repeats, progress=lambda: progress.advance(task))
    print(report(args.scenario, times))


def cmd_train(args: argparse.Namespace) -> None:
    from fmat.config import load_config
    from fmat.rundir import RunDir
    from fmat.launchers import FINISHED_MARK
    from fmat.train import check_run, train_run

    cfg = load_config(args.config, args.set)
    try:
        check_run(cfg)
    except FmatError as exc:
        raise FmatError(f"{args.config}: {exc}") from None
    run_dir, already_done = train_run(cfg, resume=args.resume, progress=not args.quiet, checked=True)
    if already_done:  # on stderr, where a sweep's launcher looks for FINISHED_MARK
        print(f"{run_dir} {FINISHED_MARK}; nothing to do (raise train.episodes to go on)", file=sys.stderr)
    else:
        print(f"run written to {run_dir}")
    files = RunDir(run_dir)
    stopped = files.done().get("over_budget")
    if stopped:
        print(f"over budget: {stopped['seconds_per_episode']:.1f} s per episode projects {stopped['projected_seconds']:.0f} s "
              f"of training, more than train.time_budget_s={stopped['time_budget_s']:g}; stopped after "
              f"{stopped['episodes']} episodes, not evaluated")
    elif files.eval_json.exists():
        print(files.eval_json.read_text().strip())


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from fmat.evaluate import evaluate

    if args.out:
        atomic.check_writable_file(args.out, "--out")
    result = evaluate(args.run_dir, scenario=args.scenario, episodes=args.episodes, greedy=False if args.sample else None,
                      gui=args.gui, both=args.both)
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        atomic.write_text(args.out, text)
        print(f"metrics written to {args.out}")
    else:
        print(text, end="")


def cmd_map(args: argparse.Namespace) -> None:
    from fmat.signal_map import draw_map

    info = draw_map(args.run_dir, args.out, against=args.against, metric=args.metric)
    print(f"figure written to {args.out} ({info['signals']} signals on {info['scenario']}, {info['metric']})")


def cmd_perf_policy(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from fmat.perf.policy_speed import COMPARABLE, measure, report
    from fmat.registry import REGISTRY

    counts = _int_list(args.agents, "--agents")
    against = tuple(dict.fromkeys(x.strip() for x in args.against.split(",") if x.strip()))
    if not against or set(against) - set(COMPARABLE):
        wrong = next((x for x in against if x not in COMPARABLE), args.against)
        raise FmatError(f"--against {wrong!r}: expected a comma-separated list of {', '.join(COMPARABLE)} "
                        f"(the other learners the PPO core trains), e.g. mat,mappo")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise FmatError(f"--device {args.device}: this torch build sees no CUDA device; use --device cpu")
    elif args.device != "cpu":
        raise FmatError(f"--device {args.device!r}: expected cpu, cuda or cuda:N")
    with Progress(transient=True) as progress:
        task = progress.add_task(f"timing f-MAT, {', '.join(REGISTRY[x].label for x in against)}",
                                 total=(1 + len(against)) * len(counts))
        rows = measure(counts, against, repeats=args.repeats, progress=lambda: progress.advance(task), device=args.device)
    print(report(rows, args.device))


def cmd_perf_train(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from fmat.envs import get_scenario
    from fmat.perf.train_overhead import measure, report

    get_scenario(args.scenario)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"timing {args.algorithm} on {args.scenario}", total=args.repeats + 1)
        times = measure(args.scenario, args.algorithm, args.repeats, progress=lambda: progress.advance(task))
    print(report(args.scenario, args.algorithm, times))


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 2:
        raise FmatError(f"{flag} {text!r}: expected comma-separated agent counts of at least 2, e.g. 16,64,256,1024")
    return values


def cmd_bench(args: argparse.Namespace) -> int:
    from fmat.bench import bench, summary

    result = bench(args.config, args.set, launcher=args.launcher, workers=args.workers, address=args.address,
                   progress=not args.quiet, **_subset(args))
    print(summary(result))
    return 1 if result.failed or (result.transfer and result.transfer.failed) else 0


def cmd_tune(args: argparse.Namespace) -> int:
    from fmat.bench import bench, summary
    from fmat.sweep import load_sweep
    from fmat.tune import default_report_dir, report

    sweep = load_sweep(args.config, args.set)
    if not sweep.trials:
        raise FmatError(f"{args.config}: no tune section; a tuning file names tune: {{trials, seed, space}} "
                        "(see experiments/tuning.yaml)")
    out = Path(args.out) if args.out else default_report_dir(sweep.trials)
    atomic.check_writable_dir(out, "--out")
    code = 0
    if not args.report_only:
        result = bench(args.config, args.set, workers=args.workers, progress=not args.quiet,
                       algorithms=_subset(args)["algorithms"])
        print(summary(result))
        code = 1 if result.failed else 0
    rows, best = report(sweep.trials, out, args.config)
    print(f"{sum(r['score'] is not None for r in rows)} of {len(rows)} trials finished; "
          f"chosen for {', '.join(best) or 'no learner yet'}; report written to {out}/trials.md and {out}/chosen.yaml")
    return code


def cmd_table(args: argparse.Namespace) -> None:
    from fmat.report import collect, render

    if args.out:
        atomic.check_writable_file(args.out, "--out")
    statistic = "iqm" if args.iqm else "mean"
    if args.transfer:
        from fmat import transfer_table

        text = transfer_table.render(collect(args.run_roots, **_subset(args)), metric=args.metric, fmt=args.format, statistic=statistic)
    else:
        source = ("best" if args.best_episode else "last" if args.last_episodes
                  else "median" if args.episode_median else "final")
        text = render(collect(args.run_roots, **_subset(args)), metric=args.metric, fmt=args.format, statistic=statistic,
                      source=source, last=args.last_episodes or 0, with_resco=args.with_resco, mode=args.eval)
    if args.out:
        atomic.write_text(args.out, text)
        print(f"table written to {args.out}")
    else:
        print(text, end="")


def _subset(args: argparse.Namespace) -> dict:
    """--algorithms/--scenarios of bench, table and plot as lists (None: all)."""
    return {key: [x for x in value.split(",") if x] if value else None
            for key, value in (("algorithms", args.algorithms), ("scenarios", args.scenarios))}


def cmd_plot(args: argparse.Namespace) -> None:
    from fmat.plot import plot
    from fmat.report import collect

    atomic.check_writable_file(args.out, "--out", atomic.FIGURES)
    print(f"figure written to {plot(collect(args.run_roots, **_subset(args)), args.out, metric=args.metric, x=args.x, log_y=args.log_y)}")


def add_subset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algorithms", help="only these algorithms' runs, comma-separated")
    p.add_argument("--scenarios", help="only these scenarios' runs, comma-separated")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fmat", description="Multi-agent RL benchmarks for traffic signal control on SUMO.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("scenarios", help="list the available scenarios (name, signals, source)")
    p.set_defaults(func=cmd_scenarios)

    scen = sub.add_parser("scenario", help="add, generate, show or remove your own networks").add_subparsers(dest="action", required=True)
    p = scen.add_parser("add", help="register a network: --net + --routes, --sumocfg, or --osm")
    p.add_argument("name")
    p.add_argument("--net", help="SUMO .net.xml")
    p.add_argument("--routes", nargs="+", default=[], help="SUMO .rou.xml file(s); without them demand is generated")
    p.add_argument("--sumocfg", help="a .sumocfg naming the net, routes and window")
    p.add_argument("--osm", help="an OpenStreetMap extract, converted offline with netconvert")
    p.add_argument("--begin", type=float, help="window start in s (default: the sumocfg's, else 0)")
    p.add_argument("--end", type=float, help="window end in s (default: the sumocfg's, else begin + 3600)")
    p.add_argument("--delta", type=float, default=10.0, help="seconds between decisions (default 10)")
    p.add_argument("--yellow", type=float, default=3.0, help="yellow seconds on a change (default 3)")
    p.add_argument("--demand", type=float, help="veh/h for generated demand when no routes are given (default 600)")
    p.add_argument("--seed", type=int, default=0, help="randomTrips seed (default 0)")
    for kind, helptext in (("grid", "a synthetic grid"), ("arterial", "an arterial with side streets"), ("random", "a random network")):
        p = scen.add_parser(kind, help=f"generate {helptext} with netgenerate and register it")
        p.add_argument("name")
        if kind == "grid":
            p.add_argument("--rows", type=int, required=True)
            p.add_argument("--cols", type=int, required=True)
        elif kind == "arterial":
            p.add_argument("--signals", type=int, required=True, help="intersections along the arterial")
        else:
            p.add_argument("--iterations", type=int, default=60, help="netgenerate --rand.iterations (network size)")
        p.add_argument("--demand", type=float, help="veh/h entering the network (default scales with its size)")
        p.add_argument("--lanes", type=int, default=2, help="lanes per direction (default 2)")
        p.add_argument("--seed", type=int, default=0, help="seed of the generator and of randomTrips")
    p = scen.add_parser("show", help="report signals, phases, lanes and graph; --out draws it")
    p.add_argument("name")
    p.add_argument("--out", help="figure file (.png, .pdf, .svg)")
    p.add_argument("--factors", choices=["neighbourhood", "grid", "edges"], help="also draw f-MAT's factors")
    p = scen.add_parser("remove", help="unregister an added scenario")
    p.add_argument("name")
    for p in scen.choices.values():
        p.set_defaults(func=cmd_scenario)

    p = sub.add_parser("train", help="train one algorithm on one scenario with one seed")
    p.add_argument("config", help="YAML run config, e.g. experiments/quickstart.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.episodes=20 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="run a trained policy or controller greedily; prints metrics as JSON")
    p.add_argument("run_dir", help="a run directory written by `fmat train`")
    p.add_argument("--scenario", help="evaluate on another scenario (transfer)")
    p.add_argument("--episodes", type=positive_int, default=1, help="evaluation episodes (default 1)")
    p.add_argument("--sample", action="store_true", help="sample actions from the policy instead of taking the most likely")
    p.add_argument("--both", action="store_true",
                   help="also run the other way (greedy and sampled) and record both under `modes`, as training does")
    p.add_argument("--out", help="write the JSON to this file (atomically) instead of printing it")
    p.add_argument("--gui", action="store_true", help="watch the episodes in sumo-gui (needs a display; same seeds)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("map", help="the network with each signal coloured by a per-signal metric of a run's evaluation")
    p.add_argument("run_dir", help="a run directory (its eval.json), or an evaluation JSON written by `fmat evaluate --out`")
    p.add_argument("--against", help="another run on the same scenario: colour the difference (green: RUN better)")
    p.add_argument("--metric", choices=["queue", "waiting", "switches"], default="queue",
                   help="queue (default): mean halted vehicles; waiting: mean waiting time (s); switches: phase changes")
    p.add_argument("--out", required=True, help="figure file: .png, .pdf or .svg")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("bench", help="run an experiment file: algorithms x scenarios x seeds (resumable)")
    p.add_argument("config", help="experiment YAML, e.g. experiments/smoke.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key of the file (repeatable)")
    p.add_argument("--launcher", choices=["local", "ray"], default="local",
                   help="local process pool (default) or Ray tasks (pip install 'fmat[ray]')")
    p.add_argument("--workers", type=positive_int, default=None, help="runs at a time (default: the machine's CPU count)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--algorithms", help="only these algorithms of the file, comma-separated")
    p.add_argument("--scenarios", help="only these scenarios of the file, comma-separated")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("tune", help="tune every learner with the same number of trials (random search, resumable)")
    p.add_argument("config", help="experiment YAML with a tune section, e.g. experiments/tuning.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key of the file (repeatable)")
    p.add_argument("--workers", type=positive_int, default=None, help="runs at a time (default: the machine's CPU count)")
    p.add_argument("--algorithms", help="only these learners' trials, comma-separated (the report covers all)")
    p.add_argument("--report-only", action="store_true", help="write the report from the finished trials; run nothing")
    p.add_argument("--out", help="folder for trials.md, trials.csv and chosen.yaml (default: beside the file's output_dir)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_tune, scenarios=None)

    p = sub.add_parser("table", help="comparison table from run directories")
    p.add_argument("run_roots", nargs="+", help="folders holding run directories (searched recursively)")
    p.add_argument("--metric", default="delay",
                   help="delay (default), travel_time, waiting_time, throughput, queue, teleports, "
                        "episode_seconds (training wall time per episode)")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    p.add_argument("--iqm", action="store_true", help="interquartile mean over seeds instead of the mean")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--episode-median", action="store_true",
                        help="median over each run's final-evaluation episodes instead of their mean")
    source.add_argument("--best-episode", action="store_true", help="best training episode instead of final-policy evaluation (RESCO's way)")
    source.add_argument("--last-episodes", type=positive_int, metavar="K",
                        help="mean of each run's last K training episodes instead of final-policy evaluation")
    source.add_argument("--transfer", action="store_true",
                        help="transfer table: each policy on its own map and on the experiment's `transfer` scenarios")
    add_subset_options(p)
    p.add_argument("--with-resco", action="store_true",
                   help="add RESCO's published delays as rows of their own, labelled as theirs (delay only)")
    p.add_argument("--eval", choices=["greedy", "sampled"], default="greedy",
                   help="which final evaluation of a PPO learner the table shows (default greedy); the table says which")
    p.add_argument("--out", help="write to this file (atomically) instead of printing")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("plot", help="learning curves from run directories")
    p.add_argument("run_roots", nargs="+", help="folders holding run directories (searched recursively)")
    p.add_argument("--metric", default="delay")
    p.add_argument("--x", choices=["episodes", "steps", "seconds"], default="episodes")
    p.add_argument("--log-y", action="store_true", help="logarithmic y axis")
    add_subset_options(p)
    p.add_argument("--out", required=True, help="figure file: .png, .pdf or .svg")
    p.set_defaults(func=cmd_plot)

    perf = sub.add_parser("perf", help="speed benchmarks").add_subparsers(dest="what", required=True)
    p = perf.add_parser("env", help="time one episode: raw SUMO vs fmat (control=fixed) vs sumo-rl")
    p.add_argument("--scenario", default="grid4x4", help="scenario name (default grid4x4)")
    p.add_argument("--repeats", type=positive_int, default=3, help="interleaved repeats; the median is reported (default 3)")
    p.set_defaults(func=cmd_perf_env)
    p = perf.add_parser("policy", help="f-MAT vs MAT (or MAPPO, IPPO): action selection and PPO update time as agents grow")
    p.add_argument("--agents", default="16,64,256,1024", help="comma-separated agent counts (default 16,64,256,1024)")
    p.add_argument("--against", default="mat", help="comma-separated policies to time beside f-MAT: mat, mappo, ippo (default mat)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed repeats, median reported (default 3)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.set_defaults(func=cmd_perf_policy)
    p = perf.add_parser("train", help="training episodes against environment-only and raw SUMO episodes, interleaved")
    p.add_argument("--scenario", default="grid4x4", help="scenario name (default grid4x4)")
    p.add_argument("--algorithm", default="fmat", choices=LEARNERS)
    p.add_argument("--repeats", type=positive_int, default=3,
                   help="episodes of each kind after one warm-up, interleaved; the median is reported (default 3)")
    p.set_defaults(func=cmd_perf_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with termination.raising_on_sigterm():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        code = args.func(args)
    except FmatError as exc:
        print(f"fmat: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `fmat scenarios | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except termination.Terminated:
        print("fmat: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("fmat: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file the user named that the system refuses (full disk, permissions, ...)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"fmat: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        print(f"fmat: internal error: {type(exc).__name__}: {first_line(exc, 200)} ({_save_traceback()})", file=sys.stderr)
        return 1
    return code or 0


def _save_traceback() -> str:
    """Write the current exception's traceback to a file; say where (or how to see it)."""
    import tempfile
    import time
    import traceback

    text = traceback.format_exc()
    try:
        fd, path = tempfile.mkstemp(prefix=f"fmat-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return f"traceback written to {path}; please include it in a bug report"
    except OSError:
        return "rerun with --debug to see the traceback"


if __name__ == "__main__":
    sys.exit(main())
