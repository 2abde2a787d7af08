"""Validated settings for the logging, monitoring, paging, status-page and Grafana adapters, and the
factories that build them.

Like the deploy providers' settings, secrets are never values here: each model names the
environment variables holding them (``*_env``), ``env_names()`` lists those it needs and
``missing_env(environ)`` those unset, and the ``build_*`` factories read them from ``environ``,
raising ``ConfigurationError`` naming any that is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from integrations.errors import ConfigurationError
from integrations.grafana import GrafanaAnnotator
from integrations.http import HttpClient
from integrations.loki import DEFAULT_LABELS, MAX_ENTRIES, LokiLogSource
from integrations.pagerduty import PagerDutyPager
from integrations.prometheus import PrometheusMonitor, Signal, default_signals, validate_query_template
from integrations.statuspage import AtlassianStatuspage
from integrations.templates import validate

__all__ = [
    "GrafanaSettings",
    "LokiSettings",
    "PagerDutySettings",
    "PrometheusQueries",
    "PrometheusSettings",
    "PrometheusThresholds",
    "StatuspageSettings",
    "build_grafana",
    "build_log_source",
    "build_monitor",
    "build_pager",
    "build_status_page",
]

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
Seconds = Annotated[float, Field(gt=0)]
LabelName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Ratio = Annotated[float, Field(ge=0, le=1)]
PagerDutyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,32}$")]


class _Settings(BaseModel):
    """Unknown keys are errors; secrets are named, not given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def env_names(self) -> list[str]:
        """Environment variables this adapter needs at run time."""
        return []

    def missing_env(self, environ: Mapping[str, str]) -> list[str]:
        """The needed environment variables that are unset or empty in ``environ``."""
        return [name for name in self.env_names() if not environ.get(name)]


class _HttpAuthSettings(_Settings):
    """Optional bearer token or basic auth (user + password variable), and a tenant id."""

    url: HttpUrl
    token_env: EnvName | None = None
    username: str | None = None
    password_env: EnvName | None = None
    org_id: str | None = Field(default=None, description="Tenant sent as X-Scope-OrgID.")
    verify_tls: bool = True
    timeout_seconds: Seconds = 10.0

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("set both username and password_env for basic auth, or neither")
        if self.token_env and self.username:
            raise ValueError("use either token_env or username/password_env, not both")
        return self

    def env_names(self) -> list[str]:
        """The token's or the password's variable, when configured."""
        return [name for name in (self.token_env, self.password_env) if name]

    def credentials(self, environ: Mapping[str, str]) -> tuple[str | None, tuple[str, str] | None]:
        """(bearer token, (user, password)) read from ``environ``; unused ones are None."""
        basic = (self.username, environ[self.password_env]) if self.username and self.password_env else None
        return (environ[self.token_env] if self.token_env else None), basic


class LokiSettings(_HttpAuthSettings):
    """``[logs]``: where logs live and which labels select a service's streams."""

    labels: dict[LabelName, str] = Field(default_factory=lambda: dict(DEFAULT_LABELS), min_length=1)
    max_entries: Annotated[int, Field(ge=1, le=100_000)] = MAX_ENTRIES

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for template in value.values():
            validate(template, {"service", "environment"})
        return value


class PrometheusQueries(_Settings):
    """PromQL templates per signal; ``{service}``/``{environment}`` go unquoted where a label value
    goes (``up{job={service}}``). An empty string turns a signal off."""

    availability: str | None = None
    error_rate: str | None = None
    p99_latency: str | None = None

    @field_validator("availability", "error_rate", "p99_latency")
    @classmethod
    def _check_query(cls, value: str | None) -> str | None:
        if value:
            validate_query_template(value)
        return value


class PrometheusThresholds(_Settings):
    """DEGRADED beyond the first threshold of a signal, DOWN beyond the second."""

    availability_min: Ratio = 0.99
    availability_down: Ratio = 0.5
    error_rate_max: Ratio = 0.01
    error_rate_down: Ratio = 0.25
    p99_latency_max_seconds: Annotated[float, Field(gt=0)] = 1.0
    p99_latency_down_seconds: Annotated[float, Field(gt=0)] = 5.0

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.availability_down > self.availability_min:
            raise ValueError("availability_down must not be above availability_min")
        if self.error_rate_down < self.error_rate_max:
            raise ValueError("error_rate_down must not be below error_rate_max")
        if self.p99_latency_down_seconds < self.p99_latency_max_seconds:
            raise ValueError("p99_latency_down_seconds must not be below p99_latency_max_seconds")
        return self


class PrometheusSettings(_HttpAuthSettings):
    """``[monitoring]``: the Prometheus server, the signal queries and their thresholds."""

    queries: PrometheusQueries = Field(default_factory=PrometheusQueries)
    thresholds: PrometheusThresholds = Field(default_factory=PrometheusThresholds)

    def signals(self) -> list[Signal]:
        """The built-in signals with configured queries and thresholds; empty queries dropped."""
        t = self.thresholds
        defaults = default_signals(
            availability_min=t.availability_min, availability_down=t.availability_down,
            error_rate_max=t.error_rate_max, error_rate_down=t.error_rate_down,
            p99_max_seconds=t.p99_latency_max_seconds, p99_down_seconds=t.p99_latency_down_seconds,
        )
        configured = (self.queries.availability, self.queries.error_rate, self.queries.p99_latency)
        signals = []
        for signal, query in zip(defaults, configured, strict=True):
            if query is None:
                signals.append(signal)
            elif query:
                signals.append(Signal(signal.name, query, signal.kind, signal.degraded, signal.down, signal.unit))
        return signals


