"""Write units: a state change and its audit rows, applied all together or not at all.

A `Change` is a list of steps in the words of the domain — create an operation, move it from one
status to another, take a lock, record a decision, append an audit row. The store applies each
change atomically; the steps that can conflict (a status that moved on, a lock held by someone
else, a person who already decided) roll the whole change back and report the conflict instead,
so the caller knows exactly what happened and nothing was half-written. Backends (SQLite today,
PostgreSQL for replicas) implement the steps; nothing outside the store speaks SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.store.records import AuditEntry, AuditRow, Decision, HealthWatch, Lock, Operation, Review

INCIDENT_EVENT_KINDS = frozenset({"created", "update", "commander", "notified", "resolved", "postmortem"})
MUTABLE_INCIDENT_FIELDS = frozenset({
    "status", "thread_id", "pager_key", "statuspage_id", "resolved_at", "postmortem_event", "commander_id",
    "commander_name", "announcement_channel_id", "announcement_id", "opener_id", "statuspage_url", "pager_url",
})
"""What may change on an incident; its title, severity, service and creation time never change."""

MUTABLE_OPERATION_FIELDS = frozenset({
    "started_at", "finished_at", "outcome", "message_channel_id", "message_id", "holder", "provider_process",
    "progress", "expires_at",
})
"""What may change on an operation besides its status; its request fields never change."""


@dataclass(frozen=True)
class CreateOperation:
    """Insert a new request."""

    op: Operation


@dataclass(frozen=True)
class MoveOperation:
    """Move an operation on, if it is still in one of `from_statuses` (else: a conflict)."""

    op_id: str
    from_statuses: tuple[str, ...]
    to_status: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateOperation:
    """Change an operation's bookkeeping (message, holder, provider process, progress) in any status."""

    op_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    shown_revision: int | None = None
    """Record that its message now shows this revision (display bookkeeping: no new revision)."""
    touch: bool = False
    """The card changes (a new approval, progress): count a new revision so its message is updated."""


@dataclass(frozen=True)
class TakeLock:
    """Take (service, environment) for an operation (a conflict when another operation holds it)."""

    service: str
    environment: str
    op_id: str
    holder_name: str
    holder: str


@dataclass(frozen=True)
class FreeLock:
    """Release whatever lock an operation holds."""

    op_id: str


@dataclass(frozen=True)
class HandOverLock:
    """The lock of an operation passes to another holder process (a restart adopting an orphan)."""

    op_id: str
    holder: str


@dataclass(frozen=True)
class RecordDecision:
    """One person's approve/reject on a request (a conflict when they already decided)."""

    op_id: str
    approver_id: str
    approver_name: str
    decision: str
    roles: tuple[str, ...] = ()
    """The capabilities the member holds as they decide (which approval slots they can fill)."""


@dataclass(frozen=True)
class StartDeploy:
    """A deploy or rollback enters the history as running."""

    op: Operation


@dataclass(frozen=True)
class FinishDeploy:
    """Close the running history row of an operation."""

    op_id: str
    status: str
    committed_at: str | None = None
    """When the deployed commit was made, when the provider said (for lead time)."""


@dataclass(frozen=True)
class ReserveIncident:
    """Allocate a unique incident id from `base` (`base`, `base-2`, …) and insert the incident as opening."""

    base_id: str
    title: str
    severity: str
    service: str | None
    commander_id: str
    commander_name: str


@dataclass(frozen=True)
class UpdateIncident:
    """Change an incident's status and bookkeeping."""

    incident_id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class RecordIncidentEvent:
    """Add an event to an incident's timeline (one of `INCIDENT_EVENT_KINDS`)."""

    incident_id: str
    kind: str
    text: str = ""
    actor_id: str | None = None
    actor_name: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Announce:
    """Queue a post: to the deployments channel, or to the channel or thread `target` names (an id)."""

    text: str
    target: str | None = None
    ping_user: str | None = None
    """The one member this post pings (allowed_mentions names them alone)."""
    reply_to: str | None = None
    """The message (in `target`) this post replies to."""


