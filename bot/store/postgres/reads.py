"""How the store reads PostgreSQL: the same queries as bot.store.sqlite.reads, with `$n` parameters.

Each function takes a connection (a pool connection for reads, or the writer's inside its
transaction) and returns the store's values.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import asyncpg

from bot.store.chain import GENESIS_HASH
from bot.store.records import (
    INCIDENT_FIELDS,
    INDEXED_KEYS,
    OPERATION_FIELDS,
    Announcement,
    AuditRow,
    Decision,
    DeployRecord,
    Incident,
    IncidentEvent,
    Lock,
    Operation,
    StoreCounts,
    TargetFacts,
)

Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"
OP_COLUMNS = ", ".join(OPERATION_FIELDS)
_LOCK_SELECT = ("SELECT l.service, l.environment, l.operation_id, l.holder_name, l.since, l.holder, o.command "
                "FROM locks l LEFT JOIN operations o ON o.id = l.operation_id")
_DEPLOY_COLUMNS = ("id, operation_id, kind, service, environment, version, previous_version, status, requester, "
                   "started_at, finished_at")
AUDIT_COLUMNS = ('id, timestamp, "user", command, approved_by, result, duration_seconds, channel, extra, prev_hash, '
                 "hash")
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
    """A stored row (ValueError/TypeError when it is unreadable)."""
    duration = rec["duration_seconds"]
    extra = json.loads(rec["extra"])
    if not isinstance(extra, dict):
        raise ValueError("extra is not a JSON object")
    return AuditRow(
        id=int(rec["id"]), timestamp=str(rec["timestamp"]), user=str(rec["user"]), command=str(rec["command"]),
        approved_by=rec["approved_by"], result=str(rec["result"]),
        duration_seconds=float(duration) if duration is not None else None, channel=rec["channel"],
        extra=extra, prev_hash=str(rec["prev_hash"]), hash=str(rec["hash"]))


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
    return [audit_row(rec) for rec in await conn.fetch(sql, *params, limit)]


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


async def chain(conn: Conn, size: int = 5000
                ) -> AsyncIterator[tuple[AuditRow | None, int, str | None, tuple[str | None, ...]]]:
    """Every row in id order for the verifier: (row or None when unreadable, id, why, its indexed columns)."""
    after = 0
    columns = f"{AUDIT_COLUMNS}, {', '.join(INDEXED_KEYS)}"
    while recs := await conn.fetch(f"SELECT {columns} FROM audit_log WHERE id > $1 "  # noqa: S608
                                   "ORDER BY id LIMIT $2", after, size):
        for rec in recs:
            indexed = tuple(rec[key] for key in INDEXED_KEYS)
            try:
                yield audit_row(rec), int(rec["id"]), None, indexed
            except (ValueError, TypeError) as exc:
                yield None, int(rec["id"]), str(exc), indexed
        after = int(recs[-1]["id"])
