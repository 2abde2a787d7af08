"""How the store reads PostgreSQL: the same queries as bot.store.sqlite.reads, with `$n` parameters.

Each function takes a connection (a pool connection for reads, or the writer's inside its
transaction) and returns the store's values.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import asyncpg

from bot.store.chain import (
    GENESIS_HASH,
    HEAD_FIELDS,
    PLACEHOLDERS,
    ChainRecord,
    column_finding,
    legacy_record,
    remembered_row,
    row_of_record,
)
from bot.store.records import (
    INCIDENT_FIELDS,
    INDEXED_KEYS,
    OPERATION_FIELDS,
    REVIEW_FIELDS,
    WATCH_FIELDS,
    Acknowledgement,
    Announcement,
    AuditRow,
    Decision,
    DeployRecord,
    HealthWatch,
    Incident,
    IncidentEvent,
    Lock,
    Operation,
    Review,
    StoreCounts,
    TargetFacts,
)

Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"
OP_COLUMNS = ", ".join(OPERATION_FIELDS)
_LOCK_SELECT = ("SELECT l.service, l.environment, l.operation_id, l.holder_name, l.since, l.holder, o.command "
                "FROM locks l LEFT JOIN operations o ON o.id = l.operation_id")
_DEPLOY_COLUMNS = ("id, operation_id, kind, service, environment, version, previous_version, status, requester, "
                   "started_at, finished_at, committed_at")
AUDIT_COLUMNS = ('id, timestamp, "user", command, approved_by, result, duration_seconds, channel, extra, prev_hash, '
                 f"hash, body, mac, {', '.join(INDEXED_KEYS)}")
_OPEN = "status NOT IN ('resolved', 'opening', 'failed')"


def operation_of_record(rec: asyncpg.Record) -> Operation:
    """An operations row as the value."""
    values: dict[str, Any] = {name: rec[name] for name in OPERATION_FIELDS}
    values["approver_roles"] = tuple(json.loads(values["approver_roles"]))
    values["confirm"] = bool(values["confirm"])
    return Operation(**values)


DECISION_COLUMNS = "approver_id, approver_name, decision, decided_at, roles"


def decision(rec: asyncpg.Record) -> Decision:
    """An approvals row as the value (its roles a JSON list, or NULL for older rows)."""
    roles = tuple(json.loads(rec[4])) if rec[4] is not None else None
    return Decision(rec[0], rec[1], rec[2], rec[3], roles)


async def operation(conn: Conn, op_id: str) -> Operation | None:
    """One operation."""
    rec = await conn.fetchrow(f"SELECT {OP_COLUMNS} FROM operations WHERE id = $1", op_id)  # noqa: S608
    return operation_of_record(rec) if rec else None


async def decisions_of(conn: Conn, op_id: str) -> list[Decision]:
    """Every decision on an operation, in order."""
    return [decision(rec) for rec in await conn.fetch(
        f"SELECT {DECISION_COLUMNS} FROM approvals WHERE operation_id = $1 "  # noqa: S608 - fixed column names
        "ORDER BY decided_at, seq", op_id)]


async def operation_and_decisions(conn: Conn, op_id: str) -> tuple[Operation | None, list[Decision]]:
    """Both."""
    op = await operation(conn, op_id)
    return op, await decisions_of(conn, op_id) if op else []


async def operations_in(conn: Conn, statuses: tuple[str, ...]) -> list[Operation]:
    """Operations in these statuses, oldest first."""
    return [operation_of_record(rec) for rec in await conn.fetch(
        f"SELECT {OP_COLUMNS} FROM operations WHERE status = ANY($1::text[]) ORDER BY created_at",  # noqa: S608
        list(statuses))]


async def unshown(conn: Conn, limit: int) -> list[tuple[Operation, list[Decision]]]:
    """Operations whose message lags behind, with their decisions."""
    ops = [operation_of_record(rec) for rec in await conn.fetch(
        f"SELECT {OP_COLUMNS} FROM operations WHERE shown_revision < revision "  # noqa: S608
        "ORDER BY created_at LIMIT $1", limit)]
    return [(op, await decisions_of(conn, op.id)) for op in ops]


async def lock_of(conn: Conn, service: str, environment: str) -> Lock | None:
    """Who holds (service, environment)."""
    rec = await conn.fetchrow(f"{_LOCK_SELECT} WHERE l.service = $1 AND l.environment = $2", service, environment)
    return Lock(*rec) if rec else None


async def locks(conn: Conn) -> list[Lock]:
    """Every held lock."""
    return [Lock(*rec) for rec in await conn.fetch(f"{_LOCK_SELECT} ORDER BY l.since")]


async def target(conn: Conn, service: str, environment: str) -> TargetFacts:
    """Lock, current version, the version before it, and the last scale, of one target."""
    where = "service = $1 AND environment = $2 AND status = 'succeeded'"
    current = await conn.fetchval(f"SELECT version FROM deploys WHERE {where} ORDER BY id DESC LIMIT 1",  # noqa: S608
                                  service, environment)
    previous = None
    if current is not None:
        previous = await conn.fetchval(f"SELECT version FROM deploys WHERE {where} AND version != $3 "  # noqa: S608
                                       "ORDER BY id DESC LIMIT 1", service, environment, current)
    scale = await conn.fetchval("SELECT replicas FROM operations WHERE action = 'scale' AND service = $1 "
                                "AND environment = $2 AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1",
                                service, environment)
    return TargetFacts(await lock_of(conn, service, environment), current, previous,
                       int(scale) if scale is not None else None)


async def deploy_history(conn: Conn, service: str, environment: str | None, limit: int) -> list[DeployRecord]:
    """Newest first."""
    if environment is None:
        recs = await conn.fetch(f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE service = $1 "  # noqa: S608
                                "ORDER BY id DESC LIMIT $2", service, limit)
    else:
        recs = await conn.fetch(f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE service = $1 "  # noqa: S608
                                "AND environment = $2 ORDER BY id DESC LIMIT $3", service, environment, limit)
    return [DeployRecord(*rec) for rec in recs]


async def deploys_in(conn: Conn, environments: tuple[str, ...]) -> list[DeployRecord]:
    """Oldest first."""
    if not environments:
        return []
    return [DeployRecord(*rec) for rec in await conn.fetch(
        f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE environment = ANY($1::text[]) ORDER BY id",  # noqa: S608
        list(environments))]


async def versions(conn: Conn, service: str, containing: str, limit: int) -> list[str]:
    """Distinct recent versions, newest first."""
    pattern = "%" + containing.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [str(rec[0]) for rec in await conn.fetch(
        "SELECT version FROM deploys WHERE service = $1 AND version LIKE $2 ESCAPE '\\' "
        "GROUP BY version ORDER BY MAX(id) DESC LIMIT $3", service, pattern, limit)]


async def incident(conn: Conn, incident_id: str) -> Incident | None:
    """One incident."""
    rec = await conn.fetchrow(f"SELECT {', '.join(INCIDENT_FIELDS)} FROM incidents WHERE id = $1",  # noqa: S608
                              incident_id)
    return Incident(*rec) if rec else None


async def incidents(conn: Conn, open_only: bool) -> list[Incident]:
    """Oldest first."""
    where = f"WHERE {_OPEN}" if open_only else ""
    return [Incident(*rec) for rec in await conn.fetch(
        f"SELECT {', '.join(INCIDENT_FIELDS)} FROM incidents {where} ORDER BY created_at")]  # noqa: S608


async def unposted(conn: Conn, limit: int) -> list[Announcement]:
    """Queued posts, oldest first."""
    return [Announcement(*rec) for rec in await conn.fetch(
        "SELECT id, target, text, created_at, ping_user, reply_to FROM announcements WHERE posted_at IS NULL "
        "ORDER BY id LIMIT $1", limit)]


async def incident_events(conn: Conn, incident_id: str) -> list[IncidentEvent]:
    """An incident's events, in the order they happened."""
    return [IncidentEvent(*rec) for rec in await conn.fetch(
        "SELECT id, incident_id, at, kind, actor_id, actor_name, status, text FROM incident_events "
        "WHERE incident_id = $1 ORDER BY id", incident_id)]


