"""Deploy, roll back and scale Kubernetes Deployments directly through the API server.

- Deploy patches the container image (strategic merge patch, the container matched by name) and
  follows the rollout by kubectl's rule until it is complete or the budget ends.
- Scale patches the ``scale`` subresource (``application/merge-patch+json``) and waits likewise.
- Rollback does what ``kubectl rollout undo`` does client side: find the Deployment's ReplicaSets,
  take the revision before the current one, and put its pod template back.

Status messages and rollout conditions reach sentences scrubbed of the token in use and of
credential shapes (service-account tokens are JWTs).
"""

from __future__ import annotations

import json
from typing import Any, Final

from integrations._names import DNS_LABEL, checked_name, segment
from integrations.base import (
    Action,
    HealthCheck,
    HealthReport,
    HealthStatus,
    OperationRequest,
    OperationResult,
    ProviderPlan,
)
from integrations.errors import (
    ConfigurationError,
    IntegrationError,
    ProviderFailed,
    UpstreamRefused,
    UpstreamTimeout,
)
from integrations.http import HttpClient, Response
from integrations.kubernetes_auth import KubernetesAccess
from integrations.scrub import Scrubber, scrubbed
from integrations.templates import TemplateError, render
from integrations.timing import Clock, Deadline, Sleep, default_clock, default_sleep

__all__ = ["KubernetesDeployer", "rollout_state"]

_SYSTEM: Final = "Kubernetes"
REVISION: Final = "deployment.kubernetes.io/revision"
CHANGE_CAUSE: Final = "kubernetes.io/change-cause"


