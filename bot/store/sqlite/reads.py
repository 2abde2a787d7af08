"""How the store reads SQLite (functions run on a reader's thread; each is one hop from the loop)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from bot.store.chain import (
    GENESIS_HASH,
    HEAD_FIELDS,
    PLACEHOLDERS,
    ChainKey,
    ChainRecord,
    Walker,
    column_finding,
    legacy_record,
    remembered_row,
    row_of_record,
    start_of,
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
    VerifyResult,
)

_OP_COLUMNS = ", ".join(OPERATION_FIELDS)
_LOCK_SELECT = ("SELECT l.service, l.environment, l.operation_id, l.holder_name, l.since, l.holder, o.command "
                "FROM locks l LEFT JOIN operations o ON o.id = l.operation_id")
_DEPLOY_COLUMNS = ("id, operation_id, kind, service, environment, version, previous_version, status, requester, "
                   "started_at, finished_at, committed_at")
_AUDIT_COLUMNS = ("id, timestamp, user, command, approved_by, result, duration_seconds, channel, extra, prev_hash, "
                  f"hash, body, mac, {', '.join(INDEXED_KEYS)}")


_APPROVER_ROLES, _CONFIRM = OPERATION_FIELDS.index("approver_roles"), OPERATION_FIELDS.index("confirm")


def _operation(rec: sqlite3.Row) -> Operation:
    """A row selected as `_OP_COLUMNS` (by position: a sqlite3.Row finds a name by comparing every column's)."""
    values = list(rec)
    values[_APPROVER_ROLES] = tuple(json.loads(values[_APPROVER_ROLES]))
    values[_CONFIRM] = bool(values[_CONFIRM])
    return Operation(*values)


def operation_of(conn: sqlite3.Connection, op_id: str) -> Operation | None:
    """One operation."""
    rec = conn.execute(f"SELECT {_OP_COLUMNS} FROM operations WHERE id = ?", (op_id,)).fetchone()  # noqa: S608
    return _operation(rec) if rec else None


DECISION_COLUMNS = "approver_id, approver_name, decision, decided_at, roles"


def decision_of(rec: sqlite3.Row | tuple[Any, ...]) -> Decision:
    """An approvals row as the value (its roles a JSON list, or NULL for older rows)."""
    roles = tuple(json.loads(rec[4])) if rec[4] is not None else None
    return Decision(rec[0], rec[1], rec[2], rec[3], roles)


def decisions_of(conn: sqlite3.Connection, op_id: str) -> list[Decision]:
    """Every decision on an operation, in order."""
    return [decision_of(rec) for rec in conn.execute(
        f"SELECT {DECISION_COLUMNS} FROM approvals WHERE operation_id = ? "  # noqa: S608 - fixed column names
        "ORDER BY decided_at, rowid", (op_id,))]


def operation_and_decisions(conn: sqlite3.Connection, op_id: str) -> tuple[Operation | None, list[Decision]]:
    """Both, in one hop."""
    op = operation_of(conn, op_id)
    return op, decisions_of(conn, op_id) if op else []


def operations_in(conn: sqlite3.Connection, statuses: tuple[str, ...]) -> list[Operation]:
    """Operations in these statuses, oldest first."""
    marks = ", ".join("?" for _ in statuses)
    sql = f"SELECT {_OP_COLUMNS} FROM operations WHERE status IN ({marks}) ORDER BY created_at"  # noqa: S608
    return [_operation(rec) for rec in conn.execute(sql, statuses)]


def unshown(conn: sqlite3.Connection, limit: int) -> list[tuple[Operation, list[Decision]]]:
    """Operations whose message lags behind, with their decisions."""
    sql = (f"SELECT {_OP_COLUMNS} FROM operations WHERE shown_revision < revision "  # noqa: S608
           "ORDER BY created_at LIMIT ?")
    ops = [_operation(rec) for rec in conn.execute(sql, (limit,))]
    return [(op, decisions_of(conn, op.id)) for op in ops]


def lock_of(conn: sqlite3.Connection, service: str, environment: str) -> Lock | None:
    """Who holds (service, environment)."""
    rec = conn.execute(f"{_LOCK_SELECT} WHERE l.service = ? AND l.environment = ?", (service, environment)).fetchone()
    return Lock(*rec) if rec else None


def locks(conn: sqlite3.Connection) -> list[Lock]:
    """Every held lock."""
    return [Lock(*rec) for rec in conn.execute(f"{_LOCK_SELECT} ORDER BY l.since")]


_TARGET = (
    "SELECT (SELECT version FROM deploys WHERE service = :service AND environment = :environment "
    "AND status = 'succeeded' ORDER BY id DESC LIMIT 1) AS current, "
    "(SELECT version FROM deploys d WHERE d.service = :service AND d.environment = :environment "
    "AND d.status = 'succeeded' AND d.version != (SELECT version FROM deploys WHERE service = :service "
    "AND environment = :environment AND status = 'succeeded' ORDER BY id DESC LIMIT 1) "
    "ORDER BY d.id DESC LIMIT 1) AS previous, "
    "(SELECT replicas FROM operations WHERE action = 'scale' AND service = :service AND environment = :environment "
    "AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1) AS scale, "
    "l.service, l.environment, l.operation_id, l.holder_name, l.since, l.holder, o.command "
    "FROM (SELECT 1) LEFT JOIN locks l ON l.service = :service AND l.environment = :environment "
    "LEFT JOIN operations o ON o.id = l.operation_id"
)
"""A target's facts in one statement (a request and /status ask for them on the event loop's own thread)."""


def target(conn: sqlite3.Connection, service: str, environment: str) -> TargetFacts:
    """Lock, current version, the version before it, and the last scale, of one target."""
    rec = conn.execute(_TARGET, {"service": service, "environment": environment}).fetchone()
    current, previous, scale, *lock = tuple(rec)
    return TargetFacts(Lock(*lock) if lock[0] is not None else None,
                       None if current is None else str(current), None if previous is None else str(previous),
                       None if scale is None else int(scale))


def deploy_history(conn: sqlite3.Connection, service: str, environment: str | None, limit: int) -> list[DeployRecord]:
    """Newest first."""
    if environment is None:
        sql, params = "WHERE service = ?", (service,)
    else:
        sql, params = "WHERE service = ? AND environment = ?", (service, environment)  # type: ignore[assignment]
    return [DeployRecord(*rec) for rec in conn.execute(
        f"SELECT {_DEPLOY_COLUMNS} FROM deploys {sql} ORDER BY id DESC LIMIT ?", (*params, limit))]  # noqa: S608


def deploys_in(conn: sqlite3.Connection, environments: tuple[str, ...]) -> list[DeployRecord]:
    """Oldest first."""
    if not environments:
        return []
    marks = ", ".join("?" for _ in environments)
    return [DeployRecord(*rec) for rec in conn.execute(
        f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE environment IN ({marks}) ORDER BY id",  # noqa: S608
        environments)]


def versions(conn: sqlite3.Connection, service: str, containing: str, limit: int) -> list[str]:
    """Distinct recent versions, newest first."""
    pattern = "%" + containing.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [str(rec[0]) for rec in conn.execute(
        "SELECT version FROM deploys WHERE service = ? AND version LIKE ? ESCAPE '\\' "
        "GROUP BY version ORDER BY MAX(id) DESC LIMIT ?", (service, pattern, limit))]


def incident(conn: sqlite3.Connection, incident_id: str) -> Incident | None:
    """One incident."""
    rec = conn.execute(f"SELECT {', '.join(INCIDENT_FIELDS)} FROM incidents WHERE id = ?",  # noqa: S608
                       (incident_id,)).fetchone()
    return Incident(*rec) if rec else None


def incidents(conn: sqlite3.Connection, open_only: bool) -> list[Incident]:
    """Oldest first."""
    where = "WHERE status NOT IN ('resolved', 'opening', 'failed')" if open_only else ""
    return [Incident(*rec) for rec in conn.execute(
        f"SELECT {', '.join(INCIDENT_FIELDS)} FROM incidents {where} ORDER BY created_at")]  # noqa: S608


def incident_events(conn: sqlite3.Connection, incident_id: str) -> list[IncidentEvent]:
    """An incident's events, in the order they happened."""
    return [IncidentEvent(*rec) for rec in conn.execute(
        "SELECT id, incident_id, at, kind, actor_id, actor_name, status, text FROM incident_events "
        "WHERE incident_id = ? ORDER BY id", (incident_id,))]


def deploys_between(conn: sqlite3.Connection, start: str, end: str, service: str | None) -> list[DeployRecord]:
    """Deploys and rollbacks that started in [start, end], of one service or all, oldest first."""
    where, params = "started_at >= ? AND started_at <= ?", [start, end]
    if service is not None:
        where, params = f"{where} AND service = ?", [*params, service]
    return [DeployRecord(*rec) for rec in conn.execute(
        f"SELECT {_DEPLOY_COLUMNS} FROM deploys WHERE {where} ORDER BY started_at, id", params)]  # noqa: S608


def unposted(conn: sqlite3.Connection, limit: int) -> list[Announcement]:
    """Queued posts, oldest first."""
    return [Announcement(*rec) for rec in conn.execute(
        "SELECT id, target, text, created_at, ping_user, reply_to FROM announcements WHERE posted_at IS NULL "
        "ORDER BY id LIMIT ?", (limit,))]


def operation_by_message(conn: sqlite3.Connection, message_id: str) -> Operation | None:
    """The operation shown by this message."""
    rec = conn.execute(f"SELECT {_OP_COLUMNS} FROM operations WHERE message_id = ?",  # noqa: S608
                       (message_id,)).fetchone()
    return _operation(rec) if rec else None


def fact(conn: sqlite3.Connection, key: str) -> str | None:
    """A remembered fact."""
    rec = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return str(rec[0]) if rec else None


def counts(conn: sqlite3.Connection) -> StoreCounts:
    """Gauges."""
    head = conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0]
    statuses = {str(s): int(n) for s, n in conn.execute("SELECT status, count(*) FROM operations GROUP BY status")}
    held = conn.execute("SELECT count(*) FROM locks").fetchone()[0]
    open_now = conn.execute("SELECT count(*) FROM incidents WHERE status NOT IN ('resolved', 'opening', 'failed')"
                            ).fetchone()[0]
    return StoreCounts(int(head), statuses, int(held), int(open_now))


