"""Deploy and roll back through Argo CD: sync an application to a revision and watch it.

A deploy syncs ``{application}`` to the requested revision, then polls the application until its
operation is over and its health is ``Healthy`` (``Degraded`` or a failed sync is a failure).
A rollback picks the history entry before the current one (or the newest entry for the requested
previous version) and rolls back to its id; Argo CD refuses that while auto-sync is on. Argo CD's
messages (errors, operation and health messages) are scrubbed of the token and credential shapes.
"""

from __future__ import annotations

from ssl import SSLContext
from typing import Any, Final

from integrations._names import checked_name, segment
from integrations.base import (
    Action,
    HealthCheck,
    HealthReport,
    HealthStatus,
    OperationRequest,
    OperationResult,
    ProviderPlan,
)
from integrations.errors import IntegrationError, ProviderFailed, UpstreamRefused, UpstreamTimeout
from integrations.http import HttpClient
from integrations.progress import report_link
from integrations.scrub import Scrubber, scrubbed
from integrations.templates import TemplateError, render
from integrations.timing import Clock, Deadline, Sleep, default_clock, default_sleep

__all__ = ["ArgoCDDeployer"]

_SYSTEM: Final = "Argo CD"
_TERMINAL: Final = frozenset({"Succeeded", "Failed", "Error"})
_HEALTH: Final = {"Healthy": HealthStatus.HEALTHY, "Progressing": HealthStatus.DEGRADED,
                  "Suspended": HealthStatus.DEGRADED, "Degraded": HealthStatus.DOWN, "Missing": HealthStatus.DOWN}


