"""Health from Prometheus: instant queries (``GET /api/v1/query``) judged against thresholds.

Each ``Signal`` is a PromQL template in which ``{service}`` and ``{environment}`` stand where a
label value goes, *without* quotes (``up{job={service}}``): the adapter substitutes each value as a
quoted Go string literal (see ``integrations.promql``), so hostile input can never leave its string.

The health rule, per signal (``min`` signals such as availability must stay above their
thresholds, ``max`` signals such as error rate and p99 latency below):

- no sample, or only NaN → that check is UNKNOWN (no data);
- beyond the ``down`` threshold → DOWN (a ``min`` signal at 0, nothing up, is always DOWN);
- beyond the ``degraded`` threshold → DEGRADED; otherwise HEALTHY.

Overall: DOWN if any check is down, else DEGRADED if any is degraded, else UNKNOWN if every check
is unknown (no data at all, or Prometheus failed), else HEALTHY (checks without data are named in
the summary). A query returning several series counts its worst value.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from ssl import SSLContext
from typing import Any, Final, Literal

from integrations._observability import auth_headers, basic_secrets
from integrations.base import HealthCheck, HealthReport, HealthStatus, MetricSample
from integrations.errors import (
    IntegrationError,
    ProviderFailed,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from integrations.http import HttpClient, Response
from integrations.messages import upstream_message
from integrations.promql import QUERY_PLACEHOLDERS, promql_quote, render_query, validate_query_template
from integrations.scrub import Scrubber, scrubbed

__all__ = [
    "QUERY_PLACEHOLDERS",
    "Measurement",
    "PrometheusMonitor",
    "Signal",
    "default_signals",
    "judge",
    "parse_samples",
    "promql_quote",
    "render_query",
    "validate_query_template",
]

_SYSTEM: Final = "Prometheus"
_SEVERITY: Final = {HealthStatus.DOWN: 3, HealthStatus.DEGRADED: 2, HealthStatus.HEALTHY: 1, HealthStatus.UNKNOWN: 0}


@dataclass(frozen=True)
class Signal:
    """One health signal: a query template and its thresholds.

    ``kind`` ``min``: the value must stay at or above ``degraded`` (DOWN below ``down``);
    ``max``: at or below ``degraded`` (DOWN above ``down``). ``unit`` formats values.
    """

    name: str
    query: str
    kind: Literal["min", "max"]
    degraded: float
    down: float
    unit: Literal["ratio", "seconds", "number"] = "number"

    def __post_init__(self) -> None:
        validate_query_template(self.query)


Measurement = float | list[float] | None | IntegrationError
"""A signal's value, its values per series (the worst counts), no data, or the query's failure."""

_SELECTOR: Final = "job={service}, environment={environment}"


def default_signals(
    *,
    availability_min: float = 0.99,
    availability_down: float = 0.5,
    error_rate_max: float = 0.01,
    error_rate_down: float = 0.25,
    p99_max_seconds: float = 1.0,
    p99_down_seconds: float = 5.0,
) -> list[Signal]:
    """The built-in availability, error-rate and p99-latency signals (HTTP server metrics)."""
    requests = f"sum(rate(http_requests_total{{{_SELECTOR}}}[5m]))"
    return [
        Signal("availability", f"avg(up{{{_SELECTOR}}})", "min", availability_min, availability_down, "ratio"),
        Signal("error rate", f'sum(rate(http_requests_total{{{_SELECTOR}, code=~"5.."}}[5m])) / {requests}',
               "max", error_rate_max, error_rate_down, "ratio"),
        Signal("p99 latency", "histogram_quantile(0.99, sum by (le) "
               f"(rate(http_request_duration_seconds_bucket{{{_SELECTOR}}}[5m])))",
               "max", p99_max_seconds, p99_down_seconds, "seconds"),
    ]


class PrometheusMonitor:
    """A ``Monitor`` (and ``HealthChecker``) over Prometheus' instant query API.

    Args:
        http: The shared HTTP client.
        base_url: Prometheus' URL (a path prefix such as ``/prometheus`` is kept).
        signals: The health signals (default: ``default_signals()``).
        token / basic_auth: Optional bearer token or (user, password).
        org_id: Tenant sent as ``X-Scope-OrgID`` (Mimir, Cortex), when set.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        base_url: str,
        signals: Sequence[Signal] | None = None,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        org_id: str | None = None,
        ssl: SSLContext | bool | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signals = list(default_signals() if signals is None else signals)
        self.ssl = ssl
        self.timeout = timeout
        self._headers = auth_headers(token, basic_auth)
        if org_id:
            self._headers["X-Scope-OrgID"] = org_id
        self.scrubber = Scrubber(basic_secrets(token, basic_auth))
        self._http = http.scrubbing(self.scrubber)

    @scrubbed
    async def query(self, expression: str, *, at: datetime | None = None) -> list[MetricSample]:
        """Run an instant query; vectors, scalars and range vectors become samples."""
        params = [("query", expression)]
        if at is not None:
            params.append(("time", f"{at.timestamp():.3f}"))
        try:
            answer = await self._http.request(
                _SYSTEM, "GET", f"{self.base_url}/api/v1/query", params=params, headers=self._headers,
                timeout=self.timeout, retry_safe=True, expected=(200, 400, 422), what="query", ssl=self.ssl,
            )
            return parse_samples(_envelope(answer, self.scrubber))
        except IntegrationError as exc:
            raise _explain(exc) from None

    @scrubbed
    async def check(self, service: str, environment: str) -> HealthReport:
        """Run every signal for ``service`` in ``environment`` and judge the results (never raises)."""
        values = {"service": service, "environment": environment}
        outcomes = await asyncio.gather(
            *(self._measure(render_query(s.query, values)) for s in self.signals), return_exceptions=True
        )
        measured: list[tuple[Signal, Measurement]] = []
        for signal, outcome in zip(self.signals, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, IntegrationError):
                raise outcome
            measured.append((signal, outcome))
        return judge(f"{service} in {environment}", measured)

    async def _measure(self, expression: str) -> list[float]:
        """The non-NaN values of a query's samples (empty without data)."""
        return [s.value for s in await self.query(expression) if not math.isnan(s.value)]