def audit_row(rec: sqlite3.Row) -> AuditRow:
    """A stored row (ValueError/TypeError when it is unreadable, or its columns disagree with its body)."""
    return row_of_record(rec)


def audit_recent(conn: sqlite3.Connection, limit: int, user_id: str | None, user: str | None,
                 service: str | None) -> list[AuditRow]:
    """Newest first; every filter is answered by walking one index backwards from the newest row.

    A member is matched by id, and — for rows written before member ids were recorded — by their
    `@name` label: two indexed queries whose results are merged, never one OR that scans the table.
    """
    by_service = ("service = ?", [service]) if service is not None else None
    if user_id is not None:
        rows = _recent(conn, limit, [("user_id = ?", [user_id]), by_service])
        if user is not None:
            rows += _recent(conn, limit, [("user_id IS NULL AND user = ?", [user]), by_service])
            rows = sorted(rows, key=lambda r: r.id, reverse=True)[:limit]
        return rows
    return _recent(conn, limit, [("user = ?", [user]) if user is not None else None, by_service])


def _recent(conn: sqlite3.Connection, limit: int, clauses: list[tuple[str, list[Any]] | None]) -> list[AuditRow]:
    used = [c for c in clauses if c is not None]
    where = f"WHERE {' AND '.join(sql for sql, _ in used)}" if used else ""
    params = [value for _, values in used for value in values]
    sql = f"SELECT {_AUDIT_COLUMNS} FROM audit_log {where} ORDER BY id DESC LIMIT ?"  # noqa: S608 - fixed clauses
    return [remembered_row(rec) for rec in conn.execute(sql, (*params, limit))]


