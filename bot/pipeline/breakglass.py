"""Break-glass: an incident commander acts at once during an open incident, and the team reviews it afterwards.

`/deploy … break_glass:<reason>` (and `/rollback`, `/scale`) by a member holding a `[break_glass] roles`
capability, while an incident of that service is open, skips approvals, confirmation and freezes —
never the lock. The request is refused, with the reason and audited, outside an open incident, for
anyone else, for an action `[break_glass] actions` does not list, or without a `[break_glass]`
section. One that runs:

- its card pings the approver roles it skipped and the reviewers (allowed_mentions names them alone);
- every audit row of the operation carries `break_glass` (the reason); the first also the incident;
- a post in the incident's thread says what was done and why;
- a review opens in the audit channel: `acknowledgements` distinct reviewers — never the actor —
  acknowledge it with a button by `review_hours`; until then it shows as open there and in
  `/status`, and once it is overdue a reminder is posted (once). State is in the store, so a
  restart changes nothing of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import BreakGlassConfig, OpscordConfig
from bot.errors import PermissionDenied, ValidationFailed
from bot.pipeline import messages
from bot.pipeline.access import Access
from bot.pipeline.entries import click_entry, operation_entry
from bot.pipeline.policy import PolicyEngine, article, role_phrase
from bot.pipeline.types import AlreadyHandled, Card, Click, ClickReply, Invocation, OperationInput
from bot.store import Change, Incident, Operation, Review, Store
from bot.store.changes import (
    AcknowledgeReview,
    Announce,
    Append,
    ClaimInteraction,
    CloseReview,
    OpenReview,
    Step,
    UpdateReview,
)
from bot.text import shown
from bot.times import iso, now_iso, parse_iso

NOT_ENABLED = "Break-glass is not enabled here (the config has no [break_glass] section)."
NO_REVIEW = "This break-glass review no longer exists."
NOT_THIS_MESSAGE = "That button does not belong to this review's message; nothing was changed."


BREAK_GLASS_ACTION = {"deploy": "deploy", "rollback": "rollback", "scale_up": "scale", "scale_down": "scale"}
"""Policy action → the command break-glass names it by."""


def explain(settings: BreakGlassConfig | None, policy_action: str) -> str:
    """What break-glass allows for this policy action, as configured (for `policy explain` and /help)."""
    if settings is None:
        return "Break-glass: off (no [break_glass] section)."
    action = BREAK_GLASS_ACTION.get(policy_action)
    if action is None or action not in settings.actions:
        return f"Break-glass: not for {policy_action.replace('_', ' ')} ([break_glass] actions: " \
               f"{', '.join(settings.actions)})."
    who = reviewers_phrase(settings.roles)
    reviewers = reviewers_phrase(settings.reviewers)
    return (f"Break-glass: {article(who)}{who} may run it at once with break_glass:<reason> while the service has an "
            f"open incident, skipping approvals, confirmation and freezes (never the lock); then "
            f"{settings.acknowledgements} {reviewers}{'s' if settings.acknowledgements > 1 else ''} other than them "
            f"acknowledge the review within {settings.review_hours:g} h.")


def reviewers_phrase(roles: tuple[str, ...] | list[str]) -> str:
    """"team lead" / "team lead or dba"."""
    return " or ".join(role_phrase(r) for r in roles)


def _when(text: str) -> str:
    """A stored time as Discord shows it to each reader: "<t:…:f> (<t:…:R>)"."""
    stamp = int(parse_iso(text).timestamp())
    return f"<t:{stamp}:f> (<t:{stamp}:R>)"


def review_card(review: Review, now: datetime | None = None) -> Card:
    """The review's message in the audit channel: open (with its button, calling on the reviewers) or closed."""
    head = (f"{review.subject} by {messages.who(review.actor_name)} during {review.incident_id} · `{review.op_id}`\n"
            f"Reason: {shown(review.reason, 300)}")
    acked = [a.reviewer_name for a in review.acks]
    if review.closed_at is not None:
        return Card(review.op_id, f"✅ Break-glass review closed · {head}\nAcknowledged by "
                                  f"{messages.mentions(acked)}.", "review", disabled=True)
    overdue = " · ⏰ overdue" if review.overdue(now) else ""
    need = (f"{review.required} {reviewers_phrase(review.reviewer_roles)}"
            f"{'s' if review.required > 1 else ''} (not {messages.who(review.actor_name)}) acknowledge it by "
            f"{_when(review.due_at)}.")
    tally = f"{len(acked)}/{review.required} acknowledged" + (f": {messages.mentions(acked)}" if acked else "")
    return Card(review.op_id, f"🚨 Open break-glass review{overdue} · {head}\nApprovals and freezes were skipped. "
                              f"{need}\n{tally}", "review", ping_roles=review.reviewer_roles)


