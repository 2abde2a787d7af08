"""Approve, Reject, Confirm and Cancel — and expiry: the decisions on a waiting request.

Rules: only the request's own message counts; N distinct people, never the requester; only
holders of the request's approver capabilities, each filling one approval slot (bot.pipeline.quorum:
an approval that fills no open slot is refused); any approver's Reject ends it, the requester's
own Reject withdraws it; the requester confirms; a repeated click answers and changes nothing.
Each decision, the move it causes and its audit row are one store change, filed under the member
who clicked. The last approval takes the lock in the same change (or says why it cannot). The last
approval and the confirmation first check the request's plan again (bot.pipeline.plans): when what
its approvers saw changed, the approvals are void and the request ends with the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bot.config import OpscordConfig
from bot.pipeline import messages, quorum, states
from bot.pipeline.access import Access
from bot.pipeline.entries import click_entry, operation_entry
from bot.pipeline.notices import requester_notice
from bot.pipeline.plans import Plan, Plans
from bot.pipeline.types import AlreadyHandled, Click
from bot.processes import THIS_PROCESS
from bot.store import Change, Decision, Operation, Store
from bot.store.changes import (
    Announce,
    Append,
    ClaimInteraction,
    Conflict,
    RecordDecision,
    Step,
    TakeLock,
    UpdateOperation,
)
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

    def __init__(self, config: OpscordConfig, store: Store, access: Access, plans: Plans) -> None:
        self._config = config
        self._store = store
        self._access = access
        self._plans = plans

    def _told(self, op: Operation, status: str, decisions: list[Decision], outcome: str | None = None
              ) -> Announce | None:
        """The requester's notice for the state this change moves the request to."""
        after = dataclasses.replace(op, status=status, outcome=outcome or op.outcome)
        return requester_notice(self._config, after, decisions)

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
        roles = tuple(sorted(self._access.capabilities(actor) & set(op.approver_roles)))
        slots, earlier = quorum.slots_of(op), quorum.approvers_of(op, decisions)
        before = len(quorum.assign(slots, earlier))
        if before >= len(slots):  # read as it was being decided: it is no longer waiting
            now = await self._store.operation(op.id) or op
            return await self._refuse(click, now, messages.already(now), "denied")
        count = len(quorum.assign(slots, [*earlier, (actor.id, frozenset(roles))]))
        if count == before:  # one person, one slot: the slots their roles fit are all taken
            return await self._refuse(click, op, messages.no_open_slot(op, decisions), "denied")
        decision = RecordDecision(op.id, actor.id, actor.name, "approve", roles)
        claim = _claim(click)
        plan = Plan.load(op.plan)
        row = Append(click_entry(click, op, "approved", approvals=f"{count}/{op.approvals_required}",
                                 roles=",".join(roles), plan=plan.digest if plan else None))
        after = [*decisions, Decision(actor.id, actor.name, "approve", now_iso(), roles)]
        if count < op.approvals_required:
            applied = await self._store.apply(Change.of(claim, decision, UpdateOperation(op.id, touch=True), row))
        elif (void := await self._plans.recheck(op)) is not None:
            applied = await self._store.apply(Change.of(claim, decision, row,
                                                        *self._void(op, "pending_approval", void, after)))
        else:
            next_status = "pending_confirmation" if op.confirm else "approved"
            applied = await self._store.apply(Change.of(claim, decision, *self._last_approval(op), row,
                                                        self._told(op, next_status, after)))
            if applied.conflict is not None and applied.conflict.reason == "lock":
                assert applied.conflict.lock is not None
                outcome = messages.locked_at_approval(op, applied.conflict.lock)
                applied = await self._store.apply(Change.of(
                    claim, decision, states.move(op.id, ("pending_approval",), "failed", finished_at=now_iso(),
                                          outcome=outcome), row,
                    Append(operation_entry(op, "locked", error=messages.locked(applied.conflict.lock))),
                    self._told(op, "failed", after, outcome)))
        return await self._outcome(click, op, applied.conflict, applied.operation)

    def _void(self, op: Operation, from_status: str, reason: str, decisions: list[Decision]) -> tuple[Step, ...]:
        """The plan changed before the run: the request ends, its approvals void, and says why (audited)."""
        outcome = messages.void(op, reason)
        plan = Plan.load(op.plan)
        told = self._told(op, "failed", decisions, outcome)
        return (states.move(op.id, (from_status,), "failed", finished_at=now_iso(), outcome=outcome),
                Append(operation_entry(op, "void", error=reason, plan=plan.digest if plan else None)),
                *((told,) if told is not None else ()))

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
        _, decisions = await self._store.operation_and_decisions(op.id)
        after = [*decisions, Decision(actor.id, actor.name, "reject", now_iso())]
        applied = await self._store.apply(Change.of(
            _claim(click), RecordDecision(op.id, actor.id, actor.name, "reject"),
            states.move(op.id, ("pending_approval",), status, finished_at=now_iso()),
            Append(click_entry(click, op, status)), self._told(op, status, after)))
        return await self._outcome(click, op, applied.conflict, applied.operation)

    async def _confirm(self, click: Click, op: Operation, decisions: list[Decision], *, confirmed: bool) -> Decided:
        if click.call.actor.id != op.requester_id:
            return await self._refuse(click, op, messages.REQUESTER_ONLY, "denied")
        if not confirmed:
            steps: tuple[Step, ...] = (states.move(op.id, ("pending_confirmation",), "cancelled",
                                                   finished_at=now_iso()),)
            result = "cancelled"
        elif (void := await self._plans.recheck(op)) is not None:
            applied = await self._store.apply(Change.of(_claim(click), Append(click_entry(click, op, "confirmed")),
                                                        *self._void(op, "pending_confirmation", void, decisions)))
            return await self._outcome(click, op, applied.conflict, applied.operation)
        else:
            steps = (states.move(op.id, ("pending_confirmation",), "approved", holder=str(THIS_PROCESS)),
                     TakeLock(op.service, op.environment, op.id, op.requester_name, str(THIS_PROCESS)))
            result = "confirmed"
        applied = await self._store.apply(Change.of(_claim(click), *steps, Append(click_entry(click, op, result))))
        if applied.conflict is not None and applied.conflict.reason == "lock":
            assert applied.conflict.lock is not None
            outcome = messages.locked_at_approval(op, applied.conflict.lock)
            applied = await self._store.apply(Change.of(
                _claim(click),
                states.move(op.id, ("pending_confirmation",), "failed", finished_at=now_iso(), outcome=outcome),
                Append(click_entry(click, op, "locked", error=messages.locked(applied.conflict.lock))),
                self._told(op, "failed", decisions, outcome)))
        return await self._outcome(click, op, applied.conflict, applied.operation)

    async def _outcome(self, click: Click, op: Operation, conflict: Conflict | None,
                       moved: Operation | None) -> Decided:
        """The state after an applied decision, or a refusal when someone else decided first."""
        if conflict is not None:
            if conflict.reason == "duplicate":
                raise AlreadyHandled(click.call.interaction_id)
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
        _, decisions = await self._store.operation_and_decisions(op.id)
        await self._store.apply(Change.of(
            states.move(op.id, states.PENDING, "expired", finished_at=now_iso()),
            Append(operation_entry(op, "expired")),
            Append(click_entry(click, op, "expired", error=messages.EXPIRED)), self._told(op, "expired", decisions)))
        return Decided(await self._store.operation(op.id), tell=messages.EXPIRED)

    async def expire_due(self) -> int:
        """Expire every waiting request whose time is over; their messages then show it."""
        count = 0
        for op in await self._store.operations(*states.PENDING):
            if not op.expired():
                continue
            _, decisions = await self._store.operation_and_decisions(op.id)
            applied = await self._store.apply(Change.of(
                states.move(op.id, states.PENDING, "expired", finished_at=now_iso()),
                Append(operation_entry(op, "expired")), self._told(op, "expired", decisions)))
            count += applied.ok
        return count


def _claim(click: Click) -> ClaimInteraction | None:
    """The click's exactly-once key (a CLI approval has no interaction)."""
    return ClaimInteraction(click.call.interaction_id, click.op_id) if click.call.interaction_id else None


def _same_message(op: Operation, click: Click) -> bool:
    """A click counts only on the request's own message, in its channel and guild."""
    assert click.message is not None
    if op.guild_id and click.call.guild_id != op.guild_id:
        return False
    if op.message_id is None:  # its message was not recorded (a crash right after the reply): match its interaction
        return click.answers is not None and click.answers == op.interaction_id and \
            click.message.channel_id == op.channel_id
    return click.message.message_id == op.message_id and click.message.channel_id == op.message_channel_id
