"""Neural building blocks shared by fmat's policies."""
from __future__ import annotations

import atexit
import sys
import tempfile
from pathlib import Path


def _remove_generated_modules() -> None:
    """torch_geometric compiles each message-passing layer's `propagate` from a template into a .py
    file in the temporary folder and never deletes it (torch_geometric.template, `delete=False`):
    one ~11 KB file per layer class per process, so every run of f-MAT or CoLight left one behind.
    By exit the modules are long loaded, so remove the files this process wrote."""
    tmp = Path(tempfile.gettempdir()).resolve()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.startswith("torch_geometric.") and path and Path(path).resolve().parent == tmp:
            Path(path).unlink(missing_ok=True)


atexit.register(_remove_generated_modules)