def reminder_text(review: Review) -> str:
    """The reminder posted (once) when a review is overdue."""
    acked = len(review.acks)
    return (f"⏰ The break-glass review of {review.subject} by {messages.who(review.actor_name)} "
            f"(`{review.op_id}`) is overdue: "
            f"{acked}/{review.required} acknowledged. {reviewers_phrase(review.reviewer_roles).capitalize()}s, "
            f"please review it.")


def status_line(review: Review) -> str:
    """One line for /status: what, by whom, how far, by when."""
    due = "overdue since" if review.overdue() else "due"
    return (f"🚨 {review.subject.split(' ', 1)[1]} by {messages.who(review.actor_name)} ({review.incident_id}): "
            f"{len(review.acks)}/{review.required} acknowledged, {due} {_when(review.due_at)}")


class BreakGlass:
    """Authorizes break-glass requests, opens their reviews, takes acknowledgements and reminds."""

    def __init__(self, config: OpscordConfig, store: Store, access: Access, policy: PolicyEngine,
                 changed: asyncio.Event) -> None:
        self._config = config
        self._store = store
        self._access = access
        self._policy = policy
        self.changed = changed
        """Set whenever a review's message or reminder needs showing (the review sync waits on it)."""

    @property
    def settings(self) -> BreakGlassConfig | None:
        """`[break_glass]`, when configured."""
        return self._config.break_glass

    async def authorize(self, call: Invocation, inp: OperationInput) -> Incident:
        """The open incident this break-glass request acts in; refuses (PermissionDenied) with the reason."""
        settings = self.settings
        if settings is None:
            raise PermissionDenied(NOT_ENABLED)
        if not (inp.break_glass or "").strip():
            raise ValidationFailed("Break-glass needs a reason: break_glass:<why it cannot wait>.")
        if inp.action not in settings.actions:
            raise PermissionDenied(f"Break-glass is not allowed for {inp.action} (only "
                                   f"{', '.join(settings.actions)}); ask for approval as usual.")
        if not self._access.holds_any(call.actor, settings.roles):
            roles = reviewers_phrase(settings.roles)
            raise PermissionDenied(f"Only {article(roles)}{roles} can break glass; ask for approval as usual.")
        self._access.require_channel(call)
        open_now = [i for i in await self._store.incidents(open_only=True) if i.service == inp.service]
        if not open_now:
            raise PermissionDenied(f"Break-glass needs an open incident for {inp.service}, and there is none; "
                                   f"open one with /incident create (service: {inp.service}), or ask for approval "
                                   "as usual.")
        return open_now[-1]

    def called_on(self, policy_action: str, environment: str, service: str) -> tuple[str, ...]:
        """Who the operation's card pings: the approvers it skipped (freezes' included), then the reviewers."""
        assert self.settings is not None
        skipped = list(self._policy.row_for(policy_action, environment, service).approver_roles)
        freeze = self._policy.active_freeze(policy_action, environment)
        if freeze is not None:
            skipped += freeze.approver_roles
        return tuple(dict.fromkeys([*skipped, *self.settings.reviewers]))

    def opened(self, op: Operation, incident: Incident) -> tuple[list[Step], dict[str, Any]]:
        """The review and the incident-thread post a break-glass operation opens with, and its first row's fields."""
        settings = self.settings
        assert settings is not None and op.break_glass is not None
        skipped = self._policy.row_for(op.policy_action, op.environment, op.service)
        freeze = self._policy.active_freeze(op.policy_action, op.environment)
        due = iso(datetime.now(UTC) + timedelta(hours=settings.review_hours))
        review = Review(op_id=op.id, incident_id=incident.id, service=op.service, environment=op.environment,
                        subject=messages.request_line(op), reason=op.break_glass, actor_id=op.requester_id,
                        actor_name=op.requester_name, reviewer_roles=tuple(settings.reviewers),
                        required=settings.acknowledgements, opened_at=now_iso(), due_at=due)
        was = skipped.sentence().rstrip(".").replace("Requires", "needed", 1).replace("No approval needed",
                                                                                     "needed no approval")
        frozen = f"; the change freeze ({shown(freeze.reason, 100)}) was skipped too" if freeze else ""
        post = (f"🚨 Break-glass: {messages.subject(op)} by {messages.who(op.requester_name)}, at once — it "
                f"{was}{frozen}.\nReason: {shown(op.break_glass, 300)}\n"
                f"{review.required} {reviewers_phrase(review.reviewer_roles)}"
                f"{'s' if review.required > 1 else ''} review it in the audit channel by {_when(due)}. `{op.id}`")
        steps: list[Step] = [OpenReview(review)]
        if incident.thread_id:
            steps.append(Announce(post, target=incident.thread_id))
        fields = {"incident": incident.id, "skipped": skipped.sentence(), "freeze": freeze.reason if freeze else None,
                  "review_due": due}
        return steps, fields

    async def acknowledge(self, click: Click, reply: ClickReply) -> Review | None:
        """A reviewer's Acknowledge: counted once per person, never the actor's; the last one closes the review."""
        op = await self._store.operation(click.op_id)
        review = await self._store.review(click.op_id)
        if op is None or review is None:
            return await self._refuse(click, op, NO_REVIEW, "invalid", reply)
        if click.message is not None and review.message_id is not None and (
                click.message.message_id != review.message_id
                or click.message.channel_id != review.message_channel_id):
            return await self._refuse(click, op, NOT_THIS_MESSAGE, "denied", reply)
        actor = click.call.actor
        if review.closed_at is not None:
            return await self._refuse(click, op, "This review is already closed.", "denied", reply)
        if actor.id == review.actor_id:
            return await self._refuse(click, op, "You broke the glass; other reviewers acknowledge it.", "denied",
                                      reply)
        if not self._access.holds_any(actor, review.reviewer_roles):
            roles = reviewers_phrase(review.reviewer_roles)
            return await self._refuse(click, op, f"Only {article(roles)}{roles} can acknowledge this review.",
                                      "denied", reply)
        if any(a.reviewer_id == actor.id for a in review.acks):
            return await self._refuse(click, op, f"You already acknowledged — {len(review.acks)} of "
                                                 f"{review.required}.", "duplicate", reply)
        count = len(review.acks) + 1
        steps: list[Step | None] = [
            ClaimInteraction(click.call.interaction_id, click.op_id) if click.call.interaction_id else None,
            AcknowledgeReview(op.id, actor.id, actor.name),
            Append(click_entry(click, op, "acknowledged", acknowledgements=f"{count}/{review.required}",
                               break_glass=op.break_glass)),
        ]
        if count >= review.required:
            names = [*(f"@{a.reviewer_name}" for a in review.acks), actor.label]
            steps += [CloseReview(op.id),
                      Append(operation_entry(op, "review_closed", acknowledged_by=", ".join(names),
                                             incident=review.incident_id))]
            thread = await self._thread_of(review.incident_id)
            if thread:
                steps.append(Announce(f"✅ The break-glass review of `{op.id}` ({messages.subject(op)}) is closed: "
                                      f"acknowledged by {messages.mentions(names)}.", target=thread))
        applied = await self._store.apply(Change.of(*steps))
        if applied.conflict is not None:
            if applied.conflict.reason == "duplicate":
                raise AlreadyHandled(click.call.interaction_id)
            now = await self._store.review(op.id)
            sentence = ("This review is already closed." if now is None or now.closed_at is not None
                        else f"You already acknowledged — {len(now.acks)} of {now.required}.")
            return await self._refuse(click, op, sentence, "duplicate", reply, audit=True)
        fresh = await self._store.review(op.id)
        assert fresh is not None
        await reply.update(review_card(fresh))
        await self._store.apply(Change.of(UpdateReview(op.id, shown_revision=fresh.revision)))
        self.changed.set()
        return fresh

    async def _refuse(self, click: Click, op: Operation | None, sentence: str, result: str, reply: ClickReply,
                      *, audit: bool = True) -> Review | None:
        if audit:
            await self._store.append(click_entry(click, op, result, error=sentence))
        await reply.tell(sentence)
        return None

    async def _thread_of(self, incident_id: str) -> str | None:
        incident = await self._store.incident(incident_id)
        return incident.thread_id if incident is not None else None

    async def remind_due(self, now: datetime | None = None) -> int:
        """Mark each overdue review reminded (once), audited; the review sync posts the reminder."""
        reminded = 0
        for review in await self._store.reviews(open_only=True):
            if review.reminded_at is not None or not review.overdue(now):
                continue
            op = await self._store.operation(review.op_id)
            if op is None:
                continue
            overdue = dataclasses.replace(review, reminded_at=now_iso())
            applied = await self._store.apply(Change.of(
                UpdateReview(review.op_id, {"reminded_at": overdue.reminded_at}, touch=True),
                Append(operation_entry(op, "review_overdue", incident=review.incident_id,
                                       acknowledgements=f"{len(review.acks)}/{review.required}",
                                       error=f"not acknowledged by {review.due_at}"))))
            reminded += applied.ok
        if reminded:
            self.changed.set()
        return reminded
