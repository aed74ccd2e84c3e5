"""Where fmat keeps generated networks and user-registered scenarios."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path


def fmat_home() -> Path:
    """FMAT_HOME if set, else the per-user data directory ($XDG_DATA_HOME/fmat or ~/.local/share/fmat)."""
    if os.environ.get("FMAT_HOME"):
        return Path(os.environ["FMAT_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "fmat"


def publish_dir(build, final: Path) -> Path:
    """Build a folder with `build(tmp_dir)` and move it to `final` in one rename.

    A crash mid-build leaves only a temporary folder (removed here), never a half-written `final`;
    if another process published `final` first, its copy is kept and ours is discarded.
    """
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is readable like any data folder
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_name(name, what: str = "scenario name", limit: int = NAME_MAX) -> str:
    """The one rule for a name that becomes a path component (scenario and run names).

    Letters, digits, '_', '-' and '.', starting with a letter or digit, at most NAME_MAX characters,
    and never '..': so no separator, absolute path or parent reference can pass.
    """
    from .errors import InvalidOptionError

    if not isinstance(name, str) or not name:
        raise InvalidOptionError(f"{what} {name!r}: a name must be a non-empty string")
    if len(name) > limit:
        raise InvalidOptionError(f"{what} {name[:20]!r}...: {len(name)} characters; use at most {limit}")
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidOptionError(
            f"{what} {name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit, without '..'"
        )
    return name


def inside(root: str | Path, name: str, what: str = "scenario name", limit: int = NAME_MAX) -> Path:
    """root/name after checking `name` and that the resolved path stays below the resolved root."""
    from .errors import InvalidOptionError

    check_name(name, what, limit)
    base = Path(root).resolve()
    path = (base / name).resolve()
    if path.parent != base:  # e.g. root/name is a symlink pointing elsewhere
        raise InvalidOptionError(f"{what} {name!r}: {Path(root) / name} leads outside {root}; remove that link")
    return Path(root) / name
