"""Read log lines from Grafana Loki (``GET /loki/api/v1/query_range``).

Callers never write LogQL: ``logql_selector`` builds the stream selector from label names (checked
against ``^[A-Za-z_][A-Za-z0-9_]*$``) and values quoted as Go string literals, and the line filter
is quoted the same way, so user input such as ``"} or vector(1) #`` stays one quoted value.
Loki answers errors as text/plain; they become sentences like
``Loki refused the query (400: parse error at line 1, col 7: …)``. Error sentences and the log
lines returned are scrubbed of the credentials and of anything credential-shaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from ssl import SSLContext
from typing import Any, Final

from integrations._observability import auth_headers, basic_secrets, check_label_name, go_string
from integrations.base import LogDirection, LogLine
from integrations.errors import (
    ConfigurationError,
    IntegrationError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from integrations.http import HttpClient
from integrations.scrub import Scrubber, scrubbed
from integrations.templates import TemplateError, render, validate

__all__ = ["DEFAULT_LABELS", "MAX_ENTRIES", "LokiLogSource", "logql_selector", "parse_streams"]

_SYSTEM: Final = "Loki"
MAX_ENTRIES: Final = 5000  # Loki's default max_entries_limit_per_query
DEFAULT_LABELS: Final[Mapping[str, str]] = {"app": "{service}", "env": "{environment}"}


def logql_selector(labels: Mapping[str, str], line_filter: str | None = None) -> str:
    """Build ``{name="value", …} |= "filter"`` with every value and the filter quoted.

    Raises:
        ConfigurationError: when a label name is invalid, or no label has a non-empty value
            (Loki refuses selectors that match every stream).
    """
    if not any(labels.values()):
        raise ConfigurationError(_SYSTEM, "Loki needs at least one label with a non-empty value to select logs")
    matchers = ", ".join(f"{check_label_name(_SYSTEM, name)}={go_string(value)}" for name, value in labels.items())
    selector = "{" + matchers + "}"
    if line_filter:
        selector += f" |= {go_string(line_filter)}"
    return selector


class LokiLogSource:
    """A ``LogSource`` over Loki's range query API.

    Args:
        http: The shared HTTP client.
        base_url: Loki's URL (``https://loki.example.com``; a path prefix is kept).
        labels: Label templates selecting a service's streams, with ``{service}`` and
            ``{environment}`` placeholders (see ``service_selector``).
        org_id: Tenant sent as ``X-Scope-OrgID`` (multi-tenant Loki), when set.
        token: Bearer token (for an authenticating proxy), or
        basic_auth: (user, password) for basic auth.
        max_entries: Upper bound for ``limit`` (Loki's ``max_entries_limit_per_query``).
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        base_url: str,
        labels: Mapping[str, str] = DEFAULT_LABELS,
        org_id: str | None = None,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        ssl: SSLContext | bool | None = None,
        timeout: float = 10.0,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        for name, template in labels.items():
            check_label_name(_SYSTEM, name)
            try:
                validate(template, {"service", "environment"})
            except TemplateError as exc:
                raise ConfigurationError(_SYSTEM, f"Loki label {name}: {exc}") from None
        self.base_url = base_url.rstrip("/")
        self.labels = dict(labels)
        self.ssl = ssl
        self.timeout = timeout
        self.max_entries = max_entries
        self._headers = auth_headers(token, basic_auth)
        if org_id:
            self._headers["X-Scope-OrgID"] = org_id
        self.scrubber = Scrubber(basic_secrets(token, basic_auth))
        self._http = http.scrubbing(self.scrubber)

    def service_selector(self, service: str, environment: str) -> dict[str, str]:
        """The labels selecting ``service``'s streams in ``environment`` (templates filled in)."""
        values = {"service": service, "environment": environment}
        return {name: render(template, values) for name, template in self.labels.items()}

    async def service_logs(
        self,
        service: str,
        environment: str,
        *,
        line_filter: str | None = None,
        since: timedelta = timedelta(hours=1),
        limit: int = 100,
        direction: LogDirection = "backward",
    ) -> list[LogLine]:
        """Recent lines of ``service`` in ``environment`` (what ``/logs`` shows)."""
        return await self.query(self.service_selector(service, environment), line_filter=line_filter,
                                since=since, limit=limit, direction=direction)

    async def query(
        self,
        selector: Mapping[str, str],
        *,
        line_filter: str | None = None,
        since: timedelta = timedelta(hours=1),
        limit: int = 100,
        direction: LogDirection = "backward",
    ) -> list[LogLine]:
        """Lines of the streams whose labels equal ``selector`` that contain ``line_filter``."""
        return await self.query_range(logql_selector(selector, line_filter), since=since, limit=limit,
                                      direction=direction)

    @scrubbed
    async def query_range(
        self,
        query: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        since: timedelta | None = None,
        limit: int = 100,
        direction: LogDirection = "backward",
    ) -> list[LogLine]:
        """Run a LogQL log query over a time range; newest first for ``backward``.

        ``start``/``end`` bound the range; without ``start``, ``since`` (default: Loki's own, one
        hour) reaches back from ``end``. ``limit`` is capped at ``max_entries``. The lines are
        scrubbed (they are shown to people).
        """
        params: list[tuple[str, str]] = [
            ("query", query), ("limit", str(max(1, min(limit, self.max_entries)))), ("direction", direction),
        ]
        if start is not None:
            params.append(("start", str(_ns(start))))
        elif since is not None:
            params.append(("since", _duration(since)))
        if end is not None:
            params.append(("end", str(_ns(end))))
        try:
            answer = await self._http.request(
                _SYSTEM, "GET", f"{self.base_url}/loki/api/v1/query_range", params=params,
                headers=self._headers, timeout=self.timeout, retry_safe=True, what="query", ssl=self.ssl,
            )
            return parse_streams(answer.json(), direction)
        except IntegrationError as exc:
            raise _explain(exc) from None


def parse_streams(payload: Any, direction: LogDirection = "backward") -> list[LogLine]:
    """Flatten a ``streams`` answer into lines sorted by time (newest first for ``backward``).

    Raises:
        UpstreamUnavailable: when the answer is not a successful ``streams`` result.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or payload.get("status") != "success":
        raise UpstreamUnavailable(_SYSTEM, "Loki sent an unexpected answer (no successful data)")
    if data.get("resultType") != "streams":
        raise UpstreamUnavailable(
            _SYSTEM, f"Loki answered with {data.get('resultType')!r} results, not log lines (is it a metric query?)"
        )
    entries: list[tuple[int, LogLine]] = []
    for stream in data.get("result") or []:
        labels = {str(k): str(v) for k, v in (stream.get("stream") or {}).items()}
        for value in stream.get("values") or []:
            try:
                ns, line = int(value[0]), str(value[1])
            except (TypeError, ValueError, IndexError):
                raise UpstreamUnavailable(_SYSTEM, "Loki sent a malformed log entry") from None
            entries.append((ns, LogLine(_datetime(ns), labels, line)))
    entries.sort(key=lambda entry: entry[0], reverse=direction == "backward")
    return [line for _, line in entries]


def _explain(exc: IntegrationError) -> IntegrationError:
    """Clearer sentences for Loki's own failure statuses."""
    if isinstance(exc, UpstreamRefused):
        detail = f"{exc.status}: {exc.upstream_message}" if exc.upstream_message else str(exc.status)
        if exc.status in (401, 403):
            return UpstreamRefused(_SYSTEM, f"Loki rejected the credentials ({detail})", status=exc.status,
                                   upstream_message=exc.upstream_message)
        if exc.status == 499:
            return UpstreamUnavailable(_SYSTEM, f"Loki cancelled the query ({detail})", status=exc.status,
                                       upstream_message=exc.upstream_message)
    if isinstance(exc, UpstreamUnavailable) and exc.status == 504:
        detail = f"504: {exc.upstream_message}" if exc.upstream_message else "504"
        return UpstreamTimeout(_SYSTEM, f"Loki timed out running the query ({detail}); try a shorter time range")
    return exc


def _ns(moment: datetime) -> int:
    """Nanoseconds since the epoch (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _datetime(ns: int) -> datetime:
    """The UTC datetime of a nanosecond timestamp (microsecond precision)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _duration(span: timedelta) -> str:
    """A Prometheus-style duration Loki accepts: whole seconds, or milliseconds when shorter."""
    millis = max(1, round(span.total_seconds() * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"
