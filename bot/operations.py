"""Storage for operation requests, approvals, locks and deploy history (all in SQLite)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.db import Database

PENDING = ("pending_approval", "pending_confirmation")
TERMINAL = ("succeeded", "failed", "rejected", "expired", "cancelled", "interrupted")


def iso(moment: datetime) -> str:
    """A UTC time as ISO with milliseconds and Z (sorts as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


RUNNER = f"{socket.gethostname()}:{os.getpid()}"
"""This process, as recorded on the operations it approves and runs."""


def runner_alive(runner: str | None) -> bool:
    """Whether `runner` is another live process on this host (one elsewhere cannot be checked: assume not)."""
    if not runner or runner == RUNNER:
        return False
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def now_iso() -> str:
    """The current UTC time, as `iso` writes it."""
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    """Parse a timestamp written by `now_iso` or `utc_timestamp`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Operation:
    """One mutating request. Its fields never change; status and bookkeeping move forward."""

    id: str
    action: str
    policy_action: str
    service: str
    environment: str
    version: str | None
    previous_version: str | None
    replicas: int | None
    current_replicas: int | None
    command: str
    requester_id: str
    requester_name: str
    guild_id: str | None
    channel_id: str | None
    channel_name: str | None
    approvals_required: int
    approver_roles: tuple[str, ...]
    confirm: bool
    status: str
    created_at: str
    expires_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message_channel_id: str | None = None
    message_id: str | None = None
    outcome: str | None = None
    runner: str | None = None

    def expired(self, at: datetime | None = None) -> bool:
        """Whether approval/confirmation time is over."""
        return self.expires_at is not None and parse_iso(self.expires_at) <= (at or datetime.now(UTC))


@dataclass(frozen=True)
class Decision:
    """One approver's click."""

    approver_id: str
    approver_name: str
    decision: str
    decided_at: str


@dataclass(frozen=True)
class Lock:
    """Who holds (service, environment)."""

    service: str
    environment: str
    operation_id: str
    holder_name: str
    since: str


@dataclass(frozen=True)
class DeployRecord:
    """One deploy or rollback in the history."""

    id: int
    operation_id: str
    kind: str
    service: str
    environment: str
    version: str
    previous_version: str | None
    status: str
    requester: str
    started_at: str
    finished_at: str | None


_OP_COLUMNS = [f.name for f in dataclasses.fields(Operation)]


def _operation(rec: Any) -> Operation:
    values = {name: rec[name] for name in _OP_COLUMNS}
    values["approver_roles"] = tuple(json.loads(values["approver_roles"]))
    values["confirm"] = bool(values["confirm"])
    return Operation(**values)


class OperationStore:
    """Typed access to the operations, approvals, locks and deploys tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, op: Operation) -> None:
        """Insert a new request."""
        values = dataclasses.asdict(op)
        values["approver_roles"] = json.dumps(list(op.approver_roles))
        values["confirm"] = int(op.confirm)
        columns = ", ".join(_OP_COLUMNS)
        marks = ", ".join("?" for _ in _OP_COLUMNS)
        async with self._db.transaction() as conn:
            await conn.execute(f"INSERT INTO operations ({columns}) VALUES ({marks})",  # noqa: S608 - fixed names
                               [values[c] for c in _OP_COLUMNS])

    async def get(self, op_id: str) -> Operation | None:
        """The request with this id."""
        async with self._db.conn.execute("SELECT * FROM operations WHERE id = ?", (op_id,)) as cur:
            rec = await cur.fetchone()
        return _operation(rec) if rec else None

    async def with_status(self, *statuses: str) -> list[Operation]:
        """Every request in one of these statuses, oldest first."""
        marks = ", ".join("?" for _ in statuses)
        sql = f"SELECT * FROM operations WHERE status IN ({marks}) ORDER BY created_at"  # noqa: S608
        async with self._db.conn.execute(sql, statuses) as cur:
            return [_operation(rec) async for rec in cur]

    async def transition(self, op_id: str, from_statuses: tuple[str, ...], to_status: str, **fields: Any) -> bool:
        """Atomically move a request on; False when it was no longer in `from_statuses`."""
        allowed = {"started_at", "finished_at", "outcome", "message_channel_id", "message_id", "runner"}
        if not set(fields) <= allowed:
            raise ValueError(f"cannot change {sorted(set(fields) - allowed)}")
        sets = ", ".join(["status = ?", *(f"{k} = ?" for k in fields)])
        marks = ", ".join("?" for _ in from_statuses)
        sql = f"UPDATE operations SET {sets} WHERE id = ? AND status IN ({marks})"  # noqa: S608 - fixed names
        async with self._db.transaction() as conn:
            cur = await conn.execute(sql, (to_status, *fields.values(), op_id, *from_statuses))
            return cur.rowcount == 1

    async def set_message(self, op_id: str, channel_id: int, message_id: int) -> None:
        """Remember which message shows this request."""
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE operations SET message_channel_id = ?, message_id = ? WHERE id = ?",
                               (str(channel_id), str(message_id), op_id))

    async def record_decision(self, op_id: str, approver_id: str, approver_name: str, decision: str) -> bool:
        """Record a click; False when this person already decided (one person counts once)."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO approvals (operation_id, approver_id, approver_name, decision, decided_at) "
                "VALUES (?, ?, ?, ?, ?)", (op_id, approver_id, approver_name, decision, now_iso()))
            return cur.rowcount == 1

    async def decisions(self, op_id: str) -> list[Decision]:
        """Every decision on a request, in order."""
        async with self._db.conn.execute(
                "SELECT approver_id, approver_name, decision, decided_at FROM approvals WHERE operation_id = ? "
                "ORDER BY decided_at, rowid", (op_id,)) as cur:
            return [Decision(*rec) async for rec in cur]

    async def acquire_lock(self, service: str, environment: str, op_id: str, holder: str) -> Lock | None:
        """Take the lock; return the current holder instead when someone else has it."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO locks (service, environment, operation_id, holder_name, since) "
                "VALUES (?, ?, ?, ?, ?)", (service, environment, op_id, holder, now_iso()))
            if cur.rowcount == 1:
                return None
        held = await self.lock_holder(service, environment)
        if held is not None and held.operation_id == op_id:
            return None
        return held

    async def lock_holder(self, service: str, environment: str) -> Lock | None:
        """Who holds (service, environment), if anyone."""
        async with self._db.conn.execute("SELECT * FROM locks WHERE service = ? AND environment = ?",
                                         (service, environment)) as cur:
            rec = await cur.fetchone()
        return Lock(*rec) if rec else None

    async def release_lock(self, op_id: str) -> None:
        """Release whatever lock this request holds."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM locks WHERE operation_id = ?", (op_id,))

    async def locks(self) -> list[Lock]:
        """Every held lock."""
        async with self._db.conn.execute("SELECT * FROM locks ORDER BY since") as cur:
            return [Lock(*rec) async for rec in cur]

    async def start_deploy(self, op: Operation, kind: str) -> int:
        """Add a running deploy/rollback to the history."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO deploys (operation_id, kind, service, environment, version, previous_version, status,"
                " requester, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (op.id, kind, op.service, op.environment, op.version, op.previous_version, op.requester_name,
                 now_iso()))
            return int(cur.lastrowid or 0)

    async def finish_deploy(self, op_id: str, status: str) -> None:
        """Close the history row of this request."""
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE deploys SET status = ?, finished_at = ? WHERE operation_id = ? "
                               "AND status = 'running'", (status, now_iso(), op_id))

    async def deploy_history(self, service: str, environment: str | None = None, limit: int = 20
                             ) -> list[DeployRecord]:
        """Latest history rows first."""
        sql = "SELECT * FROM deploys WHERE service = ?"
        params: list[Any] = [service]
        if environment is not None:
            sql += " AND environment = ?"
            params.append(environment)
        async with self._db.conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)) as cur:
            return [DeployRecord(*rec) async for rec in cur]

    async def current_version(self, service: str, environment: str) -> str | None:
        """The version of the latest successful deploy or rollback."""
        rows = [r for r in await self.deploy_history(service, environment, 200) if r.status == "succeeded"]
        return rows[0].version if rows else None

    async def rollback_target(self, service: str, environment: str) -> tuple[str | None, str | None]:
        """(current, previous successful version) — the version before the current one."""
        rows = [r for r in await self.deploy_history(service, environment, 500) if r.status == "succeeded"]
        if not rows:
            return None, None
        current = rows[0].version
        previous = next((r.version for r in rows[1:] if r.version != current), None)
        return current, previous

    async def last_scale(self, service: str, environment: str) -> int | None:
        """Replicas of the latest successful /scale, if any."""
        async with self._db.conn.execute(
                "SELECT replicas FROM operations WHERE action = 'scale' AND status = 'succeeded' AND service = ? "
                "AND environment = ? ORDER BY finished_at DESC LIMIT 1", (service, environment)) as cur:
            rec = await cur.fetchone()
        return int(rec[0]) if rec else None
