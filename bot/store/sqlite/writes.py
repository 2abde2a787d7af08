"""How each step of a `Change` is written to SQLite (runs on the writer's thread, inside a savepoint)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.store import changes as c
from bot.store.chain import GENESIS_HASH, PLACEHOLDERS, ChainKey, Sealed, seal
from bot.store.records import OPERATION_FIELDS, REVIEW_FIELDS, WATCH_FIELDS, AuditRow, Operation
from bot.store.sqlite.reads import DECISION_COLUMNS, decision_of, lock_of, operation_of
from bot.times import now_iso

AUDIT_INSERT = ("INSERT INTO audit_log (id, timestamp, user, command, approved_by, result, duration_seconds, channel,"
                " extra, prev_hash, hash, user_id, service, environment, action, request_id, interaction_id, body,"
                " mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


@dataclass
class Head:
    """The chain's newest row, advanced by every append of the batch."""

    row_id: int
    hash: str


def read_head(conn: sqlite3.Connection) -> Head:
    """The newest row of the audit log (the genesis hash when it is empty)."""
    rec = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return Head(int(rec[0]), str(rec[1])) if rec else Head(0, GENESIS_HASH)


class _Conflicted(Exception):
    """Raised inside a unit to roll it back and report the conflict."""

    def __init__(self, conflict: c.Conflict) -> None:
        super().__init__(conflict.reason)
        self.conflict = conflict


def apply_change(conn: sqlite3.Connection, change: c.Change, head: Head,
                 key: ChainKey | None = None) -> tuple[c.Applied, Head]:
    """Apply every step in a savepoint; on a conflict or an error roll back just this change.

    A change that is one audit row needs no savepoint: its one INSERT either happens or not, and
    the head moves only after it did (the common case, so it costs two statements less).
    """
    start = Head(head.row_id, head.hash)
    if len(change.steps) == 1 and isinstance(change.steps[0], c.Append):
        return c.Applied(rows=(_append(conn, change.steps[0], head, key),)), head
    conn.execute("SAVEPOINT unit")
    try:
        rows: list[AuditRow] = []
        incident_id: str | None = None
        operation: Operation | None = None
        for step in change.steps:
            if isinstance(step, c.Append):
                rows.append(_append(conn, step, head, key))
            elif isinstance(step, c.ReserveIncident):
                incident_id = _reserve_incident(conn, step)
            else:
                moved = _apply_step(conn, step)
                operation = moved or operation
    except _Conflicted as exc:
        conn.execute("ROLLBACK TO unit")
        conn.execute("RELEASE unit")
        return c.Applied(conflict=exc.conflict), start
    except BaseException:
        conn.execute("ROLLBACK TO unit")
        conn.execute("RELEASE unit")
        head.row_id, head.hash = start.row_id, start.hash
        raise
    conn.execute("RELEASE unit")
    return c.Applied(rows=tuple(rows), incident_id=incident_id, operation=operation), head


