"""RESCO's published average delays (theirs, not fmat's), for printing beside fmat's tables.

Ault & Sharon, "Reinforcement Learning Benchmarks for Traffic Signal Control", NeurIPS 2021
Datasets & Benchmarks. Learners' figures are their best training episode, read from RESCO's stored
curves. RESCO ran SUMO 1.9 with --random; IDQN and MPLight trained 100 episodes, IPPO and FMA2C
1400. fmat runs SUMO 1.28, whose dynamics differ: an outside reference, not a like-for-like result.
"""
from __future__ import annotations

MAPS = ("grid4x4", "arterial4x4", "ingolstadt1", "ingolstadt7", "ingolstadt21", "cologne1", "cologne3", "cologne8")

# controller -> (training episodes, or None for a controller that does not learn; delay per map in MAPS order, None = not reported)
DELAY = {
    "Greedy": (None, (34.3, 820.8, 28.3, 80.6, 76.3, 27.8, 90.7, 21.9)),
    "MaxPressure": (None, (52.6, 952.8, 23.6, 46.8, 136.7, 65.9, 162.3, 47.7)),
    "IDQN": (100, (32.9, 1168.3, 21.5, 31.2, 59.6, 26.1, 24.0, 22.1)),
    "IPPO": (1400, (44.0, 686.6, 20.9, 31.7, 93.1, 43.2, 24.0, 21.6)),
    "MPLight": (100, (46.9, 837.8, None, 48.2, 78.2, 28.7, 83.7, 60.4)),
    "FMA2C": (1400, (99.8, 654.1, 27.0, 51.4, 90.3, 30.8, 26.9, 33.9)),
}

NOTE = ("Rows marked 'RESCO, theirs' are RESCO's published average delays (Ault & Sharon, NeurIPS 2021; learners' best "
        "training episode; SUMO 1.9; IDQN and MPLight 100 training episodes, IPPO and FMA2C 1400). fmat runs SUMO 1.28, "
        "so they are an outside reference, not ranked and not compared for bold.")


def rows(scenarios: list[str]) -> list[list[str]]:
    """One table row per RESCO controller, its delay under each of `scenarios` ('-' where none)."""
    out = []
    for name, (episodes, delays) in DELAY.items():
        by_map = dict(zip(MAPS, delays))
        budget = f", {episodes} ep" if episodes else ""
        cells = [f"{by_map[s]:.1f}" if by_map.get(s) is not None else "-" for s in scenarios]
        out.append([f"{name} (RESCO, theirs{budget})", *cells, "-"])
    return out
