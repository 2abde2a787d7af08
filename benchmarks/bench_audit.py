"""Audit append throughput: the group-committing writer vs. a commit per row (the baseline), same run.

Run: .venv/bin/python benchmarks/bench_audit.py [--rows N] [--concurrency C]
Prints rows/s for each and the ratio. Both use WAL + synchronous=FULL on a temp file and the same
hash-chain code; the baseline appends one row per transaction, awaited one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.store import AuditEntry, SQLiteStore


def entry(i: int) -> AuditEntry:
    """A typical audit row."""
    return AuditEntry(user=f"@user{i % 9}", command=f"/deploy order-service v1.0.{i} staging", result="success",
                      channel="#deployments", duration_seconds=1.5, extra={"service": "order-service", "n": i})


async def grouped(path: Path, rows: int, concurrency: int) -> float:
    """Concurrent callers; the single writer commits whatever is waiting in one transaction."""
    store = await SQLiteStore.open(path)
    started = time.perf_counter()
    for offset in range(0, rows, concurrency):
        await asyncio.gather(*(store.append(entry(offset + i)) for i in range(min(concurrency, rows - offset))))
    elapsed = time.perf_counter() - started
    assert (await store.verify()).ok
    await store.close()
    return rows / elapsed


async def one_by_one(path: Path, rows: int) -> float:
    """Baseline: each append waits for its own commit before the next starts."""
    store = await SQLiteStore.open(path)
    started = time.perf_counter()
    for i in range(rows):
        await store.append(entry(i))
    elapsed = time.perf_counter() - started
    assert (await store.verify()).ok
    await store.close()
    return rows / elapsed


async def main() -> None:
    """Measure both and print the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = await one_by_one(Path(tmp) / "a.db", args.rows)
        group = await grouped(Path(tmp) / "b.db", args.rows, args.concurrency)
    print(f"commit per row (baseline): {base:10.0f} rows/s")
    print(f"group commit ({args.concurrency} callers): {group:10.0f} rows/s")
    print(f"ratio: {group / base:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
