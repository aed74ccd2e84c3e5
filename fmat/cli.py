"""The `fmat` command line. Each subcommand is a thin call into the module that does the work.

User errors (bad names, files, options) print one line on stderr and exit with code 2.
"""
from __future__ import annotations

import argparse
import sys

from fmat.envs.errors import FmatError


def cmd_scenarios(args: argparse.Namespace) -> None:
    from fmat.envs.scenarios import builtin_names, resco_scenario

    print(f"{'name':<14}{'signals':>8}  source")
    for name in builtin_names():
        sc = resco_scenario(name)
        print(f"{name:<14}{sc.signals:>8}  {sc.source} (window {sc.begin:g}-{sc.end:g} s, delta {sc.delta:g} s, yellow {sc.yellow:g} s)")
    print(f"{'grid-RxC':<14}{'R*C':>8}  synthetic, generated on first use with netgenerate + randomTrips (e.g. grid-10x10)")


def cmd_perf_env(args: argparse.Namespace) -> None:
    from rich.progress import Progress

    from fmat.perf.env_speed import METHODS, measure, report

    with Progress(transient=True) as progress:
        task = progress.add_task(f"timing {args.scenario}", total=args.repeats * len(METHODS))
        times = measure(args.scenario, repeats=args.repeats, progress=lambda: progress.advance(task))
    print(report(args.scenario, times))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fmat", description="Multi-agent RL benchmarks for traffic signal control on SUMO.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("scenarios", help="list the available scenarios (name, signals, source)")
    p.set_defaults(func=cmd_scenarios)

    perf = sub.add_parser("perf", help="speed benchmarks").add_subparsers(dest="what", required=True)
    p = perf.add_parser("env", help="time one episode: raw SUMO vs fmat (control=fixed) vs sumo-rl")
    p.add_argument("--scenario", default="grid4x4", help="scenario name (default grid4x4)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported (default 3)")
    p.set_defaults(func=cmd_perf_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except FmatError as exc:
        print(f"fmat: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fmat: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