def judge(subject: str, measured: Sequence[tuple[Signal, Measurement]]) -> HealthReport:
    """Apply the health rule (see the module docstring) to measured values.

    Each measurement is a float, a list of floats (several series: the worst counts), None (no
    data) or an ``IntegrationError`` (the query failed).
    """
    checks: list[HealthCheck] = []
    errors: list[str] = []
    for signal, outcome in measured:
        if isinstance(outcome, IntegrationError):
            errors.append(str(outcome))
            value = None
        elif isinstance(outcome, list):
            value = (min if signal.kind == "min" else max)(outcome) if outcome else None
        else:
            value = outcome
        checks.append(HealthCheck(signal.name, _format(value, signal.unit) if value is not None else None,
                                  _threshold(signal), _status(signal, value)))
    worst = max((c.status for c in checks), key=_SEVERITY.__getitem__, default=HealthStatus.UNKNOWN)
    if worst in (HealthStatus.DOWN, HealthStatus.DEGRADED):
        reasons = [f"{c.name} {c.value} (should be {c.threshold})" for c in checks if c.status == worst]
        return HealthReport(worst, f"{subject} is {worst.value}: {', '.join(reasons)}", checks)
    if worst == HealthStatus.UNKNOWN:
        why = errors[0] if errors else "no monitoring data"
        return HealthReport(worst, f"The health of {subject} is unknown: {why}", checks)
    known = ", ".join(f"{c.name} {c.value}" for c in checks if c.status == HealthStatus.HEALTHY)
    missing = [c.name for c in checks if c.status == HealthStatus.UNKNOWN]
    note = f"; no data for {', '.join(missing)}" if missing else ""
    return HealthReport(worst, f"{subject} is healthy ({known}){note}", checks)