async def deploys_between(conn: Conn, start: str, end: str, service: str | None) -> list[DeployRecord]:
    """Deploys and rollbacks that started in [start, end], of one service or all, oldest first."""
    if service is None:
        recs = await conn.fetch(f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE started_at >= $1 "  # noqa: S608
                                "AND started_at <= $2 ORDER BY started_at, id", start, end)
    else:
        recs = await conn.fetch(f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE started_at >= $1 "  # noqa: S608
                                "AND started_at <= $2 AND service = $3 ORDER BY started_at, id", start, end, service)
    return [DeployRecord(*rec) for rec in recs]


async def operation_by_message(conn: Conn, message_id: str) -> Operation | None:
    """The operation shown by this message."""
    rec = await conn.fetchrow(f"SELECT {OP_COLUMNS} FROM operations WHERE message_id = $1",  # noqa: S608
                              message_id)
    return operation_of_record(rec) if rec else None


async def fact(conn: Conn, key: str) -> str | None:
    """A remembered fact."""
    value = await conn.fetchval("SELECT value FROM kv WHERE key = $1", key)
    return None if value is None else str(value)


async def counts(conn: Conn) -> StoreCounts:
    """Gauges."""
    head = await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM audit_log")
    statuses = {str(s): int(n) for s, n in await conn.fetch("SELECT status, count(*) FROM operations GROUP BY status")}
    held = await conn.fetchval("SELECT count(*) FROM locks")
    open_now = await conn.fetchval(f"SELECT count(*) FROM incidents WHERE {_OPEN}")  # noqa: S608
    return StoreCounts(int(head), statuses, int(held), int(open_now))


