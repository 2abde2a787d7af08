"""PrometheusMonitor: quoting into PromQL templates, the envelope, errors, the health rule; and
against FakePrometheus."""

from __future__ import annotations

import asyncio
import json
import math
import re
from datetime import UTC, datetime

import pytest

from bot.sandbox.fakes import FakePrometheus
from integrations.base import HealthStatus, Monitor
from integrations.errors import ProviderFailed, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.prometheus import (
    PrometheusMonitor,
    Signal,
    default_signals,
    judge,
    promql_quote,
    render_query,
    validate_query_template,
)
from integrations.templates import TemplateError
from tests.integrations.test_loki import HOSTILE

BASE = "https://prometheus.example.test"
QUERY_URL = re.compile(r"^https://prometheus\.example\.test/api/v1/query(\?.*)?$")
AVAILABILITY, ERRORS, P99 = default_signals()


def monitor(http, **kwargs) -> PrometheusMonitor:
    return PrometheusMonitor(http, base_url=BASE, **kwargs)


def vector(*samples) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels, "value": [1767225600.5, value]} for labels, value in samples]}}


def test_promql_quote():
    assert promql_quote("orders") == '"orders"'
    assert promql_quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert promql_quote("日本") == '"日本"'


@pytest.mark.parametrize("hostile", HOSTILE)
def test_render_query_substitutes_one_quoted_literal_per_placeholder(hostile):
    query = render_query("count(up{job={service}, env={environment}})", {"service": hostile, "environment": "prod"})
    literal = promql_quote(hostile)
    assert query == f'count(up{{job={literal}, env="prod"}})'
    assert json.loads(literal) == hostile
    assert "\n" not in query


def test_query_templates_are_checked():
    validate_query_template('sum(rate(x{job={service}, code=~"5.."}[5m])) # {service} in a comment is fine')
    with pytest.raises(TemplateError, match="inside a quoted string"):
        validate_query_template('up{job="{service}"}')
    with pytest.raises(TemplateError, match="inside a quoted string"):
        validate_query_template("up{job=`prefix-{environment}`}")
    with pytest.raises(TemplateError, match=r"unknown placeholder \{version\}"):
        validate_query_template("up{job={version}}")
    with pytest.raises(TemplateError):
        Signal("x", 'up{job="{service}"}', "min", 1, 0)
    assert render_query('x{a="lit}", b={service}} # {service}', {"service": "s"}) == 'x{a="lit}", b="s"} # {service}'


async def test_query_parses_vectors_with_special_values(http, mocked):
    mocked.get(QUERY_URL, payload=vector(({"job": "a"}, "0.25"), ({"job": "b"}, "NaN"), ({"job": "c"}, "+Inf"),
                                         ({"job": "d"}, "-Inf")))
    samples = await monitor(http).query("up", at=datetime(2026, 1, 1, tzinfo=UTC))
    assert [s.labels["job"] for s in samples] == ["a", "b", "c", "d"]
    assert samples[0].value == 0.25 and math.isnan(samples[1].value)
    assert samples[2].value == math.inf and samples[3].value == -math.inf
    assert samples[0].timestamp == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    call = next(iter(mocked.requests.values()))[0]
    assert call.kwargs["params"] == [("query", "up"), ("time", "1767225600.000")]


