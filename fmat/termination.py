"""SIGTERM as an exception, so that a terminated command cleans up as after Ctrl-C.

By default SIGTERM (`kill`, `timeout`, a batch scheduler's time limit) ends Python on the spot:
SUMO's temporary output folders, an interrupted atomic write's temporary file and a sweep's child
processes stay behind. Inside `raising_on_sigterm()` it raises `Terminated` instead.

Python ignores an exception raised inside a finalizer or a fork callback (it prints "Exception
ignored in ..."), and a signal's handler runs wherever the main thread happens to be, so the
raise can be lost: a run that forks SUMO every episode lost it about once in 16 terminations.
`check()`, called once per decision by the loops that run for long, raises it again.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_received = False


def _raise(signum, frame):
    global _received
    _received = True
    raise Terminated


def check() -> None:
    """Raise `Terminated` if SIGTERM has arrived (its first raise may have been swallowed)."""
    if _received:
        raise Terminated


@contextmanager
def raising_on_sigterm():
    """Within the block, SIGTERM raises `Terminated` (only the main thread can set a handler;
    elsewhere nothing changes)."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _received = False
