"""Typed interfaces and data classes shared by every integration adapter.

The operation pipeline in ``bot/`` talks to adapters only through these protocols. A provider
object may implement several of them (the command provider is a ``Deployer``, ``Scaler``,
``Migrator`` and ``HealthChecker`` at once); ``supported_actions`` says which operations a
configured provider can actually run.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "ACTIONS",
    "Action",
    "ComponentStatus",
    "Deployer",
    "HealthCheck",
    "HealthChecker",
    "HealthReport",
    "HealthStatus",
    "IncidentStatus",
    "LogDirection",
    "LogLine",
    "LogSource",
    "MetricSample",
    "Migrator",
    "Monitor",
    "OnCall",
    "OneEntryProvider",
    "OperationRequest",
    "OperationResult",
    "Pager",
    "PagerSeverity",
    "PlanContext",
    "Planner",
    "ProviderPlan",
    "Scaler",
    "StatusPage",
    "StatusPageIncident",
    "supported_actions",
]

Action = Literal["deploy", "rollback", "scale", "migrate"]
ACTIONS: tuple[Action, ...] = ("deploy", "rollback", "scale", "migrate")


@dataclass(frozen=True)
class OperationRequest:
    """One mutating operation, as approved by the pipeline.

    ``request_id`` is the correlation id: adapters pass it to the upstream (workflow input, webhook
    header, annotation) so a run can be found again and duplicates recognised.
    """

    request_id: str
    action: Action
    service: str
    environment: str
    version: str | None
    replicas: int | None
    previous_version: str | None
    requester: str

    def describe(self) -> str:
        """A short noun phrase for messages: "deploy of api v2 to staging"."""
        where = f"{self.service} in {self.environment}"
        if self.action == "deploy":
            return f"deploy of {self.service} {self.version} to {self.environment}"
        if self.action == "rollback":
            return f"rollback of {where}"
        if self.action == "scale":
            return f"scale of {where} to {self.replicas} replicas"
        return f"migration of {where}"


@dataclass
class OperationResult:
    """What a provider reports back. ``ok`` is False when the operation ran and failed.

    ``summary`` is one user-facing sentence; ``url`` links to the run (workflow run, Argo CD app);
    ``output`` is captured output (bounded); ``details`` holds machine-readable extras.
    """

    ok: bool
    summary: str
    url: str | None = None
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class HealthStatus(enum.Enum):
    """Overall health of a service in an environment."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class HealthCheck(NamedTuple):
    """One measured signal: e.g. ("error rate", "0.4%", "< 1%", HEALTHY)."""

    name: str
    value: str | float | None
    threshold: str | float | None
    status: HealthStatus


@dataclass
class HealthReport:
    """The result of a health check: an overall status, a sentence and the individual checks."""

    status: HealthStatus
    summary: str
    checks: list[HealthCheck] = field(default_factory=list)


@runtime_checkable
class Deployer(Protocol):
    """Deploys a version and rolls back to the previous one."""

    async def deploy(self, request: OperationRequest) -> OperationResult:
        """Deploy ``request.version`` of ``request.service`` to ``request.environment``."""
        ...

    async def rollback(self, request: OperationRequest) -> OperationResult:
        """Return the service to its previous version (``request.previous_version`` when known)."""
        ...


@runtime_checkable
class Scaler(Protocol):
    """Reads and sets the replica count of a service."""

    async def current_replicas(self, service: str, environment: str) -> int | None:
        """Return the desired replica count, or None when the provider cannot tell."""
        ...

    async def scale(self, request: OperationRequest) -> OperationResult:
        """Set the replica count to ``request.replicas``."""
        ...


@runtime_checkable
class Migrator(Protocol):
    """Runs database migrations."""

    async def migrate(self, request: OperationRequest) -> OperationResult:
        """Run the migration for ``request.service`` in ``request.environment``."""
        ...


@runtime_checkable
class HealthChecker(Protocol):
    """Checks whether a service is healthy."""

    async def check(self, service: str, environment: str) -> HealthReport:
        """Return the current health of ``service`` in ``environment``."""
        ...


LogDirection = Literal["backward", "forward"]


class LogLine(NamedTuple):
    """One log line with its stream labels."""

    timestamp: datetime
    labels: dict[str, str]
    line: str


@runtime_checkable
class LogSource(Protocol):
    """A log aggregator (e.g. Loki)."""

    async def query(
        self,
        selector: Mapping[str, str],
        *,
        line_filter: str | None = None,
        since: timedelta = timedelta(hours=1),
        limit: int = 100,
        direction: LogDirection = "backward",
    ) -> list[LogLine]:
        """Return lines whose stream labels equal ``selector`` and that contain ``line_filter``.

        Implementations quote every label value and the filter themselves: callers pass raw user
        input and never build query-language strings.
        """
        ...


class MetricSample(NamedTuple):
    """One sample of an instant query."""

    labels: dict[str, str]
    value: float
    timestamp: datetime


