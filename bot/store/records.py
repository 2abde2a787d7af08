"""What the store keeps: audit rows, operations, approvals, locks, deploys, incidents — as values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.times import parse_iso

SEED_KEYS = ("timestamp", "user", "command", "approved_by", "result", "duration_seconds", "channel")
INDEXED_KEYS = ("user_id", "service", "environment", "action", "request_id", "interaction_id")
"""Keys of an entry's `extra` that are also stored as indexed columns (filters of /audit recent)."""


@dataclass(frozen=True)
class AuditEntry:
    """What a caller records; the store adds the row id, the timestamp (if absent) and the hashes."""

    user: str
    command: str
    result: str
    approved_by: str | None = None
    duration_seconds: float | None = None
    channel: str | None = None
    timestamp: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRow:
    """A committed audit row."""

    id: int
    timestamp: str
    user: str
    command: str
    approved_by: str | None
    result: str
    duration_seconds: float | None
    channel: str | None
    extra: dict[str, Any]
    prev_hash: str
    hash: str
    mac: str | None = None
    """HMAC-SHA256 of `hash` with the chain key, on rows written with a keyed chain (bot.store.chain)."""

    def export(self) -> dict[str, Any]:
        """The export object: the seed's seven keys first, then the rest."""
        duration = self.duration_seconds
        if duration is not None and float(duration).is_integer():
            duration = int(duration)
        out: dict[str, Any] = {
            "timestamp": self.timestamp, "user": self.user, "command": self.command,
            "approved_by": self.approved_by, "result": self.result, "duration_seconds": duration,
            "channel": self.channel, "id": self.id,
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        out["prev_hash"] = self.prev_hash
        out["hash"] = self.hash
        if self.mac is not None:
            out["mac"] = self.mac
        return out


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking the hash chain."""

    rows: int
    ok: bool
    bad_row: int | None = None
    reason: str = ""
    head: tuple[int, str] | None = None
    """The last row walked (id, hash) when the chain held."""
    keyed_from: int | None = None
    """The first row carrying a MAC (a keyed chain from there on), if any."""
    macs_checked: bool = False
    """Whether those MACs were checked (the walk had the key)."""
    since: int = 0
    """Rows up to this one were trusted without walking them (an incremental verify)."""

    def __str__(self) -> str:
        if self.ok:
            return f"{self.rows} rows, chain intact"
        return f"chain broken at row {self.bad_row}: {self.reason}"


@dataclass(frozen=True)
class Operation:
    """One mutating request. Its request fields never change; its status and bookkeeping move on."""

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
    holder: str | None = None
    """The process (see bot.processes) that holds this operation while it is accepted or running."""
    interaction_id: str | None = None
    provider_process: str | None = None
    """The provider process this operation started, while it may still run."""
    progress: str | None = None
    revision: int = 1
    shown_revision: int = 1
    break_glass: str | None = None
    """The reason given when an incident commander broke glass (approvals and freezes skipped)."""
    caused_by: str | None = None
    """The deploy whose health gate started this rollback (Opscord acting for that deploy's requester)."""
    quorum: str | None = None
    """The approval slots of a mixed-role quorum (JSON: one list of capabilities per slot); None: N-of-M."""
    plan: str | None = None
    """The plan its approvers were shown (JSON, see bot.pipeline.plans); None for requests made before plans."""

    def expired(self, at: datetime | None = None) -> bool:
        """Whether the time for approval or confirmation is over."""
        return self.expires_at is not None and parse_iso(self.expires_at) <= (at or datetime.now(UTC))


OPERATION_FIELDS = tuple(Operation.__dataclass_fields__)


@dataclass(frozen=True)
class Decision:
    """One person's decision on a request."""

    approver_id: str
    approver_name: str
    decision: str
    decided_at: str
    roles: tuple[str, ...] | None = None
    """The capabilities the approver held when they decided (None: recorded before roles were kept)."""


@dataclass(frozen=True)
class Lock:
    """Who holds a (service, environment)."""

    service: str
    environment: str
    operation_id: str
    holder_name: str
    since: str
    holder: str | None = None
    command: str | None = None
    """The command of the operation holding it (joined in when read)."""


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
    committed_at: str | None = None
    """When the deployed commit was made, if the provider reported it (lead time for changes)."""


@dataclass(frozen=True)
class Incident:
    """One incident."""

    id: str
    title: str
    severity: str
    service: str | None
    status: str
    commander_id: str
    commander_name: str
    thread_id: str | None
    pager_key: str | None
    statuspage_id: str | None
    created_at: str
    resolved_at: str | None
    postmortem_event: str | None
    announcement_channel_id: str | None = None
    """Where the announcement in the incidents channel is (edited to the current status)."""
    announcement_id: str | None = None
    opener_id: str | None = None
    """The opening message in the thread (pinned, with the links)."""
    statuspage_url: str | None = None
    pager_url: str | None = None


INCIDENT_FIELDS = tuple(Incident.__dataclass_fields__)


@dataclass(frozen=True)
class IncidentEvent:
    """One thing that happened to an incident, for its timeline (`text` as typed: escape it to show it)."""

    id: int
    incident_id: str
    at: str
    kind: str
    """created, update, commander, notified, resolved, postmortem."""
    actor_id: str | None
    actor_name: str | None
    status: str | None
    text: str


@dataclass(frozen=True)
class TargetFacts:
    """What a new request on (service, environment) needs to know, read in one go."""

    lock: Lock | None
    current_version: str | None
    rollback_version: str | None
    last_scale: int | None


@dataclass(frozen=True)
class Announcement:
    """A post (to the deployments channel, or to a thread when `target` is set) waiting to be delivered."""

    id: int
    target: str | None
    text: str
    created_at: str
    ping_user: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class StoreCounts:
    """Gauges for /metrics and /healthz."""

    audit_head: int
    operations: dict[str, int]
    locks: int
    open_incidents: int


@dataclass(frozen=True)
class Acknowledgement:
    """One reviewer's acknowledgement of a break-glass operation."""

    reviewer_id: str
    reviewer_name: str
    acked_at: str


@dataclass(frozen=True)
class Review:
    """The review a break-glass operation opens: distinct reviewers acknowledge it by `due_at`."""

    op_id: str
    incident_id: str
    service: str
    environment: str
    subject: str
    """What was done: "🚀 Deploy order-service v2.4.2 to production"."""
    reason: str
    actor_id: str
    actor_name: str
    reviewer_roles: tuple[str, ...]
    required: int
    opened_at: str
    due_at: str
    closed_at: str | None = None
    reminded_at: str | None = None
    message_channel_id: str | None = None
    message_id: str | None = None
    reminder_id: str | None = None
    """The reminder posted once it was overdue."""
    revision: int = 1
    shown_revision: int = 0
    acks: tuple[Acknowledgement, ...] = ()

    def overdue(self, at: datetime | None = None) -> bool:
        """Whether it is still open after its due time."""
        return self.closed_at is None and parse_iso(self.due_at) <= (at or datetime.now(UTC))


REVIEW_FIELDS = tuple(name for name in Review.__dataclass_fields__ if name != "acks")


@dataclass(frozen=True)
class HealthWatch:
    """A deploy's health gate: watched until `until`; ends healthy, unhealthy, superseded or interrupted."""

    op_id: str
    service: str
    environment: str
    on_unhealthy: str
    started_at: str
    until: str
    status: str
    holder: str | None = None
    finished_at: str | None = None
    outcome: str | None = None
    rollback_op_id: str | None = None


WATCH_FIELDS = tuple(HealthWatch.__dataclass_fields__)