def _apply_step(conn: sqlite3.Connection, step: c.Step) -> Operation | None:
    """One step other than an audit append or an incident reservation; returns a changed operation."""
    if isinstance(step, c.CreateOperation):
        return _create_operation(conn, step.op)
    if isinstance(step, c.MoveOperation):
        return _move_operation(conn, step)
    if isinstance(step, c.UpdateOperation):
        return _update_operation(conn, step)
    if isinstance(step, c.TakeLock):
        _take_lock(conn, step)
    elif isinstance(step, c.FreeLock):
        conn.execute("DELETE FROM locks WHERE operation_id = ?", (step.op_id,))
    elif isinstance(step, c.HandOverLock):
        conn.execute("UPDATE locks SET holder = ? WHERE operation_id = ?", (step.holder, step.op_id))
    elif isinstance(step, c.RecordDecision):
        _record_decision(conn, step)
    elif isinstance(step, c.StartDeploy):
        op = step.op
        conn.execute("INSERT INTO deploys (operation_id, kind, service, environment, version, previous_version, "
                     "status, requester, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                     (op.id, op.action, op.service, op.environment, op.version, op.previous_version,
                      op.requester_name, now_iso()))
    elif isinstance(step, c.FinishDeploy):
        conn.execute("UPDATE deploys SET status = ?, finished_at = ?, committed_at = COALESCE(?, committed_at) "
                     "WHERE operation_id = ? AND status = 'running'",
                     (step.status, now_iso(), step.committed_at, step.op_id))
    elif isinstance(step, (c.OpenReview, c.AcknowledgeReview, c.CloseReview, c.UpdateReview, c.StartWatch,
                           c.EndWatch)):
        _apply_safety_step(conn, step)
    elif isinstance(step, c.UpdateIncident):
        _update_incident(conn, step)
    elif isinstance(step, c.RecordIncidentEvent):
        if step.kind not in c.INCIDENT_EVENT_KINDS:
            raise ValueError(f"unknown incident event {step.kind!r}")
        conn.execute("INSERT INTO incident_events (incident_id, at, kind, actor_id, actor_name, status, text) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (step.incident_id, now_iso(), step.kind, step.actor_id, step.actor_name, step.status, step.text))
    elif isinstance(step, c.Announce):
        conn.execute("INSERT INTO announcements (target, text, created_at, ping_user, reply_to) VALUES (?, ?, ?, ?, ?)",
                     (step.target, step.text, now_iso(), step.ping_user, step.reply_to))
    elif isinstance(step, c.MarkAnnounced):
        conn.execute("UPDATE announcements SET posted_at = ? WHERE id = ?", (now_iso(), step.announcement_id))
    elif isinstance(step, c.ClaimInteraction):
        _claim(conn, "INSERT OR IGNORE INTO interactions (interaction_id, operation_id, claimed_at) VALUES (?, ?, ?)",
               (step.interaction_id, step.operation_id, now_iso()), step)
    elif isinstance(step, c.StartExecution):
        _claim(conn, "INSERT OR IGNORE INTO executions (operation_id, attempt, holder, started_at) VALUES (?, ?, ?, ?)",
               (step.op_id, step.attempt, step.holder, now_iso()), step)
    elif isinstance(step, c.PutFact):
        conn.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (step.key, step.value))
    else:  # pragma: no cover - every step type is handled above
        raise TypeError(f"unknown step {step!r}")
    return None


