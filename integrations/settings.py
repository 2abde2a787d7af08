"""Validated settings for each deploy provider, and the factory that builds a provider from them.

Each model is one ``[services.<name>.deploy]`` table of the TOML config, chosen by its ``provider``
key. Secrets are never values in the config: a model names the environment variable that holds
each one (``token_env``, ``secret_env``, ``pass_env``) and ``missing_env(environ)`` lists the names
that are not set, so ``check-config`` can report them before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from integrations.argocd import ArgoCDDeployer
from integrations.base import ACTIONS, Action, Deployer
from integrations.command import CommandProvider
from integrations.errors import ConfigurationError
from integrations.github_actions import GitHubActionsDeployer
from integrations.http import HttpClient
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubeconfigAuth, KubernetesAccess, KubernetesAuth
from integrations.templates import TemplateError, placeholders, validate
from integrations.timing import Clock, Sleep, default_clock, default_sleep
from integrations.webhook import WebhookProvider

__all__ = [
    "ArgoCDSettings",
    "CommandSettings",
    "DeployProviderSettings",
    "GitHubActionsSettings",
    "KubernetesSettings",
    "WebhookSettings",
    "build_deployer",
    "parse_deploy_settings",
]

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Seconds = Annotated[float, Field(gt=0)]
Argv = Annotated[list[str], Field(min_length=1)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
WorkflowFile = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,255}$")]


class _ProviderSettings(BaseModel):
    """Shared behaviour: unknown keys are errors; secrets are named, not given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def env_names(self) -> list[str]:
        """Environment variables this provider needs at run time."""
        return []

    def missing_env(self, environ: Mapping[str, str]) -> list[str]:
        """The needed environment variables that are unset or empty in ``environ``."""
        return [name for name in self.env_names() if not environ.get(name)]


class CommandSettings(_ProviderSettings):
    """Run a local command per action (argv templates; never a shell)."""

    provider: Literal["command"]
    deploy: Argv | None = None
    rollback: Argv | None = None
    scale: Argv | None = None
    migrate: Argv | None = None
    health: Argv | None = None
    current_replicas: Argv | None = None
    pending_migration: Argv | None = Field(default=None, description="Prints the name of the migration `migrate` "
                                                                     "would run (read-only; shown on the card).")
    timeout_seconds: Seconds = 600.0
    cwd: str | None = None
    env: dict[EnvName, str] = Field(default_factory=dict, description="Extra non-secret variables.")
    pass_env: list[EnvName] = Field(default_factory=list, description="Variables copied from the bot's env.")
    show_output: bool = Field(default=False, description="Show the command's last output line (scrubbed) in "
                                                         "sentences; off, they give the exit status only.")

    @model_validator(mode="after")
    def _check_templates(self) -> CommandSettings:
        if not any(self.templates().get(action) for action in ACTIONS):
            raise ValueError("set at least one of deploy, rollback, scale, migrate")
        for kind, argv in self.templates().items():
            for element in argv:
                try:
                    validate(element)
                except TemplateError as exc:
                    raise ValueError(f"{kind}: {exc}") from None
        return self

    def templates(self) -> dict[str, list[str]]:
        """The configured argv templates by kind."""
        kinds = ("deploy", "rollback", "scale", "migrate", "health", "current_replicas", "pending_migration")
        return {kind: list(argv) for kind in kinds if (argv := getattr(self, kind)) is not None}

    def env_names(self) -> list[str]:
        """The variables passed through from the bot's environment."""
        return list(self.pass_env)


class WebhookSettings(_ProviderSettings):
    """POST signed operation requests to a URL the team runs."""

    provider: Literal["webhook"]
    url: HttpUrl
    secret_env: EnvName
    actions: list[Action] = Field(default_factory=lambda: list(ACTIONS))
    timeout_seconds: Seconds = 10.0
    budget_seconds: Seconds = 900.0
    poll_interval_seconds: Seconds = 5.0

    def env_names(self) -> list[str]:
        """The HMAC secret's variable."""
        return [self.secret_env]


