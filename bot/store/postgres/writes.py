"""How each step of a `Change` is written to PostgreSQL (on the writer's connection, inside its transaction).

The same steps and conflicts as bot.store.sqlite.writes. PostgreSQL aborts a whole transaction on
a failed statement, so a change runs in a savepoint (asyncpg's nested transaction) unless it is a
lone audit row: those are checked in Python first (`sign`) and inserted together by `executemany`,
one round trip for a run of them — the common case of a burst.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from bot.store import changes as c
from bot.store.chain import PLACEHOLDERS, ChainKey, seal
from bot.store.postgres.reads import DECISION_COLUMNS, OP_COLUMNS, decision, lock_of, operation
from bot.store.postgres.reads import operation_of_record as operation_from
from bot.store.records import OPERATION_FIELDS, REVIEW_FIELDS, WATCH_FIELDS, AuditEntry, AuditRow, Operation
from bot.times import now_iso

Conn: TypeAlias = "asyncpg.Connection[Any]"
AUDIT_INSERT = ('INSERT INTO audit_log (id, timestamp, "user", command, approved_by, result, duration_seconds, '
                "channel, extra, prev_hash, hash, user_id, service, environment, action, request_id, interaction_id, "
                "body, mac) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)")


@dataclass
class Head:
    """The chain's newest row, advanced by every append of the batch."""

    row_id: int
    hash: str


class Conflicted(Exception):
    """Raised inside a change to roll it back to its savepoint and report the conflict."""

    def __init__(self, conflict: c.Conflict) -> None:
        super().__init__(conflict.reason)
        self.conflict = conflict


def _text_ok(*values: str | None) -> None:
    """Raise before any statement for text PostgreSQL cannot hold (lone surrogates, NUL)."""
    for text in values:
        if text is not None:
            text.encode()
            if "\x00" in text:  # a UnicodeError, as for a lone surrogate: the member is told the text cannot be kept
                raise UnicodeError("text with a NUL character cannot be stored")


def sign(entry: AuditEntry, head: Head, key: ChainKey | None = None) -> tuple[AuditRow, tuple[Any, ...]]:
    """The row an entry becomes after `head`, and its INSERT parameters; advances `head` (raises if unstorable)."""
    sealed = seal(entry, head.row_id + 1, head.hash, key)
    row = sealed.row
    _text_ok(entry.user, entry.command, entry.approved_by, entry.channel, row.timestamp, entry.result,
             *sealed.indexed)
    head.row_id, head.hash = row.id, row.hash
    return row, (row.id, row.timestamp, row.user, row.command, None, row.result, None, None,
                 PLACEHOLDERS["extra"], row.prev_hash, row.hash, *sealed.indexed, sealed.body, row.mac)


def lone_append(change: c.Change) -> c.Append | None:
    """The change's step when it is a single audit row (the fast path), else None."""
    if len(change.steps) == 1 and isinstance(change.steps[0], c.Append):
        return change.steps[0]
    return None


async def apply_change(conn: Conn, change: c.Change, head: Head, epoch: int | None,
                       key: ChainKey | None = None) -> c.Applied:
    """Apply every step in a savepoint; a conflict or an error rolls back just this change (and the head)."""
    start = Head(head.row_id, head.hash)
    rows: list[AuditRow] = []
    incident_id: str | None = None
    op: Operation | None = None
    try:
        async with conn.transaction():
            for step in change.steps:
                if isinstance(step, c.Append):
                    row, params = sign(step.entry, head, key)
                    await conn.execute(AUDIT_INSERT, *params)
                    rows.append(row)
                elif isinstance(step, c.ReserveIncident):
                    incident_id = await _reserve_incident(conn, step)
                else:
                    op = await _apply_step(conn, step, epoch) or op
    except Conflicted as exc:
        head.row_id, head.hash = start.row_id, start.hash
        return c.Applied(conflict=exc.conflict)
    except BaseException:
        head.row_id, head.hash = start.row_id, start.hash
        raise
    return c.Applied(rows=tuple(rows), incident_id=incident_id, operation=op)