def audit_row(rec: asyncpg.Record) -> AuditRow:
    """A stored row (ValueError/TypeError when it is unreadable, or its columns disagree with its body)."""
    return row_of_record(rec)


async def audit_recent(conn: Conn, limit: int, user_id: str | None, user: str | None,
                       service: str | None) -> list[AuditRow]:
    """Newest first; each filter walks one index backwards (a member: by id, and older rows by `@name`)."""
    by_service = ("service = {}", [service]) if service is not None else None
    if user_id is not None:
        rows = await _recent(conn, limit, [("user_id = {}", [user_id]), by_service])
        if user is not None:
            rows += await _recent(conn, limit, [('user_id IS NULL AND "user" = {}', [user]), by_service])
            rows = sorted(rows, key=lambda r: r.id, reverse=True)[:limit]
        return rows
    return await _recent(conn, limit, [('"user" = {}', [user]) if user is not None else None, by_service])


async def _recent(conn: Conn, limit: int, clauses: list[tuple[str, list[Any]] | None]) -> list[AuditRow]:
    used = [c for c in clauses if c is not None]
    params = [value for _, values in used for value in values]
    where = " AND ".join(sql.format(f"${i}") for i, (sql, _) in enumerate(used, start=1))
    sql = (f"SELECT {AUDIT_COLUMNS} FROM audit_log {'WHERE ' + where if where else ''} "  # noqa: S608 - fixed clauses
           f"ORDER BY id DESC LIMIT ${len(params) + 1}")
    return [remembered_row(rec) for rec in await conn.fetch(sql, *params, limit)]


