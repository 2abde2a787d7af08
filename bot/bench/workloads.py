"""The Discord workloads: which commands a burst sends, and driving a burst through the emulator.

A burst of N dispatches N INTERACTION_CREATEs as fast as the emulator can send them (it yields
after each, so frames leave while later ones are built) and waits until the bot has made a first
response to each — accepted, or refused by the emulator because it came after Discord's 3 s.
A "burst" of 1 is a sequence: each command waits for its answer before the next is sent.

First-response latency is the emulator's own measure: from dispatching INTERACTION_CREATE to
accepting the interaction callback. A miss is a command with no accepted first response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.bench.config import ENVIRONMENT
from bot.bench.processes import BotProcess
from bot.bench.stats import percentile
from bot.sandbox.emulator import InteractionHandle

WorkloadName = Literal["read", "write"]
WORKLOADS: tuple[WorkloadName, WorkloadName] = ("read", "write")
DEADLINE_S = 3.0
ANSWER_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 120.0
QUIET_S = 0.05
"""A pause after each burst, so audit rows and message edits still in flight do not spill over."""


@dataclass(frozen=True)
class Command:
    """A slash command as a user runs it: the path ("audit recent") and its options."""

    path: str
    options: dict[str, Any]


def commands(workload: WorkloadName, count: int, services: Sequence[str], batch: int) -> list[Command]:
    """``count`` commands of a workload.

    read: ``/audit recent`` and ``/status <service>`` alternately. write: ``/deploy <service>
    v1.<batch>.<i> staging``, each command of a burst on its own service (no lock collides).
    """
    if workload == "read":
        return [Command("audit recent", {}) if i % 2 == 0
                else Command("status", {"service": services[i % len(services)]}) for i in range(count)]
    return [Command("deploy", {"service": services[i % len(services)], "version": f"v1.{batch}.{i}",
                               "environment": ENVIRONMENT})
            for i in range(count)]


@dataclass(frozen=True)
class BurstResult:
    """What one burst measured."""

    size: int
    latencies_ms: list[float]
    """First-response attempt times, accepted or refused (a command never answered has none)."""
    misses: int
    span_s: float
    bot_cpu_s: float = 0.0
    """CPU the bot process used during the burst (its busy share shows who was the bottleneck)."""
    emulator_cpu_s: float = 0.0
    """CPU the bench process (emulator and driver) used during the burst."""

    @property
    def p50(self) -> float:
        """Median first-response latency, ms."""
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        """99th percentile, ms."""
        return percentile(self.latencies_ms, 99)

    @property
    def max(self) -> float:
        """Slowest first response, ms."""
        return max(self.latencies_ms) if self.latencies_ms else math.nan

    @property
    def throughput(self) -> float:
        """Commands answered per second, from the first dispatch to the last first response."""
        return len(self.latencies_ms) / self.span_s if self.span_s > 0 else math.nan


def attempt_ms(handle: InteractionHandle) -> float | None:
    """When the bot first answered (accepted or refused), ms after dispatch; None if it has not."""
    if handle.callback is not None:
        return handle.callback.at_ms
    for refusal in handle.refused:
        if "after_s" in refusal:
            return float(refusal["after_s"]) * 1000
    return None


def _answered(handle: InteractionHandle) -> bool:
    return handle.callback is not None or bool(handle.refused)


class _Progress:
    """An O(1)-amortized "all done?" over handles that finish roughly in order."""

    def __init__(self, handles: Sequence[InteractionHandle], done: Callable[[InteractionHandle], bool]) -> None:
        self.handles = handles
        self.done = done
        self.next = 0

    def __call__(self) -> bool:
        while self.next < len(self.handles) and self.done(self.handles[self.next]):
            self.next += 1
        return self.next == len(self.handles)


async def _dispatch(proc: BotProcess, command: Command) -> InteractionHandle:
    guild = proc.guild
    user = guild.users[proc.commands_sent % len(guild.users)]
    proc.commands_sent += 1
    return await guild.emu.run_command(guild.guild_id, guild.channel_id, user, command.path, command.options)


async def _wait(proc: BotProcess, handles: Sequence[InteractionHandle], done: Callable[[InteractionHandle], bool],
                timeout: float) -> bool:  # noqa: ASYNC109
    """Wait until ``done`` holds for every handle (or the bot died); False on timeout."""
    progress = _Progress(handles, done)
    try:
        await proc.guild.emu.wait_until(lambda: progress() or not proc.alive(), timeout)
    except TimeoutError:
        return False
    return True


class _Clock:
    """Wall time and the CPU time of the bot and of this process, from the start of a burst."""

    def __init__(self, proc: BotProcess) -> None:
        self.proc = proc
        self.started = time.monotonic()
        self.bot_cpu = proc.cpu_seconds()
        self.own_cpu = time.process_time()

    def result(self, handles: Sequence[InteractionHandle]) -> BurstResult:
        base = _result(handles, self.started)
        return dataclasses.replace(base, bot_cpu_s=self.proc.cpu_seconds() - self.bot_cpu,
                                   emulator_cpu_s=time.process_time() - self.own_cpu)


def _result(handles: Sequence[InteractionHandle], started: float) -> BurstResult:
    latencies, finished = [], started
    for handle in handles:
        at = attempt_ms(handle)
        if at is not None:
            latencies.append(at)
            finished = max(finished, handle.dispatched_at + at / 1000)
    misses = sum(1 for h in handles if h.callback is None)
    return BurstResult(len(handles), latencies, misses, finished - started)


async def sequence(proc: BotProcess, batch: Sequence[Command]) -> tuple[BurstResult, list[InteractionHandle]]:
    """One command at a time, each sent once the previous one was answered (a burst of 1)."""
    handles = []
    clock = _Clock(proc)
    for command in batch:
        handle = await _dispatch(proc, command)
        handles.append(handle)
        await _wait(proc, [handle], _answered, DEADLINE_S + ANSWER_TIMEOUT_S)
    return clock.result(handles), handles


async def burst(proc: BotProcess, batch: Sequence[Command]) -> tuple[BurstResult, list[InteractionHandle]]:
    """All of ``batch`` at once; returns when the bot has made (or failed) every first response."""
    handles = []
    clock = _Clock(proc)
    for command in batch:
        handles.append(await _dispatch(proc, command))
        await asyncio.sleep(0)  # let the gateway writer send while the next payloads are built
    await _wait(proc, handles, _answered, DEADLINE_S + ANSWER_TIMEOUT_S)
    return clock.result(handles), handles


def _finished(side: str, workload: WorkloadName) -> Callable[[InteractionHandle], bool]:
    """When the work a command started after its first response is over (so bursts do not overlap)."""
    def done(handle: InteractionHandle) -> bool:
        if handle.callback is None:
            return True  # missed: nothing more will happen
        if side != "opscord":
            return True  # the baselines do nothing after their first response
        original = handle.original
        if original is None:
            return True
        if workload == "write":
            return original.edited > 0  # the outcome edit
        return not original.loading  # /status: the deferred answer arrived
    return done


async def settle(proc: BotProcess, workload: WorkloadName, handles: Sequence[InteractionHandle]) -> bool:
    """Wait until the bot has finished what the commands started; False if it is still busy at the timeout."""
    finished = await _wait(proc, handles, _finished(proc.side, workload), SETTLE_TIMEOUT_S)
    await asyncio.sleep(QUIET_S)
    return finished