async def test_scalar_matrix_and_string_results(http, mocked):
    mocked.get(QUERY_URL, payload={"status": "success", "data": {"resultType": "scalar", "result": [1.5, "2"]}})
    mocked.get(QUERY_URL, payload={"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "b"}, "values": [[1, "1"], [2, "3"]]}]}})
    mocked.get(QUERY_URL, payload={"status": "success", "data": {"resultType": "string", "result": [1, "x"]}})
    prom = monitor(http)
    assert [(s.labels, s.value) for s in await prom.query("2")] == [({}, 2.0)]
    assert [s.value for s in await prom.query("x[1m]")] == [1.0, 3.0]
    with pytest.raises(ProviderFailed, match="returned a string"):
        await prom.query('"x"')


@pytest.mark.parametrize(
    ("status", "body", "error", "sentence"),
    [
        (400, {"status": "error", "errorType": "bad_data",
               "error": "1:5: parse error: unexpected end of input"},
         UpstreamRefused, "Prometheus could not parse the query (bad_data: 1:5: parse error: unexpected end of input)"),
        (422, {"status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"},
         UpstreamRefused, "Prometheus could not run the query (execution: many-to-many matching not allowed)"),
        (503, {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"},
         UpstreamTimeout, "Prometheus gave up on the query (503: query timed out in expression evaluation)"),
        (401, {"message": "Unauthorized"}, UpstreamRefused, "Prometheus rejected the credentials (401: Unauthorized)"),
        (502, {"message": "bad gateway"}, UpstreamUnavailable,
         "Prometheus failed while handling the query (502: bad gateway)"),
    ],
)
async def test_errors_become_sentences(http, mocked, clock, status, body, error, sentence):
    mocked.get(QUERY_URL, status=status, payload=body, repeat=True)
    with pytest.raises(error) as caught:
        await monitor(http).query("up")
    assert str(caught.value) == sentence
    if status < 500:
        assert clock.sleeps == []  # refusals are not retried


async def test_429_retried_after_retry_after_and_timeouts(http, mocked, clock):
    mocked.get(QUERY_URL, status=429, payload={"message": "slow down"}, headers={"Retry-After": "2"})
    mocked.get(QUERY_URL, exception=asyncio.TimeoutError())
    mocked.get(QUERY_URL, payload=vector(({}, "1")))
    assert [s.value for s in await monitor(http).query("up")] == [1.0]
    assert clock.sleeps[0] == 2.0 and len(clock.sleeps) == 2
    mocked.get(QUERY_URL, exception=asyncio.TimeoutError(), repeat=True)
    with pytest.raises(UpstreamTimeout, match=r"^Prometheus did not answer the query within 3 s$"):
        await monitor(http, timeout=3).query("up")


def test_health_rule():
    def run(availability, error_rate, p99):
        return judge("orders in production", [(AVAILABILITY, availability), (ERRORS, error_rate), (P99, p99)])

    healthy = run(1.0, 0.001, 0.2)
    assert healthy.status == HealthStatus.HEALTHY
    assert healthy.summary == "orders in production is healthy (availability 100%, error rate 0.1%, p99 latency 200 ms)"
    assert [c.status for c in healthy.checks] == [HealthStatus.HEALTHY] * 3
    assert healthy.checks[1].threshold == "≤ 1%"

    degraded = run(1.0, 0.02, 0.2)
    assert degraded.status == HealthStatus.DEGRADED
    assert degraded.summary == "orders in production is degraded: error rate 2% (should be ≤ 1%)"
    assert run(0.95, 0.0, 0.2).status == HealthStatus.DEGRADED
    assert run(1.0, 0.0, 1.5).status == HealthStatus.DEGRADED

    assert run(0.0, None, None).status == HealthStatus.DOWN  # nothing up
    assert run(0.4, 0.0, 0.1).status == HealthStatus.DOWN
    assert run(1.0, 0.3, 0.1).status == HealthStatus.DOWN
    down = run(1.0, 0.0, math.inf)
    assert down.status == HealthStatus.DOWN and down.summary == ("orders in production is down: p99 latency +Inf "
                                                                 "(should be ≤ 1 s)")

    unknown = run(None, math.nan, [])
    assert unknown.status == HealthStatus.UNKNOWN
    assert unknown.summary == "The health of orders in production is unknown: no monitoring data"
    partial = run(1.0, math.nan, 0.05)
    assert partial.status == HealthStatus.HEALTHY
    assert partial.summary.endswith("; no data for error rate")
    assert run([1.0, 0.3], 0.0, 0.1).status == HealthStatus.DOWN  # several series: the worst counts

    failed = judge("x", [(AVAILABILITY, UpstreamUnavailable("Prometheus", "Prometheus could not be reached"))])
    assert failed.status == HealthStatus.UNKNOWN
    assert failed.summary == "The health of x is unknown: Prometheus could not be reached"


async def test_check_against_fake_prometheus(http):
    async with FakePrometheus() as prom:
        adapter = PrometheusMonitor(http, base_url=prom.base_url)
        assert isinstance(adapter, Monitor)
        assert (await adapter.check("orders", "production")).status == HealthStatus.UNKNOWN

        prom.set_value("avg(up{", 1.0)
        prom.set_value('code=~"5.."', 0.002)
        prom.set_value("histogram_quantile", 0.120)
        report = await adapter.check("orders", "production")
        assert report.status == HealthStatus.HEALTHY, report.summary
        assert report.summary == ("orders in production is healthy (availability 100%, error rate 0.2%, "
                                  "p99 latency 120 ms)")
        assert 'avg(up{job="orders", environment="production"})' in prom.queries

        prom.set_value("avg(up{", 0.0, {"instance": "b"})  # a second series, down
        assert (await adapter.check("orders", "production")).status == HealthStatus.DOWN

        prom.clear()
        prom.set_error("avg(up{", "bad_data", "parse error")
        prom.set_value("histogram_quantile", float("nan"))
        report = await adapter.check("orders", "production")
        assert report.status == HealthStatus.UNKNOWN
        assert report.summary == ("The health of orders in production is unknown: Prometheus could not parse "
                                  "the query (bad_data: parse error)")

        prom.clear()
        prom.always_fail(500)
        report = await adapter.check("orders", "production")
        assert report.status == HealthStatus.UNKNOWN and "failed while handling the query" in report.summary
