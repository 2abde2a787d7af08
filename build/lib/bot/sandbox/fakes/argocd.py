"""A fake Argo CD API: applications that sync and roll back over a few polls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer

__all__ = ["FakeArgoApp", "FakeArgoCD"]

# gRPC codes Argo CD puts in its error bodies.
_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13, 503: 14}


@dataclass
class FakeArgoApp:
    """One application's state.

    ``degraded_revisions`` sync fine but end Degraded; ``failing_revisions`` end in phase Failed.
    """

    name: str
    revision: str
    auto_sync: bool = False
    health: str = "Healthy"
    history: list[dict[str, Any]] = field(default_factory=list)
    operation_state: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None  # requested, not yet picked up by the "controller"
    degraded_revisions: set[str] = field(default_factory=set)
    failing_revisions: set[str] = field(default_factory=set)
    polls: int = 0
    target: str | None = None  # revision of the running operation

    def as_json(self) -> dict[str, Any]:
        """The Application object served by the API."""
        state: dict[str, Any] = {
            "metadata": {"name": self.name, "namespace": "argocd"},
            "spec": {"source": {"targetRevision": self.revision},
                     "syncPolicy": {"automated": {"prune": False, "selfHeal": True}} if self.auto_sync else {}},
            "status": {
                "sync": {"status": "Synced", "revision": self.revision},
                "health": {"status": self.health},
                "history": list(self.history),
            },
        }
        if self.operation_state is not None:
            state["status"]["operationState"] = dict(self.operation_state)
        if self.pending is not None:
            state["operation"] = {"sync": {"revision": self.pending["revision"]}}
        return state


class FakeArgoCD(FakeServer):
    """Argo CD's application endpoints: GET app, POST sync, POST rollback.

    Args:
        token: The only accepted bearer token.
        sync_polls: Application reads an operation takes (Running, then the outcome).

    Attributes:
        apps: name → ``FakeArgoApp`` (inspect ``revision``, ``health``, ``history``).
    """

    def __init__(self, token: str = FAKE_TOKEN, *, sync_polls: int = 2) -> None:
        super().__init__()
        self.token = token
        self.sync_polls = sync_polls
        self.apps: dict[str, FakeArgoApp] = {}
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def add_app(self, name: str, revision: str = "v1", *, history: tuple[str, ...] = (),
                auto_sync: bool = False) -> FakeArgoApp:
        """Add an application deployed at ``revision`` after the revisions in ``history``."""
        app = FakeArgoApp(name, revision, auto_sync=auto_sync)
        for past in (*history, revision):
            app.history.append({"id": len(app.history), "revision": past, "deployedAt": self._now()})
        self.apps[name] = app
        return app

    def error_body(self, status: int, message: str) -> Any:
        """Argo CD's (grpc-gateway) error shape."""
        return {"error": message, "code": _CODES.get(status, 2), "message": message}

    def setup_routes(self, app: web.Application) -> None:
        """Application read, sync and rollback."""
        app.router.add_get("/api/v1/applications/{name}", self._get)
        app.router.add_post("/api/v1/applications/{name}/sync", self._sync)
        app.router.add_post("/api/v1/applications/{name}/rollback", self._rollback)

    def _now(self) -> str:
        """Strictly increasing timestamps (Argo CD's have one-second resolution)."""
        self._clock = max(self._clock + timedelta(seconds=1), datetime.now(UTC).replace(microsecond=0))
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _app(self, request: web.Request) -> FakeArgoApp | web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.error(401, "no session information")
        name = request.match_info["name"]
        app = self.apps.get(name)
        if app is None:
            return self.error(404, f'applications.argoproj.io "{name}" not found')
        return app

    async def _get(self, request: web.Request) -> web.Response:
        app = self._app(request)
        if isinstance(app, web.Response):
            return app
        self._advance(app)
        return self.json_response(200, app.as_json())

    async def _sync(self, request: web.Request) -> web.Response:
        app = self._app(request)
        if isinstance(app, web.Response):
            return app
        if self._busy(app):
            return self.error(400, "another operation is already in progress")
        body = json.loads(await request.read() or b"{}")
        app.pending = {"revision": str(body.get("revision") or app.revision), "kind": "sync"}
        return self.json_response(200, app.as_json())

    async def _rollback(self, request: web.Request) -> web.Response:
        app = self._app(request)
        if isinstance(app, web.Response):
            return app
        if app.auto_sync:
            return self.error(400, "rollback cannot be initiated when auto-sync is enabled")
        if self._busy(app):
            return self.error(400, "another operation is already in progress")
        wanted = json.loads(await request.read() or b"{}").get("id")
        entry = next((h for h in app.history if h["id"] == wanted), None)
        if entry is None:
            return self.error(400, f"application {app.name} does not have history id {wanted}")
        app.pending = {"revision": entry["revision"], "kind": "rollback"}
        return self.json_response(200, app.as_json())

    @staticmethod
    def _busy(app: FakeArgoApp) -> bool:
        return app.pending is not None or (app.operation_state or {}).get("phase") == "Running"

    def _advance(self, app: FakeArgoApp) -> None:
        """One controller step per read: pick up the pending operation, then finish it."""
        if app.pending is not None:
            app.operation_state = {"phase": "Running", "message": "syncing", "startedAt": self._now(),
                                   "operation": {"sync": {"revision": app.pending["revision"]}}}
            app.target = app.pending["revision"]
            app.pending = None
            app.health = "Progressing"
            app.polls = 1
            return
        state = app.operation_state
        if state is None or state["phase"] != "Running":
            return
        app.polls += 1
        if app.polls < self.sync_polls:
            return
        revision = app.target or app.revision
        state["finishedAt"] = self._now()
        if revision in app.failing_revisions:
            state.update(phase="Failed", message="one or more objects failed to apply")
            app.health = "Degraded"
            return
        state.update(phase="Succeeded", message="successfully synced (all tasks run)",
                     syncResult={"revision": revision})
        app.revision = revision
        app.health = "Degraded" if revision in app.degraded_revisions else "Healthy"
        app.history.append({"id": app.history[-1]["id"] + 1 if app.history else 0, "revision": revision,
                            "deployedAt": state["finishedAt"]})
