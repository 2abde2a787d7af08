"""A fake receiver of Opscord's signed operation webhooks (see ``integrations.webhook``)."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FakeServer
from integrations.webhook import REQUEST_ID_HEADER, SIGNATURE_HEADER, sign

__all__ = ["FakeWebhookTarget"]


class FakeWebhookTarget(FakeServer):
    """Verifies the HMAC signature, deduplicates on the request id, and reports an outcome.

    Args:
        secret: The shared HMAC secret.
        outcome: Final status reported: "succeeded" or "failed".
        running_polls: Status polls answered "running" before the outcome (0: answer at once).
        message: The ``message`` sent with the final status.

    Attributes:
        url: Where to POST (``base_url + "/hook"``).
        received: Verified request bodies, in order.
        rejected: How many requests failed verification.
        polls: Status polls per request id.
    """

    def __init__(self, secret: str, *, outcome: str = "succeeded", running_polls: int = 0,
                 message: str = "done") -> None:
        super().__init__()
        self.secret = secret.encode()
        self.outcome = outcome
        self.running_polls = running_polls
        self.message = message
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.polls: dict[str, int] = {}

    @property
    def url(self) -> str:
        """The webhook URL."""
        return f"{self.base_url}/hook"

    def setup_routes(self, app: web.Application) -> None:
        """POST /hook and GET /status/{request_id}."""
        app.router.add_post("/hook", self._hook)
        app.router.add_get("/status/{request_id}", self._status)

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(signature, sign(self.secret, body)):
            self.rejected += 1
            return self.error(401, "invalid signature")
        payload = await request.json()
        request_id = payload.get("request_id")
        if not request_id or request.headers.get(REQUEST_ID_HEADER) != request_id:
            return self.error(400, "request id header does not match the body")
        if request_id not in self.polls:
            self.received.append(payload)
            self.polls[request_id] = 0
        return self.json_response(200, self._state(request_id, advance=False))

    async def _status(self, request: web.Request) -> web.Response:
        request_id = request.match_info["request_id"]
        if request_id not in self.polls:
            return self.error(404, "unknown request")
        return self.json_response(200, self._state(request_id, advance=True))

    def _state(self, request_id: str, *, advance: bool) -> dict[str, Any]:
        if advance:
            self.polls[request_id] += 1
        if self.polls[request_id] < self.running_polls:
            return {"status": "running", "status_url": f"/status/{request_id}", "message": "in progress"}
        return {"status": self.outcome, "status_url": f"/status/{request_id}", "message": self.message}
