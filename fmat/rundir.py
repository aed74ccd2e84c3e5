"""The run directory: the one module that knows its files, their names and formats.

    RUN/config.yaml              the resolved run config
    RUN/metrics.csv              one row per training episode (COLUMNS), written by runner.RunLog
    RUN/tb/                      tensorboard scalars
    RUN/checkpoint.pt            written and read by fmat/checkpoint.py only
    RUN/eval.json                the final evaluation (fmat/evaluate.py's result)
    RUN/done.json                the budget reached and the compute used, once training ends
    RUN/transfer/SCENARIO.json   evaluations on other scenarios (`fmat bench` with `transfer`)
    RUN/sweep.yaml, RUN/train.log, RUN/transfer/SCENARIO.log   a sweep's task config and logs
    RUN/.lock                    held while a process trains the run

Train, evaluate, bench, table, plot, map and the transfer table all go through `RunDir`. Every read
treats the file as untrusted (fmat/files.py): a damaged file is one line naming it.
"""
from __future__ import annotations

import json
from pathlib import Path

from fmat import atomic
from fmat.files import read_json, read_metrics, read_yaml_mapping

COLUMNS = ("episode", "env_steps", "wall_seconds", "return", "delay", "travel_time", "waiting_time", "throughput",
           "queue", "teleports")


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, default=float) + "\n"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    metrics_csv = property(lambda self: self.path / "metrics.csv")
    tensorboard = property(lambda self: self.path / "tb")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    eval_json = property(lambda self: self.path / "eval.json")
    done_json = property(lambda self: self.path / "done.json")
    sweep_config = property(lambda self: self.path / "sweep.yaml")
    train_log = property(lambda self: self.path / "train.log")
    lock = property(lambda self: self.path / ".lock")

    def transfer_json(self, scenario: str) -> Path:
        return self.path / "transfer" / f"{scenario}.json"

    def is_run(self) -> bool:
        """Whether the folder holds a run that tables can read (config.yaml and metrics.csv)."""
        return self.config.is_file() and self.metrics_csv.is_file()

    # ------------------------------------------------------------------ readers
    def config_data(self) -> dict:
        return read_yaml_mapping(self.config)

    def metrics(self) -> list[dict]:
        """metrics.csv as rows of floats; [] before the first episode."""
        return read_metrics(self.metrics_csv, ("episode", "wall_seconds")) if self.metrics_csv.is_file() else []

    def evaluation(self) -> dict | None:
        return read_json(self.eval_json, ("mean",)) if self.eval_json.is_file() else None

    def done(self) -> dict | None:
        return read_json(self.done_json, ("episodes",)) if self.done_json.is_file() else None

    def transfers(self) -> dict[str, dict]:
        """Scenario -> evaluation, for every transfer evaluation written."""
        return {p.stem: read_json(p, ("mean",)) for p in sorted((self.path / "transfer").glob("*.json"))}

    def transfer(self, scenario: str) -> dict | None:
        path = self.transfer_json(scenario)
        return read_json(path, ("mean",)) if path.is_file() else None

    # ------------------------------------------------------------------ writers (atomic)
    def write_config(self, cfg) -> None:
        atomic.write_text(self.config, cfg.to_yaml())

    def write_sweep_config(self, cfg) -> None:
        atomic.write_text(self.sweep_config, cfg.to_yaml())

    def write_evaluation(self, result: dict) -> None:
        atomic.write_text(self.eval_json, to_json(result))

    def write_done(self, done: dict) -> None:
        atomic.write_text(self.done_json, to_json(done))