async def _apply_step(conn: Conn, step: c.Step, epoch: int | None) -> Operation | None:
    """One step other than an audit append or an incident reservation; returns a changed operation."""
    if isinstance(step, c.CreateOperation):
        return await _create_operation(conn, step.op)
    if isinstance(step, c.MoveOperation):
        return await _move_operation(conn, step)
    if isinstance(step, c.UpdateOperation):
        return await _update_operation(conn, step)
    if isinstance(step, c.TakeLock):
        await _take_lock(conn, step)
    elif isinstance(step, c.FreeLock):
        await conn.execute("DELETE FROM locks WHERE operation_id = $1", step.op_id)
    elif isinstance(step, c.HandOverLock):
        await conn.execute("UPDATE locks SET holder = $1 WHERE operation_id = $2", step.holder, step.op_id)
    elif isinstance(step, c.RecordDecision):
        await _record_decision(conn, step)
    elif isinstance(step, c.StartDeploy):
        op = step.op
        await conn.execute("INSERT INTO deploys (operation_id, kind, service, environment, version, previous_version, "
                           "status, requester, started_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8)",
                           op.id, op.action, op.service, op.environment, op.version, op.previous_version,
                           op.requester_name, now_iso())
    elif isinstance(step, c.FinishDeploy):
        await conn.execute("UPDATE deploys SET status = $1, finished_at = $2, committed_at = COALESCE($3, "
                           "committed_at) WHERE operation_id = $4 AND status = 'running'", step.status, now_iso(),
                           step.committed_at, step.op_id)
    elif isinstance(step, (c.OpenReview, c.AcknowledgeReview, c.CloseReview, c.UpdateReview, c.StartWatch,
                           c.EndWatch)):
        await _apply_safety_step(conn, step)
    elif isinstance(step, c.UpdateIncident):
        await _update_incident(conn, step)
    elif isinstance(step, c.RecordIncidentEvent):
        if step.kind not in c.INCIDENT_EVENT_KINDS:
            raise ValueError(f"unknown incident event {step.kind!r}")
        _text_ok(step.text, step.actor_name, step.status)
        await conn.execute("INSERT INTO incident_events (incident_id, at, kind, actor_id, actor_name, status, text) "
                           "VALUES ($1, $2, $3, $4, $5, $6, $7)", step.incident_id, now_iso(), step.kind,
                           step.actor_id, step.actor_name, step.status, step.text)
    elif isinstance(step, c.Announce):
        _text_ok(step.text, step.target)
        await conn.execute("INSERT INTO announcements (target, text, created_at, ping_user, reply_to) "
                           "VALUES ($1, $2, $3, $4, $5)", step.target, step.text, now_iso(), step.ping_user,
                           step.reply_to)
    elif isinstance(step, c.MarkAnnounced):
        await conn.execute("UPDATE announcements SET posted_at = $1 WHERE id = $2", now_iso(), step.announcement_id)
    elif isinstance(step, c.PutFact):
        await conn.execute("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
                           "SET value = excluded.value", step.key, step.value)
    elif isinstance(step, c.ClaimInteraction):
        await _claim(conn, step, "INSERT INTO interactions (interaction_id, operation_id, epoch, claimed_at) "
                     "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                     step.interaction_id, step.operation_id, epoch, now_iso())
    elif isinstance(step, c.StartExecution):
        await _claim(conn, step, "INSERT INTO executions (operation_id, attempt, holder, epoch, started_at) "
                     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
                     step.op_id, step.attempt, step.holder, epoch, now_iso())
    else:  # pragma: no cover - every step type is handled above
        raise TypeError(f"unknown step {step!r}")
    return None


def _marks(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))


