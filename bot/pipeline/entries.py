"""How every audit row is built, and the one corridor that audits a read command before its reply.

Three kinds of rows: a command as typed (`call_entry`), a step in a request's life (`operation_entry`,
filed under the requester with the request's command) and a click on a request (`click_entry`,
filed under the member who clicked). The pipeline writes each with the state change it records;
read commands go through `Journal.command`, which checks access and commits the row before the
caller replies.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from bot.errors import OpscordError
from bot.pipeline.access import Access
from bot.pipeline.types import Click, Invocation, Refused
from bot.store import AuditEntry, AuditRow, Change, Operation, Store
from bot.store.changes import Append, Step
from bot.times import seconds_since, utc_timestamp
from integrations.errors import IntegrationError

OPSCORD_ID = "opscord"
"""Who the audit log files what Opscord does by itself under (a health gate's rollback): `@opscord`."""
AUDITED = "opscord_audited"
"""Attribute set on an exception whose command was already audited (so the error path does not again)."""


def mark_audited(exc: BaseException) -> BaseException:
    """Note on the exception that its audit row is written."""
    setattr(exc, AUDITED, True)
    return exc


def was_audited(exc: BaseException) -> bool:
    """Whether the exception's command already has its audit row."""
    return bool(getattr(exc, AUDITED, False) or getattr(exc, "audited", False))


def _escaped(value: Any, escape: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {_escaped(k, escape): _escaped(v, escape) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v, escape) for v in value]
    return value


def _without_nul(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _utf8(text: str) -> str:
    return _without_nul(text.encode("utf-8", "backslashreplace").decode())


def _entry(entry: AuditEntry, escape: Callable[[str], str]) -> AuditEntry:
    return AuditEntry(user=_escaped(entry.user, escape), command=_escaped(entry.command, escape), result=entry.result,
                      approved_by=_escaped(entry.approved_by, escape), duration_seconds=entry.duration_seconds,
                      channel=_escaped(entry.channel, escape), timestamp=entry.timestamp,
                      extra=_escaped(dict(entry.extra), escape))


def storable(entry: AuditEntry) -> AuditEntry:
    """The entry with any text that UTF-8 cannot hold (lone surrogates) written as escapes, so it can be kept."""
    return _entry(entry, _utf8)


def _nul_escaped(entry: AuditEntry) -> AuditEntry:
    """A command's row: a typed NUL written as an escape (PostgreSQL refuses NUL; SQLite's JSON functions cut the text
    there, so the verifier's check of the indexed columns would see a row that differs from what was hashed)."""
    if not _holds_nul(entry):
        return entry  # nearly always: every command passes here, and walking its fields costs more than this look
    return _entry(entry, _without_nul)


def _holds_nul(entry: AuditEntry) -> bool:
    if any(text is not None and "\x00" in text for text in (entry.user, entry.command, entry.approved_by,
                                                              entry.channel)):
        return True
    try:
        return "\\u0000" in json.dumps(entry.extra, ensure_ascii=False)  # JSON writes a NUL as \u0000, wherever it is
    except (TypeError, ValueError):
        return True  # not plain JSON: look the slow way


def _clean(extra: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in extra.items() if value is not None}


def call_entry(call: Invocation, result: str, *, error: str | None = None, approved_by: str | None = None,
               **extra: Any) -> AuditEntry:
    """A command as it was typed, by whoever typed it."""
    fields = _clean({"user_id": call.actor.id, "interaction_id": call.interaction_id, "guild_id": call.guild_id,
                     "via": "cli" if call.via == "cli" else None, **extra, "error": error})
    return _nul_escaped(AuditEntry(user=call.actor.label, command=call.command, result=result,
                                   approved_by=approved_by, duration_seconds=call.seconds(),
                                   channel=call.channel_label, timestamp=utc_timestamp(call.received_at),
                                   extra=fields))


def operation_entry(op: Operation, result: str, *, call: Invocation | None = None, approved_by: str | None = None,
                    error: str | None = None, **extra: Any) -> AuditEntry:
    """A step in a request's life, filed under its requester and its command (a break-glass one says so; one
    the health gate started is filed under Opscord, on behalf of the deploy's requester)."""
    acting = {"user_id": OPSCORD_ID, "on_behalf_of": f"@{op.requester_name}", "on_behalf_of_id": op.requester_id,
              "health_gate_of": op.caused_by} if op.caused_by else {"user_id": op.requester_id}
    fields = _clean({
        **acting, "request_id": op.id, "service": op.service, "environment": op.environment,
        "action": op.policy_action, "version": op.version, "replicas": op.replicas,
        "interaction_id": call.interaction_id if call else None, "guild_id": op.guild_id,
        "via": "cli" if call is not None and call.via == "cli" else None, "break_glass": op.break_glass,
        **extra, "error": error,
    })
    user = f"@{OPSCORD_ID}" if op.caused_by else f"@{op.requester_name}"
    return AuditEntry(user=user, command=op.command, result=result, approved_by=approved_by,
                      duration_seconds=seconds_since(op.created_at),
                      channel=f"#{op.channel_name}" if op.channel_name else None,
                      timestamp=utc_timestamp(call.received_at) if call and call.received_at else None, extra=fields)


def click_entry(click: Click, op: Operation | None, result: str, *, error: str | None = None,
                **extra: Any) -> AuditEntry:
    """A click on a request (or `approve` in the CLI), filed under the member who clicked."""
    about = {"service": op.service, "environment": op.environment, "action": op.policy_action,
             "request_command": op.command} if op else {}
    return call_entry(click.call, result, error=error, request_id=click.op_id, click=click.kind, **about, **extra)


class Notes:
    """What a command adds to its audit row while it runs (service, counts, ids), and the state it changes."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.steps: list[Step] = []

    def add(self, **fields: Any) -> None:
        """Record these on the row."""
        self.fields.update(fields)

    def include(self, step: Step) -> None:
        """Commit this state change together with the command's row (only when the command succeeds)."""
        self.steps.append(step)


class Journal:
    """Writes the audit rows of commands that change nothing but the log itself."""

    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    async def record(self, entry: AuditEntry, *steps: Step) -> AuditRow:
        """Append one row, with the state changes it records (durable when this returns)."""
        applied = await self._store.apply(Change.of(*steps, Append(entry)))
        if not applied.ok:
            raise RuntimeError(f"the audit row could not be written: {applied.conflict}")
        return applied.rows[-1]

    @contextlib.asynccontextmanager
    async def command(self, call: Invocation, family: str | None) -> AsyncIterator[Notes]:
        """Check access to `family`, run the block, and commit the row before the caller replies.

        A refusal inside the block is audited with its sentence and re-raised as `Refused`; an
        unexpected error is audited as `error` and re-raised marked as audited.
        """
        notes = Notes()
        try:
            if family is not None:
                self._access.require_family(call.actor, family)
            yield notes
        except Refused:
            raise
        except OpscordError as exc:
            await self.record(call_entry(call, exc.result, error=exc.message, **notes.fields))
            raise Refused(exc.message, exc.result) from None
        except IntegrationError as exc:
            await self.record(call_entry(call, "failed", error=str(exc), **notes.fields))
            raise Refused(str(exc), "failed") from None
        except Exception as exc:
            await self.record(call_entry(call, "error", error=f"unexpected {type(exc).__name__}", **notes.fields))
            mark_audited(exc)
            raise
        await self.record(call_entry(call, "success", **notes.fields), *notes.steps)
