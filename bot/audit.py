"""The append-only, hash-chained audit log and its single group-committing writer.

Each row stores the SHA-256 over its canonical content and the previous row's hash. All appends
go through one writer task: whatever appends are waiting are written in one transaction, and each
caller is released only once its row is committed, so concurrent commands never fork the chain.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.db import Database

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
SEED_KEYS = ("timestamp", "user", "command", "approved_by", "result", "duration_seconds", "channel")
_MAX_BATCH = 500


def utc_timestamp(moment: datetime | None = None) -> str:
    """An ISO-8601 UTC timestamp with a `Z`, to the second, as in the seed's export."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AuditEntry:
    """What a caller records; the writer adds id, timestamp (if absent) and hashes."""

    user: str
    command: str
    result: str
    approved_by: str | None = None
    duration_seconds: float | None = None
    channel: str | None = None
    timestamp: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRow:
    """A stored row."""

    id: int
    timestamp: str
    user: str
    command: str
    approved_by: str | None
    result: str
    duration_seconds: float | None
    channel: str | None
    extra: dict[str, Any]
    prev_hash: str
    hash: str

    def export(self) -> dict[str, Any]:
        """The export object: the seed's seven keys first, then the rest."""
        duration = self.duration_seconds
        if duration is not None and float(duration).is_integer():
            duration = int(duration)
        out: dict[str, Any] = {
            "timestamp": self.timestamp,
            "user": self.user,
            "command": self.command,
            "approved_by": self.approved_by,
            "result": self.result,
            "duration_seconds": duration,
            "channel": self.channel,
            "id": self.id,
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        out["prev_hash"] = self.prev_hash
        out["hash"] = self.hash
        return out


def canonical(row_id: int, timestamp: str, entry: AuditRow, extra: Mapping[str, Any],
              prev_hash: str) -> bytes:
    """The exact bytes a row's hash covers."""
    body = {
        "id": row_id,
        "timestamp": timestamp,
        "user": entry.user,
        "command": entry.command,
        "approved_by": entry.approved_by,
        "result": entry.result,
        "duration_seconds": entry.duration_seconds,
        "channel": entry.channel,
        "extra": dict(extra),
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain verification."""

    rows: int
    ok: bool
    bad_row: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"{self.rows} rows, chain intact"
        return f"chain broken at row {self.bad_row}: {self.reason}"


def _normalize_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so the stored and hashed forms are identical."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(extra), ensure_ascii=False, default=str))
    return loaded


class AuditLog:
    """Appends and reads audit rows. Call `start()` before appending and `close()` at the end."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[tuple[AuditEntry, asyncio.Future[AuditRow]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.appended: collections.Counter[str] = collections.Counter()
        """Rows committed by this process, by result (for /metrics)."""

    def start(self) -> None:
        """Start the writer task."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="audit-writer")

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    async def append(self, entry: AuditEntry) -> AuditRow:
        """Queue `entry` and return once its row is committed."""
        if self._writer is None:
            self.start()
        future: asyncio.Future[AuditRow] = asyncio.get_running_loop().create_future()
        await self._queue.put((entry, future))
        return await asyncio.shield(future)

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                rows = await self._write_batch([entry for entry, _ in batch])
            except Exception as exc:
                log.exception("audit write of %d rows failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                    self._queue.task_done()
                continue
            for (_, future), row in zip(batch, rows, strict=True):
                self.appended[row.result] += 1
                if not future.done():
                    future.set_result(row)
            for _ in batch:
                self._queue.task_done()

    async def _write_batch(self, entries: list[AuditEntry]) -> list[AuditRow]:
        rows = []
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1") as cur:
                last = await cur.fetchone()
            last_id, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
            for entry in entries:
                last_id += 1
                timestamp = entry.timestamp or utc_timestamp()
                duration = None if entry.duration_seconds is None else round(float(entry.duration_seconds), 3)
                row = AuditRow(last_id, timestamp, entry.user, entry.command, entry.approved_by, entry.result,
                               duration, entry.channel, _normalize_extra(entry.extra), prev, "")
                digest = row_hash(canonical(row.id, row.timestamp, row, row.extra, row.prev_hash))
                row = dataclasses.replace(row, hash=digest)
                rows.append(row)
                prev = digest
            await conn.executemany(
                "INSERT INTO audit_log (id, timestamp, user, command, approved_by, result, duration_seconds,"
                " channel, extra, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (r.id, r.timestamp, r.user, r.command, r.approved_by, r.result, r.duration_seconds,
                     r.channel, json.dumps(r.extra, ensure_ascii=False), r.prev_hash, r.hash)
                    for r in rows
                ],
            )
        return rows

    async def iter_rows(self, since: str | None = None) -> AsyncIterator[AuditRow]:
        """Every row in chain order, optionally from timestamp `since` on."""
        sql = "SELECT * FROM audit_log"
        params: tuple[str, ...] = ()
        if since:
            sql += " WHERE timestamp >= ?"
            params = (since,)
        async with self._db.conn.execute(sql + " ORDER BY id", params) as cur:
            async for rec in cur:
                yield _row_from_record(rec)

    async def recent(self, limit: int = 10, user: str | None = None, service: str | None = None) -> list[AuditRow]:
        """The latest rows, newest first, filtered by user (`@name`) and/or service."""
        clauses, params = [], []
        if user:
            clauses.append("user = ?")
            params.append(user)
        if service:
            clauses.append("json_extract(extra, '$.service') = ?")
            params.append(service)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ?"  # noqa: S608 - clauses are fixed strings
        async with self._db.conn.execute(sql, (*params, limit)) as cur:
            return [_row_from_record(rec) async for rec in cur]

    async def head(self) -> tuple[int, str]:
        """(id, hash) of the last row; (0, the genesis hash) when the log is empty."""
        async with self._db.conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1") as cur:
            rec = await cur.fetchone()
        return (int(rec[0]), str(rec[1])) if rec else (0, GENESIS_HASH)

    async def check_checkpoints(self, checkpoints: dict[int, str]) -> VerifyResult | None:
        """Compare row hashes with checkpoints kept outside the DB; catches a chain rewritten end to end."""
        for row_id, expected in sorted(checkpoints.items()):
            async with self._db.conn.execute("SELECT hash FROM audit_log WHERE id = ?", (row_id,)) as cur:
                rec = await cur.fetchone()
            if rec is None:
                return VerifyResult(0, False, row_id, "is missing, but a checkpoint names it (truncated?)")
            if str(rec[0]) != expected.lower():
                return VerifyResult(0, False, row_id, "hash differs from its checkpoint (the chain was rewritten)")
        return None

    async def verify(self) -> VerifyResult:
        """Walk the chain; name the first row that was altered, deleted or inserted out of band."""
        expected_id, prev, count = 1, GENESIS_HASH, 0
        async with self._db.conn.execute("SELECT * FROM audit_log ORDER BY id") as cur:
            async for rec in cur:
                try:
                    row = _row_from_record(rec)
                except (ValueError, TypeError) as exc:
                    return VerifyResult(count, False, int(rec["id"]), f"unreadable row ({exc})")
                count += 1
                if row.id != expected_id:
                    return VerifyResult(count, False, row.id, f"row {expected_id} is missing (deleted?)")
                if row.prev_hash != prev:
                    return VerifyResult(count, False, row.id, "does not link to the previous row's hash")
                if row_hash(canonical(row.id, row.timestamp, row, row.extra, row.prev_hash)) != row.hash:
                    return VerifyResult(count, False, row.id, "content does not match its hash (altered?)")
                prev, expected_id = row.hash, expected_id + 1
        return VerifyResult(count, True)


def _row_from_record(rec: Any) -> AuditRow:
    duration = rec["duration_seconds"]
    extra = json.loads(rec["extra"])
    if not isinstance(extra, dict):
        raise ValueError("extra is not a JSON object")
    return AuditRow(
        id=int(rec["id"]), timestamp=str(rec["timestamp"]), user=str(rec["user"]), command=str(rec["command"]),
        approved_by=rec["approved_by"], result=str(rec["result"]),
        duration_seconds=float(duration) if duration is not None else None, channel=rec["channel"],
        extra=extra, prev_hash=str(rec["prev_hash"]), hash=str(rec["hash"]),
    )
