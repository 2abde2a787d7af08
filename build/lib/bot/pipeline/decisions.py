"""Approve, Reject, Confirm and Cancel — and expiry: the decisions on a waiting request.

Rules: only the request's own message counts; N distinct people, never the requester; only
holders of the request's approver capabilities; any approver's Reject ends it, the requester's
own Reject withdraws it; the requester confirms; a repeated click answers and changes nothing.
Each decision, the move it causes and its audit row are one store change, filed under the member
who clicked. The last approval takes the lock in the same change (or says why it cannot).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.pipeline import messages, states
from bot.pipeline.access import Access
from bot.pipeline.entries import click_entry, operation_entry
from bot.pipeline.types import Click
from bot.processes import THIS_PROCESS
from bot.store import Change, Decision, Operation, Store
from bot.store.changes import Append, Conflict, RecordDecision, Step, TakeLock, UpdateOperation
from bot.times import now_iso


@dataclass(frozen=True)
class Decided:
    """What a click did: the sentence only the clicker sees, or the request's new state (and whether it runs)."""

    op: Operation | None
    decisions: tuple[Decision, ...] = ()
    tell: str | None = None
    """Set when the click changed nothing: the sentence for the clicker alone."""
    runs: bool = False


class Decisions:
    """Applies clicks and expiry to waiting requests."""

    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    async def decide(self, click: Click) -> Decided:
        """Apply one click; every outcome is audited as the clicker's."""
        op, decisions = await self._store.operation_and_decisions(click.op_id)
        if op is None:
            return await self._refuse(click, None, messages.NO_LONGER_EXISTS, "invalid")
        if click.message is not None and not _same_message(op, click):
            return await self._refuse(click, op, messages.NOT_THIS_MESSAGE, "denied")
        wanted = "pending_confirmation" if click.kind in ("confirm", "cancel") else "pending_approval"
        if op.status in states.PENDING and op.expired():
            return await self._expire_on_click(click, op)
        if op.status != wanted:
            return await self._refuse(click, op, messages.already(op), "denied")
        if click.kind == "approve":
            return await self._approve(click, op, decisions)
        if click.kind == "reject":
            return await self._reject(click, op)
        return await self._confirm(click, op, decisions, confirmed=click.kind == "confirm")

    async def _approve(self, click: Click, op: Operation, decisions: list[Decision]) -> Decided:
        actor = click.call.actor
        if actor.id == op.requester_id:
            return await self._refuse(click, op, messages.OWN_REQUEST, "denied")
        if not self._access.may_approve(actor, op.approver_roles):
            return await self._refuse(click, op, messages.only_approvers(op, "approve"), "denied")
        approvers = [d for d in decisions if d.decision == "approve"]
        if any(d.approver_id == actor.id for d in decisions):
            return await self._repeated(click, op, decisions, len(approvers))
        count = len(approvers) + 1
        decision = RecordDecision(op.id, actor.id, actor.name, "approve")
        row = Append(click_entry(click, op, "approved", approvals=f"{count}/{op.approvals_required}"))
        if count < op.approvals_required:
            applied = await self._store.apply(Change.of(decision, UpdateOperation(op.id, touch=True), row))
        else:
            applied = await self._store.apply(Change.of(decision, *self._last_approval(op), row))
            if applied.conflict is not None and applied.conflict.reason == "lock":
                assert applied.conflict.lock is not None
                outcome = messages.locked_at_approval(op, applied.conflict.lock)
                applied = await self._store.apply(Change.of(
                    decision, states.move(op.id, ("pending_approval",), "failed", finished_at=now_iso(),
                                          outcome=outcome), row,
                    Append(operation_entry(op, "locked", error=messages.locked(applied.conflict.lock)))))
        return await self._outcome(click, op, applied.conflict, applied.operation)

    def _last_approval(self, op: Operation) -> tuple[Step, ...]:
        if op.confirm:  # a row may want approvals and then the requester's confirmation
            return (states.move(op.id, ("pending_approval",), "pending_confirmation"),)
        return (states.move(op.id, ("pending_approval",), "approved", holder=str(THIS_PROCESS)),
                TakeLock(op.service, op.environment, op.id, op.requester_name, str(THIS_PROCESS)))

    async def _reject(self, click: Click, op: Operation) -> Decided:
        actor = click.call.actor
        own = actor.id == op.requester_id
        if not own and not self._access.may_approve(actor, op.approver_roles):
            return await self._refuse(click, op, messages.only_approvers(op, "reject"), "denied")
        status = "cancelled" if own else "rejected"
        applied = await self._store.apply(Change.of(
            RecordDecision(op.id, actor.id, actor.name, "reject"),
            states.move(op.id, ("pending_approval",), status, finished_at=now_iso()),
            Append(click_entry(click, op, status))))
        return await self._outcome(click, op, applied.conflict, applied.operation)

    async def _confirm(self, click: Click, op: Operation, decisions: list[Decision], *, confirmed: bool) -> Decided:
        if click.call.actor.id != op.requester_id:
            return await self._refuse(click, op, messages.REQUESTER_ONLY, "denied")
        if not confirmed:
            steps: tuple[Step, ...] = (states.move(op.id, ("pending_confirmation",), "cancelled",
                                                   finished_at=now_iso()),)
            result = "cancelled"
        else:
            steps = (states.move(op.id, ("pending_confirmation",), "approved", holder=str(THIS_PROCESS)),
                     TakeLock(op.service, op.environment, op.id, op.requester_name, str(THIS_PROCESS)))
            result = "confirmed"
        applied = await self._store.apply(Change.of(*steps, Append(click_entry(click, op, result))))
        if applied.conflict is not None and applied.conflict.reason == "lock":
            assert applied.conflict.lock is not None
            outcome = messages.locked_at_approval(op, applied.conflict.lock)
            applied = await self._store.apply(Change.of(
                states.move(op.id, ("pending_confirmation",), "failed", finished_at=now_iso(), outcome=outcome),
                Append(click_entry(click, op, "locked", error=messages.locked(applied.conflict.lock)))))
        return await self._outcome(click, op, applied.conflict, applied.operation)

    async def _outcome(self, click: Click, op: Operation, conflict: Conflict | None,
                       moved: Operation | None) -> Decided:
        """The state after an applied decision, or a refusal when someone else decided first."""
        if conflict is not None:
            if conflict.reason == "decided":
                _, decisions = await self._store.operation_and_decisions(op.id)
                approvals = sum(1 for d in decisions if d.decision == "approve")
                return await self._repeated(click, op, decisions, approvals)
            now = await self._store.operation(op.id) or op
            return await self._refuse(click, now, messages.already(now), "denied")
        fresh, decisions = await self._store.operation_and_decisions(op.id)
        assert fresh is not None
        return Decided(fresh, tuple(decisions), runs=fresh.status == "approved")

    async def _repeated(self, click: Click, op: Operation, decisions: list[Decision], approvals: int) -> Decided:
        mine = next((d for d in decisions if d.approver_id == click.call.actor.id), None)
        sentence = messages.repeated_rejection() if mine is not None and mine.decision == "reject" \
            else messages.repeated_approval(op, approvals)
        return await self._refuse(click, op, sentence, "duplicate")

    async def _refuse(self, click: Click, op: Operation | None, sentence: str, result: str) -> Decided:
        await self._store.append(click_entry(click, op, result, error=sentence))
        return Decided(op, tell=sentence)

    async def _expire_on_click(self, click: Click, op: Operation) -> Decided:
        await self._store.apply(Change.of(
            states.move(op.id, states.PENDING, "expired", finished_at=now_iso()),
            Append(operation_entry(op, "expired")),
            Append(click_entry(click, op, "expired", error=messages.EXPIRED))))
        return Decided(await self._store.operation(op.id), tell=messages.EXPIRED)

    async def expire_due(self) -> int:
        """Expire every waiting request whose time is over; their messages then show it."""
        count = 0
        for op in await self._store.operations(*states.PENDING):
            if not op.expired():
                continue
            applied = await self._store.apply(Change.of(
                states.move(op.id, states.PENDING, "expired", finished_at=now_iso()),
                Append(operation_entry(op, "expired"))))
            count += applied.ok
        return count


def _same_message(op: Operation, click: Click) -> bool:
    """A click counts only on the request's own message, in its channel and guild."""
    assert click.message is not None
    if op.guild_id and click.call.guild_id != op.guild_id:
        return False
    if op.message_id is None:  # its message was not recorded (a crash right after the reply): match its interaction
        return click.answers is not None and click.answers == op.interaction_id and \
            click.message.channel_id == op.channel_id
    return click.message.message_id == op.message_id and click.message.channel_id == op.message_channel_id
