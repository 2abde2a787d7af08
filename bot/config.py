"""The ops config: a TOML file validated by pydantic models.

Unknown keys are errors (a typo in an ops config must not pass silently), and every
problem is reported with its key path, e.g. ``services[1].replicas.max: must be >= min``.
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from bot.config_refs import reference_problems
from bot.config_words import plain
from integrations.observability_settings import (
    GrafanaSettings,
    LokiSettings,
    PagerDutySettings,
    PrometheusSettings,
    StatuspageSettings,
)
from integrations.settings import DeployProviderSettings

CAPABILITIES = ("operator", "team_lead", "dba", "incident_commander", "viewer")
ACTIONS = ("deploy", "rollback", "scale_up", "scale_down", "migrate")
DEFAULT_VERSION_PATTERN = r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$"
_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"

RoleRef = str | int
ChannelRef = str | int
Severity = Literal["sev1", "sev2", "sev3"]
EnvVar = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
LabelValues = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuildConfig(_Strict):
    """The one Discord guild (server) Opscord serves."""

    id: int = Field(gt=0)
    name: str | None = None


class ChannelsConfig(_Strict):
    """Channels by name or ID. `operations` restricts where mutating commands may run (empty: anywhere)."""

    deployments: ChannelRef = "deployments"
    incidents: ChannelRef = "incidents"
    audit: ChannelRef = "audit"
    operations: list[ChannelRef] = Field(default_factory=list)


class EnvironmentConfig(_Strict):
    """A deployment environment. `operator_roles` overrides who holds `operator` here."""

    name: str = Field(pattern=_NAME)
    protected: bool = False
    operator_roles: list[RoleRef] | None = None
    pings: bool = Field(default=True, description="Ping approvers and requesters for this environment's requests.")


class ReplicaBounds(_Strict):
    """Inclusive replica bounds for /scale."""

    min: int = Field(default=1, ge=0, le=10_000)
    max: int = Field(default=10, ge=0, le=10_000)

    @field_validator("max")
    @classmethod
    def _max_at_least_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if isinstance(low, int) and value < low:
            raise ValueError("must be >= min")
        return value


class ServiceConfig(_Strict):
    """One service of the catalog. Provider sections are filled by the integrations."""

    name: str = Field(pattern=_NAME)
    environments: list[str] = Field(min_length=1)
    version_pattern: str = DEFAULT_VERSION_PATTERN
    replicas: ReplicaBounds = Field(default_factory=ReplicaBounds)
    dashboard_url: str | None = None
    description: str | None = None
    deploy: DeployProviderSettings | None = None
    logs: LokiSettings | None = None
    monitor: PrometheusSettings | None = None
    pager: PagerDutySettings | None = None
    status_page: StatuspageSettings | None = None
    grafana: GrafanaSettings | None = None
    oncall_role: RoleRef | None = Field(
        default=None, description="The Discord role pinged on a new incident of this service "
                                  "(default: [incidents].oncall_role).")

    @field_validator("version_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s):// URL")
        return value

    def version_matches(self, version: str) -> bool:
        """Whether `version` matches the service's version pattern in full."""
        return re.fullmatch(self.version_pattern, version) is not None


class PolicyRow(_Strict):
    """One approval policy row; the first row matching (action, environment, service) wins."""

    action: Literal["deploy", "rollback", "scale_up", "scale_down", "migrate", "*"]
    environment: str = "*"
    service: str = "*"
    approvals: int = Field(default=0, ge=0, le=10)
    approver_roles: list[str] = Field(default_factory=list)
    require: dict[str, int] = Field(
        default_factory=dict, description="Approvals by role, e.g. { team_lead = 1, dba = 1 }: distinct people, "
                                          "none the requester; one person fills one slot. Instead of approvals.")
    confirm: bool = False
    confirm_phrase: bool = Field(default=False, description="Step-up: the requester types the service name in a "
                                                            "Discord modal before the request is submitted.")
    expiry_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)

    @field_validator("require")
    @classmethod
    def _quorum(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        zero = [role for role, count in value.items() if count < 1]
        if zero:
            raise ValueError(f"each role needs at least 1 approval ({zero[0]} has {value[zero[0]]}); "
                             "leave a role out instead")
        if sum(value.values()) > 10:
            raise ValueError("asks for more than 10 approvals in all")
        if value and (info.data.get("approvals") or info.data.get("approver_roles")):
            raise ValueError("give either require (approvals by role) or approvals with approver_roles, not both")
        return value


FreezeAction = Literal["deploy", "rollback", "scale_up", "scale_down", "migrate"]
FREEZE_DEFAULT_ACTIONS: tuple[FreezeAction, ...] = ("deploy", "scale_up", "scale_down", "migrate")  # rollback stays


class FreezeWindow(_Strict):
    """A change freeze: matching requests are refused, or need the freeze's own approvals to override."""

    start: datetime
    end: datetime
    environments: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=200)
    actions: list[FreezeAction] = Field(default_factory=lambda: list(FREEZE_DEFAULT_ACTIONS))
    approvals: int = Field(default=0, ge=0, le=10, description="0: refused; N: N approvals override the freeze.")
    approver_roles: list[str] = Field(default_factory=list)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-11-27T00:00:00Z")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if isinstance(start, datetime) and value <= start:
            raise ValueError("must be after start")
        return value

    def active(self, action: str, environment: str, at: datetime) -> bool:
        """Whether this freeze applies to `action` in `environment` at `at`."""
        return self.start <= at < self.end and environment in self.environments and action in self.actions


