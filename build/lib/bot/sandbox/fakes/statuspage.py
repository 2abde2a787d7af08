"""A fake Atlassian Statuspage v1 for one page: incidents (with updates, components and metadata)
and components, under ``/v1/pages/{page_id}``. Point the adapter's ``api_url`` at ``fake.api_url``.

``rate_limit_next(1, status=420)`` answers like Statuspage's own rate limiting.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer

__all__ = ["FAKE_PAGE_ID", "FakeStatuspage"]

FAKE_PAGE_ID = "fakepage01"
_STATUSES = ("investigating", "identified", "monitoring", "resolved")
_COMPONENT_STATUSES = frozenset(
    {"operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"})
_IMPACTS = frozenset({"none", "minor", "major", "critical"})
_IMPACT_OF = {"major_outage": "critical", "partial_outage": "major", "degraded_performance": "minor"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeStatuspage(FakeServer):
    """Incidents and components of one page.

    Args:
        page_id: The page served.
        api_key: The only accepted key (``Authorization: OAuth <key>``).

    Attributes:
        incidents: id → incident object as served (``incident_updates`` newest first).
        components: id → component object.
    """

    def __init__(self, page_id: str = FAKE_PAGE_ID, api_key: str = FAKE_TOKEN) -> None:
        super().__init__()
        self.page_id = page_id
        self.api_key = api_key
        self.incidents: dict[str, dict[str, Any]] = {}
        self.components: dict[str, dict[str, Any]] = {}

    @property
    def api_url(self) -> str:
        """The API base the adapter should use."""
        return f"{self.base_url}/v1"

    def add_component(self, component_id: str, name: str, status: str = "operational") -> dict[str, Any]:
        """Register a component on the page."""
        self.components[component_id] = {"id": component_id, "name": name, "status": status,
                                          "page_id": self.page_id, "updated_at": _now()}
        return self.components[component_id]

    def error_body(self, status: int, message: str) -> Any:
        """Statuspage reports ``{"error": …}`` for most errors and ``{"message": …}`` when throttling."""
        return {"message": message} if status in (420, 429) else {"error": message}

    def setup_routes(self, app: web.Application) -> None:
        """Incident and component routes of the page."""
        base = "/v1/pages/{page_id}"
        app.router.add_get(f"{base}/incidents", self._list)
        app.router.add_get(f"{base}/incidents/unresolved", self._unresolved)
        app.router.add_post(f"{base}/incidents", self._create)
        app.router.add_get(f"{base}/incidents/{{incident_id}}", self._get)
        app.router.add_patch(f"{base}/incidents/{{incident_id}}", self._update)
        app.router.add_get(f"{base}/components", self._components)
        app.router.add_patch(f"{base}/components/{{component_id}}", self._set_component)

    def _refuse(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"OAuth {self.api_key}":
            return self.error(401, "Could not authenticate")
        if request.match_info["page_id"] != self.page_id:
            return self.error(404, "The requested resource could not be found.")
        return None

    async def _body(self, request: web.Request, wrapper: str) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.read())[wrapper]
        except (ValueError, KeyError, TypeError):
            return self.error(400, f"{wrapper} is missing")
        return body if isinstance(body, dict) else self.error(400, f"{wrapper} must be an object")

    async def _list(self, request: web.Request) -> web.Response:
        return self._refuse(request) or self.json_response(200, list(self.incidents.values())[::-1])

    async def _unresolved(self, request: web.Request) -> web.Response:
        return self._refuse(request) or self.json_response(
            200, [i for i in list(self.incidents.values())[::-1] if i["status"] != "resolved"])

    async def _get(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        incident = self.incidents.get(request.match_info["incident_id"])
        return self.json_response(200, incident) if incident else self.error(404, "Incident not found")

    async def _components(self, request: web.Request) -> web.Response:
        return self._refuse(request) or self.json_response(200, list(self.components.values()))

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        body = await self._body(request, "incident")
        if isinstance(body, web.Response):
            return body
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return self.error(422, "Name can't be blank")
        if len(name) > 255:
            return self.error(422, "Name is too long (maximum is 255 characters)")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values()):
            return self.error(422, "Metadata values must be objects")
        ident = secrets.token_hex(6)
        incident: dict[str, Any] = {
            "id": ident, "name": name, "status": "investigating", "impact": "none", "impact_override": None,
            "shortlink": f"https://stspg.io/{ident}", "created_at": _now(), "updated_at": _now(),
            "resolved_at": None, "incident_updates": [], "components": [], "metadata": metadata,
            "page_id": self.page_id,
        }
        problem = self._apply(incident, body)
        if problem:
            return self.error(422, problem)
        self.incidents[ident] = incident
        return self.json_response(201, incident)

    async def _update(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        incident = self.incidents.get(request.match_info["incident_id"])
        if incident is None:
            return self.error(404, "Incident not found")
        body = await self._body(request, "incident")
        if isinstance(body, web.Response):
            return body
        problem = self._apply(incident, body)
        return self.error(422, problem) if problem else self.json_response(200, incident)

    def _apply(self, incident: dict[str, Any], body: dict[str, Any]) -> str | None:
        """Apply status, body, components and impact; return a 422 reason, or None."""
        status = body.get("status", incident["status"])
        if status not in _STATUSES:
            return f"Status is not included in the list ({status})"
        text = body.get("body")
        if text is not None and (not isinstance(text, str) or len(text) > 25000):
            return "Body is too long (maximum is 25000 characters)"
        impact = body.get("impact_override")
        if impact is not None and impact not in _IMPACTS:
            return f"Impact override is not included in the list ({impact})"
        wanted = body.get("components") or {}
        for cid, cstatus in wanted.items():
            if cid not in self.components:
                return f"Component {cid} not found"
            if cstatus not in _COMPONENT_STATUSES:
                return f"Component status is not included in the list ({cstatus})"
        for cid, cstatus in wanted.items():
            self.components[cid].update(status=cstatus, updated_at=_now())
        listed = {c["id"] for c in incident["components"]} | set(body.get("component_ids") or []) | set(wanted)
        incident["components"] = [dict(self.components[c]) for c in sorted(listed) if c in self.components]
        if impact is not None:
            incident["impact_override"] = impact
        worst = [_IMPACT_OF.get(c["status"], "none") for c in incident["components"]]
        incident["impact"] = impact or next((i for i in ("critical", "major", "minor") if i in worst), "none")
        if text is not None or status != incident["status"]:
            incident["incident_updates"].insert(0, {"id": secrets.token_hex(6), "status": status,
                                                    "body": text or "", "created_at": _now()})
        incident.update(status=status, updated_at=_now())
        if status == "resolved" and not incident["resolved_at"]:
            incident["resolved_at"] = _now()
        return None

    async def _set_component(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        component = self.components.get(request.match_info["component_id"])
        if component is None:
            return self.error(404, "Component not found")
        body = await self._body(request, "component")
        if isinstance(body, web.Response):
            return body
        if body.get("status") not in _COMPONENT_STATUSES:
            return self.error(422, f"Status is not included in the list ({body.get('status')})")
        component.update(status=body["status"], updated_at=_now())
        return self.json_response(200, component)
