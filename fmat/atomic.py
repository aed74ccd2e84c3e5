"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

FIGURES = (".png", ".pdf", ".svg")


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def torch_save(obj, path: str | Path) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def check_writable_dir(path: str | Path, what: str, shown: str | Path | None = None) -> None:
    """Refuse, before any work, a folder that cannot be created or written (one-line FmatError).
    `shown` is the path the user gave, when `path` is the folder it goes in."""
    from fmat.envs.errors import FmatError

    path, shown = Path(path), shown or path
    base = _nearest_existing(path)
    if not base.is_dir():
        raise FmatError(f"{what} {shown}: {base} is a file, not a folder; choose another {what}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise FmatError(f"{what} {shown}: permission denied in {base}; choose a folder you can write to")


def check_writable_file(path: str | Path, what: str, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, a file destination that cannot be written (one-line FmatError)."""
    from fmat.envs.errors import FmatError

    path = Path(path)
    if path.is_dir():
        raise FmatError(f"{what} {path} is a folder; give a file name, e.g. {path / ('out' + (suffixes[0] if suffixes else '.txt'))}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise FmatError(f"{what} {path}: unsupported file type {path.suffix or '(none)'}; use {', '.join(suffixes)}")
    if path.exists() and not os.access(path, os.W_OK):
        raise FmatError(f"{what} {path}: permission denied; choose a file you can write")
    check_writable_dir(path.parent, what, shown=path)


def save_figure(fig, out: str | Path, dpi: int = 150, description: str | None = None) -> Path:
    """Save a matplotlib figure atomically and close it; a PNG gets `description` as metadata."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    meta = {"Description": description} if description and out.suffix.lower() == ".png" else None
    try:
        fig.savefig(tmp, dpi=dpi, metadata=meta)
    finally:
        plt.close(fig)
    tmp.replace(out)
    return out
