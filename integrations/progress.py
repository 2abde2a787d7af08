"""Telling the caller what a provider is doing while it runs: the processes it starts, the run it follows.

The pipeline sets these around a provider call. A provider that starts a local process calls
`report_spawn(pid)` right after starting it: the caller records the process (with its start time)
so that, after a crash, the next start finds it if it still runs and does not free its lock early.
A provider that learns the link to its run (a GitHub Actions run, an Argo CD application) calls
`report_link(url)` as soon as it knows it, so the message shows it while the run is still going.
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


on_link: ContextVar[Callable[[str], None] | None] = ContextVar("opscord_on_link", default=None)


def report_link(url: str) -> None:
    """A provider knows the page that follows its run."""
    callback = on_link.get()
    if callback is not None:
        callback(url)