def audit_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(id, hash) of the newest row."""
    rec = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return (int(rec[0]), str(rec[1])) if rec else (0, GENESIS_HASH)


def audit_hashes(conn: sqlite3.Connection, row_ids: tuple[int, ...]) -> dict[int, str]:
    """Stored hashes of these rows."""
    found: dict[int, str] = {}
    for row_id in row_ids:
        rec = conn.execute("SELECT hash FROM audit_log WHERE id = ?", (row_id,)).fetchone()
        if rec is not None:
            found[row_id] = str(rec[0])
    return found


def audit_seal(conn: sqlite3.Connection, row_id: int) -> tuple[str, str | None] | None:
    """(hash, MAC or None) of one row."""
    rec = conn.execute("SELECT hash, mac FROM audit_log WHERE id = ?", (row_id,)).fetchone()
    return (str(rec[0]), rec[1]) if rec else None


def audit_chunk(conn: sqlite3.Connection, after_id: int, since: str | None, size: int) -> list[AuditRow]:
    """The next rows after `after_id` in chain order."""
    if since is None:
        sql, params = "WHERE id > ?", (after_id,)
    else:
        sql, params = "WHERE id > ? AND timestamp >= ?", (after_id, since)  # type: ignore[assignment]
    return [audit_row(rec) for rec in conn.execute(
        f"SELECT {_AUDIT_COLUMNS} FROM audit_log {sql} ORDER BY id LIMIT ?", (*params, size))]  # noqa: S608


_COLUMNS_DISAGREE = (  # a body's first line against its columns, as the same canonical JSON text: no parse
    "SELECT id FROM audit_log WHERE id > ? AND id <= ? AND body IS NOT NULL "  # noqa: S608 - fixed names
    f"AND (CAST(substr(body, 1, instr(body, x'0a') - 1) AS TEXT) IS NOT json_array({', '.join(HEAD_FIELDS)}) "
    f"OR extra IS NOT '{PLACEHOLDERS['extra']}' "
    "OR approved_by IS NOT NULL OR duration_seconds IS NOT NULL OR channel IS NOT NULL) ORDER BY id LIMIT 1")
"""Rows whose columns may disagree with their body. SQLite writes JSON text as Python's json does (the
same escapes), so an intact row never matches; one that does is confirmed by `column_finding`."""
COLUMN_CHUNK = 50_000


def _legacy_records(conn: sqlite3.Connection, after: int, before: int | None) -> Iterator[ChainRecord]:
    """Rows stored as columns (written before bodies existed), parsed back into rows."""
    where, params = ("id > ? AND id < ?", (after, before)) if before is not None else ("id > ?", (after,))
    for rec in conn.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE {where} ORDER BY id",  # noqa: S608
                            params):
        yield legacy_record(rec)


def trusted_start(conn: sqlite3.Connection, row_id: int, digest: str) -> tuple[int, str, str | None] | VerifyResult:
    """The row a trusted checkpoint names, to walk on from; or why it cannot be (it is gone, or differs)."""
    return start_of(audit_seal(conn, row_id), row_id, digest)


def walk_chain(conn: sqlite3.Connection, key: ChainKey | None, start: tuple[int, str, str | None] | None
               ) -> VerifyResult:
    """Walk the rows after `start` (the genesis when None): legacy rows re-hashed, then bodies hashed as stored."""
    walker = Walker(key, start)
    after = start[0] if start else 0
    rec = conn.execute("SELECT id FROM audit_log WHERE id > ? AND body IS NOT NULL ORDER BY id LIMIT 1",
                       (after,)).fetchone()
    first_body = int(rec[0]) if rec else None
    if first_body is None or first_body > after + 1:
        failed = walker.feed_legacy(_legacy_records(conn, after, first_body))
        if failed is not None or first_body is None:
            return failed or walker.result()
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute("SELECT id, prev_hash, hash, mac, body FROM audit_log WHERE id >= ? ORDER BY id", (first_body,))
    failed = walker.feed(cursor)
    return failed or walker.result()


def columns_check(conn: sqlite3.Connection, after: int) -> tuple[int, str] | None:
    """The first row with a body after `after` whose columns disagree with it: (id, which and how).

    SQL finds the candidates (inside SQLite, without the GIL: this runs beside the walk); each is
    confirmed and named by the reader's own parse. A stretch SQL cannot parse (a body that is not
    JSON) is checked row by row. (A legacy row's columns are checked by the walk, which parses them.)
    """
    last = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0])
    upto = last
    while after < last:
        try:
            rec = conn.execute(_COLUMNS_DISAGREE, (after, upto)).fetchone()
            candidates = [int(rec[0])] if rec else []
        except sqlite3.Error:  # a body SQL cannot read: narrow it down, then read that stretch row by row
            if upto - after > COLUMN_CHUNK:
                upto = after + COLUMN_CHUNK
                continue
            candidates = [int(r[0]) for r in conn.execute(
                "SELECT id FROM audit_log WHERE id > ? AND id <= ? AND body IS NOT NULL ORDER BY id", (after, upto))]
        for row_id in candidates:
            found = conn.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE id = ?",  # noqa: S608
                                 (row_id,)).fetchone()
            problem = column_finding(found)
            if problem is not None:
                return row_id, problem
        after = candidates[-1] if candidates and candidates[-1] < upto else upto
        upto = last
    return None


_REVIEW_SELECT = f"SELECT {', '.join(REVIEW_FIELDS)} FROM break_glass_reviews"  # noqa: S608 - fixed names


def _review(conn: sqlite3.Connection, rec: sqlite3.Row) -> Review:
    values: dict[str, Any] = {name: rec[name] for name in REVIEW_FIELDS}
    values["reviewer_roles"] = tuple(json.loads(values["reviewer_roles"]))
    acks = tuple(Acknowledgement(*a) for a in conn.execute(
        "SELECT reviewer_id, reviewer_name, acked_at FROM break_glass_acks WHERE op_id = ? ORDER BY acked_at, rowid",
        (values["op_id"],)))
    return Review(**values, acks=acks)


def review(conn: sqlite3.Connection, op_id: str) -> Review | None:
    """One review, with its acknowledgements."""
    rec = conn.execute(f"{_REVIEW_SELECT} WHERE op_id = ?", (op_id,)).fetchone()
    return _review(conn, rec) if rec else None


def reviews(conn: sqlite3.Connection, open_only: bool) -> list[Review]:
    """Open reviews (or all), oldest first."""
    where = " WHERE closed_at IS NULL" if open_only else ""
    return [_review(conn, rec) for rec in conn.execute(f"{_REVIEW_SELECT}{where} ORDER BY opened_at")]


def unshown_reviews(conn: sqlite3.Connection) -> list[Review]:
    """Reviews whose message (or overdue reminder) Discord does not show yet."""
    return [_review(conn, rec) for rec in conn.execute(
        f"{_REVIEW_SELECT} WHERE message_id IS NULL OR shown_revision < revision "
        "OR (reminded_at IS NOT NULL AND reminder_id IS NULL) ORDER BY opened_at LIMIT 50")]


def watches(conn: sqlite3.Connection, statuses: tuple[str, ...]) -> list[HealthWatch]:
    """Health watches in these statuses, oldest first."""
    marks = ", ".join("?" for _ in statuses)
    return [HealthWatch(*rec) for rec in conn.execute(
        f"SELECT {', '.join(WATCH_FIELDS)} FROM health_watches WHERE status IN ({marks}) "  # noqa: S608
        "ORDER BY started_at", statuses)]
