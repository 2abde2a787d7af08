"""The big-log phase: filtered `/audit recent` through Discord on an audit log of `store_rows` rows.

Opscord runs as a process on a database holding `store_rows` audit rows of the guild's own members
and services (built with the product's schema and hashing). Measured: the first response of
`/audit recent user:…` and `/audit recent service:…`, one at a time; then a burst of 100 such
queries beside 100 `/deploy … staging`, and how many of those 200 missed Discord's 3 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bench.config import ENVIRONMENT, service_names
from bot.bench.processes import BotProcess, wait_for
from bot.bench.product import Row, bulk_load
from bot.bench.stats import percentile
from bot.bench.workloads import Command, burst, sequence, settle
from bot.bench.world import BenchGuild

SEQUENCE = 40
MIXED = 100
SERVICES = 200


def rows_for(guild: BenchGuild, services: list[str], count: int) -> Iterator[Row]:
    """Rows like Opscord's, spread over the guild's members and the services."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        member = guild.users[(i // 7) % len(guild.users)]
        service = services[(i // 3) % len(services)]
        extra: dict[str, Any] = {"user_id": str(member), "service": service, "environment": ENVIRONMENT,
                                 "action": "deploy", "request_id": f"op-{i:010x}", "interaction_id": str(10**18 + i)}
        yield Row((base + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), f"@member{member}",
                  f"/deploy {service} v1.0.{i % 1000} {ENVIRONMENT}", "success", None, 2.5, "#deployments", extra)


def _spread(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values, default=0.0)}


async def run_big_log(rows: int, workdir: Path) -> dict[str, Any]:
    """Build the log, start Opscord on it, measure; returns the figures (ms, misses)."""
    guild = await BenchGuild.start()
    services = service_names(SERVICES)
    proc = BotProcess("opscord", guild, workdir)
    try:
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        await bulk_load(workdir / "opscord.db", rows_for(guild, services, rows))
        await proc.start(SERVICES)
        await wait_for(proc, "commands synced", guild.synced)
        await wait_for(proc, "gateway ready", guild.emu.gateway.ready)
        by_user = [Command("audit recent", {"user": guild.users[i % len(guild.users)], "limit": 10})
                   for i in range(SEQUENCE)]
        by_service = [Command("audit recent", {"service": services[i % len(services)], "limit": 10})
                      for i in range(SEQUENCE)]
        await sequence(proc, by_user[:5])  # warm the caches the way a running bot has them
        user_result, _ = await sequence(proc, by_user)
        service_result, _ = await sequence(proc, by_service)
        mixed: list[Command] = []
        for i in range(MIXED):
            mixed.append(by_user[i % SEQUENCE] if i % 2 else by_service[i % SEQUENCE])
            mixed.append(Command("deploy", {"service": services[i % len(services)], "version": f"v9.0.{i}",
                                            "environment": ENVIRONMENT}))
        mixed_result, handles = await burst(proc, mixed)
        await settle(proc, "write", handles[1::2])
        reads = [h.callback.at_ms for h in handles[0::2] if h.callback is not None]
        writes = [h.callback.at_ms for h in handles[1::2] if h.callback is not None]
        return {"rows": rows, "by_user_ms": _spread(user_result.latencies_ms),
                "by_service_ms": _spread(service_result.latencies_ms), "mixed_reads_ms": _spread(reads),
                "mixed_writes_ms": _spread(writes), "mixed_misses": mixed_result.misses,
                "logged_errors": proc.logged_errors()}
    finally:
        await proc.stop()
        await guild.stop()
