"""Builds each service's provider from the config, once, on first use."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bot.config import OpscordConfig
from bot.errors import ValidationFailed
from integrations.base import Action, Deployer, HealthChecker, Migrator, Scaler, supported_actions
from integrations.grafana import GrafanaAnnotator
from integrations.http import HttpClient
from integrations.loki import LokiLogSource
from integrations.observability_settings import (
    build_grafana,
    build_log_source,
    build_monitor,
    build_pager,
    build_status_page,
)
from integrations.pagerduty import PagerDutyPager
from integrations.prometheus import PrometheusMonitor
from integrations.settings import build_deployer
from integrations.statuspage import AtlassianStatuspage

T = TypeVar("T")


class ProviderRegistry:
    """Answers "which provider runs action X for service S?"."""

    def __init__(self, config: OpscordConfig, http: HttpClient, environ: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._http = http
        self._environ = dict(os.environ if environ is None else environ)
        self._built: dict[str, Deployer] = {}
        self._others: dict[str, Any] = {}
        self._health: dict[str, HealthChecker | None] = {}
        self.overrides: dict[str, object] = {}

    def provider(self, service: str) -> object | None:
        """The built provider of a service (None when it has none configured)."""
        if service in self.overrides:
            return self.overrides[service]
        if service in self._built:
            return self._built[service]
        svc = self._config.service(service)
        if svc is None or svc.deploy is None:
            return None
        self._built[service] = build_deployer(svc.deploy, self._http, self._environ)
        return self._built[service]

    def for_action(self, service: str, action: Action) -> object:
        """The provider for `action`, or a clear refusal when none is configured."""
        provider = self.provider(service)
        if provider is None or action not in supported_actions(provider):
            raise ValidationFailed(f"{service} has no provider configured that can {action}; "
                                   f"add one under [services.deploy] in the config.")
        return provider

    def deployer(self, service: str) -> Deployer:
        """The deploy/rollback provider."""
        provider = self.for_action(service, "deploy")
        assert isinstance(provider, Deployer)
        return provider

    def scaler(self, service: str) -> Scaler | None:
        """The scale provider, if any."""
        provider = self.provider(service)
        return provider if isinstance(provider, Scaler) and "scale" in supported_actions(provider) else None

    def migrator(self, service: str) -> Migrator:
        """The migration provider."""
        provider = self.for_action(service, "migrate")
        assert isinstance(provider, Migrator)
        return provider

    def health_checker(self, service: str) -> HealthChecker | None:
        """The post-operation health check: the service's monitor, else its deploy provider's own check.

        Remembered per service (an isinstance check against a Protocol costs microseconds, several per
        command), except while a test overrides one of its providers.
        """
        if service in self._health and service not in self.overrides and f"monitor:{service}" not in self.overrides:
            return self._health[service]
        monitor = self.monitor(service)
        provider = self.provider(service)
        found: HealthChecker | None = None
        if monitor is not None:
            found = monitor
        elif isinstance(provider, HealthChecker) and getattr(provider, "has_health_check", True):
            found = provider
        self._health[service] = found
        return found

    def _section(self, service: str, section: str, build: Callable[[Any, HttpClient, Mapping[str, str]], T]
                 ) -> T | None:
        key = f"{section}:{service}"
        if key in self.overrides:
            return self.overrides[key]  # type: ignore[return-value]
        if key not in self._others:
            svc = self._config.service(service)
            settings = getattr(svc, section) if svc is not None else None
            self._others[key] = None if settings is None else build(settings, self._http, self._environ)
        return self._others[key]  # type: ignore[no-any-return]

    def monitor(self, service: str) -> PrometheusMonitor | None:
        """The service's Prometheus monitor, if configured."""
        return self._section(service, "monitor", build_monitor)

    def log_source(self, service: str) -> LokiLogSource | None:
        """The service's Loki log source, if configured."""
        return self._section(service, "logs", build_log_source)

    def pager(self, service: str) -> PagerDutyPager | None:
        """The service's PagerDuty pager, if configured."""
        return self._section(service, "pager", build_pager)

    def status_page(self, service: str) -> AtlassianStatuspage | None:
        """The service's Statuspage, if configured."""
        return self._section(service, "status_page", build_status_page)

    def _incident_default(self, section: str, build: Callable[[Any, HttpClient, Mapping[str, str]], T]) -> T | None:
        key = f"{section}:@incidents"
        if key in self.overrides:
            return self.overrides[key]  # type: ignore[return-value]
        if key not in self._others:
            settings = getattr(self._config.incidents, section)
            self._others[key] = None if settings is None else build(settings, self._http, self._environ)
        return self._others[key]  # type: ignore[no-any-return]

    def incident_pager(self, service: str | None) -> PagerDutyPager | None:
        """Who an incident pages: its service's pager, else the guild-wide one of [incidents.pager]."""
        return (self.pager(service) if service else None) or self._incident_default("pager", build_pager)

    def incident_status_page(self, service: str | None) -> AtlassianStatuspage | None:
        """Where an incident is posted: its service's status page, else the one of [incidents.status_page]."""
        return ((self.status_page(service) if service else None)
                or self._incident_default("status_page", build_status_page))

    def grafana(self, service: str) -> GrafanaAnnotator | None:
        """The service's Grafana annotator and dashboard links, if configured."""
        return self._section(service, "grafana", build_grafana)