def _apply_safety_step(conn: sqlite3.Connection, step: c.Step) -> None:
    """Break-glass reviews and health watches."""
    if isinstance(step, c.OpenReview):
        values: dict[str, Any] = {name: getattr(step.review, name) for name in REVIEW_FIELDS}
        values["reviewer_roles"] = json.dumps(list(step.review.reviewer_roles))
        conn.execute(f"INSERT INTO break_glass_reviews ({', '.join(REVIEW_FIELDS)}) "  # noqa: S608 - fixed names
                     f"VALUES ({', '.join('?' for _ in REVIEW_FIELDS)})", [values[n] for n in REVIEW_FIELDS])
    elif isinstance(step, c.AcknowledgeReview):
        if conn.execute("SELECT 1 FROM break_glass_reviews WHERE op_id = ? AND closed_at IS NULL",
                        (step.op_id,)).fetchone() is None:
            raise _Conflicted(c.Conflict(step, "status", status="closed"))
        cur = conn.execute("INSERT OR IGNORE INTO break_glass_acks (op_id, reviewer_id, reviewer_name, acked_at) "
                           "VALUES (?, ?, ?, ?)", (step.op_id, step.reviewer_id, step.reviewer_name, now_iso()))
        if cur.rowcount != 1:
            raise _Conflicted(c.Conflict(step, "decided"))
        conn.execute("UPDATE break_glass_reviews SET revision = revision + 1 WHERE op_id = ?", (step.op_id,))
    elif isinstance(step, c.CloseReview):
        cur = conn.execute("UPDATE break_glass_reviews SET closed_at = ?, revision = revision + 1 "
                           "WHERE op_id = ? AND closed_at IS NULL", (now_iso(), step.op_id))
        if cur.rowcount != 1:
            raise _Conflicted(c.Conflict(step, "status", status="closed"))
    elif isinstance(step, c.UpdateReview):
        unknown = set(step.fields) - c.MUTABLE_REVIEW_FIELDS
        if unknown:
            raise ValueError(f"a review's {', '.join(sorted(unknown))} cannot change")
        sets, params = [f"{name} = ?" for name in step.fields], list(step.fields.values())
        _revision_sets(sets, params, touch=step.touch, shown_revision=step.shown_revision)
        if sets:
            conn.execute(f"UPDATE break_glass_reviews SET {', '.join(sets)} WHERE op_id = ?",  # noqa: S608
                         (*params, step.op_id))
    elif isinstance(step, c.StartWatch):
        conn.execute(f"INSERT INTO health_watches ({', '.join(WATCH_FIELDS)}) "  # noqa: S608 - fixed names
                     f"VALUES ({', '.join('?' for _ in WATCH_FIELDS)})",
                     [getattr(step.watch, name) for name in WATCH_FIELDS])
    elif isinstance(step, c.EndWatch):
        cur = conn.execute("UPDATE health_watches SET status = ?, outcome = ?, rollback_op_id = ?, finished_at = ?, "
                           "holder = NULL WHERE op_id = ? AND status = 'watching'",
                           (step.status, step.outcome, step.rollback_op_id, now_iso(), step.op_id))
        if cur.rowcount != 1:
            raise _Conflicted(c.Conflict(step, "status"))


def _create_operation(conn: sqlite3.Connection, op: Operation) -> Operation:
    values: dict[str, Any] = {name: getattr(op, name) for name in OPERATION_FIELDS}
    values["approver_roles"] = json.dumps(list(op.approver_roles))
    values["confirm"] = int(op.confirm)
    columns = ", ".join(OPERATION_FIELDS)
    marks = ", ".join("?" for _ in OPERATION_FIELDS)
    conn.execute(f"INSERT INTO operations ({columns}) VALUES ({marks})",  # noqa: S608 - fixed column names
                 [values[name] for name in OPERATION_FIELDS])
    return op