async def audit_head(conn: Conn) -> tuple[int, str]:
    """(id, hash) of the newest row."""
    rec = await conn.fetchrow("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    return (int(rec[0]), str(rec[1])) if rec else (0, GENESIS_HASH)


async def audit_hashes(conn: Conn, row_ids: tuple[int, ...]) -> dict[int, str]:
    """Stored hashes of these rows."""
    recs = await conn.fetch("SELECT id, hash FROM audit_log WHERE id = ANY($1::bigint[])", list(row_ids))
    return {int(r[0]): str(r[1]) for r in recs}


async def audit_chunk(conn: Conn, after_id: int, since: str | None, size: int) -> list[AuditRow]:
    """The next rows after `after_id` in chain order."""
    if since is None:
        recs = await conn.fetch(f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 "  # noqa: S608
                                "ORDER BY id LIMIT $2", after_id, size)
    else:
        recs = await conn.fetch(f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 AND timestamp >= $2 "  # noqa: S608
                                "ORDER BY id LIMIT $3", after_id, since, size)
    return [audit_row(rec) for rec in recs]


async def audit_seal(conn: Conn, row_id: int) -> tuple[str, str | None] | None:
    """(hash, MAC or None) of one row."""
    rec = await conn.fetchrow("SELECT hash, mac FROM audit_log WHERE id = $1", row_id)
    return (str(rec[0]), rec[1]) if rec else None


async def first_body(conn: Conn, after: int) -> int | None:
    """The first row after `after` stored with its canonical bytes."""
    found = await conn.fetchval("SELECT id FROM audit_log WHERE id > $1 AND body IS NOT NULL ORDER BY id LIMIT 1",
                                after)
    return int(found) if found is not None else None


async def legacy_records(conn: Conn, after: int, before: int | None, size: int = 5000
                         ) -> AsyncIterator[list[ChainRecord]]:
    """Rows stored as columns (written before bodies existed) after `after` and before `before`, parsed, in chunks."""
    while recs := await conn.fetch(f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 "  # noqa: S608
                                   "AND ($2::bigint IS NULL OR id < $2) ORDER BY id LIMIT $3", after, before, size):
        yield [legacy_record(rec) for rec in recs]
        after = int(recs[-1]["id"])


_REVIEW_SELECT = f"SELECT {', '.join(REVIEW_FIELDS)} FROM break_glass_reviews"  # noqa: S608 - fixed names


async def _review(conn: Conn, rec: asyncpg.Record) -> Review:
    values: dict[str, Any] = {name: rec[name] for name in REVIEW_FIELDS}
    values["reviewer_roles"] = tuple(json.loads(values["reviewer_roles"]))
    acks = tuple(Acknowledgement(*a) for a in await conn.fetch(
        "SELECT reviewer_id, reviewer_name, acked_at FROM break_glass_acks WHERE op_id = $1 "
        "ORDER BY acked_at, reviewer_id", values["op_id"]))
    return Review(**values, acks=acks)


async def review(conn: Conn, op_id: str) -> Review | None:
    """One review, with its acknowledgements."""
    rec = await conn.fetchrow(f"{_REVIEW_SELECT} WHERE op_id = $1", op_id)
    return await _review(conn, rec) if rec else None


async def reviews(conn: Conn, open_only: bool) -> list[Review]:
    """Open reviews (or all), oldest first."""
    where = " WHERE closed_at IS NULL" if open_only else ""
    return [await _review(conn, rec) for rec in await conn.fetch(f"{_REVIEW_SELECT}{where} ORDER BY opened_at")]


async def unshown_reviews(conn: Conn) -> list[Review]:
    """Reviews whose message (or overdue reminder) Discord does not show yet."""
    return [await _review(conn, rec) for rec in await conn.fetch(
        f"{_REVIEW_SELECT} WHERE message_id IS NULL OR shown_revision < revision "
        "OR (reminded_at IS NOT NULL AND reminder_id IS NULL) ORDER BY opened_at LIMIT 50")]


async def watches(conn: Conn, statuses: tuple[str, ...]) -> list[HealthWatch]:
    """Health watches in these statuses, oldest first."""
    return [HealthWatch(*rec) for rec in await conn.fetch(
        f"SELECT {', '.join(WATCH_FIELDS)} FROM health_watches WHERE status = ANY($1::text[]) "  # noqa: S608
        "ORDER BY started_at", list(statuses))]


async def body_records(conn: Conn, start: int, size: int = 20000) -> AsyncIterator[list[Any]]:
    """(id, prev_hash, hash, mac, body) of every row from `start` on, in chunks, for the walk's fast path."""
    after = start - 1
    while recs := await conn.fetch("SELECT id, prev_hash, hash, mac, body FROM audit_log WHERE id > $1 "
                                   "ORDER BY id LIMIT $2", after, size, record_class=_Plain):
        yield recs
        after = int(recs[-1][0])


class _Plain(asyncpg.Record):
    """Records unpacked as tuples by the walk."""


_HEAD = "convert_from(substring(body FROM 1 FOR position('\\x0a'::bytea IN body) - 1), 'UTF8')::jsonb"
_COLUMNS_DISAGREE = (  # a body's first line (one small parse) against its columns
    f"SELECT id FROM audit_log WHERE id > $1 AND id <= $2 AND body IS NOT NULL "  # noqa: S608 - fixed names
    f"AND ({_HEAD} IS DISTINCT FROM jsonb_build_array({', '.join(f'{chr(34)}{f}{chr(34)}' for f in HEAD_FIELDS)}) "
    f"OR extra IS DISTINCT FROM '{PLACEHOLDERS['extra']}' "
    "OR approved_by IS NOT NULL OR duration_seconds IS NOT NULL OR channel IS NOT NULL) ORDER BY id LIMIT 1")
COLUMN_CHUNK = 50_000


async def columns_check(conn: Conn, after: int) -> tuple[int, str] | None:
    """The first row with a body after `after` whose columns disagree with it: (id, which and how).

    The server finds candidates a chunk of ids at a time (beside the walk, in its own process); each is
    confirmed and named by the reader's own parse. A chunk the server cannot read (a body that is
    not a row) is checked row by row here. (Legacy rows' columns are checked by the walk.)
    """
    last = int(await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM audit_log"))
    while after < last:
        upto = min(last, after + COLUMN_CHUNK)
        try:
            found = await conn.fetchval(_COLUMNS_DISAGREE, after, upto)
            candidates = [int(found)] if found is not None else []
        except asyncpg.DataError:
            candidates = [int(r[0]) for r in await conn.fetch(
                "SELECT id FROM audit_log WHERE id > $1 AND id <= $2 AND body IS NOT NULL ORDER BY id", after, upto)]
        for row_id in candidates:
            rec = await conn.fetchrow(f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id = $1", row_id)  # noqa: S608
            problem = column_finding(rec) if rec is not None else None
            if problem is not None:
                return row_id, problem
        after = candidates[-1] if candidates and candidates[-1] < upto else upto
    return None