@runtime_checkable
class Monitor(HealthChecker, Protocol):
    """A monitoring system (e.g. Prometheus): health per service plus raw queries."""

    async def query(self, expression: str) -> list[MetricSample]:
        """Run an instant query and return its samples."""
        ...


PagerSeverity = Literal["critical", "error", "warning", "info"]


class OnCall(NamedTuple):
    """Who is on call at one escalation level; ``end`` None means permanently."""

    user_id: str
    name: str
    escalation_level: int
    start: datetime | None
    end: datetime | None


@runtime_checkable
class Pager(Protocol):
    """A paging system (e.g. PagerDuty). Alerts are identified by a caller-chosen dedup key."""

    async def trigger(
        self,
        dedup_key: str,
        summary: str,
        *,
        severity: PagerSeverity,
        source: str,
        details: Mapping[str, Any] | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Open (or append to) the alert for ``dedup_key``; return the dedup key in use."""
        ...

    async def acknowledge(self, dedup_key: str) -> None:
        """Acknowledge the alert for ``dedup_key``."""
        ...

    async def resolve(self, dedup_key: str) -> None:
        """Resolve the alert for ``dedup_key``."""
        ...

    async def oncall(self) -> list[OnCall]:
        """Return who is on call now, lowest escalation level first."""
        ...


IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
ComponentStatus = Literal[
    "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"
]


@dataclass(frozen=True)
class StatusPageIncident:
    """An incident as the status page knows it."""

    id: str
    name: str
    status: IncidentStatus
    url: str | None = None


@runtime_checkable
class StatusPage(Protocol):
    """A public status page (e.g. Atlassian Statuspage)."""

    async def create_incident(
        self,
        name: str,
        body: str,
        *,
        status: IncidentStatus = "investigating",
        components: Mapping[str, ComponentStatus] | None = None,
        correlation_id: str | None = None,
    ) -> StatusPageIncident:
        """Open an incident; ``correlation_id`` lets a retry find the incident it already made."""
        ...

    async def update_incident(
        self, incident_id: str, body: str, *, status: IncidentStatus | None = None
    ) -> StatusPageIncident:
        """Post an update (and optionally a new status) to an incident."""
        ...

    async def resolve_incident(self, incident_id: str, body: str) -> StatusPageIncident:
        """Mark an incident resolved with a closing message."""
        ...

    async def set_component_status(self, component_id: str, status: ComponentStatus) -> None:
        """Set one component's status."""
        ...


@dataclass(frozen=True)
class ProviderPlan:
    """What a provider will do for a request, as far as it can tell without side effects.

    ``steps`` and ``migration`` come from its configuration, the request and reads that change
    nothing; Opscord shows them on the request's card and binds the approvals to them.
    """

    steps: tuple[str, ...] = ()
    migration: str | None = None


@runtime_checkable
class Planner(Protocol):
    """A provider that can say what it will do before it does it."""

    async def plan(self, request: OperationRequest) -> ProviderPlan:
        """The plan for ``request`` (it may read the upstream, never change it)."""
        ...


@runtime_checkable
class PlanContext(Protocol):
    """A provider that can describe the upstream's present state next to a plan (shown, not bound)."""

    async def plan_context(self, request: OperationRequest) -> str:
        """One sentence on the target as the upstream sees it now ("Argo CD now: Synced at 3f9c2a7, Healthy")."""
        ...


def supported_actions(provider: object) -> frozenset[Action]:
    """Return the operations ``provider`` can run.

    Providers built by ``integrations.settings`` expose a ``supported_actions`` attribute that
    reflects their configuration (a command provider without a ``migrate`` template cannot
    migrate). For other objects the answer is inferred from the protocols they implement.
    """
    declared = getattr(provider, "supported_actions", None)
    if isinstance(declared, frozenset):
        return frozenset(a for a in ACTIONS if a in declared)
    actions: set[Action] = set()
    if isinstance(provider, Deployer):
        actions.update(("deploy", "rollback"))
    if isinstance(provider, Scaler):
        actions.add("scale")
    if isinstance(provider, Migrator):
        actions.add("migrate")
    return frozenset(actions)


class OneEntryProvider:
    """Deployer, Scaler and Migrator whose operations all go through one ``_operate(request)``.

    For providers that hand the whole request to an upstream (a workflow, a webhook) and let
    ``request.action`` choose; they cannot read the replica count back.
    """

    async def _operate(self, request: OperationRequest) -> OperationResult:
        raise NotImplementedError

    async def deploy(self, request: OperationRequest) -> OperationResult:
        """Run the deploy."""
        return await self._operate(request)

    async def rollback(self, request: OperationRequest) -> OperationResult:
        """Run the rollback (to ``request.version``, the previous successful version)."""
        return await self._operate(request)

    async def scale(self, request: OperationRequest) -> OperationResult:
        """Run the scale to ``request.replicas``."""
        return await self._operate(request)

    async def migrate(self, request: OperationRequest) -> OperationResult:
        """Run the migration."""
        return await self._operate(request)

    async def current_replicas(self, service: str, environment: str) -> int | None:
        """Unknown: the upstream has no read operation."""
        return None
