"""A provider that hands each operation to an HTTP endpoint the team runs (a signed webhook).

Contract (Opscord's own, for receivers to implement):

- ``POST <url>`` with a JSON body: ``request_id, action, service, environment, version, replicas,
  previous_version, requester, sent_at`` (RFC 3339 UTC).
- Headers: ``X-Opscord-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`` keyed with
  the shared secret, ``X-Opscord-Request-Id: <request_id>`` (receivers deduplicate on it).
- Answer 2xx with ``{"status": "succeeded"|"failed"|"running", "status_url": …, "message": …}``.
  ``running`` with a ``status_url`` is polled with GET (same answer shape) until terminal or the
  time budget runs out; ``running`` without one (or an empty 2xx) means "accepted".

The receiver's messages are shown in result sentences, scrubbed of the shared secret and of
credential shapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from integrations.base import Action, OneEntryProvider, OperationRequest, OperationResult, ProviderPlan
from integrations.errors import ConfigurationError, UpstreamTimeout, UpstreamUnavailable
from integrations.http import HttpClient, Response
from integrations.scrub import Scrubber, scrubbed
from integrations.timing import Clock, Deadline, Sleep, default_clock, default_sleep

__all__ = ["REQUEST_ID_HEADER", "SIGNATURE_HEADER", "WebhookProvider", "sign"]

SIGNATURE_HEADER: Final = "X-Opscord-Signature"
REQUEST_ID_HEADER: Final = "X-Opscord-Request-Id"
_STATES: Final = frozenset({"succeeded", "failed", "running"})


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex digest>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookProvider(OneEntryProvider):
    """POSTs signed operation requests to one URL; implements Deployer, Scaler and Migrator.

    Args:
        http: The shared HTTP client.
        url: Where operations are POSTed.
        secret: The HMAC key (resolved from its environment variable by the factory).
        actions: Operations the receiver accepts.
        timeout: Per-request timeout in seconds.
        budget: Seconds to wait for a ``running`` operation to finish.
        poll_interval: Seconds between status polls.
        system: Name used in messages.
    """

    def __init__(
        self,
        http: HttpClient,
        url: str,
        secret: str,
        *,
        actions: frozenset[Action] = frozenset({"deploy", "rollback", "scale", "migrate"}),
        timeout: float = 10.0,
        budget: float = 900.0,
        poll_interval: float = 5.0,
        system: str = "The deploy webhook",
        sleep: Sleep = default_sleep,
        clock: Clock = default_clock,
    ) -> None:
        self.scrubber = Scrubber([secret])
        self.http = http.scrubbing(self.scrubber)
        self.url = url
        self._secret = secret.encode()
        self.supported_actions = actions
        self.timeout = timeout
        self.budget = budget
        self.poll_interval = poll_interval
        self.system = system
        self._sleep = sleep
        self._clock = clock

    def body(self, request: OperationRequest) -> bytes:
        """The exact bytes POSTed for ``request``."""
        payload = {
            "request_id": request.request_id,
            "action": request.action,
            "service": request.service,
            "environment": request.environment,
            "version": request.version,
            "replicas": request.replicas,
            "previous_version": request.previous_version,
            "requester": request.requester,
            "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return json.dumps(payload, separators=(",", ":")).encode()

    async def plan(self, request: OperationRequest) -> ProviderPlan:
        """Where the signed request goes (the URL's host; no call made)."""
        return ProviderPlan((f"{self.system}: POST the signed {request.action} request to "
                             f"{urlsplit(self.url).hostname}",))

    @scrubbed
    async def _operate(self, request: OperationRequest) -> OperationResult:
        """POST the request, then follow its status URL while it is running."""
        if request.action not in self.supported_actions:
            raise ConfigurationError(self.system, f"{self.system} is not set up to {request.action}")
        deadline = Deadline(self.budget, self._clock)
        body = self.body(request)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body),
            REQUEST_ID_HEADER: request.request_id,
        }
        answer = await self.http.request(
            self.system, "POST", self.url, data=body, headers=headers, timeout=self.timeout,
            what=f"{request.action} request",
        )
        state, message, status_url = self._read(answer)
        what = request.describe()
        while state == "running" and status_url:
            if deadline.remaining() <= self.poll_interval:
                raise UpstreamTimeout(
                    self.system,
                    f"The {what} was still running after {self.budget:g} s; follow it at {status_url}",
                )
            await self._sleep(self.poll_interval)
            answer = await self.http.request(
                self.system, "GET", status_url, headers={REQUEST_ID_HEADER: request.request_id},
                timeout=self.timeout, retry_safe=True, expected=(200,), what="status request",
            )
            state, message, status_url = self._read(answer, status_url)
        details: dict[str, Any] = {"state": state}
        suffix = f": {message}" if message else ""
        if state == "failed":
            return OperationResult(False, f"The {what} failed{suffix}.", url=status_url, details=details)
        if state == "running":
            return OperationResult(True, f"The {what} was accepted{suffix}.", url=status_url, details=details)
        return OperationResult(True, f"The {what} succeeded{suffix}.", url=status_url, details=details)

    def _read(self, answer: Response, current: str | None = None) -> tuple[str, str, str | None]:
        """Parse ``(state, message, status_url)``; an empty 2xx means accepted (running).

        A status answer without ``status_url`` keeps the ``current`` one.
        """
        if not answer.body.strip():
            return "running", "", current
        payload = answer.json()
        if not isinstance(payload, Mapping):
            raise UpstreamUnavailable(self.system, f"{self.system} sent an answer that is not a JSON object")
        state = payload.get("status")
        if state not in _STATES:
            raise UpstreamUnavailable(self.system, f"{self.system} sent an unknown status {str(state)[:40]!r}")
        message = payload.get("message")
        message = " ".join(self.scrubber.text(str(message)).split())[:300] if message else ""  # scrub, then cut
        raw_url = payload.get("status_url")
        status_url = urljoin(current or self.url, raw_url) if isinstance(raw_url, str) and raw_url else current
        return str(state), message, status_url
