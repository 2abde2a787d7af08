"""The storage interface: everything Opscord keeps, behind one small typed async protocol.

Writes are `Change`s (bot.store.changes): each is applied atomically with its audit rows, in the
order they were submitted; a change that conflicts or cannot be encoded fails alone. Reads never
wait for the writer. SQLite (bot.store.sqlite) is the embedded default; a PostgreSQL backend for
replicas implements the same protocol with the same semantics.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from bot.store.chain import ChainKey
from bot.store.changes import Applied, Change
from bot.store.records import (
    Announcement,
    AuditEntry,
    AuditRow,
    Decision,
    DeployRecord,
    HealthWatch,
    Incident,
    IncidentEvent,
    Lock,
    Operation,
    Review,
    StoreCounts,
    TargetFacts,
    VerifyResult,
)


class Store(Protocol):
    """Audit log, operations, approvals, locks, deploy history, incidents, announcements, facts, break-glass
    reviews and health watches."""

    appended: collections.Counter[str]
    """Audit rows this process committed, by result (for /metrics)."""

    # --- writing ----------------------------------------------------------------------------------
    async def apply(self, change: Change) -> Applied:
        """Apply the change atomically (group-committed with others, durable when this returns).

        Returns the conflict instead when a conditional step could not be applied (nothing is then
        written); raises when the change cannot be stored at all (e.g. text that is not valid
        UTF-8) — either way only this change is affected, never the others committed beside it.
        """

    async def append(self, entry: AuditEntry) -> AuditRow:
        """Append one audit row on its own (a change with a single `Append` step)."""

    # --- operations -------------------------------------------------------------------------------
    async def operation(self, op_id: str) -> Operation | None:
        """The operation with this id."""

    async def operation_and_decisions(self, op_id: str) -> tuple[Operation | None, list[Decision]]:
        """The operation and every decision on it, read together."""

    async def operations(self, *statuses: str) -> list[Operation]:
        """Operations in these statuses, oldest first."""

    async def operation_by_message(self, message_id: str) -> Operation | None:
        """The operation this Discord message shows (for reactions on it)."""

    async def unshown(self, limit: int = 50) -> list[tuple[Operation, list[Decision]]]:
        """Operations whose message does not show their latest revision yet, with their decisions."""

    async def target(self, service: str, environment: str) -> TargetFacts:
        """Lock, current and rollback version and last scale of (service, environment), in one read."""

    async def lock(self, service: str, environment: str) -> Lock | None:
        """Who holds (service, environment)."""

    async def locks(self) -> list[Lock]:
        """Every held lock, oldest first."""

    async def deploy_history(self, service: str, environment: str | None = None, limit: int = 20
                             ) -> list[DeployRecord]:
        """The latest deploys and rollbacks of a service, newest first."""

    async def deploys_in(self, environments: Iterable[str]) -> list[DeployRecord]:
        """Every deploy and rollback in these environments, oldest first (for DORA metrics)."""

    async def versions(self, service: str, containing: str, limit: int = 25) -> list[str]:
        """Recently deployed versions of a service containing `containing`, newest first."""

    # --- incidents --------------------------------------------------------------------------------
    async def incident(self, incident_id: str) -> Incident | None:
        """The incident with this id."""

    async def incidents(self, *, open_only: bool) -> list[Incident]:
        """Incidents (unresolved ones only, or all), oldest first."""

    async def incident_events(self, incident_id: str) -> list[IncidentEvent]:
        """Every event of an incident (`RecordIncidentEvent`), in the order they were committed."""

    async def deploys_between(self, start: str, end: str, service: str | None = None) -> list[DeployRecord]:
        """Deploys and rollbacks whose `started_at` lies in [start, end] (ISO timestamps), of `service` or
        of every service, oldest first (the deploys around an incident, for its timeline)."""

    # --- announcements and facts ------------------------------------------------------------------
    async def unposted(self, limit: int = 20) -> list[Announcement]:
        """Posts for the deployments channel not delivered yet, oldest first."""

    async def fact(self, key: str) -> str | None:
        """A fact remembered with `PutFact`."""

    async def counts(self) -> StoreCounts:
        """Gauges: audit head, operations by status, locks held, open incidents."""

    # --- break-glass reviews and health watches ---------------------------------------------------
    async def review(self, op_id: str) -> Review | None:
        """The review a break-glass operation opened, with its acknowledgements."""

    async def reviews(self, *, open_only: bool) -> list[Review]:
        """Break-glass reviews (still open only, or all), oldest first."""

    async def unshown_reviews(self) -> list[Review]:
        """Reviews whose message is not posted or not up to date, or whose overdue reminder is not posted."""

    async def watches(self, *statuses: str) -> list[HealthWatch]:
        """Deploys' health watches in these statuses, oldest first."""

    # --- the audit log ----------------------------------------------------------------------------
    async def audit_recent(self, limit: int = 10, *, user_id: str | None = None, user: str | None = None,
                           service: str | None = None) -> list[AuditRow]:
        """The latest rows, newest first, filtered by member (id, else `@name`) and/or service."""

    def audit_rows(self, since: str | None = None) -> AsyncIterator[AuditRow]:
        """Every row in chain order (from timestamp `since` on), read on a connection of its own."""

    async def audit_head(self) -> tuple[int, str]:
        """(id, hash) of the newest row; (0, the genesis hash) when the log is empty."""

    async def audit_hashes(self, row_ids: Iterable[int]) -> dict[int, str]:
        """The stored hash of each of these rows that exists."""

    async def audit_seal(self, row_id: int) -> tuple[str, str | None] | None:
        """(hash, MAC or None) of one row; None when it does not exist."""

    async def verify(self, *, key: ChainKey | None = None, after: tuple[int, str] | None = None) -> VerifyResult:
        """Walk the chain; name the first row that was altered, deleted or inserted out of band.

        With `key`, the MACs of a keyed chain are checked too. With `after` (id, hash) of a trusted
        checkpoint, only the rows after it are walked (that row must still carry that hash).
        """

    async def close(self) -> None:
        """Finish the queued writes, then close."""
