"""A fake PagerDuty: the Events API v2 (``POST /v2/enqueue``) with per-dedup-key alert state, and
the REST API's ``GET /oncalls``.

Events follow PagerDuty's dedup rules: a trigger while an alert is open appends to it, a trigger
after resolve opens a new alert, and acknowledge/resolve without an open alert are dropped (still
202). ``fail_next(1, 400)`` / ``rate_limit_next()`` inject errors in PagerDuty's shapes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FAKE_TOKEN, FakeServer

__all__ = ["FAKE_ROUTING_KEY", "FakeAlert", "FakePagerDuty"]

FAKE_ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"  # 32 characters, like a real one
_SEVERITIES = frozenset({"critical", "error", "warning", "info"})
_ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})


@dataclass
class FakeAlert:
    """One alert: its state, the trigger payloads it received and how many times it was opened."""

    dedup_key: str
    status: str = "triggered"  # triggered | acknowledged | resolved
    summary: str = ""
    severity: str = ""
    payloads: list[dict[str, Any]] = field(default_factory=list)
    opened: int = 1


class FakePagerDuty(FakeServer):
    """Events API v2 and ``/oncalls``.

    Args:
        routing_key: The only accepted routing key.
        api_token: The only accepted REST token (``Authorization: Token token=…``).

    Attributes:
        alerts: dedup key → ``FakeAlert``.
        events: Every accepted event body, in order (routing key included).
        dropped: Acknowledge/resolve events that found no open alert.
        oncalls: ``oncalls[]`` entries served by ``/oncalls`` (add with ``add_oncall``).
    """

    def __init__(self, routing_key: str = FAKE_ROUTING_KEY, api_token: str = FAKE_TOKEN) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.api_token = api_token
        self.alerts: dict[str, FakeAlert] = {}
        self.events: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.oncalls: list[dict[str, Any]] = []

    def add_oncall(self, name: str, level: int = 1, *, policy_id: str = "PPOLICY", user_id: str | None = None,
                   start: str | None = "2026-01-01T00:00:00Z", end: str | None = None) -> None:
        """Put ``name`` on call at ``level`` of ``policy_id`` (``end`` None: permanently)."""
        ident = user_id or "P" + name.upper().replace(" ", "")[:6]
        self.oncalls.append({"user": {"id": ident, "name": name, "email": f"{ident.lower()}@example.test"},
                             "escalation_policy": {"id": policy_id}, "escalation_level": level,
                             "start": start, "end": end})

    def error_body(self, status: int, message: str) -> Any:
        """The Events API's error shape."""
        if status == 429:
            return {"status": "throttle event", "message": "Requests for this service are arriving too quickly."}
        return {"status": "invalid event", "message": "Event object is invalid", "errors": [message]}

    def setup_routes(self, app: web.Application) -> None:
        """Events and on-call routes."""
        app.router.add_post("/v2/enqueue", self._enqueue)
        app.router.add_get("/oncalls", self._oncalls)

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            event = json.loads(await request.read())
        except ValueError:
            return self.error(400, "Body is not valid JSON")
        problem = self._invalid(event)
        if problem:
            return self.error(400, problem)
        self.events.append(event)
        action = event["event_action"]
        key = event.get("dedup_key") or uuid.uuid4().hex
        alert = self.alerts.get(key)
        is_open = alert is not None and alert.status != "resolved"
        if action == "trigger":
            payload = event["payload"]
            if alert is None:
                alert = self.alerts[key] = FakeAlert(key, opened=0)
            if not is_open:
                alert.status, alert.opened = "triggered", alert.opened + 1
            alert.summary, alert.severity = payload["summary"], payload["severity"]
            alert.payloads.append(payload)
        elif not is_open or alert is None:
            self.dropped.append(event)
        else:
            alert.status = "acknowledged" if action == "acknowledge" else "resolved"
        return self.json_response(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def _invalid(self, event: Any) -> str | None:
        """The first problem with an event, as PagerDuty words it, or None."""
        if not isinstance(event, dict):
            return "Event must be a JSON object"
        if event.get("routing_key") != self.routing_key:
            return "Invalid routing key"
        if event.get("event_action") not in _ACTIONS:
            return "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"
        key = event.get("dedup_key")
        if key is not None and (not isinstance(key, str) or len(key) > 255):
            return "'dedup_key' must be a string of at most 255 characters"
        if event["event_action"] != "trigger":
            return None if key else "'dedup_key' is required for acknowledge and resolve"
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return "'payload' is missing or invalid"
        for name in ("summary", "source"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                return f"'payload.{name}' is missing or blank"
        if len(payload["summary"]) > 1024:
            return "'payload.summary' is longer than 1024 characters"
        if payload.get("severity") not in _SEVERITIES:
            return "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
        return None

    async def _oncalls(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token token={self.api_token}":
            return self.json_response(401, {"error": {"message": "Unauthorized", "code": 2006}})
        policies = request.query.getall("escalation_policy_ids[]", [])
        include_users = "users" in request.query.getall("include[]", [])
        entries = [e for e in self.oncalls if not policies or e["escalation_policy"]["id"] in policies]
        limit, offset = int(request.query.get("limit", "25")), int(request.query.get("offset", "0"))
        page = []
        for entry in entries[offset:offset + limit]:
            user = entry["user"]
            shown = dict(user, type="user", summary=user["name"]) if include_users else \
                {"id": user["id"], "type": "user_reference", "summary": user["name"]}
            page.append(dict(entry, user=shown))
        return self.json_response(200, {"oncalls": page, "limit": limit, "offset": offset,
                                        "more": offset + limit < len(entries), "total": None})