async def _apply_safety_step(conn: Conn, step: c.Step) -> None:
    """Break-glass reviews and health watches (as bot.store.sqlite.writes)."""
    if isinstance(step, c.OpenReview):
        values: dict[str, Any] = {name: getattr(step.review, name) for name in REVIEW_FIELDS}
        values["reviewer_roles"] = json.dumps(list(step.review.reviewer_roles))
        _text_ok(*(v for v in values.values() if isinstance(v, str)))
        await conn.execute(f"INSERT INTO break_glass_reviews ({', '.join(REVIEW_FIELDS)}) "  # noqa: S608
                           f"VALUES ({_marks(len(REVIEW_FIELDS))})", *(values[n] for n in REVIEW_FIELDS))
    elif isinstance(step, c.AcknowledgeReview):
        _text_ok(step.reviewer_name)
        if await conn.fetchval("SELECT 1 FROM break_glass_reviews WHERE op_id = $1 AND closed_at IS NULL",
                               step.op_id) is None:
            raise Conflicted(c.Conflict(step, "status", status="closed"))
        if await conn.fetchval("INSERT INTO break_glass_acks (op_id, reviewer_id, reviewer_name, acked_at) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1", step.op_id,
                               step.reviewer_id, step.reviewer_name, now_iso()) is None:
            raise Conflicted(c.Conflict(step, "decided"))
        await conn.execute("UPDATE break_glass_reviews SET revision = revision + 1 WHERE op_id = $1", step.op_id)
    elif isinstance(step, c.CloseReview):
        if await conn.fetchval("UPDATE break_glass_reviews SET closed_at = $1, revision = revision + 1 "
                               "WHERE op_id = $2 AND closed_at IS NULL RETURNING 1", now_iso(), step.op_id) is None:
            raise Conflicted(c.Conflict(step, "status", status="closed"))
    elif isinstance(step, c.UpdateReview):
        unknown = set(step.fields) - c.MUTABLE_REVIEW_FIELDS
        if unknown:
            raise ValueError(f"a review's {', '.join(sorted(unknown))} cannot change")
        params: list[Any] = list(step.fields.values())
        _text_ok(*(v for v in params if isinstance(v, str)))
        sets = [f"{name} = ${i}" for i, name in enumerate(step.fields, start=1)]
        _revision_sets(sets, params, touch=step.touch, shown_revision=step.shown_revision)
        if sets:
            await conn.execute(f"UPDATE break_glass_reviews SET {', '.join(sets)} "  # noqa: S608 - fixed names
                               f"WHERE op_id = ${len(params) + 1}", *params, step.op_id)
    elif isinstance(step, c.StartWatch):
        values = {name: getattr(step.watch, name) for name in WATCH_FIELDS}
        _text_ok(*(v for v in values.values() if isinstance(v, str)))
        await conn.execute(f"INSERT INTO health_watches ({', '.join(WATCH_FIELDS)}) "  # noqa: S608 - fixed names
                           f"VALUES ({_marks(len(WATCH_FIELDS))})", *values.values())
    elif isinstance(step, c.EndWatch):
        _text_ok(step.outcome)
        if await conn.fetchval("UPDATE health_watches SET status = $1, outcome = $2, rollback_op_id = $3, "
                               "finished_at = $4, holder = NULL WHERE op_id = $5 AND status = 'watching' RETURNING 1",
                               step.status, step.outcome, step.rollback_op_id, now_iso(), step.op_id) is None:
            raise Conflicted(c.Conflict(step, "status"))


async def _claim(conn: Conn, step: c.Step, sql: str, *params: Any) -> None:
    """Insert a key that may exist only once; a conflict (`duplicate`) when it already does."""
    if await conn.fetchval(sql, *params) is None:
        raise Conflicted(c.Conflict(step, "duplicate"))


async def _create_operation(conn: Conn, op: Operation) -> Operation:
    values: dict[str, Any] = {name: getattr(op, name) for name in OPERATION_FIELDS}
    values["approver_roles"] = json.dumps(list(op.approver_roles))
    values["confirm"] = int(op.confirm)
    _text_ok(*(v for v in values.values() if isinstance(v, str)))
    marks = ", ".join(f"${i}" for i in range(1, len(OPERATION_FIELDS) + 1))
    await conn.execute(f"INSERT INTO operations ({OP_COLUMNS}) VALUES ({marks})",  # noqa: S608 - fixed column names
                       *(values[name] for name in OPERATION_FIELDS))
    return op


def _sets(fields: Mapping[str, Any], first: int) -> tuple[list[str], list[Any]]:
    unknown = set(fields) - c.MUTABLE_OPERATION_FIELDS
    if unknown:
        raise ValueError(f"an operation's {', '.join(sorted(unknown))} cannot change")
    _text_ok(*(v for v in fields.values() if isinstance(v, str)))
    return [f"{name} = ${first + i}" for i, name in enumerate(fields)], list(fields.values())


