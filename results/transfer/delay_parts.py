"""Where a policy's delay comes from: one evaluation episode (the run's first, same SUMO seed as its
eval.json episode 0) of each run directory given, split into SUMO's per-trip parts.

delay = timeLoss + departDelay (RESCO's delay); waitingTime is the part of timeLoss spent stopped
(speed < 0.1 m/s), which is what the `wait` reward counts; waitingCount is the number of stops.

Needs each run's checkpoint.pt, which git does not keep: re-train the runs first with
`fmat bench experiments/transfer_targets.yaml` (and experiments/transfer_controllers.yaml for the
controllers). Usage, from the repository root:

    python results/transfer/delay_parts.py --out results/transfer/delay_parts.csv RUN_DIR [RUN_DIR ...]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import fmat.envs.sumo_env as sumo_env
from fmat.envs.errors import FmatError
from fmat.atomic import check_writable_file, write_csv
from fmat.evaluate import evaluate

PARTS = ("timeLoss", "departDelay", "waitingTime", "waitingCount")


def delay_parts(run_dir: str, scratch: Path) -> dict:
    # evaluate() deletes SUMO's tripinfo file with the environment; keep a copy as it is read
    read = sumo_env.tripinfo_metrics
    kept = scratch / "tripinfo.xml"

    def keep(path):
        shutil.copy(path, kept)
        return read(path)

    sumo_env.tripinfo_metrics = keep
    try:
        result = evaluate(run_dir, episodes=1)
    finally:
        sumo_env.tripinfo_metrics = read
    trips = [e.attrib for e in ET.parse(kept).getroot() if e.tag == "tripinfo"]
    row = {"run": Path(run_dir).name, "delay": round(result["mean"]["delay"], 3), "trips": len(trips)}
    row.update({k: round(statistics.mean(float(t.get(k, 0)) for t in trips), 3) for k in PARTS})
    row["moving_loss"] = round(row["timeLoss"] - row["waitingTime"], 3)
    row["switches"] = round(statistics.mean(s["switches"] for s in result["signals"].values()), 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        check_writable_file(args.out, "--out", (".csv",))
        with tempfile.TemporaryDirectory() as scratch:
            rows = [delay_parts(r, Path(scratch)) for r in args.runs]
    except FmatError as e:  # a bad --out or run directory: one line and exit 2, as `fmat` does
        print(f"delay_parts.py: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    write_csv(args.out, rows, list(rows[0]))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
