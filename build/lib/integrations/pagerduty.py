"""Page through PagerDuty: Events API v2 for alerts, REST API v2 for who is on call.

Every event carries a dedup key, so sending it twice is harmless: events are marked
``retry_safe`` and 429/5xx/timeouts are retried. A 400 means the event itself is wrong and is not
retried. The routing key travels only in the request body; it is never logged, and any echo of it
(or of the REST token) in an upstream message is replaced by ``***``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from integrations.base import OnCall, PagerSeverity
from integrations.errors import ConfigurationError, IntegrationError, UpstreamRefused, UpstreamUnavailable
from integrations.http import HttpClient
from integrations.scrub import Scrubber, scrubbed

__all__ = ["MAX_DEDUP_KEY", "MAX_SUMMARY", "PagerDutyPager", "dedup_key_for", "parse_oncalls"]

_SYSTEM: Final = "PagerDuty"
MAX_SUMMARY: Final = 1024
MAX_DEDUP_KEY: Final = 255
_MAX_PAYLOAD: Final = 512 * 1024
_REST_ACCEPT: Final = "application/vnd.pagerduty+json;version=2"
_MAX_PAGES: Final = 10


def dedup_key_for(key: str) -> str:
    """``key`` itself when it fits PagerDuty's 255 characters, else a stable shortened form.

    A long key keeps its first 190 characters and gains a SHA-256 suffix, so two different long
    keys never collide and the same key always maps to the same dedup key.
    """
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"{key[:190]}~{hashlib.sha256(key.encode()).hexdigest()}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PagerDutyPager:
    """A ``Pager`` over PagerDuty's Events API v2 (and REST API v2 for ``oncall``).

    Args:
        http: The shared HTTP client.
        routing_key: The integration's 32-character routing key.
        api_token: REST API token; needed only by ``oncall``.
        escalation_policy_ids: Policies whose on-call users ``oncall`` lists (all when empty).
        events_url / api_url: Base URLs (point them at a fake in tests).
        client / client_url: Shown in PagerDuty as the alert's origin.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        routing_key: str,
        api_token: str | None = None,
        escalation_policy_ids: Sequence[str] = (),
        events_url: str = "https://events.pagerduty.com",
        api_url: str = "https://api.pagerduty.com",
        client: str = "Opscord",
        client_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.events_url = events_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.escalation_policy_ids = list(escalation_policy_ids)
        self.client = client
        self.client_url = client_url
        self.timeout = timeout
        self._routing_key = routing_key
        self._api_token = api_token
        self.scrubber = Scrubber([routing_key, api_token])
        self._http = http.scrubbing(self.scrubber)

    async def trigger(
        self,
        dedup_key: str,
        summary: str,
        *,
        severity: PagerSeverity,
        source: str,
        details: Mapping[str, Any] | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Open (or append to) the alert for ``dedup_key``; return the dedup key PagerDuty uses.

        ``summary`` is cut to 1024 characters; ``links`` are (text, url) pairs; ``details`` become
        the alert's custom details (dropped, with a note, if the event would exceed 512 KB).
        """
        payload: dict[str, Any] = {"summary": _truncate(summary, MAX_SUMMARY), "source": _truncate(source, 255),
                                   "severity": severity}
        if details:
            payload["custom_details"] = dict(details)
        event: dict[str, Any] = {"event_action": "trigger", "dedup_key": dedup_key_for(dedup_key),
                                 "payload": payload, "client": self.client}
        if self.client_url:
            event["client_url"] = self.client_url
        if links:
            event["links"] = [{"text": text, "href": href} for text, href in links]
        if len(json.dumps(event, default=str)) > _MAX_PAYLOAD - 1024:
            payload["custom_details"] = {"note": "details omitted: the event would exceed 512 KB"}
        answer = await self._send(event)
        key = answer.get("dedup_key") if isinstance(answer, dict) else None
        return key if isinstance(key, str) and key else str(event["dedup_key"])

    async def acknowledge(self, dedup_key: str) -> None:
        """Acknowledge the alert (PagerDuty drops this when no alert is open)."""
        await self._send({"event_action": "acknowledge", "dedup_key": dedup_key_for(dedup_key)})

    async def resolve(self, dedup_key: str) -> None:
        """Resolve the alert (PagerDuty drops this when no alert is open)."""
        await self._send({"event_action": "resolve", "dedup_key": dedup_key_for(dedup_key)})

    @scrubbed
    async def oncall(self) -> list[OnCall]:
        """Who is on call now for the configured escalation policies, lowest level first.

        Raises:
            ConfigurationError: when no REST API token is configured.
        """
        if not self._api_token:
            raise ConfigurationError(_SYSTEM, "PagerDuty needs a REST API token (api_token_env) to look up on-call")
        headers = {"Authorization": f"Token token={self._api_token}", "Accept": _REST_ACCEPT}
        entries: list[dict[str, Any]] = []
        for page in range(_MAX_PAGES):
            params = [("escalation_policy_ids[]", pid) for pid in self.escalation_policy_ids]
            params += [("include[]", "users"), ("earliest", "true"), ("limit", "100"), ("offset", str(page * 100))]
            try:
                answer = await self._http.request(
                    _SYSTEM, "GET", f"{self.api_url}/oncalls", params=params, headers=headers,
                    timeout=self.timeout, retry_safe=True, what="on-call lookup",
                )
            except IntegrationError as exc:
                raise _explain_rest(exc) from None
            body = answer.json()
            if not isinstance(body, dict):
                raise UpstreamUnavailable(_SYSTEM, "PagerDuty sent an unexpected on-call answer")
            entries += body.get("oncalls") or []
            if not body.get("more"):
                break
        return parse_oncalls(entries)

    @scrubbed
    async def _send(self, event: dict[str, Any]) -> Any:
        """POST one event to ``/v2/enqueue``; return PagerDuty's answer."""
        body = {"routing_key": self._routing_key, **event}
        answer = await self._http.request(
            _SYSTEM, "POST", f"{self.events_url}/v2/enqueue", json=body, timeout=self.timeout,
            retry_safe=True, expected=(200, 201, 202), what="event",
        )
        try:
            return answer.json()
        except UpstreamUnavailable:
            return None  # accepted; the body does not matter


def _explain_rest(exc: IntegrationError) -> IntegrationError:
    """A clearer sentence for a refused REST token."""
    if isinstance(exc, UpstreamRefused) and exc.status in (401, 403):
        detail = f"{exc.status}: {exc.upstream_message}" if exc.upstream_message else str(exc.status)
        return UpstreamRefused(_SYSTEM, f"PagerDuty rejected the API token ({detail})", status=exc.status,
                               upstream_message=exc.upstream_message)
    return exc


def parse_oncalls(entries: Sequence[Mapping[str, Any]]) -> list[OnCall]:
    """``oncalls[]`` entries as ``OnCall`` rows, by escalation level then name, one per user and level."""
    seen: set[tuple[str, int]] = set()
    rows: list[OnCall] = []
    for entry in entries:
        user = entry.get("user") or {}
        user_id = str(user.get("id") or "")
        level = int(entry.get("escalation_level") or 0)
        if (user_id, level) in seen:
            continue
        seen.add((user_id, level))
        name = str(user.get("name") or user.get("summary") or user_id or "unknown")
        rows.append(OnCall(user_id, name, level, _when(entry.get("start")), _when(entry.get("end"))))
    rows.sort(key=lambda row: (row.escalation_level, row.name.casefold()))
    return rows


def _when(value: Any) -> datetime | None:
    """An ISO 8601 timestamp, or None (``end`` null means on call permanently)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