@dataclass(frozen=True)
class MarkAnnounced:
    """A queued post was delivered."""

    announcement_id: int


@dataclass(frozen=True)
class PutFact:
    """Remember a small fact between starts (e.g. the digest of the last command sync)."""

    key: str
    value: str


@dataclass(frozen=True)
class Append:
    """Append an audit row to the hash chain."""

    entry: AuditEntry


@dataclass(frozen=True)
class ClaimInteraction:
    """Record that this Discord interaction is being handled (a conflict when it already was: exactly once).

    A click or command delivered twice — to two replicas during a takeover, or replayed — is then
    handled by whichever change commits first; the other reports `duplicate` and changes nothing.
    """

    interaction_id: str
    operation_id: str | None = None


@dataclass(frozen=True)
class StartExecution:
    """Record that an operation's provider is being called, once per attempt (a conflict when it already was)."""

    op_id: str
    holder: str
    attempt: int = 1


MUTABLE_REVIEW_FIELDS = frozenset({"reminded_at", "message_channel_id", "message_id", "reminder_id"})
"""What may change on a break-glass review besides its acknowledgements and closing."""


@dataclass(frozen=True)
class OpenReview:
    """Insert the review a break-glass operation opens."""

    review: Review


@dataclass(frozen=True)
class AcknowledgeReview:
    """One reviewer acknowledges an open review (a conflict, `decided`, when they already did; `status` when
    it is closed)."""

    op_id: str
    reviewer_id: str
    reviewer_name: str


@dataclass(frozen=True)
class CloseReview:
    """Close an open review (a conflict, `status`, when it is closed already)."""

    op_id: str


@dataclass(frozen=True)
class UpdateReview:
    """Change a review's bookkeeping (its message, its reminder)."""

    op_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    shown_revision: int | None = None
    touch: bool = False
    """Its message changes: count a new revision."""


@dataclass(frozen=True)
class StartWatch:
    """A deploy's health gate starts watching."""

    watch: HealthWatch


@dataclass(frozen=True)
class EndWatch:
    """End a watch that is still watching (a conflict, `status`, when it ended already)."""

    op_id: str
    status: str
    outcome: str
    rollback_op_id: str | None = None


Step = (CreateOperation | MoveOperation | UpdateOperation | TakeLock | FreeLock | HandOverLock | RecordDecision
        | StartDeploy | FinishDeploy | ReserveIncident | UpdateIncident | RecordIncidentEvent | Announce | MarkAnnounced
        | PutFact | Append | ClaimInteraction | StartExecution | OpenReview | AcknowledgeReview | CloseReview
        | UpdateReview | StartWatch | EndWatch)


@dataclass(frozen=True)
class Change:
    """Steps applied together, in order, in one transaction."""

    steps: tuple[Step, ...]

    @classmethod
    def of(cls, *steps: Step | None) -> Change:
        """A change from the steps given (None entries are skipped, for optional steps)."""
        return cls(tuple(s for s in steps if s is not None))


@dataclass(frozen=True)
class Conflict:
    """Why a change was not applied: the step that could not be, and what stood in its way."""

    step: Step
    reason: str
    """`status` (the operation moved on), `lock` (held by another operation), `decided` (already decided),
    `duplicate` (the interaction or the execution attempt was already recorded)."""
    status: str | None = None
    lock: Lock | None = None
    decision: Decision | None = None


class Fenced(RuntimeError):
    """The store refused a write because this process no longer holds the leader lease (a newer epoch exists).

    Raised for every change of the transaction that found the epoch stale; nothing of it was written.
    """


@dataclass(frozen=True)
class Applied:
    """What a change did: its audit rows and allocated ids, or the conflict that stopped it."""

    conflict: Conflict | None = None
    rows: tuple[AuditRow, ...] = ()
    incident_id: str | None = None
    operation: Operation | None = None
    """The operation after the change, when the change created or moved one (the last such step)."""

    @property
    def ok(self) -> bool:
        """Whether the change was applied."""
        return self.conflict is None
