"""A fake Kubernetes API server for apps/v1 Deployments, their scale subresource and ReplicaSets.

A change to a Deployment's pod template creates (or reuses) a ReplicaSet with the next
``deployment.kubernetes.io/revision``; the rollout then progresses one step per read of the
Deployment: not yet observed → partly updated → complete (or stuck with ProgressDeadlineExceeded).

Given an ``ssl_context`` (see ``server_ssl_context``) the fake serves HTTPS; when that context
requires client certificates, the handshake verifies them and a request is authenticated by its
certificate's common name (listed in ``certificate_users``) as well as by bearer token.
"""

from __future__ import annotations

import copy
import hashlib
import json
import ssl
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer
from bot.sandbox.fakes.patches import PatchError, json_patch, merge_patch, strategic_merge_patch

__all__ = ["FakeDeployment", "FakeKubernetes", "server_ssl_context", "status_object"]

REVISION = "deployment.kubernetes.io/revision"
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}
_PATCHES = {
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/merge-patch+json": merge_patch,
}


def server_ssl_context(cert_file: str, key_file: str, *, client_ca_file: str | None = None) -> ssl.SSLContext:
    """A server TLS context; with ``client_ca_file``, clients must present a certificate it signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca_file)
    return context


def status_object(code: int, message: str) -> dict[str, Any]:
    """A ``Status`` error object as the API server sends it."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": _REASONS.get(code, "InternalError"), "code": code}


@dataclass
class FakeDeployment:
    """A stored Deployment plus the fake's rollout bookkeeping."""

    obj: dict[str, Any]
    steps: int = 0
    rolling: bool = False
    stalled: bool = False

    @property
    def replicas(self) -> int:
        """Desired replicas."""
        return int(self.obj["spec"]["replicas"])

    @property
    def containers(self) -> list[dict[str, Any]]:
        """The pod template's containers."""
        return list(self.obj["spec"]["template"]["spec"]["containers"])

    @property
    def image(self) -> str:
        """The first container's image."""
        return str(self.containers[0]["image"])

    @property
    def revision(self) -> int:
        """The current revision number."""
        return int(self.obj["metadata"]["annotations"][REVISION])


