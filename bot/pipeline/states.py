"""The operation state machine: its statuses and the only moves between them.

    pending_approval ─┬─▶ pending_confirmation ─┬─▶ approved ─▶ running ─▶ succeeded | failed | interrupted
                      └────────────────────────┘      │
    (new) ─▶ approved (runs at once, holding its lock)  └─▶ failed | interrupted | abandoned
    pending_* ─▶ rejected | cancelled | expired | failed | abandoned (its first message never arrived)

`approved` and `running` hold the (service, environment) lock; nothing else does. Every move is
written with its audit row in one store change (see bot.pipeline.entries).
"""

from __future__ import annotations

from typing import Any

from bot.store.changes import MoveOperation

PENDING = ("pending_approval", "pending_confirmation")
HOLDING = ("approved", "running")
TERMINAL = ("succeeded", "failed", "interrupted", "rejected", "expired", "cancelled", "abandoned")

MOVES: dict[str, frozenset[str]] = {
    "pending_approval": frozenset({"pending_confirmation", "approved", "rejected", "cancelled", "expired", "failed",
                                   "abandoned"}),
    "pending_confirmation": frozenset({"approved", "cancelled", "expired", "failed", "abandoned"}),
    "approved": frozenset({"running", "failed", "interrupted", "abandoned"}),
    "running": frozenset({"succeeded", "failed", "interrupted"}),
}


def move(op_id: str, from_statuses: tuple[str, ...], to_status: str, **fields: Any) -> MoveOperation:
    """The store step for a move the machine allows (a programming error otherwise)."""
    for status in from_statuses:
        if to_status not in MOVES.get(status, frozenset()):
            raise ValueError(f"an operation cannot move from {status} to {to_status}")
    return MoveOperation(op_id, from_statuses, to_status, dict(fields))


def keep(op_id: str, status: str, **fields: Any) -> MoveOperation:
    """Change fields of an operation only while it is still in ``status`` (a conflict once it moved on)."""
    return MoveOperation(op_id, (status,), status, dict(fields))