async def _move_operation(conn: Conn, step: c.MoveOperation) -> Operation:
    sets, values = _sets(step.fields, 2)
    n = 2 + len(values)
    sql = (f"UPDATE operations SET {', '.join(['status = $1', 'revision = revision + 1', *sets])} "  # noqa: S608
           f"WHERE id = ${n} AND status = ANY(${n + 1}::text[]) RETURNING {OP_COLUMNS}")
    rec = await conn.fetchrow(sql, step.to_status, *values, step.op_id, list(step.from_statuses))
    if rec is None:
        now = await operation(conn, step.op_id)
        raise Conflicted(c.Conflict(step, "status", status=now.status if now else None))
    return operation_from(rec)


def _revision_sets(sets: list[str], values: list[Any], *, touch: bool, shown_revision: int | None) -> None:
    """The bookkeeping an update of a shown row adds: a touch is a new revision; what Discord shows only rises."""
    if touch:
        sets.append("revision = revision + 1")
    if shown_revision is not None:
        values.append(shown_revision)
        sets.append(f"shown_revision = GREATEST(shown_revision, ${len(values)})")


async def _update_operation(conn: Conn, step: c.UpdateOperation) -> Operation | None:
    sets, values = _sets(step.fields, 1)
    _revision_sets(sets, values, touch=step.touch, shown_revision=step.shown_revision)
    if not sets:
        return await operation(conn, step.op_id)
    rec = await conn.fetchrow(f"UPDATE operations SET {', '.join(sets)} WHERE id = ${len(values) + 1} "  # noqa: S608
                              f"RETURNING {OP_COLUMNS}", *values, step.op_id)
    return operation_from(rec) if rec is not None else None


async def _take_lock(conn: Conn, step: c.TakeLock) -> None:
    taken = await conn.fetchval("INSERT INTO locks (service, environment, operation_id, holder_name, since, holder) "
                                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
                                step.service, step.environment, step.op_id, step.holder_name, now_iso(), step.holder)
    if taken is not None:
        return
    held = await lock_of(conn, step.service, step.environment)
    if held is None or held.operation_id != step.op_id:
        raise Conflicted(c.Conflict(step, "lock", lock=held))


async def _record_decision(conn: Conn, step: c.RecordDecision) -> None:
    _text_ok(step.approver_name)
    done = await conn.fetchval("INSERT INTO approvals (operation_id, approver_id, approver_name, decision, decided_at, "
                               "roles) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
                               step.op_id, step.approver_id, step.approver_name, step.decision, now_iso(),
                               json.dumps(list(step.roles)))
    if done is not None:
        return
    rec = await conn.fetchrow(f"SELECT {DECISION_COLUMNS} FROM approvals "  # noqa: S608 - fixed column names
                              "WHERE operation_id = $1 AND approver_id = $2", step.op_id, step.approver_id)
    raise Conflicted(c.Conflict(step, "decided", decision=decision(rec) if rec else None))


async def _reserve_incident(conn: Conn, step: c.ReserveIncident) -> str:
    _text_ok(step.title, step.commander_name, step.base_id)
    like = step.base_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-%"
    taken = {str(r[0]) for r in await conn.fetch("SELECT id FROM incidents WHERE id = $1 OR id LIKE $2 ESCAPE '\\'",
                                                 step.base_id, like)}
    candidate, n = step.base_id, 2
    while candidate in taken:
        candidate, n = f"{step.base_id}-{n}", n + 1
    await conn.execute("INSERT INTO incidents (id, title, severity, service, status, commander_id, commander_name, "
                       "created_at) VALUES ($1, $2, $3, $4, 'opening', $5, $6, $7)",
                       candidate, step.title, step.severity, step.service, step.commander_id, step.commander_name,
                       now_iso())
    return candidate


async def _update_incident(conn: Conn, step: c.UpdateIncident) -> None:
    unknown = set(step.fields) - c.MUTABLE_INCIDENT_FIELDS
    if unknown:
        raise ValueError(f"an incident's {', '.join(sorted(unknown))} cannot change")
    _text_ok(*(v for v in step.fields.values() if isinstance(v, str)))
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(step.fields, start=1))
    await conn.execute(f"UPDATE incidents SET {sets} WHERE id = ${len(step.fields) + 1}",  # noqa: S608
                       *step.fields.values(), step.incident_id)
