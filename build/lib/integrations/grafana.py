"""Grafana: deploy annotations (``POST /api/annotations``) and dashboard links.

An annotation is a note on the dashboards' time axis ("deployed orders v2.4.1 to production")
tagged ``deploy``, the service and the environment. It is not idempotent, so a failed POST is not
retried on 5xx or timeouts; rate limiting is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlencode

from integrations._names import segment
from integrations.errors import IntegrationError, UpstreamRefused
from integrations.http import HttpClient
from integrations.scrub import Scrubber, scrubbed

__all__ = ["GrafanaAnnotator", "dashboard_url"]

_SYSTEM: Final = "Grafana"


def dashboard_url(
    root: str,
    uid: str,
    slug: str = "",
    variables: Mapping[str, str] | None = None,
    *,
    org_id: int = 1,
    time_from: str = "now-1h",
    time_to: str = "now",
) -> str:
    """``{root}/d/{uid}/{slug}?orgId=1&from=now-1h&to=now&var-<name>=<value>`` with every part escaped."""
    path = f"{root.rstrip('/')}/d/{segment(uid)}"
    if slug:
        path += f"/{segment(slug)}"
    query: list[tuple[str, str]] = [("orgId", str(org_id)), ("from", time_from), ("to", time_to)]
    query += [(f"var-{name}", value) for name, value in (variables or {}).items()]
    return f"{path}?{urlencode(query, quote_via=quote)}"


class GrafanaAnnotator:
    """Adds deploy annotations to Grafana and builds dashboard links.

    Args:
        http: The shared HTTP client.
        base_url: Grafana's root URL.
        token: Service-account token (``Authorization: Bearer``); None when annotating is off.
        dashboard_uid: Dashboard the annotations belong to (None: organisation-wide annotations).
        annotate: When False, ``annotate_deploy`` does nothing (links still work).
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        base_url: str,
        token: str | None,
        dashboard_uid: str | None = None,
        annotate: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.dashboard_uid = dashboard_uid
        self.annotate = annotate and bool(token)
        self.timeout = timeout
        self._token = token
        self.scrubber = Scrubber([token])
        self._http = http.scrubbing(self.scrubber)

    def dashboard_url(self, variables: Mapping[str, str] | None = None, *, slug: str = "") -> str | None:
        """A link to the configured dashboard with ``var-`` parameters (None without a dashboard)."""
        if not self.dashboard_uid:
            return None
        return dashboard_url(self.base_url, self.dashboard_uid, slug, variables)

    async def annotate_deploy(
        self, service: str, environment: str, text: str, *, when: datetime | None = None,
        tags: Sequence[str] = ("deploy",),
    ) -> int | None:
        """Annotate a deploy (tags ``deploy``, service, environment); return the annotation id.

        Returns None when annotating is turned off.
        """
        if not self.annotate:
            return None
        return await self.add_annotation(text, [*tags, service, environment], when=when)

    @scrubbed
    async def add_annotation(self, text: str, tags: Sequence[str], *, when: datetime | None = None) -> int | None:
        """``POST /api/annotations``; return the new annotation's id when Grafana gives one."""
        moment = when or datetime.now(UTC)
        body: dict[str, object] = {"text": text, "tags": list(dict.fromkeys(tags)),
                                   "time": int(moment.timestamp() * 1000)}
        if self.dashboard_uid:
            body["dashboardUID"] = self.dashboard_uid
        try:
            answer = await self._http.request(
                _SYSTEM, "POST", f"{self.base_url}/api/annotations", json=body,
                headers={"Authorization": f"Bearer {self._token}"}, timeout=self.timeout, what="annotation",
            )
            payload = answer.json()
        except IntegrationError as exc:
            raise _explain(exc) from None
        ident = payload.get("id") if isinstance(payload, dict) else None
        return ident if isinstance(ident, int) else None


def _explain(exc: IntegrationError) -> IntegrationError:
    """A clearer sentence for a refused token."""
    if isinstance(exc, UpstreamRefused) and exc.status in (401, 403):
        detail = f"{exc.status}: {exc.upstream_message}" if exc.upstream_message else str(exc.status)
        return UpstreamRefused(_SYSTEM, f"Grafana rejected the service-account token ({detail})",
                               status=exc.status, upstream_message=exc.upstream_message)
    return exc
