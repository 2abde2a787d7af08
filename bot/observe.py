"""What /status and /logs show, without Discord: versions, health, locks, recent deploys, log lines.

Both go through the journal's command corridor: access to the family is checked, and the command's
audit row is committed before the caller replies.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta

from bot.config import OpscordConfig, ServiceConfig
from bot.errors import ValidationFailed
from bot.pipeline import Invocation, Journal
from bot.pipeline.states import PENDING
from bot.providers import ProviderRegistry
from bot.store import DeployRecord, Lock, Review, Store
from bot.text import quoted
from integrations.base import HealthReport, HealthStatus, LogLine
from integrations.errors import IntegrationError

HEALTH_SECONDS = 8.0
MAX_LOG_LINES = 200
_DURATION = re.compile(r"^\s*(\d{1,4})\s*(s|m|h|d)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SINCE = timedelta(days=7)


@dataclass(frozen=True)
class EnvironmentStatus:
    """One environment of a service: what runs there and how it is doing."""

    name: str
    version: str | None
    health: HealthReport | None  # None: nothing is configured to tell
    lock: Lock | None
    pending: int


@dataclass(frozen=True)
class ServiceStatus:
    """Everything /status shows for a service."""

    service: ServiceConfig
    environments: list[EnvironmentStatus]
    recent: list[DeployRecord]
    dashboard: str | None
    reviews: list[Review] = field(default_factory=list)
    """Break-glass reviews of the service still open."""


def known_service(config: OpscordConfig, name: str) -> ServiceConfig:
    """The catalog entry, or a clear refusal naming the known ones."""
    svc = config.service(name)
    if svc is None:
        known = ", ".join(s.name for s in config.services)
        raise ValidationFailed(f"Unknown service {quoted(name, 60)}. Known services: {known}.")
    return svc


def parse_since(text: str) -> timedelta:
    """`15m`, `1h`, `2d` → a duration (at most 7 days)."""
    match = _DURATION.match(text)
    if not match:
        raise ValidationFailed(f"`last` must be a duration like 15m, 1h or 2d, not {quoted(text, 20)}.")
    since = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])
    if not timedelta(0) < since <= MAX_SINCE:
        raise ValidationFailed("`last` must be more than 0 and at most 7d.")
    return since


async def _health(providers: ProviderRegistry, service: str, environment: str) -> HealthReport | None:
    try:
        checker = providers.health_checker(service)
        if checker is None:
            return None
        async with asyncio.timeout(HEALTH_SECONDS):
            return await checker.check(service, environment)
    except TimeoutError:
        return HealthReport(HealthStatus.UNKNOWN, f"no health answer within {HEALTH_SECONDS:g} s")
    except IntegrationError as exc:
        return HealthReport(HealthStatus.UNKNOWN, str(exc))


class Observer:
    """/status and /logs."""

    def __init__(self, config: OpscordConfig, store: Store, providers: ProviderRegistry, journal: Journal) -> None:
        self._config = config
        self._store = store
        self._providers = providers
        self._journal = journal

    def answers_at_once(self, name: str) -> bool:
        """Whether /status of this service calls nothing outside Opscord (no health check): it needs no defer."""
        svc = self._config.service(name)
        return svc is None or not self._asks_health(svc.name)

    async def status(self, call: Invocation, name: str) -> ServiceStatus:
        """Versions, health (checked concurrently), locks and waiting requests per environment."""
        async with self._journal.command(call, "status") as notes:
            notes.add(service=name[:100])
            svc = known_service(self._config, name)
            return await self._status(svc)

    def _asks_health(self, service: str) -> bool:
        try:
            return self._providers.health_checker(service) is not None
        except IntegrationError:
            return True  # asked, it says why it cannot answer

    async def _status(self, svc: ServiceConfig) -> ServiceStatus:
        if not self._asks_health(svc.name):
            healths: list[HealthReport | None] = [None] * len(svc.environments)  # nothing to ask: no tasks to make
        else:
            healths = await asyncio.gather(*(_health(self._providers, svc.name, env) for env in svc.environments))
        pending = await self._store.operations(*PENDING)
        environments = []
        for env, health in zip(svc.environments, healths, strict=True):
            facts = await self._store.target(svc.name, env)
            environments.append(EnvironmentStatus(
                name=env, version=facts.current_version, health=health, lock=facts.lock,
                pending=sum(1 for op in pending if op.service == svc.name and op.environment == env)))
        dashboard = svc.dashboard_url
        if dashboard is None:
            try:
                grafana = self._providers.grafana(svc.name)
            except IntegrationError:
                grafana = None
            dashboard = grafana.dashboard_url({"service": svc.name}) if grafana else None
        reviews = [r for r in await self._store.reviews(open_only=True) if r.service == svc.name]
        return ServiceStatus(svc, environments, await self._store.deploy_history(svc.name, limit=5), dashboard,
                             reviews)

    async def logs(self, call: Invocation, name: str, *, last: str, environment: str | None,
                   line_filter: str | None, limit: int = MAX_LOG_LINES) -> tuple[str, list[LogLine]]:
        """(environment, lines oldest first) from the service's log source."""
        async with self._journal.command(call, "logs") as notes:
            notes.add(service=name[:100])
            svc = known_service(self._config, name)
            since = parse_since(last)
            env = environment or ("production" if "production" in svc.environments else svc.environments[0])
            if env not in svc.environments:
                raise ValidationFailed(f"{svc.name} is not deployed to {quoted(env, 40)}; its environments: "
                                       f"{', '.join(svc.environments)}.")
            notes.add(environment=env)
            source = self._providers.log_source(svc.name)
            if source is None:
                raise ValidationFailed(f"{svc.name} has no log source configured; add [services.logs] to the config.")
            lines = await source.service_logs(svc.name, env, line_filter=line_filter or None, since=since,
                                              limit=limit, direction="backward")
            notes.add(lines=len(lines))
            return env, sorted(lines, key=lambda line: line.timestamp)
