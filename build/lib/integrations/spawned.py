"""Telling the caller about provider processes as they start, so a crash cannot lose track of them.

The pipeline sets `on_spawn` around a provider call; a provider that starts a local process calls
`report_spawn(pid)` right after starting it. The caller records the process (with its start time)
so that, after a crash, the next start finds it if it still runs and does not free its lock early.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

on_spawn: ContextVar[Callable[[int], None] | None] = ContextVar("opscord_on_spawn", default=None)


def report_spawn(pid: int) -> None:
    """A provider started process `pid` (the leader of its own process group)."""
    callback = on_spawn.get()
    if callback is not None:
        callback(pid)
