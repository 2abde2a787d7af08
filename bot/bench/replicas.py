"""The PostgreSQL half, run in a process of its own: audit appends and /audit recent on PostgreSQL,
and the failover time of two replicas.

- A throwaway cluster (Debian's binaries, fsync and synchronous commit on: as durable as SQLite's
  ``synchronous=FULL``). Appends: the same rows and writers as the SQLite store phase, through
  Opscord's store on PostgreSQL, against asyncpg inserting them (hashed beforehand) in one
  transaction. /audit recent: a ``store_rows`` log built by the SQLite phase's generator, copied
  over with ``store migrate``'s copy, then the same queries.
- Failover: two ``python -m bot`` replicas on one emulator and that database; the leader is killed
  (kill -9) or stopped (SIGSTOP) and the clock runs until the standby has identified on the gateway
  and is ready. Each round a fresh standby is started beside the new leader.

Usage: ``python -m bot.bench.replicas PLAN WORKDIR`` prints one JSON object (``{"skipped": why}``
when PostgreSQL cannot run here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from bot.bench.config import service_names, write_config
from bot.bench.plan import PLANS, Plan
from bot.bench.processes import ROOT, child_env
from bot.bench.product import COLUMNS, ProductAudit, Row, bulk_load, copy_to_postgres, stored_rows
from bot.bench.store import QUERIES, generate
from bot.bench.world import TOKEN, BenchGuild
from bot.sandbox.postgres import ClusterUnavailable, ThrowawayCluster

LEASE_S = 5.0
_RAW_TABLE = ("CREATE TABLE raw_audit (id BIGINT PRIMARY KEY, timestamp TEXT, \"user\" TEXT, command TEXT, "
              "approved_by TEXT, result TEXT, duration_seconds DOUBLE PRECISION, channel TEXT, extra TEXT, "
              "prev_hash TEXT, hash TEXT, user_id TEXT, service TEXT, environment TEXT, action TEXT, request_id TEXT, "
              "interaction_id TEXT, body BYTEA, mac TEXT)")


async def _database(cluster: ThrowawayCluster, name: str) -> str:
    conn = await asyncpg.connect(cluster.url())
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return cluster.url(name)


async def product_appends(url: str, rows: list[Row], writers: int) -> float:
    """Rows/s through Opscord's audit log on PostgreSQL, ``writers`` callers each appending its share in order."""
    audit = await ProductAudit.open_postgres(url)
    try:
        async def writer(share: list[Row]) -> None:
            for row in share:
                await audit.append(row)

        started = time.perf_counter()
        await asyncio.gather(*(writer(rows[w::writers]) for w in range(writers)))
        return len(rows) / (time.perf_counter() - started)
    finally:
        await audit.close()


async def raw_inserts(url: str, rows: list[Row]) -> float:
    """Rows/s for asyncpg inserting the same rows (hashed beforehand) in one transaction."""
    records = list(stored_rows(rows))
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_RAW_TABLE)
        marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        started = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(f"INSERT INTO raw_audit VALUES ({marks})", records)  # noqa: S608
        return len(rows) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def recent_ms(url: str, rounds: int) -> dict[str, list[float]]:
    """/audit recent's query per filter, ms, on the copied log."""
    audit = await ProductAudit.open_postgres(url)
    out: dict[str, list[float]] = {name: [] for name in QUERIES}
    try:
        for filters in list(QUERIES.values()) * 2:  # warm the cache first
            await audit.recent(user=filters.get("user"), service=filters.get("service"))
        names = list(QUERIES)
        for round_no in range(rounds):
            for name in names[round_no % len(names):] + names[:round_no % len(names)]:
                started = time.perf_counter()
                await audit.recent(user=QUERIES[name].get("user"), service=QUERIES[name].get("service"))
                out[name].append((time.perf_counter() - started) * 1000)
    finally:
        await audit.close()
    return out