def rollout_state(deployment: dict[str, Any]) -> tuple[str, str]:
    """kubectl's rollout rule: return ("done" | "waiting" | "failed", explanation)."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    if deployment.get("metadata", {}).get("generation", 0) > status.get("observedGeneration", 0):
        return "waiting", "waiting for the controller to observe the change"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "failed", condition.get("message") or "the rollout exceeded its progress deadline"
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    replicas = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < wanted:
        return "waiting", f"{updated} of {wanted} replicas updated"
    if replicas > updated:
        return "waiting", f"{replicas - updated} old replicas pending termination"
    if available < updated:
        return "waiting", f"{available} of {updated} updated replicas available"
    return "done", f"{available}/{wanted} replicas available"


class KubernetesDeployer:
    """One Deployment per (service, environment); implements Deployer, Scaler and HealthChecker.

    Args:
        http: The shared HTTP client.
        auth: API server URL, TLS and credentials (``KubernetesAuth`` or ``KubeconfigAuth``).
        image: Image template, e.g. ``registry.example.com/{service}:{version}``.
        namespace: Namespace template (``{service}``, ``{environment}``).
        deployment: Deployment name template.
        container: Container to update; None means the Deployment's only container.
        budget: Seconds to wait for a rollout.
    """

    supported_actions: frozenset[Action] = frozenset({"deploy", "rollback", "scale"})

    def __init__(
        self,
        http: HttpClient,
        auth: KubernetesAccess,
        *,
        image: str,
        namespace: str = "{environment}",
        deployment: str = "{service}",
        container: str | None = None,
        timeout: float = 10.0,
        budget: float = 600.0,
        poll_interval: float = 2.0,
        sleep: Sleep = default_sleep,
        clock: Clock = default_clock,
    ) -> None:
        self.auth = auth
        self.image = image
        self.namespace = namespace
        self.deployment = deployment
        self.container = container
        self.timeout = timeout
        self.budget = budget
        self.poll_interval = poll_interval
        self._http = http
        self._sleep = sleep
        self._clock = clock
        self._scrubber = Scrubber(auth.secrets())

    @property
    def scrubber(self) -> Scrubber:
        """Scrubs the tokens sent so far; rebuilt when the service-account token rotates."""
        if self._scrubber.secrets != frozenset(self.auth.secrets()):
            self._scrubber = Scrubber(self.auth.secrets())
        return self._scrubber

    def target(self, service: str, environment: str) -> tuple[str, str]:
        """The (namespace, deployment name) for a service in an environment."""
        values = {"service": service, "environment": environment}
        try:
            namespace, name = render(self.namespace, values), render(self.deployment, values)
        except TemplateError as exc:
            raise ConfigurationError(_SYSTEM, f"Kubernetes name template is invalid: {exc}") from None
        return checked_name(_SYSTEM, "namespace", namespace, DNS_LABEL), checked_name(_SYSTEM, "deployment", name)

    def image_of(self, request: OperationRequest) -> str:
        """The image reference a deploy sets."""
        try:
            return render(self.image, {"service": request.service, "environment": request.environment,
                                       "version": request.version})
        except TemplateError as exc:
            raise ConfigurationError(_SYSTEM, f"Kubernetes cannot build the image reference: {exc}") from None

    async def plan(self, request: OperationRequest) -> ProviderPlan:
        """The Deployment and the image or replica count it sets (no call made)."""
        namespace, name = self.target(request.service, request.environment)
        where = f"deployment {namespace}/{name}"
        if request.action == "deploy":
            return ProviderPlan((f"Kubernetes: set the image of {where} to {self.image_of(request)}",))
        if request.action == "scale":
            return ProviderPlan((f"Kubernetes: scale {where} to {request.replicas} replicas",))
        return ProviderPlan((f"Kubernetes: put back the pod template of {where}'s previous revision",))

    @scrubbed
    async def plan_context(self, request: OperationRequest) -> str:
        """What the Deployment runs now and how its rollout stands, from one GET."""
        namespace, name = self.target(request.service, request.environment)
        deployment = await self._call("GET", namespace, name, "", "plan")
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        images = ", ".join(str(c.get("image", "?")) for c in containers) or "no containers"
        return f"Kubernetes now: {name} runs {images}; {rollout_state(deployment)[1]}"

    @scrubbed
    async def deploy(self, request: OperationRequest) -> OperationResult:
        """Set the container image to the requested version and follow the rollout."""
        namespace, name = self.target(request.service, request.environment)
        image = self.image_of(request)
        current = await self._call("GET", namespace, name, "", "deploy")
        container = self._container(current, name)
        patch = {
            "metadata": {"annotations": {CHANGE_CAUSE: _cause(request)}},
            "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}},
        }
        await self._call("PATCH", namespace, name, "", "deploy", body=patch,
                         content_type="application/strategic-merge-patch+json")
        return await self._follow(namespace, name, request, f"runs {image}")

    @scrubbed
    async def rollback(self, request: OperationRequest) -> OperationResult:
        """Put back the pod template of the previous ReplicaSet revision."""
        namespace, name = self.target(request.service, request.environment)
        current = await self._call("GET", namespace, name, "", "rollback")
        previous = await self._previous_replicaset(namespace, current, request)
        template = json.loads(json.dumps(previous["spec"]["template"]))
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        patch = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/metadata/annotations/" + CHANGE_CAUSE.replace("/", "~1"),
             "value": _cause(request)},
        ]
        if not current.get("metadata", {}).get("annotations"):
            patch[1] = {"op": "add", "path": "/metadata/annotations", "value": {CHANGE_CAUSE: _cause(request)}}
        await self._call("PATCH", namespace, name, "", "rollback", body=patch,
                         content_type="application/json-patch+json")
        revision = previous["metadata"].get("annotations", {}).get(REVISION, "?")
        return await self._follow(namespace, name, request, f"is back at revision {revision}")

    @scrubbed
    async def scale(self, request: OperationRequest) -> OperationResult:
        """Set the replica count through the scale subresource and wait for it."""
        namespace, name = self.target(request.service, request.environment)
        if request.replicas is None or request.replicas < 0:
            raise ProviderFailed(_SYSTEM, f"Kubernetes cannot scale {name} to {request.replicas} replicas")
        patch = {"spec": {"replicas": request.replicas}}
        await self._call("PATCH", namespace, name, "/scale", "scale", body=patch,
                         content_type="application/merge-patch+json")
        return await self._follow(namespace, name, request, f"runs {request.replicas} replicas")

    @scrubbed
    async def current_replicas(self, service: str, environment: str) -> int | None:
        """The desired replica count from the scale subresource."""
        namespace, name = self.target(service, environment)
        scale = await self._call("GET", namespace, name, "/scale", "replica count request")
        replicas = scale.get("spec", {}).get("replicas")
        return replicas if isinstance(replicas, int) else None

    @scrubbed
    async def check(self, service: str, environment: str) -> HealthReport:
        """Health from the Deployment: all replicas available is healthy, none is down."""
        try:
            namespace, name = self.target(service, environment)
            deployment = await self._call("GET", namespace, name, "", "health check")
        except IntegrationError as exc:
            return HealthReport(HealthStatus.UNKNOWN, str(exc))
        state, explanation = rollout_state(deployment)
        wanted = deployment.get("spec", {}).get("replicas", 1)
        available = deployment.get("status", {}).get("availableReplicas", 0)
        if available >= wanted and state == "done":
            status = HealthStatus.HEALTHY
        elif available == 0 and wanted > 0:
            status = HealthStatus.DOWN
        else:
            status = HealthStatus.DEGRADED
        check = HealthCheck("available replicas", available, f">= {wanted}", status)
        return HealthReport(status, f"{name} in {namespace}: {explanation}", [check])

    def _container(self, deployment: dict[str, Any], name: str) -> str:
        """The container to update: the configured one, or the only one."""
        names = [c.get("name") for c in deployment.get("spec", {}).get("template", {}).get("spec", {})
                 .get("containers", [])]
        if self.container is not None:
            if self.container not in names:
                raise ConfigurationError(_SYSTEM, f"Deployment {name} has no container {self.container!r} "
                                                  f"(it has {', '.join(map(str, names)) or 'none'})")
            return self.container
        if len(names) != 1:
            raise ConfigurationError(_SYSTEM, f"Deployment {name} has {len(names)} containers; "
                                              "set `container` to choose one")
        return str(names[0])

    async def _previous_replicaset(
        self, namespace: str, deployment: dict[str, Any], request: OperationRequest
    ) -> dict[str, Any]:
        """The ReplicaSet to roll back to (the requested version's, else the previous revision)."""
        meta = deployment.get("metadata", {})
        current = int(meta.get("annotations", {}).get(REVISION, "0") or 0)
        labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels", {})
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        path = f"/apis/apps/v1/namespaces/{segment(namespace)}/replicasets"
        answer = await self._request("GET", path, "rollback", params={"labelSelector": selector})
        owned = [rs for rs in answer.json().get("items", [])
                 if not meta.get("uid") or any(ref.get("uid") == meta["uid"]
                                               for ref in rs.get("metadata", {}).get("ownerReferences") or [])]
        revisions = sorted(((_revision(rs), rs) for rs in owned if 0 < _revision(rs) != current),
                           key=lambda pair: pair[0])
        if request.previous_version:
            wanted = render(self.image, {"service": request.service, "environment": request.environment,
                                         "version": request.previous_version})
            matching = [rs for _, rs in revisions if wanted in _images(rs)]
            if matching:
                chosen: dict[str, Any] = matching[-1]
                return chosen
        if not revisions:
            raise ProviderFailed(_SYSTEM, f"Kubernetes has no earlier revision of {meta.get('name')} "
                                          f"in {namespace} to roll back to")
        latest: dict[str, Any] = revisions[-1][1]
        return latest

    async def _follow(self, namespace: str, name: str, request: OperationRequest, outcome: str) -> OperationResult:
        """Poll the Deployment until the rollout is done, failed, or out of budget."""
        deadline = Deadline(self.budget, self._clock)
        what = request.describe()
        while True:
            deployment = await self._call("GET", namespace, name, "", request.action)
            state, explanation = rollout_state(deployment)
            details = {"namespace": namespace, "deployment": name, "rollout": explanation}
            if state == "done":
                return OperationResult(True, f"The {what} succeeded: {name} in {namespace} {outcome} "
                                             f"({explanation}).", details=details)
            if state == "failed":
                return OperationResult(False, f"The {what} failed: {explanation}.", details=details)
            if deadline.remaining() <= self.poll_interval:
                raise UpstreamTimeout(_SYSTEM, f"The {what} did not finish within {self.budget:g} s "
                                               f"({explanation})")
            await self._sleep(self.poll_interval)

    async def _call(self, method: str, namespace: str, name: str, suffix: str, what: str, *,
                    body: Any = None, content_type: str | None = None) -> dict[str, Any]:
        """One call on a Deployment (or its scale subresource), with Status errors explained."""
        path = f"/apis/apps/v1/namespaces/{segment(namespace)}/deployments/{segment(name)}{suffix}"
        try:
            answer = await self._request(method, path, what, body=body, content_type=content_type)
        except UpstreamRefused as exc:
            raise _explain(exc, namespace, name, what) from None
        payload = answer.json()
        return payload if isinstance(payload, dict) else {}

    async def _request(self, method: str, path: str, what: str, *, body: Any = None,
                       content_type: str | None = None, params: dict[str, str] | None = None) -> Response:
        """Send one authenticated request; GETs and patches are safe to retry.

        A 401 while an exec plugin's credential is cached renews it and sends the request once more.
        """
        data = json.dumps(body).encode() if body is not None else None

        async def send() -> Response:
            connection = await self.auth.connection()
            headers = {**connection.headers, "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type or "application/json"
            http = self._http.scrubbing(self.scrubber)  # after connection(): the credential just read is known
            return await http.request(_SYSTEM, method, connection.api_url + path, data=data, headers=headers,
                                      params=params, timeout=self.timeout, retry_safe=True, expected=(200, 201),
                                      what=what, ssl=connection.ssl)

        try:
            return await send()
        except UpstreamRefused as exc:
            if exc.status != 401 or not self.auth.forget_credentials():
                raise
        return await send()


def _cause(request: OperationRequest) -> str:
    """The change-cause annotation recorded on the Deployment."""
    return f"opscord {request.request_id}: {request.describe()} by {request.requester}"[:250]


def _revision(replicaset: dict[str, Any]) -> int:
    """A ReplicaSet's revision number (0 when absent or malformed)."""
    value = replicaset.get("metadata", {}).get("annotations", {}).get(REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _images(replicaset: dict[str, Any]) -> list[str]:
    """The container images of a ReplicaSet's pod template."""
    containers = replicaset.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return [str(c.get("image")) for c in containers]


def _explain(exc: UpstreamRefused, namespace: str, name: str, what: str) -> UpstreamRefused:
    """Turn Kubernetes Status errors into clear sentences."""
    message = exc.upstream_message
    sentences = {
        401: "Kubernetes rejected Opscord's credentials (401 Unauthorized)",
        403: f"Kubernetes forbids the {what} of {name} in {namespace} ({message or 'forbidden'})",
        404: f"Kubernetes has no deployment {name} in namespace {namespace}",
        409: f"Kubernetes reported a conflict: {name} in {namespace} changed meanwhile; try again",
        422: f"Kubernetes rejected the {what} of {name} as invalid ({message or 'invalid'})",
    }
    sentence = sentences.get(exc.status)
    if sentence is None:
        return exc
    return UpstreamRefused(_SYSTEM, sentence, status=exc.status, upstream_message=message,
                           retry_after=exc.retry_after)