def _sets(fields: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    unknown = set(fields) - c.MUTABLE_OPERATION_FIELDS
    if unknown:
        raise ValueError(f"an operation's {', '.join(sorted(unknown))} cannot change")
    return [f"{name} = ?" for name in fields], list(fields.values())


def _move_operation(conn: sqlite3.Connection, step: c.MoveOperation) -> Operation:
    sets, values = _sets(step.fields)
    marks = ", ".join("?" for _ in step.from_statuses)
    sql = (f"UPDATE operations SET {', '.join(['status = ?', 'revision = revision + 1', *sets])} "  # noqa: S608
           f"WHERE id = ? AND status IN ({marks})")
    cur = conn.execute(sql, (step.to_status, *values, step.op_id, *step.from_statuses))
    op = operation_of(conn, step.op_id)
    if cur.rowcount != 1 or op is None:
        raise _Conflicted(c.Conflict(step, "status", status=op.status if op else None))
    return op


def _revision_sets(sets: list[str], values: list[Any], *, touch: bool, shown_revision: int | None) -> None:
    """The bookkeeping an update of a shown row adds: a touch is a new revision; what Discord shows only rises."""
    if touch:
        sets.append("revision = revision + 1")
    if shown_revision is not None:
        sets.append("shown_revision = MAX(shown_revision, ?)")
        values.append(shown_revision)


def _update_operation(conn: sqlite3.Connection, step: c.UpdateOperation) -> Operation | None:
    sets, values = _sets(step.fields)
    _revision_sets(sets, values, touch=step.touch, shown_revision=step.shown_revision)
    if sets:
        conn.execute(f"UPDATE operations SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - fixed column names
                     (*values, step.op_id))
    return operation_of(conn, step.op_id)


def _take_lock(conn: sqlite3.Connection, step: c.TakeLock) -> None:
    cur = conn.execute("INSERT OR IGNORE INTO locks (service, environment, operation_id, holder_name, since, holder) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (step.service, step.environment, step.op_id, step.holder_name, now_iso(), step.holder))
    if cur.rowcount == 1:
        return
    held = lock_of(conn, step.service, step.environment)
    if held is None or held.operation_id != step.op_id:
        raise _Conflicted(c.Conflict(step, "lock", lock=held))


def _claim(conn: sqlite3.Connection, sql: str, params: tuple[object, ...], step: c.Step) -> None:
    """Insert a key that may exist only once; a conflict (`duplicate`) when it already does."""
    if conn.execute(sql, params).rowcount != 1:
        raise _Conflicted(c.Conflict(step, "duplicate"))


def _record_decision(conn: sqlite3.Connection, step: c.RecordDecision) -> None:
    cur = conn.execute("INSERT OR IGNORE INTO approvals (operation_id, approver_id, approver_name, decision, "
                       "decided_at, roles) VALUES (?, ?, ?, ?, ?, ?)",
                       (step.op_id, step.approver_id, step.approver_name, step.decision, now_iso(),
                        json.dumps(list(step.roles))))
    if cur.rowcount == 1:
        return
    rec = conn.execute(f"SELECT {DECISION_COLUMNS} FROM approvals "  # noqa: S608 - fixed column names
                       "WHERE operation_id = ? AND approver_id = ?", (step.op_id, step.approver_id)).fetchone()
    raise _Conflicted(c.Conflict(step, "decided", decision=decision_of(rec) if rec else None))


def _reserve_incident(conn: sqlite3.Connection, step: c.ReserveIncident) -> str:
    like = step.base_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-%"
    taken = {str(r[0]) for r in conn.execute("SELECT id FROM incidents WHERE id = ? OR id LIKE ? ESCAPE '\\'",
                                             (step.base_id, like))}
    candidate, n = step.base_id, 2
    while candidate in taken:
        candidate, n = f"{step.base_id}-{n}", n + 1
    conn.execute("INSERT INTO incidents (id, title, severity, service, status, commander_id, commander_name, "
                 "created_at) VALUES (?, ?, ?, ?, 'opening', ?, ?, ?)",
                 (candidate, step.title, step.severity, step.service, step.commander_id, step.commander_name,
                  now_iso()))
    return candidate


def _update_incident(conn: sqlite3.Connection, step: c.UpdateIncident) -> None:
    unknown = set(step.fields) - c.MUTABLE_INCIDENT_FIELDS
    if unknown:
        raise ValueError(f"an incident's {', '.join(sorted(unknown))} cannot change")
    sets = ", ".join(f"{name} = ?" for name in step.fields)
    conn.execute(f"UPDATE incidents SET {sets} WHERE id = ?",  # noqa: S608 - fixed column names
                 (*step.fields.values(), step.incident_id))


def sealed_params(sealed: Sealed) -> tuple[object, ...]:
    """The INSERT parameters of a sealed row: its body, and the columns beside it (placeholders and index)."""
    row = sealed.row
    return (row.id, row.timestamp, row.user, row.command, None, row.result, None, None,
            PLACEHOLDERS["extra"], row.prev_hash, row.hash, *sealed.indexed, sealed.body, row.mac)


def _append(conn: sqlite3.Connection, step: c.Append, head: Head, key: ChainKey | None) -> AuditRow:
    sealed = seal(step.entry, head.row_id + 1, head.hash, key)
    conn.execute(AUDIT_INSERT, sealed_params(sealed))
    head.row_id, head.hash = sealed.row.id, sealed.row.hash
    return sealed.row