class AuditConfig(_Strict):
    """Checkpoints of the hash chain posted to the audit channel, so a rewritten chain shows."""

    checkpoint_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60, description="0 turns checkpoints off.")


class IncidentsConfig(_Strict):
    """Incidents: who is pinged, who is paged and which status page is used when an incident names no
    service (or its service has none), how failed integrations are retried, and when postmortems are
    scheduled (the next business day at `postmortem_hour` in `timezone`)."""

    timezone: str = "UTC"
    postmortem_hour: int = Field(default=14, ge=0, le=23)
    postmortem_minutes: int = Field(default=60, ge=15, le=480)
    oncall_role: RoleRef | None = Field(
        default=None, description="The Discord role pinged on a new incident whose service names none.")
    pager: PagerDutySettings | None = Field(
        default=None, description="Paged for incidents without a service, or whose service has no pager.")
    status_page: StatuspageSettings | None = Field(
        default=None, description="Updated for incidents without a service, or whose service has none.")
    retry_seconds: float = Field(default=10.0, gt=0, le=3600,
                                 description="First wait before a failed page or status-page call is retried "
                                             "(doubling, at most 5 minutes apart).")
    retry_minutes: int = Field(default=60, ge=1, le=24 * 60,
                               description="How long a failed page or status-page call is retried.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value


class FallbackUser(_Strict):
    """An account on the Opscord host that may act through the CLI fallback, as the Discord member it is."""

    member_id: int = Field(gt=0, description="The person's Discord member id: they count once, clicking or typing.")
    roles: list[RoleRef] = Field(default_factory=list, description="The Discord roles they hold (Discord may be down).")
    name: str | None = Field(default=None, description="Their Discord name in the audit log (default: the login).")


class FallbackConfig(_Strict):
    """The CLI fallback (`run-op`, `approve`): OS accounts on the Opscord host → the Discord members they are."""

    users: dict[str, FallbackUser] = Field(default_factory=dict)


class OperationsConfig(_Strict):
    """How operations run: their time limit, the graceful stop, and a provider found running after a crash."""

    timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    stop_grace_seconds: int = Field(default=30, ge=0, le=3600,
                                    description="On SIGTERM, how long running operations may take to finish.")
    orphans: Literal["wait", "end"] = Field(
        default="wait", description="After a crash, wait for a provider process still running, or end it.")
    confirm_minutes: int = Field(default=2, ge=1, le=60,
                                 description="How long a requester has to confirm (a rollback, say) before it expires.")
    max_concurrent: int = Field(default=8, ge=1, le=1000,
                                description="Operations this process runs at once; the rest wait in a queue, each "
                                            "message showing its position.")


BreakGlassAction = Literal["deploy", "rollback", "scale"]


class BreakGlassConfig(_Strict):
    """`/deploy … break_glass:<reason>`: who may skip approvals and freezes while their service has an open
    incident, and the review that follows (acknowledged with buttons in the audit channel)."""

    roles: list[str] = Field(default_factory=lambda: ["incident_commander"], min_length=1,
                             description="Capabilities that may break glass.")
    actions: list[BreakGlassAction] = Field(default_factory=lambda: list[BreakGlassAction](["deploy", "rollback",
                                                                                           "scale"]), min_length=1)
    reviewers: list[str] = Field(default_factory=lambda: ["team_lead"], min_length=1,
                                 description="Capabilities whose holders acknowledge the review.")
    acknowledgements: int = Field(default=2, ge=1, le=5, description="Distinct reviewers, never the actor.")
    review_hours: float = Field(default=24.0, gt=0, le=14 * 24,
                                description="When the review is due; a reminder is posted once it is overdue.")


class HealthGateRow(_Strict):
    """After a deploy, watch its health for a while; the first row matching (service, environment) wins."""

    service: str = "*"
    environment: str = "*"
    on_unhealthy: Literal["rollback", "alert", "nothing"] = "alert"
    watch_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    interval_seconds: float = Field(default=30.0, ge=0.1, le=3600, description="Seconds between two health checks.")
    open_incident: bool = Field(default=False, description="Open an incident when none is open for the service.")
    severity: Severity = "sev2"

    def matches(self, service: str, environment: str) -> bool:
        """Whether this row applies to the target."""
        return self.service in ("*", service) and self.environment in ("*", environment)


class AlertRule(_Strict):
    """How Alertmanager groups whose labels match become incidents; the first matching rule wins."""

    labels: dict[str, LabelValues] = Field(
        default_factory=dict, description="label → value (or list of values) the group must have; {} matches all.")
    service: str | None = Field(default=None, description="The catalog service (default: the service label).")
    severity: Severity | None = Field(default=None, description="The incident's severity (default: from labels).")
    action: Literal["incident", "notify"] = Field(
        default="incident", description="incident: open one (once per group); notify: post to the alerts channel.")
    resolve: bool = Field(default=True, description="A resolved notification resolves the incident (else updates).")

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether every label this rule names has one of its values."""
        for name, wanted in self.labels.items():
            values = [wanted] if isinstance(wanted, str) else wanted
            if labels.get(name) not in values:
                return False
        return True


class AlertsConfig(_Strict):
    """The Alertmanager receiver at POST /hooks/alertmanager (webhook payload version 4)."""

    token_env: EnvVar = Field(default="OPSCORD_ALERTMANAGER_TOKEN",
                              description="Variable holding the bearer token Alertmanager sends.")
    channel: ChannelRef = Field(default="alerts", description="Where `notify` rules post.")
    service_label: str = "service"
    severity_label: str = "severity"
    severities: dict[str, Severity] = Field(
        default_factory=lambda: dict[str, Severity](critical="sev1", error="sev2", warning="sev3"),
        description="Value of the severity label → incident severity.")
    default_severity: Severity = "sev2"
    max_body_kib: int = Field(default=1024, ge=1, le=64 * 1024)
    rules: list[AlertRule] = Field(default_factory=lambda: [AlertRule()], min_length=1)

    def env_names(self) -> list[str]:
        """The token's variable."""
        return [self.token_env]


class AccessConfig(_Strict):
    """Which capabilities may use the read-only command families."""

    audit: list[str] = Field(default_factory=lambda: list(CAPABILITIES))
    status: list[str] = Field(default_factory=lambda: list(CAPABILITIES))
    logs: list[str] = Field(default_factory=lambda: list(CAPABILITIES))
    incident: list[str] = Field(default_factory=lambda: ["incident_commander", "operator", "team_lead"])


class DefaultsConfig(_Strict):
    """Provider sections every service inherits; a service's own section overrides them key by key."""

    deploy: dict[str, Any] | None = None
    logs: dict[str, Any] | None = None
    monitor: dict[str, Any] | None = None
    pager: dict[str, Any] | None = None
    status_page: dict[str, Any] | None = None
    grafana: dict[str, Any] | None = None


class OpscordConfig(_Strict):
    """The whole ops config."""

    guild: GuildConfig
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    roles: dict[str, list[RoleRef]]
    access: AccessConfig = Field(default_factory=AccessConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    operations: OperationsConfig = Field(default_factory=OperationsConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    alerts: AlertsConfig | None = None
    environments: list[EnvironmentConfig] = Field(min_length=1)
    services: list[ServiceConfig] = Field(default_factory=list)
    policy: list[PolicyRow] = Field(default_factory=list)
    freezes: list[FreezeWindow] = Field(default_factory=list)
    break_glass: BreakGlassConfig | None = Field(default=None, description="Absent: break-glass is refused.")
    health_gates: list[HealthGateRow] = Field(default_factory=list)

    def service(self, name: str) -> ServiceConfig | None:
        """The catalog entry called `name`, if any (a dict lookup: catalogs run to thousands of services)."""
        return _catalog(self.services).get(name)

    def environment(self, name: str) -> EnvironmentConfig | None:
        """The environment called `name`, if any."""
        for env in self.environments:  # a handful; asked several times per request
            if env.name == name:
                return env
        return None

    def health_gate(self, service: str, environment: str) -> HealthGateRow | None:
        """The first `[[health_gates]]` row for the target (None: deploys there are not watched)."""
        return next((g for g in self.health_gates if g.matches(service, environment)), None)


_CATALOGS: dict[int, tuple[list[ServiceConfig], dict[str, ServiceConfig]]] = {}
_MAX_CATALOGS = 64


def _catalog(services: list[ServiceConfig]) -> dict[str, ServiceConfig]:
    """Name → service of a (frozen) config's catalog, built once per catalog list."""
    known = _CATALOGS.get(id(services))
    if known is not None and known[0] is services:
        return known[1]
    by_name: dict[str, ServiceConfig] = {}
    for svc in services:
        by_name.setdefault(svc.name, svc)  # the first of a duplicate name (refused by validation anyway)
    if len(_CATALOGS) >= _MAX_CATALOGS:
        _CATALOGS.clear()
    _CATALOGS[id(services)] = (services, by_name)
    return by_name


@dataclass(frozen=True)
class Problem:
    """One config problem: where (key path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The config could not be loaded; `problems` lists every issue found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _format_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    """Each error in plain words at its key path; the alternatives of a union (`str | int`) as one."""
    phrases: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "int", "str", "list[")))]
        loc = [p for i, p in enumerate(loc) if not (p in _PROVIDER_TAGS and i > 0 and loc[i - 1] == "deploy")]
        said = phrases.setdefault(_format_loc(loc), [])
        if (phrase := plain(err)) not in said:
            said.append(phrase)
    return [Problem(path, " or ".join(said)) for path, said in phrases.items()]


PROVIDER_SECTIONS = ("deploy", "logs", "monitor", "pager", "status_page", "grafana")
_PROVIDER_TAGS = ("command", "webhook", "github_actions", "argocd", "kubernetes")
"""The deploy provider's discriminator, which pydantic puts in the key path (services[0].deploy.argocd.url)."""


def apply_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Each service inherits `[defaults.<section>]`; its own keys win (a different provider replaces it)."""
    defaults = raw.get("defaults")
    services = raw.get("services")
    if not isinstance(defaults, dict) or not isinstance(services, list):
        return raw
    merged_services = []
    for entry in services:
        if not isinstance(entry, dict):
            merged_services.append(entry)
            continue
        service = dict(entry)
        for section in PROVIDER_SECTIONS:
            base = defaults.get(section)
            own = service.get(section)
            if not isinstance(base, dict):
                continue
            if own is None:
                service[section] = dict(base)
            elif isinstance(own, dict) and own.get("provider", base.get("provider")) == base.get("provider"):
                service[section] = {**base, **own}
        merged_services.append(service)
    return {**raw, "services": merged_services}


def provider_settings(config: OpscordConfig) -> Iterator[tuple[str, Any]]:
    """Every provider section of the config with its key path: each service's, then the incidents' defaults."""
    for i, svc in enumerate(config.services):
        for section in PROVIDER_SECTIONS:
            settings = getattr(svc, section)
            if settings is not None:
                yield f"services[{i}].{section}", settings
    for section in ("pager", "status_page"):
        settings = getattr(config.incidents, section)
        if settings is not None:
            yield f"incidents.{section}", settings


def env_problems(config: OpscordConfig, environ: Mapping[str, str]) -> list[Problem]:
    """Secrets the config names by environment variable that are not set."""
    problems = [Problem(path, f"environment variable {name} is not set")
                for path, settings in provider_settings(config) for name in settings.missing_env(environ)]
    if config.alerts is not None and not environ.get(config.alerts.token_env):
        problems.append(Problem("alerts.token_env", f"environment variable {config.alerts.token_env} is not set"))
    return problems


def parse_config(raw: dict[str, Any]) -> OpscordConfig:
    """Validate raw TOML data; raise ConfigError listing every problem."""
    raw = apply_defaults(raw)
    problems: list[Problem] = []
    config: OpscordConfig | None = None
    try:
        config = OpscordConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
    problems.extend(Problem(path, message) for path, message in reference_problems(raw))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def read_raw(path: Path) -> dict[str, Any]:
    """The TOML data at `path` (ConfigError when it cannot be read or is not TOML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {path}: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"{path} is not valid TOML: {exc}")]) from None


def load_config(path: Path) -> OpscordConfig:
    """Read and validate the TOML config at `path`."""
    return parse_config(read_raw(path))
