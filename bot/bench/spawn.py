"""How long the event loop stalls per provider spawn, measured by a loop-lag probe in a process of its own.

Every callback the event loop runs is timed (``asyncio.Handle._run`` is wrapped in this
process only), while deploys run one after another; a spawn's stall is the longest callback inside
its window — the time the loop could do nothing else. (A spinning lag probe would hold the GIL
and make Python 3.11's child-watcher threads wait for it; a sleeping one cannot see stalls shorter
than its period.)

- ``opscord``: Opscord's command provider, in a process that has imported Opscord's runtime and
  grown to the RSS Opscord had after the Discord phase (forking copies page tables, so size matters).
- ``bare``: ``asyncio.create_subprocess_exec`` of the same program from a process grown to the
  bare bot's RSS.

Usage: ``python -m bot.bench.spawn SIDE COUNT RSS_BYTES`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.bench.config import instant_command
from bot.bench.stats import percentile

Spawn = Callable[[int], Awaitable[None]]


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def grow_to(target: int) -> bytearray:
    """Touch memory until this process's RSS reaches ``target`` bytes (kept alive by the caller)."""
    missing = max(0, target - _rss())
    ballast = bytearray(missing)
    for offset in range(0, missing, 4096):
        ballast[offset] = 1
    return ballast


async def bare_spawn(argv: list[str]) -> Spawn:
    """The baseline: asyncio's own subprocess call, no provider around it."""
    async def spawn(n: int) -> None:
        process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL)
        await process.wait()
    return spawn


def time_callbacks() -> tuple[array[float], array[float], array[float]]:
    """From now on record when each event-loop callback ended, how long it ran and the CPU it used (seconds).

    The CPU time (this thread's) tells a callback that did work apart from one the OS preempted: on a
    shared machine a callback of 0.1 ms of CPU can take a millisecond of wall time.
    """
    ends, durations, cpu = array("d"), array("d"), array("d")
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        started, used = time.perf_counter(), time.thread_time()
        run(handle)
        now = time.perf_counter()
        cpu.append(time.thread_time() - used)
        ends.append(now)
        durations.append(now - started)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
    return ends, durations, cpu


async def stalls(spawn: Spawn, count: int) -> tuple[list[float], list[float]]:
    """Run ``count`` spawns one after another; each one's longest event-loop callback, ms (wall, CPU)."""
    ends, durations, cpu = time_callbacks()
    windows = []
    for n in range(count):
        started = time.perf_counter()
        await spawn(n)
        # the loop step that finished this spawn (its exit, its output) ends here, inside its own window, and
        # not in the next spawn's, beside that one's preparation
        await asyncio.sleep(0)
        windows.append((started, time.perf_counter()))
    wall, used = [], []
    for started, ended in windows:
        low, high = bisect.bisect_right(ends, started), bisect.bisect_right(ends, ended)
        wall.append(max(durations[low:high], default=0.0) * 1000)
        used.append(max(cpu[low:high], default=0.0) * 1000)
    return wall, used


async def run(side: str, count: int, rss: int) -> dict[str, Any]:
    """Measure ``count`` spawns on ``side`` at about ``rss`` bytes."""
    argv = [instant_command()]
    if side == "opscord":
        from bot.bench.product import import_runtime, provider_deploy

        import_runtime()
        spawn = provider_deploy(argv)
    else:
        spawn = await bare_spawn(argv)
    ballast = grow_to(rss)
    await spawn(-1)  # the first spawn pays for lazy set-up (child watcher, imports)
    grown = _rss()
    values, cpu = await stalls(spawn, count)
    del ballast
    return {"side": side, "rss": grown, "count": count, "max_ms": max(values), "p99_ms": percentile(values, 99),
            "p50_ms": percentile(values, 50), "cpu_max_ms": max(cpu), "cpu_p99_ms": percentile(cpu, 99)}


def main() -> None:
    """``python -m bot.bench.spawn SIDE COUNT RSS_BYTES``."""
    side, count, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(json.dumps(asyncio.run(run(side, count, rss))))


if __name__ == "__main__":
    main()