class FakeKubernetes(FakeServer):
    """Deployments, scale and ReplicaSets, with bearer-token (or client-certificate) auth and Status errors.

    Args:
        token: The only accepted bearer token (change ``fake.token`` to test rotation).
        rollout_polls: Deployment reads a rollout takes to complete (at least 1).
        ssl_context: Serve HTTPS with this context (``base_url`` is then ``https://…``).
        certificate_users: Common names of verified client certificates that are accepted.

    Attributes:
        deployments: ``(namespace, name)`` → ``FakeDeployment``; set ``.stalled = True`` to make the
            next rollout end with ProgressDeadlineExceeded.
        replicasets: namespace → ReplicaSet objects.
        client_certificates: The common name of each request's verified client certificate ("" for none).
    """

    def __init__(self, token: str = FAKE_TOKEN, *, rollout_polls: int = 3, ssl_context: ssl.SSLContext | None = None,
                 certificate_users: Iterable[str] = ()) -> None:
        super().__init__()
        self.token = token
        self.rollout_polls = rollout_polls
        self.ssl_context = ssl_context
        self.certificate_users = frozenset(certificate_users)
        self.client_certificates: list[str] = []
        self.deployments: dict[tuple[str, str], FakeDeployment] = {}
        self.replicasets: dict[str, list[dict[str, Any]]] = {}

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1, over HTTPS when the fake has an ``ssl_context``."""
        if self.ssl_context is None:
            return await super().start(port)
        app = web.Application(middlewares=[self._middleware])
        self.setup_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.ssl_context).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"https://{host}:{port}"
        return self.base_url

    def add_deployment(self, namespace: str, name: str, *, image: str, replicas: int = 2,
                       container: str | None = None, history: tuple[str, ...] = ()) -> FakeDeployment:
        """Add a Deployment whose earlier images were ``history`` (oldest first), fully rolled out."""
        labels = {"app": name}
        obj: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1,
                         "resourceVersion": "1", "annotations": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": container or name, "image": image}]}}},
        }
        deployment = FakeDeployment(obj)
        self.deployments[(namespace, name)] = deployment
        for old in history:
            template = copy.deepcopy(obj["spec"]["template"])
            template["spec"]["containers"][0]["image"] = old
            self._record_template(deployment, template)
        self._record_template(deployment, obj["spec"]["template"])
        return deployment

    def deployment(self, namespace: str, name: str) -> FakeDeployment:
        """A stored Deployment."""
        return self.deployments[(namespace, name)]

    def error_body(self, status: int, message: str) -> Any:
        """The Status object."""
        return status_object(status, message)

    def setup_routes(self, app: web.Application) -> None:
        """Deployment GET/PATCH, scale GET/PATCH, ReplicaSet list."""
        base = "/apis/apps/v1/namespaces/{namespace}"
        app.router.add_get(base + "/deployments/{name}", self._get)
        app.router.add_patch(base + "/deployments/{name}", self._patch)
        app.router.add_get(base + "/deployments/{name}/scale", self._get_scale)
        app.router.add_patch(base + "/deployments/{name}/scale", self._patch_scale)
        app.router.add_get(base + "/replicasets", self._list_replicasets)

    def _authenticated(self, request: web.Request) -> bool:
        """A valid bearer token, or a verified client certificate of an accepted user."""
        peer = request.transport.get_extra_info("peercert") if request.transport is not None else None
        subject = dict(pair for rdn in (peer or {}).get("subject", ()) for pair in rdn)
        name = str(subject.get("commonName", ""))
        self.client_certificates.append(name)
        return request.headers.get("Authorization") == f"Bearer {self.token}" or name in self.certificate_users

    def _find(self, request: web.Request) -> FakeDeployment | web.Response:
        if not self._authenticated(request):
            return self.error(401, "Unauthorized")
        key = (request.match_info["namespace"], request.match_info["name"])
        if key not in self.deployments:
            return self.error(404, f'deployments.apps "{key[1]}" not found')
        return self.deployments[key]

    async def _get(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        if found.rolling:
            found.steps += 1
        return self.json_response(200, self._with_status(found))

    async def _patch(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        kind = request.content_type
        try:
            body = json.loads(await request.read())
            if kind == "application/json-patch+json":
                patched = json_patch(found.obj, body)
            elif kind in _PATCHES:
                patched = _PATCHES[kind](found.obj, body)
            else:
                return self.error(415, f"the body of the request was in an unknown format - accepted media "
                                       f"types include: application/json-patch+json, {', '.join(_PATCHES)}")
        except (PatchError, ValueError, KeyError, IndexError, TypeError) as exc:
            return self.error(422, f"the patch cannot be applied: {exc}")
        problem = _invalid(found.obj, patched)
        if problem:
            return self.error(422, f'Deployment.apps "{found.obj["metadata"]["name"]}" is invalid: {problem}')
        self._store(found, patched)
        return self.json_response(200, self._with_status(found))

    async def _get_scale(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        return self.json_response(200, self._scale(found))

    async def _patch_scale(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        if request.content_type not in _PATCHES:
            return self.error(415, "the body of the request was in an unknown format")
        replicas = (json.loads(await request.read()).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            return self.error(422, "Scale.autoscaling is invalid: spec.replicas: must be greater than or equal to 0")
        patched = copy.deepcopy(found.obj)
        patched["spec"]["replicas"] = replicas
        self._store(found, patched)
        return self.json_response(200, self._scale(found))

    async def _list_replicasets(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self.error(401, "Unauthorized")
        wanted = dict(p.split("=", 1) for p in request.query.get("labelSelector", "").split(",") if "=" in p)
        items = [rs for rs in self.replicasets.get(request.match_info["namespace"], [])
                 if all(rs["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
        return self.json_response(200, {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "items": items})

    def _store(self, deployment: FakeDeployment, patched: dict[str, Any]) -> None:
        """Save a change: bump generation on spec changes; a new template makes a new revision."""
        old = deployment.obj
        meta = patched["metadata"]
        meta["resourceVersion"] = str(int(old["metadata"]["resourceVersion"]) + 1)
        if patched["spec"] != old["spec"]:
            meta["generation"] = old["metadata"]["generation"] + 1
            deployment.rolling, deployment.steps = True, 0
        deployment.obj = patched
        if patched["spec"]["template"] != old["spec"]["template"]:
            self._record_template(deployment, patched["spec"]["template"])

    def _record_template(self, deployment: FakeDeployment, template: dict[str, Any]) -> None:
        """Give ``template`` the next revision, reusing a ReplicaSet with the same template."""
        meta = deployment.obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        sets = self.replicasets.setdefault(namespace, [])
        owned = [rs for rs in sets if rs["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]]
        revision = max((int(rs["metadata"]["annotations"][REVISION]) for rs in owned), default=0) + 1
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        existing = next((rs for rs in owned if rs["metadata"]["labels"]["pod-template-hash"] == digest), None)
        if existing is None:
            labeled = copy.deepcopy(template)
            labeled.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
            existing = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{digest}", "namespace": namespace,
                             "labels": dict(labeled["metadata"]["labels"]), "annotations": {},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                                  "uid": meta["uid"], "controller": True}]},
                "spec": {"replicas": 0, "template": labeled},
            }
            sets.append(existing)
        existing["metadata"]["annotations"][REVISION] = str(revision)
        meta.setdefault("annotations", {})[REVISION] = str(revision)

    def _with_status(self, deployment: FakeDeployment) -> dict[str, Any]:
        """The Deployment with a status computed from the rollout step."""
        obj = copy.deepcopy(deployment.obj)
        generation, wanted = obj["metadata"]["generation"], deployment.replicas
        condition = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        status = {"observedGeneration": generation, "replicas": wanted, "updatedReplicas": wanted,
                  "readyReplicas": wanted, "availableReplicas": wanted}
        if deployment.rolling:
            if deployment.steps <= 1:
                status.update(observedGeneration=generation - 1, updatedReplicas=0)
            elif deployment.steps < self.rollout_polls or deployment.stalled:
                status.update(updatedReplicas=max(0, wanted // 2), replicas=wanted + 1)
                condition["reason"] = "ReplicaSetUpdated"
                if deployment.stalled and deployment.steps >= self.rollout_polls:
                    condition.update(status="False", reason="ProgressDeadlineExceeded",
                                     message=f'ReplicaSet "{obj["metadata"]["name"]}" has timed out progressing.')
            else:
                deployment.rolling = False
        status["conditions"] = [condition]
        obj["status"] = status
        return obj

    def _scale(self, deployment: FakeDeployment) -> dict[str, Any]:
        meta = deployment.obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "spec": {"replicas": deployment.replicas},
                "status": {"replicas": deployment.replicas, "selector": f"app={meta['name']}"}}


def _invalid(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The first validation problem of a patched Deployment ("" when valid)."""
    spec = new.get("spec") or {}
    if spec.get("selector") != old["spec"]["selector"]:
        return "spec.selector: field is immutable"
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        return "spec.replicas: must be greater than or equal to 0"
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        return "spec.template.metadata.labels: `selector` does not match template `labels`"
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return "spec.template.spec.containers: Required value"
    for index, container in enumerate(containers):
        if not isinstance(container.get("image"), str) or not container["image"].strip():
            return f"spec.template.spec.containers[{index}].image: Required value"
    return ""
