"""State and helpers shared by the pipeline's submission, decision and execution steps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.audit import AuditEntry, AuditLog, utc_timestamp
from bot.config import OpscordConfig
from bot.operation_types import Actor, Notifier, OperationInput
from bot.operations import Operation, OperationStore, parse_iso
from bot.permissions import Authorizer
from bot.providers import ProviderRegistry

log = logging.getLogger("bot.pipeline")


@dataclass
class OperationsBase:
    """The pipeline's collaborators, and how it audits and shows operations."""

    config: OpscordConfig
    store: OperationStore
    audit: AuditLog
    authorizer: Authorizer
    providers: ProviderRegistry
    notifier: Notifier | None = None
    resolve_actor: Callable[[str], Awaitable[Actor | None]] | None = None
    operation_timeout: float = 1800.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    finished_listeners: list[Callable[[Operation, str], Awaitable[None]]] = field(default_factory=list)
    """Called with each finished operation and its outcome text (e.g. to post into an open incident)."""

    async def _approvers(self, op_id: str) -> list[str]:
        return [d.approver_name for d in await self.store.decisions(op_id) if d.decision == "approve"]


    async def _show(self, op: Operation, text: str, *, final: bool, disable: bool = False) -> None:
        if self.notifier is None:
            return
        try:
            await self.notifier.show(op, text, final=final, disable=disable)
        except Exception:
            log.warning("could not update the message of %s", op.id, exc_info=True)

    async def _audit_op(self, op: Operation, result: str, *, user: str | None = None, approved_by: str | None = None,
                        error: str | None = None, duration: float | None = None, **extra: Any) -> None:
        fields: dict[str, Any] = {"request_id": op.id, "service": op.service, "environment": op.environment,
                                  "action": op.policy_action, "requester": f"@{op.requester_name}"}
        if op.version:
            fields["version"] = op.version
        if op.replicas is not None:
            fields["replicas"] = op.replicas
        if error:
            fields["error"] = error
        fields.update({k: v for k, v in extra.items() if v is not None})
        await self.audit.append(AuditEntry(
            user=user or f"@{op.requester_name}", command=op.command, result=result, approved_by=approved_by,
            duration_seconds=duration if duration is not None else since(op.created_at),
            channel=f"#{op.channel_name}" if op.channel_name else None, extra=fields))

    async def _audit_input(self, inp: OperationInput, actor: Actor, result: str, error: str) -> None:
        await self.audit.append(AuditEntry(
            user=actor.label, command=inp.command, result=result, duration_seconds=0.0,
            channel=f"#{inp.channel_name}" if inp.channel_name else None, timestamp=utc_timestamp(),
            extra={"service": inp.service, "environment": inp.environment, "action": inp.action,
                   "user_id": actor.id, "error": error}))


def since(iso: str) -> float:
    """Seconds from an ISO timestamp until now."""
    return round(max(0.0, (datetime.now(UTC) - parse_iso(iso)).total_seconds()), 3)