def _status(signal: Signal, value: float | None) -> HealthStatus:
    if value is None or math.isnan(value):
        return HealthStatus.UNKNOWN
    if signal.kind == "min":
        if value <= 0 or value < signal.down:
            return HealthStatus.DOWN
        return HealthStatus.DEGRADED if value < signal.degraded else HealthStatus.HEALTHY
    if value > signal.down:
        return HealthStatus.DOWN
    return HealthStatus.DEGRADED if value > signal.degraded else HealthStatus.HEALTHY


def _format(value: float, unit: str) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit == "ratio":
        return f"{value * 100:.4g}%"
    if unit == "seconds":
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    return f"{value:.4g}"


def _threshold(signal: Signal) -> str:
    return f"{'≥' if signal.kind == 'min' else '≤'} {_format(signal.degraded, signal.unit)}"


def _envelope(answer: Response, scrubber: Scrubber) -> Any:
    """The ``data`` of a successful answer, or the error the envelope describes."""
    payload = answer.json()
    if not isinstance(payload, dict):
        raise UpstreamUnavailable(_SYSTEM, "Prometheus sent an unexpected answer (not an object)")
    if payload.get("status") == "success" and answer.status == 200:
        return payload.get("data")
    kind = str(payload.get("errorType") or answer.status)
    message = upstream_message(answer.body, scrubber=scrubber) or "no reason given"
    if kind == "bad_data":
        raise UpstreamRefused(_SYSTEM, f"Prometheus could not parse the query (bad_data: {message})",
                              status=answer.status, upstream_message=message)
    if kind == "execution":
        raise UpstreamRefused(_SYSTEM, f"Prometheus could not run the query (execution: {message})",
                              status=answer.status, upstream_message=message)
    if kind in ("timeout", "canceled"):
        raise UpstreamTimeout(_SYSTEM, f"Prometheus gave up on the query ({kind}: {message})")
    raise UpstreamRefused(_SYSTEM, f"Prometheus refused the query ({kind}: {message})",
                          status=answer.status, upstream_message=message)


def _explain(exc: IntegrationError) -> IntegrationError:
    """Statuses the http layer raised (503 and other failures) as clearer sentences."""
    if isinstance(exc, UpstreamUnavailable) and exc.status == 503 and exc.upstream_message:
        return UpstreamTimeout(_SYSTEM, f"Prometheus gave up on the query (503: {exc.upstream_message})")
    if isinstance(exc, UpstreamRefused) and exc.status in (401, 403):
        detail = f"{exc.status}: {exc.upstream_message}" if exc.upstream_message else str(exc.status)
        return UpstreamRefused(_SYSTEM, f"Prometheus rejected the credentials ({detail})", status=exc.status,
                               upstream_message=exc.upstream_message)
    return exc


def parse_samples(data: Any) -> list[MetricSample]:
    """Turn ``data`` of an instant query (vector, scalar or matrix) into samples.

    Raises:
        ProviderFailed: for a ``string`` result (not a number).
        UpstreamUnavailable: for a malformed answer.
    """
    if not isinstance(data, dict):
        raise UpstreamUnavailable(_SYSTEM, "Prometheus sent an unexpected answer (no data)")
    kind = data.get("resultType")
    result: Any = data.get("result")
    try:
        if kind == "vector":
            return [_sample(item.get("metric"), item["value"]) for item in result]
        if kind == "scalar":
            return [_sample({}, result)]
        if kind == "matrix":
            return [_sample(item.get("metric"), pair) for item in result for pair in item["values"]]
    except (TypeError, KeyError, ValueError, IndexError, AttributeError):
        raise UpstreamUnavailable(_SYSTEM, "Prometheus sent a malformed sample") from None
    if kind == "string":
        raise ProviderFailed(_SYSTEM, "The Prometheus query returned a string, not a number")
    raise UpstreamUnavailable(_SYSTEM, f"Prometheus sent an unknown result type {kind!r}")


def _sample(metric: Any, pair: Sequence[Any]) -> MetricSample:
    """One ``[seconds, "value"]`` pair; values are strings ("NaN", "+Inf" included)."""
    labels = {str(k): str(v) for k, v in (metric or {}).items()}
    return MetricSample(labels, float(pair[1]), datetime.fromtimestamp(float(pair[0]), UTC))