class GitHubActionsSettings(_ProviderSettings):
    """Dispatch GitHub Actions workflows (``workflow`` deploys; the others are optional)."""

    provider: Literal["github_actions"]
    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    workflow: WorkflowFile
    rollback_workflow: WorkflowFile | None = None
    scale_workflow: WorkflowFile | None = None
    migrate_workflow: WorkflowFile | None = None
    ref: str = "main"
    inputs: dict[str, str] = Field(default_factory=dict, description="Constant extra workflow inputs.")
    token_env: EnvName = "GITHUB_TOKEN"  # noqa: S105 - a variable name, not a secret
    api_url: HttpUrl = "https://api.github.com"
    timeout_seconds: Seconds = 10.0
    budget_seconds: Seconds = 1800.0
    poll_interval_seconds: Seconds = 10.0
    find_run_seconds: Seconds = 60.0

    def workflows(self) -> dict[Action, str]:
        """Workflow per action."""
        chosen: dict[Action, str | None] = {"deploy": self.workflow, "rollback": self.rollback_workflow,
                                            "scale": self.scale_workflow, "migrate": self.migrate_workflow}
        return {action: wf for action, wf in chosen.items() if wf}

    def env_names(self) -> list[str]:
        """The API token's variable."""
        return [self.token_env]


class ArgoCDSettings(_ProviderSettings):
    """Sync and roll back an Argo CD application."""

    provider: Literal["argocd"]
    base_url: HttpUrl
    application: str = "{service}-{environment}"
    token_env: EnvName = "ARGOCD_TOKEN"  # noqa: S105 - a variable name, not a secret
    prune: bool = False
    verify_tls: bool = True
    timeout_seconds: Seconds = 10.0
    budget_seconds: Seconds = 900.0
    poll_interval_seconds: Seconds = 5.0

    @field_validator("application")
    @classmethod
    def _check_application(cls, value: str) -> str:
        validate(value, {"service", "environment"})
        return value

    def env_names(self) -> list[str]:
        """The API token's variable."""
        return [self.token_env]


class KubernetesSettings(_ProviderSettings):
    """Patch a Deployment directly.

    The server and credentials come from exactly one place: a ``kubeconfig`` file (its
    current-context, or ``context``), or ``api_url`` with ``token_env`` / ``ca_file`` /
    ``verify_tls``, or, with neither, the in-cluster service account.
    """

    provider: Literal["kubernetes"]
    image: str = Field(description="Image template, e.g. registry.example.com/{service}:{version}")
    kubeconfig: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="A kubeconfig file, e.g. ~/.kube/config (server and credentials from its context).")
    context: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="The kubeconfig context to use (default: its current-context).")
    api_url: HttpUrl | None = None
    namespace: str = "{environment}"
    deployment: str = "{service}"
    container: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] | None = None
    token_env: EnvName | None = None
    ca_file: str | None = None
    verify_tls: bool = True
    timeout_seconds: Seconds = 10.0
    budget_seconds: Seconds = 600.0
    poll_interval_seconds: Seconds = 2.0

    @model_validator(mode="after")
    def _check_templates(self) -> KubernetesSettings:
        validate(self.image, {"service", "environment", "version"})
        if "version" not in placeholders(self.image):
            raise ValueError("image must contain {version}")
        validate(self.namespace, {"service", "environment"})
        validate(self.deployment, {"service", "environment"})
        return self

    @model_validator(mode="after")
    def _check_source(self) -> KubernetesSettings:
        if self.context is not None and self.kubeconfig is None:
            raise ValueError("context chooses a kubeconfig context; set kubeconfig too")
        if self.kubeconfig is not None:
            clashing = [key for key, value in (("api_url", self.api_url), ("token_env", self.token_env),
                                               ("ca_file", self.ca_file)) if value is not None]
            if not self.verify_tls:
                clashing.append("verify_tls")
            if clashing:
                raise ValueError(f"kubeconfig already gives the server and credentials, so remove "
                                 f"{' and '.join(clashing)} (to skip TLS checks, set insecure-skip-tls-verify "
                                 "in the kubeconfig's cluster)")
        return self

    def kubeconfig_path(self) -> Path | None:
        """The kubeconfig file with ``~`` expanded (None when not set)."""
        return Path(self.kubeconfig).expanduser() if self.kubeconfig is not None else None

    def env_names(self) -> list[str]:
        """The token's variable, or the in-cluster server variable (none with a kubeconfig)."""
        if self.kubeconfig is not None:
            return []
        names = [self.token_env] if self.token_env else []
        return names if self.api_url else [*names, "KUBERNETES_SERVICE_HOST"]


DeployProviderSettings = Annotated[
    CommandSettings | WebhookSettings | GitHubActionsSettings | ArgoCDSettings | KubernetesSettings,
    Field(discriminator="provider"),
]
_ADAPTER: TypeAdapter[DeployProviderSettings] = TypeAdapter(DeployProviderSettings)