class ArgoCDDeployer:
    """Syncs and rolls back one Argo CD application per (service, environment).

    Implements Deployer and HealthChecker.

    Args:
        http: The shared HTTP client.
        base_url: Argo CD server URL (``https://argocd.example.com``).
        token: API token (resolved from its environment variable by the factory).
        application: Application name template with ``{service}`` and ``{environment}``.
        prune: Whether syncs and rollbacks prune resources.
        ssl: TLS setting passed to aiohttp (False skips verification).
        budget: Seconds to wait for an operation to finish and the app to become healthy.
    """

    supported_actions: frozenset[Action] = frozenset({"deploy", "rollback"})

    def __init__(
        self,
        http: HttpClient,
        *,
        base_url: str,
        token: str,
        application: str = "{service}-{environment}",
        prune: bool = False,
        ssl: SSLContext | bool | None = None,
        timeout: float = 10.0,
        budget: float = 900.0,
        poll_interval: float = 5.0,
        sleep: Sleep = default_sleep,
        clock: Clock = default_clock,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.application = application
        self.prune = prune
        self.ssl = ssl
        self.timeout = timeout
        self.budget = budget
        self.poll_interval = poll_interval
        self._headers = {"Authorization": f"Bearer {token}"}
        self.scrubber = Scrubber([token])
        self._http = http.scrubbing(self.scrubber)
        self._sleep = sleep
        self._clock = clock

    def app_name(self, service: str, environment: str) -> str:
        """The application name for a service in an environment."""
        try:
            name = render(self.application, {"service": service, "environment": environment})
        except TemplateError as exc:
            raise ProviderFailed(_SYSTEM, f"Argo CD application template is invalid: {exc}") from None
        return checked_name(_SYSTEM, "application", name)

    @scrubbed
    async def deploy(self, request: OperationRequest) -> OperationResult:
        """Sync the application to ``request.version`` and wait until it is healthy."""
        app = self.app_name(request.service, request.environment)
        if not request.version:
            raise ProviderFailed(_SYSTEM, f"Argo CD needs a revision to deploy {app}")
        before = await self._get(app, "deploy")
        body = {"revision": request.version, "prune": self.prune, "dryRun": False}
        await self._call("POST", app, "/sync", "deploy", json=body)
        return await self._wait(app, _started_at(before), request, request.version)

    @scrubbed
    async def rollback(self, request: OperationRequest) -> OperationResult:
        """Roll the application back to the history entry before the current one."""
        app = self.app_name(request.service, request.environment)
        current = await self._get(app, "rollback")
        if (current.get("spec", {}).get("syncPolicy") or {}).get("automated"):
            raise UpstreamRefused(_SYSTEM, f"Argo CD refused the rollback: auto-sync is enabled for {app}",
                                  status=400)
        target = _rollback_target(current.get("status", {}).get("history") or [], request.previous_version)
        if target is None:
            raise ProviderFailed(_SYSTEM, f"Argo CD has no earlier deployment of {app} to roll back to")
        body = {"id": target["id"], "prune": self.prune, "dryRun": False}
        await self._call("POST", app, "/rollback", "rollback", json=body)
        return await self._wait(app, _started_at(current), request, str(target.get("revision", "")))

    async def plan(self, request: OperationRequest) -> ProviderPlan:
        """The sync target: the application and the revision (no call made)."""
        app = self.app_name(request.service, request.environment)
        prune = " with prune" if self.prune else ""
        if request.action == "deploy":
            return ProviderPlan((f"Argo CD: sync {app} to {request.version}{prune}",))
        return ProviderPlan((f"Argo CD: roll {app} back to the history entry before the current one{prune}",))

    @scrubbed
    async def plan_context(self, request: OperationRequest) -> str:
        """The application's diff summary now, from one GET: sync status and revision, health, drifted resources."""
        app = self.app_name(request.service, request.environment)
        return f"Argo CD now: {summary(await self._get(app, 'plan'))}"

    @scrubbed
    async def check(self, service: str, environment: str) -> HealthReport:
        """Health as Argo CD sees the application (Progressing/Suspended count as degraded)."""
        try:
            app = self.app_name(service, environment)
            state = await self._get(app, "health check")
        except IntegrationError as exc:
            return HealthReport(HealthStatus.UNKNOWN, str(exc))
        status = state.get("status", {})
        health = (status.get("health") or {}).get("status", "Unknown")
        sync = (status.get("sync") or {}).get("status", "Unknown")
        overall = _HEALTH.get(health, HealthStatus.UNKNOWN)
        checks = [HealthCheck("Argo CD health", health, "Healthy", overall),
                  HealthCheck("Argo CD sync", sync, "Synced",
                              HealthStatus.HEALTHY if sync == "Synced" else HealthStatus.DEGRADED)]
        return HealthReport(overall, f"{app} is {health} and {sync}", checks)

    async def _wait(
        self, app: str, previous_start: str | None, request: OperationRequest, revision: str
    ) -> OperationResult:
        """Poll until our operation ends and the app is Healthy, Degraded, or the budget ends."""
        deadline = Deadline(self.budget, self._clock)
        what = request.describe()
        url = f"{self.base_url}/applications/{segment(app)}"
        report_link(url)
        details: dict[str, Any] = {"application": app, "revision": revision}
        health = "Unknown"
        while True:
            state = await self._get(app, request.action)
            status = state.get("status", {})
            operation = status.get("operationState") or {}
            health = (status.get("health") or {}).get("status", "Unknown")
            phase = operation.get("phase")
            ours = operation.get("startedAt") != previous_start and not state.get("operation")
            if ours and phase in _TERMINAL:
                details.update(phase=phase, health=health)
                if phase != "Succeeded":
                    reason = operation.get("message") or phase
                    return OperationResult(False, f"The {what} failed: Argo CD could not sync {app} ({reason}).",
                                           url=url, details=details)
                if health == "Healthy":
                    return OperationResult(True, f"The {what} succeeded: {app} is synced to {revision} "
                                                 "and healthy.", url=url, details=details)
                if health == "Degraded":
                    reason = (status.get("health") or {}).get("message") or "Degraded"
                    return OperationResult(False, f"The {what} failed: {app} synced to {revision} but is "
                                                  f"degraded ({reason}).", url=url, details=details)
            if deadline.remaining() <= self.poll_interval:
                raise UpstreamTimeout(_SYSTEM, f"The {what} did not finish within {self.budget:g} s "
                                               f"({app}: operation {phase or 'pending'}, health {health})")
            await self._sleep(self.poll_interval)

    async def _get(self, app: str, action: str) -> dict[str, Any]:
        """Read the application."""
        return await self._call("GET", app, "", action)

    async def _call(self, method: str, app: str, suffix: str, action: str, json: Any = None) -> dict[str, Any]:
        """One API call on an application, with Argo CD's refusals explained."""
        url = f"{self.base_url}/api/v1/applications/{segment(app)}{suffix}"
        try:
            answer = await self._http.request(
                _SYSTEM, method, url, json=json, headers=self._headers, timeout=self.timeout,
                retry_safe=method == "GET", expected=(200,), what=action, ssl=self.ssl,
            )
        except UpstreamRefused as exc:
            raise _explain(exc, app, action) from None
        payload = answer.json()
        return payload if isinstance(payload, dict) else {}


def summary(app: dict[str, Any]) -> str:
    """The diff summary of an application as Argo CD reports it: sync status and revision, health, resources."""
    status = app.get("status") or {}
    sync = status.get("sync") or {}
    revision = str(sync.get("revision") or "?")[:12]
    text = f"{sync.get('status', 'Unknown')} at {revision}, {(status.get('health') or {}).get('status', 'Unknown')}"
    resources = [r for r in status.get("resources") or [] if isinstance(r, dict)]
    if resources:
        drift = sum(1 for r in resources if r.get("status") not in (None, "Synced"))
        text += f"; {drift} of {len(resources)} resources out of sync"
    if (app.get("spec", {}).get("syncPolicy") or {}).get("automated"):
        text += "; auto-sync on"
    return text


def _started_at(app: dict[str, Any]) -> str | None:
    """When the application's latest operation started (None when it never ran one)."""
    operation = (app.get("status") or {}).get("operationState") or {}
    started = operation.get("startedAt")
    return started if isinstance(started, str) else None


def _rollback_target(history: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    """The entry to roll back to: the newest earlier entry with ``wanted`` revision, else the newest
    earlier entry whose revision differs from the current one."""
    entries = sorted((h for h in history if isinstance(h.get("id"), int)), key=lambda h: int(h["id"]))
    if len(entries) < 2:
        return None
    current, earlier = entries[-1], entries[:-1]
    if wanted:
        match = [h for h in earlier if h.get("revision") == wanted]
        if match:
            return match[-1]
    differing = [h for h in earlier if h.get("revision") != current.get("revision")]
    return differing[-1] if differing else None


def _explain(exc: UpstreamRefused, app: str, action: str) -> UpstreamRefused:
    """Turn Argo CD's refusals into clear sentences."""
    message = exc.upstream_message
    lowered = message.lower()
    if "auto-sync" in lowered or "automated sync" in lowered:
        sentence = f"Argo CD refused the {action}: auto-sync is enabled for {app}"
    elif "another operation is already in progress" in lowered:
        sentence = f"Argo CD refused the {action}: another operation is already running on {app}"
    elif exc.status == 404 or "not found" in lowered:
        sentence = f"Argo CD has no application named {app}"
    elif exc.status == 401:
        sentence = f"Argo CD rejected the token (401: {message or 'unauthenticated'})"
    elif exc.status == 403:
        sentence = f"Argo CD denied the {action} on {app} ({message or 'permission denied'})"
    else:
        return exc
    return UpstreamRefused(_SYSTEM, sentence, status=exc.status, upstream_message=message,
                           retry_after=exc.retry_after)
