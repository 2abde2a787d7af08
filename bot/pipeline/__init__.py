"""The operation pipeline: the one corridor every deploy, rollback, scale and migration goes through.

    request ─▶ validate ─▶ authorize ─▶ policy/freezes ─▶ recorded (with its lock when it runs now)
            ─▶ first reply ─▶ message stored ─▶ run │ wait ─▶ decisions (approve/reject/confirm/expire)
            ─▶ lock ─▶ provider ─▶ health gate ─▶ outcome

It is composed of small parts — access, requests, decisions, runner, recovery, messages — over the
store; it imports nothing of Discord. Callers pass in how to reply (`FirstReply`, `ClickReply`);
what an operation's message shows later (progress, outcome, expiry) is derived from the store and
delivered by whoever watches `changed` (the Discord client's message sync).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from bot.config import OpscordConfig
from bot.logging_setup import bind
from bot.metrics import Metrics
from bot.pipeline import messages, states
from bot.pipeline.access import Access
from bot.pipeline.breakglass import BreakGlass
from bot.pipeline.decisions import Decisions
from bot.pipeline.entries import Journal, click_entry, mark_audited, operation_entry
from bot.pipeline.first_answers import FirstAnswers
from bot.pipeline.health_gate import IncidentOpener
from bot.pipeline.notices import pings_on
from bot.pipeline.policy import PolicyEngine
from bot.pipeline.recovery import Recovery, RecoveryReport
from bot.pipeline.requests import Requests
from bot.pipeline.runner import OPERATION_TASK_PREFIX, Members, Runner
from bot.pipeline.types import (
    Actor,
    ActorRole,
    Card,
    Click,
    ClickReply,
    FirstReply,
    Invocation,
    MessageRef,
    OpAction,
    OperationInput,
    Refused,
)
from bot.processes import THIS_PROCESS
from bot.providers import ProviderRegistry
from bot.store import Change, Decision, Operation, Store
from bot.store.changes import Append, FreeLock, UpdateOperation
from bot.times import now_iso

__all__ = ["OPERATION_TASK_PREFIX", "Access", "Actor", "ActorRole", "BreakGlass", "Card", "Click", "ClickReply",
           "FirstReply", "IncidentOpener", "Invocation", "Journal", "Members", "MessageRef", "OpAction",
           "OperationInput", "Pipeline", "PolicyEngine", "RecoveryReport", "Refused"]

log = logging.getLogger("bot.pipeline")


class Pipeline:
    """Requests, clicks, expiry, execution, recovery and the graceful stop of operations."""

    def __init__(self, config: OpscordConfig, store: Store, access: Access, providers: ProviderRegistry,
                 members: Members, *, metrics: Metrics | None = None, incidents: IncidentOpener | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.store = store
        self.access = access
        self.providers = providers
        self.changed = asyncio.Event()
        """Set whenever an operation's card or a queued announcement changed (the message sync waits on it)."""
        self.reviews_changed = asyncio.Event()
        """Set whenever a break-glass review's message or reminder needs showing (the review sync waits on it)."""
        self.first_answers = FirstAnswers()
        """Commands waiting for their first answer: starting runs and editing cards let them go first."""
        self.requests = Requests(config, store, access, providers, reviews_changed=self.reviews_changed)
        self.decisions = Decisions(config, store, access, self.requests.plans)
        self.runner = Runner(config, store, access, providers, members=members, changed=self.changed,
                             plans=self.requests.plans, incidents=incidents, first_answers=self.first_answers)
        self.recovery = Recovery(config, store, self.changed)
        self.accepting = True

    @property
    def breakglass(self) -> BreakGlass:
        """Break-glass requests and their reviews."""
        return self.requests.glass

    def card(self, op: Operation, decisions: list[Decision]) -> Card:
        """What the operation's message shows now (approvers called on unless its environment's pings are off)."""
        return messages.card(op, decisions, pings=pings_on(self.config, op.environment))

    @property
    def policy(self) -> PolicyEngine:
        """The approval policy (the seed's matrix when the config has no rows)."""
        return self.requests.policy

    async def step_up(self, inp: OperationInput, call: Invocation) -> str | None:
        """The phrase the requester must type before this request is submitted (None: no step-up)."""
        return await self.requests.step_up(inp, call) if self.accepting else None

    async def request(self, inp: OperationInput, call: Invocation, reply: FirstReply, *,
                      phrase: str | None = None) -> Operation:
        """Accept a request, show its first message, remember the message, and run it if nothing is needed.

        Raises `Refused` (audited) when the request is not accepted — among others when its policy row
        wants a step-up and `phrase` (what the requester typed) is not the service name. When the first
        message cannot be shown, the request is abandoned — nobody saw it, so it never runs — and the
        error re-raised.
        """
        if not self.accepting:
            raise await self.requests.refuse(inp, call, messages.RESTARTING, "restarting")
        op = (await self.requests.accept(inp, call, phrase=phrase)).op
        op, queued = self._queue(op)
        card = self.card(op, [])
        bind(request_id=op.id)
        try:
            where = await reply.show(card)
        except Exception as exc:
            self.runner.release(op.id)
            await self._abandon(op, f"its first message could not be shown ({type(exc).__name__})")
            mark_audited(exc)
            raise
        try:
            if where is not None:
                await self.store.apply(Change.of(UpdateOperation(
                    op.id, {"message_channel_id": where.channel_id, "message_id": where.message_id, **queued},
                    shown_revision=op.revision)))
                await reply.recorded(card, where)
            if op.break_glass:
                self.reviews_changed.set()  # its review's message goes to the audit channel
        finally:  # shown, so it runs (and gives its slot back) even if the bookkeeping above failed
            if op.status == "approved":
                self.runner.start(op.id).add_done_callback(self._finished)
        return op

    def _queue(self, op: Operation) -> tuple[Operation, dict[str, str]]:
        """An approved operation takes its execution slot, or its place in the queue, before its card is shown.

        Returns the operation as its card shows it (queued at its position) and what to store with its message.
        """
        position = self.runner.reserve(op.id) if op.status == "approved" else None
        if position is None:
            return op, {}
        progress = messages.Progress.queued(position, now_iso()).dump()
        return dataclasses.replace(op, progress=progress), {"progress": progress}

    async def _abandon(self, op: Operation, reason: str) -> None:
        # no message shows it (the first one never arrived): nothing for the message sync to bring up to date
        await self.store.apply(Change.of(
            states.move(op.id, (op.status,), "abandoned", finished_at=now_iso(), outcome=f"❌ Not started: {reason}."),
            UpdateOperation(op.id, shown_revision=op.revision + 1),
            FreeLock(op.id), Append(operation_entry(op, "abandoned", error=reason))))

    async def click(self, click: Click, reply: ClickReply) -> Operation | None:
        """Apply an Approve/Reject/Confirm/Cancel and answer the clicker; start the run it completes."""
        if not self.accepting and click.kind in ("approve", "confirm"):
            op = await self.store.operation(click.op_id)
            await self.store.append(click_entry(click, op, "restarting", error=messages.RESTARTING))
            await reply.tell(messages.RESTARTING)
            return op
        bind(request_id=click.op_id)
        if click.kind == "acknowledge":  # a break-glass review's button
            await self.breakglass.acknowledge(click, reply)
            return await self.store.operation(click.op_id)
        decided = await self.decisions.decide(click)
        if decided.tell is None:
            self.metrics.decided(click.kind, decided.op)
        if decided.tell is not None:
            self.changed.set()  # e.g. it expired on this click: its message shows that
            await reply.tell(decided.tell)
            return decided.op
        op = decided.op
        assert op is not None
        queued: dict[str, str] = {}
        if decided.runs:
            op, queued = self._queue(op)
        try:
            try:
                await reply.update(self.card(op, list(decided.decisions)))
            except Exception as exc:  # recorded; the message sync shows it when Discord takes it
                log.warning("could not answer the click on %s: %s", op.id, exc)
                if queued:
                    await self.store.apply(Change.of(states.keep(op.id, "approved", **queued)))
            else:
                await self.store.apply(Change.of(UpdateOperation(op.id, queued, shown_revision=op.revision)))
        finally:  # approved, so it runs (and gives its slot back) whatever happened to the answer
            if decided.runs:
                self.runner.start(op.id).add_done_callback(self._finished)
        self.changed.set()
        return op

    def _finished(self, run: asyncio.Task[Operation | None]) -> None:
        if not run.cancelled() and run.exception() is None:
            self.metrics.operation_finished(run.result())

    async def expire_due(self) -> int:
        """Expire waiting requests whose time is over."""
        count = await self.decisions.expire_due()
        self.metrics.expired(count)
        if count:
            self.changed.set()
        return count

    async def remind_reviews(self) -> int:
        """Mark overdue break-glass reviews reminded (their reminder is posted by the review sync)."""
        return await self.breakglass.remind_due()

    async def recover(self) -> RecoveryReport:
        """Crash recovery (call before accepting any interaction); health watches a dead process left end here."""
        report = await self.recovery.recover()
        report.watches_ended = await self.runner.gate.end_orphans()
        return report

    async def stop(self, grace: float | None = None) -> int:
        """Stop accepting operations, let running ones finish within `grace` seconds, stop the rest."""
        self.accepting = False
        await self.runner.gate.stop()  # no rollback starts while stopping; each watch ends, said so
        stopped = await self.runner.drain(self.config.operations.stop_grace_seconds if grace is None else grace)
        self.recovery.cancel()  # adopted orphans keep their lock: the next start takes them up again
        busy = self.runner.active | self.recovery.adopted
        for op in await self.store.operations(*states.HOLDING):  # accepted here but never started
            if op.holder == str(THIS_PROCESS) and op.id not in busy:
                await self.recovery.interrupt(op, messages.stopped_by_shutdown(op),
                                              error="Opscord stopped before the operation started")
                stopped += 1
        return stopped
