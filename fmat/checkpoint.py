"""checkpoint.pt: the one place that writes and reads training checkpoints.

A checkpoint holds only tensors and plain containers (dict, list, int, float, str, bool, None), so
it loads with `torch.load(weights_only=True)`: a file someone hands you cannot run code. Every
checkpoint records its format version and algorithm, so a file from another algorithm or from a
newer fmat is refused with one line instead of failing deep inside `load_state_dict`.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from fmat import atomic
from fmat.config import is_whole
from fmat.envs.errors import FmatError, first_line

FORMAT_VERSION = 1
PLAIN = (int, float, str, bool, type(None))
COUNTERS = {"episode": int, "env_steps": int, "wall_seconds": (int, float)}  # in every checkpoint


class CheckpointError(FmatError):
    """A checkpoint that is missing, corrupt, unsafe, of another algorithm or of an unknown format."""


def plain(obj):
    """`obj` with numpy scalars and arrays and dataclasses turned into plain types (tensors kept)."""
    import dataclasses

    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor) or isinstance(obj, PLAIN):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {plain(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    raise TypeError(f"checkpoint value of type {type(obj).__name__} is not a tensor or plain container")


def save(path: str | Path, algorithm: str, state: dict) -> None:
    """Write `state` atomically with the format version and algorithm."""
    atomic.torch_save({"format": FORMAT_VERSION, "algorithm": algorithm, **plain(state)}, path)


def load(path: str | Path, algorithm: str) -> dict:
    """The checkpoint written by `save` for `algorithm`; CheckpointError (one line) otherwise."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; train the run first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = first_line(exc) if "weights_only" not in str(exc) else "it holds objects other than tensors and plain containers"
        raise CheckpointError(f"{path} was refused by the safe loader ({reason}); "
                              "it was not written by fmat or has been tampered with, so it is not loaded") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, IndexError, TypeError) as exc:
        detail = first_line(exc)
        raise CheckpointError(f"{path} is corrupt or truncated ({detail}); restore it from a copy or train the run again") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not an fmat checkpoint (it holds a {type(state).__name__}, not a dict)")
    version = state.get("format", 0)  # format 0: fmat 0.1.0 wrote the same keys without a version or algorithm
    if not is_whole(version, minimum=0):
        raise CheckpointError(f"{path} has checkpoint format {version!r}, not a whole number from 0, so fmat did not write it; "
                              "it is not loaded")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version!r}, not one this fmat reads (up to {FORMAT_VERSION}); "
                              "it was written by a newer fmat: upgrade fmat to load it")
    if version > 0 and state.get("algorithm") != algorithm:
        raise CheckpointError(f"{path} was written by {state.get('algorithm')!r}, not {algorithm!r}; "
                              "it does not belong to this run's config.yaml")
    for key, kind in COUNTERS.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool) or state[key] < 0:
            raise CheckpointError(f"{path} is not an fmat checkpoint: {key} is {state.get(key)!r}, not a count")
    return state


@contextmanager
def restoring(path: str | Path):
    """Around the load_state_dict calls: saved state that does not fit (missing keys, other shapes,
    wrong types) becomes one line naming the file."""
    try:
        yield
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        detail = first_line(exc)
        raise CheckpointError(f"{path}: the saved state does not fit this run's config ({detail}); "
                              "was the file copied from another run?") from None
