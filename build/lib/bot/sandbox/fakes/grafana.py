"""A fake Grafana: ``POST /api/annotations`` (bearer token) and ``GET /api/annotations``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer

__all__ = ["FakeGrafana"]


class FakeGrafana(FakeServer):
    """Annotations.

    Args:
        token: The only accepted service-account token.

    Attributes:
        annotations: Every annotation added, in order (``id``, ``text``, ``tags``, ``time``,
            ``dashboardUID``).
    """

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.annotations: list[dict[str, Any]] = []

    def setup_routes(self, app: web.Application) -> None:
        """Annotation routes."""
        app.router.add_post("/api/annotations", self._add)
        app.router.add_get("/api/annotations", self._list)

    def _refuse(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.error(401, "Unauthorized")
        return None

    async def _add(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self.error(400, "bad request data")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
            return self.error(400, "Failed to save annotation: text is required")
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return self.error(400, "bad request data")
        annotation = {"id": len(self.annotations) + 1, "text": body["text"], "tags": tags,
                      "time": int(body.get("time") or 0), "dashboardUID": body.get("dashboardUID")}
        self.annotations.append(annotation)
        return self.json_response(200, {"message": "Annotation added", "id": annotation["id"]})

    async def _list(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        wanted = set(request.query.getall("tags", []))
        return self.json_response(200, [a for a in self.annotations if wanted <= set(a["tags"])])
