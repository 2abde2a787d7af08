"""The audit log's hash chain: the canonical bytes a row's hash covers, and how a chain is checked.

Each row stores SHA-256 over its canonical content and the previous row's hash, so a row changed,
deleted or inserted out of band breaks the chain at that row. Every backend uses these functions,
so a log copied between backends verifies the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from bot.store.records import INDEXED_KEYS, AuditRow, VerifyResult

GENESIS_HASH = "0" * 64


class UnsignedRow(NamedTuple):
    """A row's hashed fields before its hash is known (cheaper to build than an AuditRow)."""

    id: int
    timestamp: str
    user: str
    command: str
    approved_by: str | None
    result: str
    duration_seconds: float | None
    channel: str | None
    prev_hash: str


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(row: AuditRow) -> bytes:
    """The exact bytes a row's hash covers (sorted keys, no spaces, UTF-8); `row.hash` is not among them."""
    return canonical_with(row, _dumps(dict(row.extra)))


def canonical_with(row: AuditRow | UnsignedRow, extra_json: str) -> bytes:
    """`canonical(row)`, given `extra` already encoded as `encode_extra` does (what the writer stores).

    The body's keys sort as approved_by, channel, command, duration_seconds, extra, id, prev_hash,
    result, timestamp, user, so the encoded `extra` is spliced between the two halves — the same
    bytes as encoding the whole body at once, without encoding `extra` a second time.
    """
    head = _dumps({"approved_by": row.approved_by, "channel": row.channel, "command": row.command,
                   "duration_seconds": row.duration_seconds})
    tail = _dumps({"id": row.id, "prev_hash": row.prev_hash, "result": row.result, "timestamp": row.timestamp,
                   "user": row.user})
    return f'{head[:-1]},"extra":{extra_json},{tail[1:]}'.encode()


def row_hash(data: bytes) -> str:
    """SHA-256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def encode_extra(extra: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`extra` as stored (canonical JSON: sorted keys) and as a reader parses it back.

    The stored text is a fixed point: parsing and encoding it again gives the same text, so the
    hash a verifier recomputes from the stored row is the hash written. Raises UnicodeEncodeError
    for text UTF-8 cannot hold (a lone surrogate), before anything reaches the database.
    """
    text = json.dumps(dict(extra), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    text.encode()
    loaded: dict[str, Any] = json.loads(text)
    return text, loaded


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
