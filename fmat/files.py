"""Reading files a user hands in: configs, experiment files, and the small files of run directories
(config.yaml, done.json, eval.json, transfer/*.json, metrics.csv).

Run directories and configs are shared between researchers, so every such file is untrusted: a
corrupt, truncated, binary, wrongly encoded or wrongly shaped file is a `BadFileError` whose one
line names the file and, where known, the line; never a traceback.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from fmat.envs.errors import FmatError


class BadFileError(FmatError):
    """A file that cannot be read as what it should be."""


def read_text(path: str | Path) -> str:
    """A UTF-8 text file; binary or wrongly encoded content is a one-line error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise BadFileError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise BadFileError(f"{path}: cannot read it ({exc.strerror})") from None
    if b"\0" in data:
        raise BadFileError(f"{path} is a binary file, not text; check that the right file was given")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadFileError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); save it as UTF-8") from None


def read_json(path: str | Path, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object holding at least `keys`."""
    path = Path(path)
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); the file is damaged or truncated") from None
    if not isinstance(data, dict):
        raise BadFileError(f"{path}: expected a JSON object, found {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise BadFileError(f"{path}: no {missing[0]!r} key; the file is damaged or was not written by fmat")
    return data


def read_metrics(path: str | Path, columns: tuple[str, ...] = ("episode",)) -> list[dict]:
    """metrics.csv as rows of floats; every row must have every header column and a number in it."""
    path = Path(path)
    reader = csv.DictReader(read_text(path).splitlines())
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise BadFileError(f"{path}:1: no {missing[0]!r} column in the header; the file is damaged or not an fmat metrics.csv")
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                raise ValueError(f"expected {len(header)} fields")
            values = {k: float(v) for k, v in row.items()}
            if any(math.isinf(v) for v in values.values()):
                raise ValueError("infinite value")
            rows.append(values)
    except (ValueError, csv.Error) as exc:
        raise BadFileError(f"{path}:{reader.line_num}: {exc}; the file is damaged or truncated") from None
    return rows


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file whose top level is a mapping; errors name the line."""
    import yaml

    path = Path(path)
    text = read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadFileError(f"{path}{where}: not valid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadFileError(f"{path}: the top level must be a mapping of keys, not a {type(data).__name__}")
    return data