def parse_deploy_settings(data: Mapping[str, Any]) -> DeployProviderSettings:
    """Validate one provider table (raises ``pydantic.ValidationError`` naming key and problem)."""
    return _ADAPTER.validate_python(dict(data))


def build_deployer(
    settings: DeployProviderSettings,
    http: HttpClient,
    environ: Mapping[str, str],
    *,
    sleep: Sleep = default_sleep,
    clock: Clock = default_clock,
) -> Deployer:
    """Build the provider described by ``settings``.

    The result is always a ``Deployer``; use ``integrations.base.supported_actions`` (or
    ``isinstance(p, Scaler)``) to see what else it can do. Secrets are read from ``environ`` here.

    Raises:
        ConfigurationError: when a needed environment variable is not set.
    """
    missing = settings.missing_env(environ)
    if missing:
        raise ConfigurationError(
            settings.provider,
            f"The {settings.provider} deploy provider needs the environment variable"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which {'are' if len(missing) > 1 else 'is'}"
            " not set",
        )
    if isinstance(settings, CommandSettings):
        env = {"PATH": environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
        env.update({name: environ[name] for name in settings.pass_env})
        env.update(settings.env)
        return CommandProvider(settings.templates(), timeout=settings.timeout_seconds, env=env, cwd=settings.cwd,
                               show_output=settings.show_output)
    if isinstance(settings, WebhookSettings):
        return WebhookProvider(
            http, settings.url, environ[settings.secret_env], actions=frozenset(settings.actions),
            timeout=settings.timeout_seconds, budget=settings.budget_seconds,
            poll_interval=settings.poll_interval_seconds, sleep=sleep, clock=clock,
        )
    if isinstance(settings, GitHubActionsSettings):
        return GitHubActionsDeployer(
            http, repository=settings.repository, workflows=settings.workflows(),
            token=environ[settings.token_env], ref=settings.ref, inputs=settings.inputs,
            api_url=settings.api_url, timeout=settings.timeout_seconds, budget=settings.budget_seconds,
            poll_interval=settings.poll_interval_seconds, find_run_timeout=settings.find_run_seconds,
            sleep=sleep, clock=clock,
        )
    if isinstance(settings, ArgoCDSettings):
        return ArgoCDDeployer(
            http, base_url=settings.base_url, token=environ[settings.token_env],
            application=settings.application, prune=settings.prune,
            ssl=None if settings.verify_tls else False, timeout=settings.timeout_seconds,
            budget=settings.budget_seconds, poll_interval=settings.poll_interval_seconds,
            sleep=sleep, clock=clock,
        )
    return KubernetesDeployer(
        http, _kubernetes_auth(settings, environ), image=settings.image, namespace=settings.namespace,
        deployment=settings.deployment, container=settings.container, timeout=settings.timeout_seconds,
        budget=settings.budget_seconds, poll_interval=settings.poll_interval_seconds,
        sleep=sleep, clock=clock,
    )


_OWN_SECRET = re.compile(r"^(DISCORD_|OPSCORD_)|(TOKEN|SECRET|PASSWORD|API_KEY|ROUTING_KEY)$")


def plugin_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What a kubeconfig exec plugin inherits: the environment without Opscord's own secrets.

    kubectl hands plugins its whole environment; Opscord's holds the Discord token and the other
    providers' secrets, which a credential plugin has no business seeing. Its cloud settings
    (AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS, …) and the kubeconfig's own `env` entries remain.
    """
    return {name: value for name, value in environ.items() if not _OWN_SECRET.search(name)}


def _kubernetes_auth(settings: KubernetesSettings, environ: Mapping[str, str]) -> KubernetesAccess:
    """A kubeconfig context (read on first use), explicit server + token (+ CA), or in-cluster."""
    kubeconfig = settings.kubeconfig_path()
    if kubeconfig is not None:
        return KubeconfigAuth(kubeconfig, context=settings.context, environ=plugin_environment(environ))
    if settings.api_url is None:
        return KubernetesAuth.in_cluster(environ)
    token = environ[settings.token_env] if settings.token_env else None
    if settings.ca_file:
        return KubernetesAuth.with_ca_file(settings.api_url, token=token, ca_file=settings.ca_file)
    return KubernetesAuth(settings.api_url, token=token, ssl=settings.verify_tls)
