"""Builds each service's provider from the config, once, on first use."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bot.config import OpscordConfig
from bot.errors import ValidationFailed
from integrations.base import Action, Deployer, HealthChecker, Migrator, Scaler, supported_actions
from integrations.http import HttpClient
from integrations.settings import build_deployer


class ProviderRegistry:
    """Answers "which provider runs action X for service S?"."""

    def __init__(self, config: OpscordConfig, http: HttpClient, environ: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._http = http
        self._environ = dict(os.environ if environ is None else environ)
        self._built: dict[str, Deployer] = {}
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
        """The post-operation health check, if the provider offers one."""
        provider = self.provider(service)
        if isinstance(provider, HealthChecker) and getattr(provider, "has_health_check", True):
            return provider
        return None