class _Replicas:
    """Opscord replicas on one emulator and one database."""

    def __init__(self, guild: BenchGuild, url: str, workdir: Path) -> None:
        self.guild, self.url, self.workdir = guild, url, workdir
        self.config = write_config(workdir / "opscord.toml", guild.guild_id, service_names(3))
        self.procs: list[asyncio.subprocess.Process] = []

    async def spawn(self) -> asyncio.subprocess.Process:
        env = child_env() | {"DISCORD_TOKEN": TOKEN, "DISCORD_API_BASE_URL": self.guild.emu.api_base_url,
                             "DISCORD_GATEWAY_URL": self.guild.emu.gateway_url, "OPSCORD_CONFIG": str(self.config),
                             "OPSCORD_DATABASE_URL": self.url, "OPSCORD_HTTP_LISTEN": "127.0.0.1:0",
                             "OPSCORD_LEASE_SECONDS": str(LEASE_S), "LOG_LEVEL": "WARNING"}
        with (self.workdir / f"replica-{len(self.procs)}.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                        stdin=asyncio.subprocess.DEVNULL, stdout=log,
                                                        stderr=asyncio.subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    async def identified(self, count: int, timeout: float = 60) -> float:  # noqa: ASYNC109
        emu = self.guild.emu
        await emu.wait_until(lambda: emu.identify_count >= count and emu.gateway.ready(), timeout=timeout)
        return time.monotonic()

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.kill()
                await proc.wait()


async def failovers(url: str, workdir: Path, kills: int, stops: int) -> dict[str, list[float]]:
    """Seconds from kill -9 (then SIGSTOP) of the leader until the standby is connected, per round."""
    guild = await BenchGuild.start()
    replicas = _Replicas(guild, url, workdir)
    out: dict[str, list[float]] = {"kill9_s": [], "sigstop_s": []}
    try:
        leader = await replicas.spawn()
        await replicas.identified(1)
        for how, rounds in (("kill9_s", kills), ("sigstop_s", stops)):
            for _ in range(rounds):
                identified = guild.emu.identify_count
                standby = await replicas.spawn()
                await asyncio.sleep(2.5)  # it has opened the store and polls the lease
                started = time.monotonic()
                if how == "kill9_s":
                    leader.kill()
                    await leader.wait()
                else:
                    leader.send_signal(signal.SIGSTOP)
                out[how].append(await replicas.identified(identified + 1) - started)
                if how == "sigstop_s":
                    leader.send_signal(signal.SIGCONT)  # it finds itself fenced and leaves (exit 3)
                    await asyncio.wait_for(leader.wait(), 30)
                leader = standby
    finally:
        await replicas.stop()
        await guild.stop()
    return out


async def run(plan: Plan, workdir: Path) -> dict[str, Any]:
    """Every PostgreSQL measurement of ``plan``, as a JSON-ready dict."""
    cluster = ThrowawayCluster(durable=True)
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        return {"skipped": str(exc)}
    try:
        out: dict[str, Any] = {"append": {"product_rows_s": [], "raw_rows_s": []}, "lease_s": LEASE_S}
        rows = list(generate(plan.append_rows))
        for round_no in range(plan.append_rounds):
            for side in ("product", "raw") if round_no % 2 == 0 else ("raw", "product"):
                url = await _database(cluster, f"append_{side}")
                rate = await (product_appends(url, rows, plan.append_writers) if side == "product"
                              else raw_inserts(url, rows))
                out["append"][f"{side}_rows_s"].append(rate)
        big = workdir / "big.db"
        await bulk_load(big, generate(plan.store_rows))
        url = await _database(cluster, "big")
        started = time.perf_counter()
        await copy_to_postgres(big, url)
        out["copy_s"] = time.perf_counter() - started
        out["rows"] = plan.store_rows
        out["recent_ms"] = await recent_ms(url, plan.query_rounds)
        out["failover"] = await failovers(await _database(cluster, "replicas"), workdir, plan.failover_rounds,
                                          plan.sigstop_rounds)
        return out
    finally:
        cluster.stop()


def main() -> None:
    """``python -m bot.bench.replicas PLAN WORKDIR``: print the measurements as one JSON object."""
    plan, workdir = PLANS[sys.argv[1]], Path(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(asyncio.run(run(plan, workdir))))


if __name__ == "__main__":
    main()
