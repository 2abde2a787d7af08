"""Atlassian Statuspage v1: open, update and resolve incidents and set component statuses.

Statuspage has no idempotency keys. Each incident Opscord opens carries its correlation id in
``metadata`` (``{"opscord": {"correlation_id": …}}``); before creating, the unresolved incidents
are searched for it and a match is reused, and a create that failed without an answer (timeout,
5xx) looks once more before giving up. Rate limiting (429, or Statuspage's 420) is retried by the
HTTP layer, honouring Retry-After.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, cast, get_args

from integrations._names import segment
from integrations.base import ComponentStatus, IncidentStatus, StatusPageIncident
from integrations.errors import IntegrationError, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.http import HttpClient
from integrations.scrub import Scrubber, scrubbed

__all__ = ["MAX_BODY", "MAX_NAME", "METADATA_KEY", "AtlassianStatuspage", "Impact", "parse_incident"]

_SYSTEM: Final = "Statuspage"
MAX_NAME: Final = 255
MAX_BODY: Final = 25000
METADATA_KEY: Final = "opscord"
_STATUSES: Final[frozenset[str]] = frozenset(get_args(IncidentStatus))

Impact = Literal["none", "minor", "major", "critical"]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AtlassianStatuspage:
    """A ``StatusPage`` over Statuspage's REST API v1 for one page.

    Args:
        http: The shared HTTP client.
        page_id: The page's id.
        api_key: The API key (sent as ``Authorization: OAuth <key>``).
        api_url: API base (``https://api.statuspage.io/v1``).
        service_components: Component ids per service, used by ``components_for``.
        deliver_notifications: Whether subscribers are notified of incidents and updates.
        impact_override: Impact set on new incidents (none/minor/major/critical) unless a call
            passes its own; None lets Statuspage derive it from the components.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        page_id: str,
        api_key: str,
        api_url: str = "https://api.statuspage.io/v1",
        service_components: Mapping[str, Sequence[str]] | None = None,
        deliver_notifications: bool = True,
        impact_override: Impact | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.page_id = page_id
        self.api_url = api_url.rstrip("/")
        self.service_components = {k: list(v) for k, v in (service_components or {}).items()}
        self.deliver_notifications = deliver_notifications
        self.impact_override = impact_override
        self.timeout = timeout
        self._headers = {"Authorization": f"OAuth {api_key}"}
        self.scrubber = Scrubber([api_key])
        self._http = http.scrubbing(self.scrubber)

    def components_for(self, service: str, status: ComponentStatus) -> dict[str, ComponentStatus]:
        """``{component id: status}`` for the components configured for ``service``."""
        return dict.fromkeys(self.service_components.get(service, []), status)

    async def create_incident(
        self,
        name: str,
        body: str,
        *,
        status: IncidentStatus = "investigating",
        components: Mapping[str, ComponentStatus] | None = None,
        correlation_id: str | None = None,
        impact: Impact | None = None,
    ) -> StatusPageIncident:
        """Open an incident, or return the unresolved one already carrying ``correlation_id``."""
        if correlation_id and (existing := await self.find_incident(correlation_id)) is not None:
            return existing
        incident: dict[str, Any] = {
            "name": _truncate(name, MAX_NAME), "status": status, "body": _truncate(body, MAX_BODY),
            "deliver_notifications": self.deliver_notifications,
        }
        if components:
            incident["component_ids"] = list(components)
            incident["components"] = dict(components)
        if impact or self.impact_override:
            incident["impact_override"] = impact or self.impact_override
        if correlation_id:
            incident["metadata"] = {METADATA_KEY: {"correlation_id": correlation_id}}
        try:
            answer = await self._call("POST", "/incidents", "incident", {"incident": incident})
        except (UpstreamTimeout, UpstreamUnavailable):
            # The incident may have been created before the answer was lost: look once more.
            if correlation_id and (existing := await self.find_incident(correlation_id)) is not None:
                return existing
            raise
        return parse_incident(answer)

    async def find_incident(self, correlation_id: str) -> StatusPageIncident | None:
        """The unresolved incident whose metadata carries ``correlation_id``, if any."""
        incidents = await self._call("GET", "/incidents/unresolved", "incident lookup", retry_safe=True)
        for item in incidents if isinstance(incidents, list) else []:
            metadata = item.get("metadata") or {}
            ours = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
            if isinstance(ours, dict) and ours.get("correlation_id") == correlation_id:
                return parse_incident(item)
        return None

    async def update_incident(
        self, incident_id: str, body: str, *, status: IncidentStatus | None = None
    ) -> StatusPageIncident:
        """Post an update to the incident (and move it to ``status`` when given)."""
        incident: dict[str, Any] = {"body": _truncate(body, MAX_BODY),
                                    "deliver_notifications": self.deliver_notifications}
        if status:
            incident["status"] = status
        path = f"/incidents/{segment(incident_id)}"
        return parse_incident(await self._call("PATCH", path, "incident update", {"incident": incident}))

    async def resolve_incident(self, incident_id: str, body: str) -> StatusPageIncident:
        """Resolve the incident and set its affected components back to operational."""
        path = f"/incidents/{segment(incident_id)}"
        current = await self._call("GET", path, "incident lookup", retry_safe=True)
        listed = current.get("components") if isinstance(current, dict) else None
        component_ids = [str(c["id"]) for c in listed or [] if isinstance(c, dict) and "id" in c]
        incident: dict[str, Any] = {"status": "resolved", "body": _truncate(body, MAX_BODY),
                                    "deliver_notifications": self.deliver_notifications}
        if component_ids:
            incident["component_ids"] = component_ids
            incident["components"] = dict.fromkeys(component_ids, "operational")
        return parse_incident(await self._call("PATCH", path, "incident update", {"incident": incident}))

    async def set_component_status(self, component_id: str, status: ComponentStatus) -> None:
        """Set one component's status (idempotent, so retried on failure)."""
        await self._call("PATCH", f"/components/{segment(component_id)}", "component update",
                         {"component": {"status": status}}, retry_safe=True)

    @scrubbed
    async def _call(
        self, method: str, path: str, what: str, json: Any = None, *, retry_safe: bool = False
    ) -> Any:
        """One call under ``/pages/{page_id}``; errors become sentences without the key."""
        url = f"{self.api_url}/pages/{segment(self.page_id)}{path}"
        try:
            answer = await self._http.request(_SYSTEM, method, url, json=json, headers=self._headers,
                                              timeout=self.timeout, retry_safe=retry_safe, what=what)
            return answer.json()
        except IntegrationError as exc:
            raise _explain(exc, path) from None


def _explain(exc: IntegrationError, path: str) -> IntegrationError:
    """Clearer sentences for a refused key and unknown ids."""
    if not isinstance(exc, UpstreamRefused):
        return exc
    detail = f"{exc.status}: {exc.upstream_message}" if exc.upstream_message else str(exc.status)
    if exc.status in (401, 403):
        message = f"Statuspage rejected the API key ({detail})"
    elif exc.status == 404:
        message = f"Statuspage has no such page, incident or component ({path.strip('/')}; {detail})"
    else:
        return exc
    return UpstreamRefused(_SYSTEM, message, status=exc.status, upstream_message=exc.upstream_message)


def parse_incident(payload: Any) -> StatusPageIncident:
    """A Statuspage incident object as a ``StatusPageIncident``."""
    if not isinstance(payload, dict) or "id" not in payload:
        raise UpstreamUnavailable(_SYSTEM, "Statuspage sent an unexpected answer (no incident)")
    status = str(payload.get("status"))
    return StatusPageIncident(
        id=str(payload["id"]), name=str(payload.get("name") or ""),
        status=cast(IncidentStatus, status) if status in _STATUSES else "investigating",
        url=payload.get("shortlink") or None,
    )
