"""Approve, Reject, Confirm and Cancel clicks, and expiry: the decisions on a pending request."""

from __future__ import annotations

from bot.errors import ValidationFailed
from bot.operation_base import OperationsBase
from bot.operation_types import Actor, ClickOutcome
from bot.operations import PENDING, RUNNER, Operation, now_iso
from bot.render import doing_line, mentions, request_line


class ApprovalDecisions(OperationsBase):
    """N distinct approvers, any approver's Reject ends it, the requester confirms; expiry ends all."""

    async def approve(self, op_id: str, actor: Actor) -> ClickOutcome:
        """An Approve click: counts distinct approvers; the last needed one starts the run."""
        op = await self._pending(op_id, actor, "pending_approval")
        if isinstance(op, ClickOutcome):
            return op
        if actor.id == op.requester_id:
            return await self._refuse(op, actor, "You cannot approve your own request.")
        if not self.authorizer.has_any(actor, op.approver_roles):
            roles = " or ".join(r.replace("_", " ") for r in op.approver_roles)
            return await self._refuse(op, actor, f"Only a {roles} can approve this request.")
        await self.store.record_decision(op.id, actor.id, actor.name, "approve")
        approvers = await self._approvers(op.id)
        await self._audit_op(op, "approved", user=actor.label, approvals=f"{len(approvers)}/{op.approvals_required}")
        if len(approvers) < op.approvals_required:
            text = (f"{request_line(op)} — {len(approvers)}/{op.approvals_required} approved: "
                    f"{mentions(approvers)}")
            return ClickOutcome(op, text)
        next_status = "pending_confirmation" if op.confirm else "approved"  # a row may want both
        if not await self.store.transition(op.id, ("pending_approval",), next_status, runner=RUNNER):
            return ClickOutcome(op, "This request is already being handled.", refused=True)
        fresh = await self.store.get(op.id)
        assert fresh is not None
        if op.confirm:
            return ClickOutcome(fresh, f"✅ Approved by {mentions(approvers)}. @{op.requester_name}, confirm to "
                                       f"proceed.")
        return ClickOutcome(fresh, f"✅ Approved by {mentions(approvers)}. {doing_line(fresh)}", run=True)

    async def reject(self, op_id: str, actor: Actor) -> ClickOutcome:
        """A Reject click by an approver (or the requester withdrawing) ends the request."""
        op = await self._pending(op_id, actor, "pending_approval")
        if isinstance(op, ClickOutcome):
            return op
        own = actor.id == op.requester_id
        if not own and not self.authorizer.has_any(actor, op.approver_roles):
            roles = " or ".join(r.replace("_", " ") for r in op.approver_roles)
            return await self._refuse(op, actor, f"Only a {roles} can reject this request.")
        status = "cancelled" if own else "rejected"
        await self.store.record_decision(op.id, actor.id, actor.name, "reject")
        if not await self.store.transition(op.id, ("pending_approval",), status, finished_at=now_iso()):
            return ClickOutcome(op, "This request was already decided.", refused=True)
        await self._audit_op(op, status, decided_by=actor.label)
        word = "Withdrawn" if own else "Rejected"
        return ClickOutcome(op, f"❌ {word} by {actor.label}: {request_line(op)[2:].strip()}.", finished=True)

    async def confirm(self, op_id: str, actor: Actor, confirmed: bool) -> ClickOutcome:
        """Confirm/Cancel by the requester."""
        op = await self._pending(op_id, actor, "pending_confirmation")
        if isinstance(op, ClickOutcome):
            return op
        if actor.id != op.requester_id:
            return await self._refuse(op, actor, "Only the requester can confirm or cancel this.")
        if not confirmed:
            if await self.store.transition(op.id, ("pending_confirmation",), "cancelled", finished_at=now_iso()):
                await self._audit_op(op, "cancelled")
            return ClickOutcome(op, f"Cancelled: {request_line(op)[2:].strip()}.", finished=True)
        if not await self.store.transition(op.id, ("pending_confirmation",), "approved", runner=RUNNER):
            return ClickOutcome(op, "This request is already being handled.", refused=True)
        return ClickOutcome(op, f"Confirmed by {actor.label}. {doing_line(op)}", run=True)

    async def _pending(self, op_id: str, actor: Actor, status: str) -> Operation | ClickOutcome:
        op = await self.store.get(op_id)
        if op is None:
            raise ValidationFailed("This request no longer exists.")
        if op.status == status and op.expired():
            await self.expire(op)
            op = await self.store.get(op_id) or op
            return await self._refuse(op, actor, "This request has expired; run the command again.", result="expired")
        if op.status != status:
            return await self._refuse(op, actor, f"This request is already {op.status.replace('_', ' ')}.")
        return op

    async def _refuse(self, op: Operation, actor: Actor, sentence: str, result: str = "denied") -> ClickOutcome:
        await self._audit_op(op, result, user=actor.label, error=sentence)
        return ClickOutcome(op, sentence, refused=True)


    async def expire(self, op: Operation) -> bool:
        """Mark a pending request expired, audit it and disable its buttons."""
        if not await self.store.transition(op.id, PENDING, "expired", finished_at=now_iso()):
            return False
        await self._audit_op(op, "expired")
        await self._show(op, f"⌛ Expired: {request_line(op)[2:].strip()} was not "
                             f"{'approved' if op.approvals_required else 'confirmed'} in time.", final=True,
                         disable=True)
        return True

    async def expire_due(self) -> int:
        """Expire every pending request whose time is over."""
        count = 0
        for op in await self.store.with_status(*PENDING):
            if op.expired() and await self.expire(op):
                count += 1
        return count
