"""The audit log's hash chain: the canonical bytes a row's hash covers, and how a chain is checked.

Each row stores SHA-256 over its canonical content and the previous row's hash, so a row changed,
deleted or inserted out of band breaks the chain at that row. Every backend uses these functions,
so a log copied between backends verifies the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from bot.store.records import INDEXED_KEYS, AuditRow, VerifyResult

GENESIS_HASH = "0" * 64


def canonical(row: AuditRow) -> bytes:
    """The exact bytes a row's hash covers (sorted keys, no spaces, UTF-8); `row.hash` is not among them."""
    body = {
        "id": row.id, "timestamp": row.timestamp, "user": row.user, "command": row.command,
        "approved_by": row.approved_by, "result": row.result, "duration_seconds": row.duration_seconds,
        "channel": row.channel, "extra": dict(row.extra), "prev_hash": row.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def normalize_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so the stored and the hashed forms are identical.

    Raises UnicodeEncodeError for text that cannot be stored as UTF-8 (a lone surrogate), so an
    entry that cannot be written fails before it reaches the database.
    """
    text = json.dumps(dict(extra), ensure_ascii=False, default=str)
    text.encode()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def index_values(extra: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The indexed columns' values, as stored beside `extra`."""
    return tuple(None if extra.get(key) is None else str(extra[key]) for key in INDEXED_KEYS)


def hash_of(row: AuditRow) -> str:
    """The hash a row should carry."""
    return row_hash(canonical(row))


def walk(rows: Iterable[tuple[AuditRow | None, int, str | None]]) -> VerifyResult:
    """Check rows in id order; each item is (row or None when unreadable, id, why unreadable)."""
    expected_id, prev, count = 1, GENESIS_HASH, 0
    for row, row_id, unreadable in rows:
        if row is None:
            return VerifyResult(count, False, row_id, f"unreadable row ({unreadable})")
        count += 1
        if row.id != expected_id:
            return VerifyResult(count, False, row.id, f"row {expected_id} is missing (deleted?)")
        if row.prev_hash != prev:
            return VerifyResult(count, False, row.id, "does not link to the previous row's hash")
        if hash_of(row) != row.hash:
            return VerifyResult(count, False, row.id, "content does not match its hash (altered?)")
        prev, expected_id = row.hash, expected_id + 1
    return VerifyResult(count, True)
