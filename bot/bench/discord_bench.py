"""The Discord half: Opscord and the bare bot as processes, each on its own emulator, A/B interleaved.

1. Start: each round starts a fresh process of each side (order alternating) and times spawn →
   commands synced → gateway ready → first answer; RSS once it has answered. Opscord gets a
   catalog of ``START_SERVICES`` services here, as a team's config would have.
2. A new pair (Opscord with one service per concurrent deploy of the largest burst) is started and
   warmed up, then every burst size of every workload is sent to one side and then the other
   (which side goes first alternates), for ``rounds`` rounds. After each burst the bench waits
   until the bot has finished what the burst started.
3. RSS again once each has been sent ``rss_commands`` commands (topped up with reads if needed),
   against that pair's own RSS after start.

Beside the pair runs the *floor* (``bot.bench.bare`` with ``BENCH_AUDIT_DB``): the bare bot that
makes each answer wait for one durable audit row in Opscord's store — the least a bot that keeps
Opscord's promise can do. It gets the bursts of the plan's ``floor_bursts``, interleaved with the
other two, so the run shows how much of Opscord's distance from the bare bot is the promise itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.bench.config import service_names
from bot.bench.plan import Plan
from bot.bench.processes import SIDES, BotProcess, Side, StartSample, wait_for
from bot.bench.workloads import (
    WORKLOADS,
    BurstResult,
    Command,
    WorkloadName,
    attempt_ms,
    burst,
    commands,
    sequence,
    settle,
)
from bot.bench.world import BenchGuild

Say = Callable[[str], None]
FIRST_COMMAND = Command("audit recent", {})
ALL_SIDES: tuple[Side, ...] = (*SIDES, "floor")
RSS_SETTLE_S = 0.5
START_SERVICES = 3
"""Services in Opscord's config for the start-up rounds (the example config's three)."""
TOP_UP_BURST = 500


@dataclass
class DiscordResults:
    """Everything the Discord phases measured."""

    starts: dict[Side, list[StartSample]] = field(default_factory=lambda: {s: [] for s in SIDES})
    bursts: dict[tuple[WorkloadName, int, Side], list[BurstResult]] = field(default_factory=dict)
    rss_start: dict[Side, int] = field(default_factory=dict)
    rss_after: dict[Side, tuple[int, int]] = field(default_factory=dict)
    """(commands sent, RSS bytes) once ``rss_commands`` had been sent."""
    unsettled: dict[Side, int] = field(default_factory=lambda: dict.fromkeys(ALL_SIDES, 0))
    """Bursts after which the bot was still busy when the settle timeout ran out."""
    logged_errors: dict[Side, int] = field(default_factory=lambda: dict.fromkeys(ALL_SIDES, 0))
    first_errors: dict[Side, str | None] = field(default_factory=dict)
    """The first ERROR line each side logged, if any."""
    shape_differences: list[str] = field(default_factory=list)


def alternate(round_no: int) -> tuple[Side, ...]:
    """Which side goes first alternates from one round (or burst) to the next."""
    return SIDES if round_no % 2 == 0 else tuple(reversed(SIDES))


class DiscordBench:
    """Runs the Discord phases of ``plan`` with processes and logs under ``workdir``."""

    def __init__(self, plan: Plan, workdir: Path, say: Say) -> None:
        """Nothing starts until :meth:`run`."""
        self.plan = plan
        self.workdir = workdir
        self.say = say
        self.services = service_names(plan.services)
        self.results = DiscordResults()
        self.batch = 0
        self.live: list[BotProcess] = []

    async def run(self) -> DiscordResults:
        """All three phases; every process is stopped at the end, whatever happens."""
        try:
            pair = await self._starts()
            self.results.shape_differences = shape_differences(pair["bare"].guild, pair["opscord"].guild)
            await self._warm_up(pair)
            await self._rounds(pair)
            await self._rss_after(pair)
        finally:
            for proc in list(self.live):
                with contextlib.suppress(Exception):
                    await self._retire(proc)
        return self.results

    # -- 1. start ----------------------------------------------------------------------------

    async def _starts(self) -> dict[Side, BotProcess]:
        """The start-up rounds; then the processes the bursts go to: the pair, and the floor."""
        for round_no in range(self.plan.start_rounds):
            for side in alternate(round_no):
                proc = await self._start(side, self.workdir / f"start{round_no}-{side}", START_SERVICES)
                self.results.starts[side].append(proc.start_sample)
                await self._retire(proc)
            self.say(f"  start round {round_no + 1}/{self.plan.start_rounds} done")
        pair = {side: await self._start(side, self.workdir / f"bursts-{side}", self.plan.services) for side in SIDES}
        for side, proc in pair.items():
            self.results.rss_start[side] = proc.start_sample.rss
        if any(size in self.plan.floor_bursts for size in self.plan.bursts):
            pair["floor"] = await self._start("floor", self.workdir / "bursts-floor", self.plan.services)
        return pair

    async def _retire(self, proc: BotProcess) -> None:
        self.results.logged_errors[proc.side] += proc.logged_errors()
        if self.results.first_errors.get(proc.side) is None:
            self.results.first_errors[proc.side] = proc.first_error()
        await proc.stop()
        self.live.remove(proc)

    async def _start(self, side: Side, workdir: Path, services: int) -> BotProcess:
        guild = await BenchGuild.start()
        proc = BotProcess(side, guild, workdir)
        self.live.append(proc)
        await proc.start(services)
        synced = await wait_for(proc, "commands synced", guild.synced)
        connected = await wait_for(proc, "gateway ready", guild.emu.gateway.ready)
        _, handles = await sequence(proc, [FIRST_COMMAND])
        at = attempt_ms(handles[0])
        if handles[0].callback is None or at is None:
            raise RuntimeError(f"{side} did not answer its first command:\n{proc.log_tail()}")
        first = handles[0].dispatched_at + at / 1000 - proc.started_at
        await settle(proc, "read", handles)
        await asyncio.sleep(RSS_SETTLE_S)
        proc.start_sample = StartSample(synced, connected, first, proc.rss())
        return proc

    # -- 2. bursts ---------------------------------------------------------------------------

    async def _send(self, proc: BotProcess, workload: WorkloadName, size: int) -> BurstResult:
        # The emulator keeps every interaction and message; frozen, that growing heap is never scanned
        # again, so no long garbage collection in this process lands inside a measurement.
        gc.collect()
        gc.freeze()
        self.batch += 1
        if size == 1:
            batch = commands(workload, self.plan.sequential, self.services, self.batch)
            result, handles = await sequence(proc, batch)
        else:
            batch = commands(workload, size, self.services, self.batch)
            result, handles = await burst(proc, batch)
        if not await settle(proc, workload, handles):
            self.results.unsettled[proc.side] += 1
        proc.sample_rss()
        return result

    async def _warm_up(self, pair: dict[Side, BotProcess]) -> None:
        for proc in pair.values():
            for workload in WORKLOADS:
                await self._send(proc, workload, 1)
                await self._send(proc, workload, self.plan.warmup)
        self.say("  warm-up done")

    async def _rounds(self, pair: dict[Side, BotProcess]) -> None:
        cells = [(workload, size) for size in self.plan.bursts for workload in WORKLOADS]
        for round_no in range(self.plan.rounds):
            for index, (workload, size) in enumerate(cells):
                # which side goes first flips from one cell to the next and, for each cell, every round
                sides = alternate(round_no + index)
                if size in self.plan.floor_bursts and "floor" in pair:
                    sides = (sides[0], "floor", sides[1])
                for side in sides:
                    result = await self._send(pair[side], workload, size)
                    self.results.bursts.setdefault((workload, size, side), []).append(result)
            self.say(f"  latency round {round_no + 1}/{self.plan.rounds} done")

    # -- 3. memory ---------------------------------------------------------------------------

    async def _rss_after(self, pair: dict[Side, BotProcess]) -> None:
        for side in SIDES:
            proc = pair[side]
            while proc.rss_after(self.plan.rss_commands) is None:
                await self._send(proc, "read", min(TOP_UP_BURST, self.plan.rss_commands))
            found = proc.rss_after(self.plan.rss_commands)
            assert found is not None
            self.results.rss_after[side] = found


def shape_differences(bare: BenchGuild, opscord: BenchGuild) -> list[str]:
    """Commands whose synced names or options differ between the baseline and Opscord."""
    ours, theirs = opscord.command_shapes(), bare.command_shapes()
    return [f"/{path}: Opscord {ours.get(path)} vs bare {theirs.get(path)}"
            for path in sorted(set(ours) | set(theirs)) if ours.get(path) != theirs.get(path)]
