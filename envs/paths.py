"""Where fmat keeps generated networks and user-registered scenarios."""
from __future__ import annotations

import os
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