class PagerDutySettings(_Settings):
    """``[paging]``: the Events API integration and, for on-call lookups, a REST API token."""

    routing_key_env: EnvName = "PAGERDUTY_ROUTING_KEY"
    api_token_env: EnvName | None = None
    escalation_policy_id: PagerDutyId | None = None
    events_url: HttpUrl = "https://events.pagerduty.com"
    api_url: HttpUrl = "https://api.pagerduty.com"
    client_url: HttpUrl | None = Field(default=None, description="Link shown on alerts (e.g. the Discord server).")
    timeout_seconds: Seconds = 10.0

    @model_validator(mode="after")
    def _check_oncall(self) -> Self:
        if self.escalation_policy_id and not self.api_token_env:
            raise ValueError("escalation_policy_id needs api_token_env (on-call lookups use the REST API)")
        return self

    def env_names(self) -> list[str]:
        """The routing key's variable and, when set, the REST token's."""
        return [self.routing_key_env, *([self.api_token_env] if self.api_token_env else [])]


class StatuspageSettings(_Settings):
    """``[status_page]``: one Statuspage page and the components of each service."""

    page_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]
    api_key_env: EnvName = "STATUSPAGE_API_KEY"
    api_url: HttpUrl = "https://api.statuspage.io/v1"
    component_ids: dict[str, list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]]] = Field(
        default_factory=dict, description="service name → component ids")
    deliver_notifications: bool = True
    impact_override: Literal["none", "minor", "major", "critical"] | None = None
    timeout_seconds: Seconds = 10.0

    def env_names(self) -> list[str]:
        """The API key's variable."""
        return [self.api_key_env]


class GrafanaSettings(_Settings):
    """``[grafana]``: dashboard links and (with ``annotate``) deploy annotations."""

    url: HttpUrl
    token_env: EnvName = "GRAFANA_TOKEN"  # noqa: S105 - a variable name, not a secret
    dashboard_uid: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")] | None = None
    annotate: bool = True
    timeout_seconds: Seconds = 10.0

    def env_names(self) -> list[str]:
        """The token's variable, needed only for annotations."""
        return [self.token_env] if self.annotate else []


def _require(settings: _Settings, what: str, environ: Mapping[str, str]) -> None:
    """Raise ``ConfigurationError`` naming the needed variables that are not set."""
    missing = settings.missing_env(environ)
    if missing:
        plural = len(missing) > 1
        raise ConfigurationError(
            what, f"The {what} needs the environment variable{'s' if plural else ''} {', '.join(missing)}, "
                  f"which {'are' if plural else 'is'} not set",
        )


def build_log_source(settings: LokiSettings, http: HttpClient, environ: Mapping[str, str]) -> LokiLogSource:
    """A Loki log source (raises ``ConfigurationError`` naming a missing variable)."""
    _require(settings, "Loki log source", environ)
    token, basic = settings.credentials(environ)
    return LokiLogSource(
        http, base_url=settings.url, labels=settings.labels, org_id=settings.org_id, token=token,
        basic_auth=basic, ssl=None if settings.verify_tls else False, timeout=settings.timeout_seconds,
        max_entries=settings.max_entries,
    )


def build_monitor(settings: PrometheusSettings, http: HttpClient, environ: Mapping[str, str]) -> PrometheusMonitor:
    """A Prometheus monitor with the configured signals."""
    _require(settings, "Prometheus monitor", environ)
    token, basic = settings.credentials(environ)
    return PrometheusMonitor(
        http, base_url=settings.url, signals=settings.signals(), token=token, basic_auth=basic,
        org_id=settings.org_id, ssl=None if settings.verify_tls else False, timeout=settings.timeout_seconds,
    )


def build_pager(settings: PagerDutySettings, http: HttpClient, environ: Mapping[str, str]) -> PagerDutyPager:
    """A PagerDuty pager."""
    _require(settings, "PagerDuty pager", environ)
    return PagerDutyPager(
        http, routing_key=environ[settings.routing_key_env],
        api_token=environ[settings.api_token_env] if settings.api_token_env else None,
        escalation_policy_ids=[settings.escalation_policy_id] if settings.escalation_policy_id else [],
        events_url=settings.events_url, api_url=settings.api_url, client_url=settings.client_url,
        timeout=settings.timeout_seconds,
    )


def build_status_page(
    settings: StatuspageSettings, http: HttpClient, environ: Mapping[str, str]
) -> AtlassianStatuspage:
    """A Statuspage client for the configured page."""
    _require(settings, "Statuspage integration", environ)
    return AtlassianStatuspage(
        http, page_id=settings.page_id, api_key=environ[settings.api_key_env], api_url=settings.api_url,
        service_components=settings.component_ids, deliver_notifications=settings.deliver_notifications,
        impact_override=settings.impact_override, timeout=settings.timeout_seconds,
    )


def build_grafana(settings: GrafanaSettings, http: HttpClient, environ: Mapping[str, str]) -> GrafanaAnnotator:
    """A Grafana annotator / link builder."""
    _require(settings, "Grafana integration", environ)
    return GrafanaAnnotator(
        http, base_url=settings.url, token=environ.get(settings.token_env) if settings.annotate else None,
        dashboard_uid=settings.dashboard_uid, annotate=settings.annotate, timeout=settings.timeout_seconds,
    )
