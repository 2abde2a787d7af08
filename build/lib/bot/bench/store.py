"""The store half, run in a process of its own: audit appends, verify, /audit recent, bytes per row.

- Appends: ``append_writers`` concurrent writers append ``append_rows`` rows through Opscord's
  audit log (each released once its row is durable), against plain sqlite3 inserting the same
  rows (hashed beforehand) in one transaction; both WAL with ``synchronous=FULL`` on a fresh file.
- A ``store_rows`` database built with Opscord's schema and hashing, then Opscord's own
  ``verify`` against the floor (plain sqlite3 reading and hashing every row), and the query behind
  ``/audit recent`` filtered by a common and a rare user and service against the same query
  unfiltered. Bytes per row: the file against the bytes of the values stored.

Usage: ``python -m bot.bench.store PLAN WORKDIR`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bench.plan import PLANS, Plan
from bot.bench.product import RAW_INSERT, RAW_SCHEMA, ProductAudit, Row, bulk_load, scan_floor, stored_rows

USERS = 50
SERVICES = 300
RARE_USER = "@rare-user"
RARE_SERVICE = "svc-rare"
QUERIES: dict[str, dict[str, str]] = {
    "latest": {},
    "user_common": {"user": "@user7"},
    "user_rare": {"user": RARE_USER},
    "service_common": {"service": "svc-0007"},
    "service_rare": {"service": RARE_SERVICE},
}
"""The rare user and service have one row, the oldest: finding it walks the whole table unless indexed."""


def generate(count: int, start: int = 0) -> Iterator[Row]:
    """Rows shaped like Opscord's: deploys, ``/status`` and ``/audit recent``, 50 users, 300 services."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(start, start + count):
        user = RARE_USER if i == 0 else f"@user{(i // 3) % USERS}"
        service = RARE_SERVICE if i == 0 else f"svc-{(i // 10) % SERVICES:04d}"
        stamp = (base + timedelta(seconds=3 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ids = {"user_id": str(1_400_000_000_000_000_000 + (i // 3) % USERS),
               "interaction_id": str(1_500_000_000_000_000_000 + i),
               "guild_id": "1400000000000000001"}
        # each kind of row comes with every user and service (the kind cycles faster than both)
        kind = i % 10
        if kind < 3:
            version = f"v1.{i // 1000}.{i % 1000}"
            extra: dict[str, Any] = {"request_id": f"op-{i:010x}", "service": service, "environment": "staging",
                                     "action": "deploy", "requester": user, "version": version}
            yield Row(stamp, user, f"/deploy {service} {version} staging", "success", None, 4.2, "#deployments", extra)
        elif kind < 7:
            yield Row(stamp, user, f"/status {service}", "success", None, 0.012, "#deployments",
                      ids | {"service": service})
        else:
            yield Row(stamp, user, "/audit recent", "success", None, 0.004, "#deployments", ids | {"rows": 10})


def payload_bytes(sample: int = 2000) -> float:
    """The bytes of the values one row stores (text as UTF-8, numbers as 8), averaged over a sample."""
    total = 0
    for record in stored_rows(generate(sample)):
        total += sum(8 if isinstance(v, int | float) else len(str(v).encode()) for v in record if v is not None)
    return total / sample


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def product_appends(path: Path, rows: list[Row], writers: int) -> float:
    """Rows/s through Opscord's audit log, ``writers`` callers each appending its share in order."""
    audit = await ProductAudit.open(_fresh(path))
    try:
        async def writer(share: list[Row]) -> None:
            for row in share:
                await audit.append(row)

        started = time.perf_counter()
        await asyncio.gather(*(writer(rows[w::writers]) for w in range(writers)))
        elapsed = time.perf_counter() - started
    finally:
        await audit.close()
    return len(rows) / elapsed


def raw_inserts(path: Path, rows: list[Row]) -> float:
    """Rows/s for plain sqlite3 inserting the same rows (hashed beforehand) in one durable transaction."""
    records = list(stored_rows(rows))
    conn = sqlite3.connect(_fresh(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(RAW_SCHEMA)
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(RAW_INSERT, records)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return len(rows) / elapsed


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def run(plan: Plan, workdir: Path) -> dict[str, Any]:
    """Every store measurement of ``plan``, as a JSON-ready dict."""
    out: dict[str, Any] = {"append": {"product_rows_s": [], "raw_rows_s": []}}
    rows = list(generate(plan.append_rows))
    for round_no in range(plan.append_rounds):
        product_first = round_no % 2 == 0
        for side in (("product", "raw") if product_first else ("raw", "product")):
            if side == "product":
                rate = await product_appends(workdir / "append-product.db", rows, plan.append_writers)
            else:
                rate = await asyncio.to_thread(raw_inserts, workdir / "append-raw.db", rows)
            out["append"][f"{side}_rows_s"].append(rate)

    big = _fresh(workdir / "audit-big.db")
    started = time.perf_counter()
    await bulk_load(big, generate(plan.store_rows))
    out["build_s"] = time.perf_counter() - started
    out["rows"] = plan.store_rows
    out["bytes_per_row"] = big.stat().st_size / plan.store_rows
    out["payload_bytes_per_row"] = payload_bytes()

    await asyncio.to_thread(scan_floor, big)  # warm the page cache before anything is timed
    audit = await ProductAudit.open(big)
    try:
        verify: list[float] = []
        floor: list[float] = []
        for round_no in range(plan.verify_rounds):
            pair = [("verify", audit.verify), ("floor", lambda: asyncio.to_thread(scan_floor, big))]
            for name, call in pair if round_no % 2 == 0 else reversed(pair):
                (verify if name == "verify" else floor).append(await _timed(call))
        out["verify_s"], out["verify_floor_s"] = verify, floor
        queries: dict[str, list[float]] = {name: [] for name in QUERIES}
        names = list(QUERIES)
        for round_no in range(plan.query_rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for name in order:
                filters = QUERIES[name]
                queries[name].append(await _timed(lambda f=filters: audit.recent(**f)) * 1000)  # type: ignore[misc]
        out["recent_ms"] = queries
    finally:
        await audit.close()
    return out


def main() -> None:
    """``python -m bot.bench.store PLAN WORKDIR``: print the measurements as one JSON object."""
    plan, workdir = PLANS[sys.argv[1]], Path(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(asyncio.run(run(plan, workdir))))


if __name__ == "__main__":
    main()
