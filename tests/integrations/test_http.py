"""HttpClient: status mapping, upstream messages, retries, Retry-After, timeouts, circuit breaking."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from bot.sandbox.fakes import FakeWebhookTarget
from integrations.errors import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.http import HttpClient, upstream_message

URL = "https://api.example.test/v1/things"


def calls(mocked, path="/v1/things") -> int:
    return sum(len(v) for (method, url), v in mocked.requests.items() if url.path == path)


async def test_success_returns_status_headers_and_body(http, mocked):
    mocked.get(URL, status=200, payload={"ok": True}, headers={"X-Thing": "1"})
    answer = await http.request("Thing", "GET", URL)
    assert answer.status == 200
    assert answer.json() == {"ok": True}
    assert answer.headers["x-thing"] == "1"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"message":"Bad credentials","documentation_url":"x"}', "application/json", "Bad credentials"),
        (b'{"status":"invalid event","message":"Event object is invalid","errors":["invalid routing key"]}',
         "application/json", "Event object is invalid: invalid routing key"),
        (b'{"error":{"message":"Invalid Input Provided","code":2001,"errors":["Offset must be positive"]}}',
         "application/json", "Invalid Input Provided: Offset must be positive"),
        (b'{"error":"permission denied","code":7,"message":"permission denied"}', "application/json",
         "permission denied"),
        (b'{"error":"Page not found"}', "application/json", "Page not found"),
        (b"parse error at line 1, col 7: syntax error: unexpected IDENTIFIER\n", "text/plain",
         "parse error at line 1, col 7: syntax error: unexpected IDENTIFIER"),
        (b"<html><body>nginx error</body></html>", "text/html", ""),
    ],
)
async def test_4xx_raises_refused_with_the_upstream_message(http, mocked, body, content_type, expected):
    mocked.post(URL, status=400, body=body, content_type=content_type)
    with pytest.raises(UpstreamRefused) as caught:
        await http.request("PagerDuty", "POST", URL, json={}, what="event")
    assert caught.value.status == 400
    assert caught.value.upstream_message == expected
    detail = f"400: {expected}" if expected else "400"
    assert str(caught.value) == f"PagerDuty refused the event ({detail})"


def test_upstream_message_is_truncated():
    message = upstream_message(b'{"message":"' + b"x" * 500 + b'"}')
    assert len(message) == 200 and message.endswith("…")


async def test_4xx_is_not_retried(http, mocked, clock):
    mocked.get(URL, status=404, payload={"message": "Not Found"}, repeat=True)
    with pytest.raises(UpstreamRefused):
        await http.request("GitHub", "GET", URL, retry_safe=True)
    assert calls(mocked) == 1 and clock.sleeps == []


async def test_5xx_is_retried_with_full_jitter_backoff_when_retry_safe(http, mocked, clock):
    mocked.get(URL, status=503, body=b"upstream busy", content_type="text/plain")
    mocked.get(URL, status=502)
    mocked.get(URL, status=200, payload={"ok": 1})
    answer = await http.request("Argo CD", "GET", URL, retry_safe=True)
    assert answer.json() == {"ok": 1}
    assert clock.sleeps == [0.25, 0.5]  # jitter 0.5 × ceilings 0.5, 1.0


async def test_5xx_is_not_retried_when_not_retry_safe(http, mocked):
    mocked.post(URL, status=500, payload={"message": "boom"}, repeat=True)
    with pytest.raises(UpstreamUnavailable) as caught:
        await http.request("Argo CD", "POST", URL, what="sync")
    assert str(caught.value) == "Argo CD failed while handling the sync (500: boom)"
    assert calls(mocked) == 1


async def test_retries_are_bounded(http, mocked):
    mocked.get(URL, status=503, repeat=True)
    with pytest.raises(UpstreamUnavailable) as caught:
        await http.request("Loki", "GET", URL, retry_safe=True)
    assert caught.value.status == 503
    assert calls(mocked) == 4  # first attempt + 3 retries


async def test_429_honours_retry_after_seconds_even_for_unsafe_calls(http, mocked, clock):
    mocked.post(URL, status=429, headers={"Retry-After": "2"}, payload={"message": "slow down"})
    mocked.post(URL, status=202, payload={"status": "success"})
    answer = await http.request("PagerDuty", "POST", URL, json={}, retry_safe=False)
    assert answer.status == 202
    assert clock.sleeps == [2.0]


async def test_retry_after_as_http_date(http, mocked, clock):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    mocked.get(URL, status=429, headers={"Retry-After": when})
    mocked.get(URL, status=200, payload={})
    await http.request("GitHub", "GET", URL)
    assert 3.0 <= clock.sleeps[0] <= 5.0


async def test_json_retry_after_and_statuspage_420(http, mocked, clock):
    mocked.post(URL, status=420, payload={"message": "rate limited", "retry_after": 1.5})
    mocked.post(URL, status=201, payload={"id": "inc"})
    await http.request("Statuspage", "POST", URL, json={})
    assert clock.sleeps == [1.5]


async def test_retry_after_beyond_the_budget_fails_at_once(http, mocked, clock):
    mocked.get(URL, status=429, headers={"Retry-After": "120"}, payload={"message": "API rate limit exceeded"})
    with pytest.raises(UpstreamRefused) as caught:
        await http.request("GitHub", "GET", URL, deadline=30)
    assert caught.value.retry_after == 120
    assert str(caught.value) == "GitHub is rate limiting requests (429: API rate limit exceeded); try again in 120 s"
    assert clock.sleeps == []


async def test_github_secondary_rate_limit_403_is_retried(http, mocked, clock):
    mocked.get(URL, status=403, headers={"Retry-After": "3"},
               payload={"message": "You have exceeded a secondary rate limit"})
    mocked.get(URL, status=200, payload={})
    await http.request("GitHub", "GET", URL)
    assert clock.sleeps == [3.0]


async def test_timeout_becomes_upstream_timeout_and_is_retried_when_safe(http, mocked, clock):
    mocked.get(URL, exception=asyncio.TimeoutError())
    mocked.get(URL, status=200, payload={})
    await http.request("Prometheus", "GET", URL, retry_safe=True)
    mocked.post(URL, exception=asyncio.TimeoutError())
    with pytest.raises(UpstreamTimeout) as caught:
        await http.request("Prometheus", "POST", URL, timeout=2)
    assert str(caught.value) == "Prometheus did not answer the request within 2 s"


async def test_connection_error_becomes_unavailable(http, mocked):
    mocked.get(URL, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(UpstreamUnavailable) as caught:
        await http.request("Loki", "GET", URL)
    assert str(caught.value) == "Loki could not be reached (server disconnected)"


async def test_unexpected_status_and_unreadable_json(http, mocked):
    mocked.get(URL, status=200, payload={})
    with pytest.raises(UpstreamUnavailable, match=r"unexpected answer to the request \(200\)"):
        await http.request("Thing", "GET", URL, expected=(204,))
    mocked.get(URL, status=200, body=b"not json", content_type="text/plain")
    answer = await http.request("Thing", "GET", URL)
    with pytest.raises(UpstreamUnavailable, match="unreadable answer"):
        answer.json()


async def test_circuit_opens_after_five_failures_then_probes(http, mocked, clock):
    mocked.get(URL, status=503, repeat=True)
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable):
            await http.request("Statuspage", "GET", URL)
    assert calls(mocked) == 5
    with pytest.raises(UpstreamUnavailable) as caught:
        await http.request("Statuspage", "GET", URL)
    assert str(caught.value) == "Statuspage is unavailable (circuit open after 5 failures)"
    assert calls(mocked) == 5  # failed fast, nothing sent

    other = "https://other.example.test/v1/things"
    mocked.get(other, status=200, payload={})
    await http.request("Statuspage", "GET", other)  # another upstream is unaffected

    clock.now += 31
    mocked.clear()
    mocked.get(URL, status=200, payload={})
    await http.request("Statuspage", "GET", URL)  # the probe succeeds and closes the circuit
    assert http.breaker("Statuspage", URL).state == "closed"


async def test_a_failed_probe_reopens_the_circuit(http, mocked, clock):
    mocked.get(URL, status=500, repeat=True)
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable):
            await http.request("Grafana", "GET", URL)
    clock.now += 31
    with pytest.raises(UpstreamUnavailable, match="failed while handling"):
        await http.request("Grafana", "GET", URL)
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        await http.request("Grafana", "GET", URL)


async def test_retries_stop_when_the_circuit_opens_mid_call(http, mocked):
    mocked.get(URL, status=503, repeat=True)
    with pytest.raises(UpstreamUnavailable):
        await http.request("Loki", "GET", URL, retry_safe=True)
    with pytest.raises(UpstreamUnavailable) as caught:
        await http.request("Loki", "GET", URL, retry_safe=True)
    assert caught.value.status == 503  # the real error, not just "circuit open"
    assert calls(mocked) == 5


async def test_logs_carry_no_headers_query_or_body(http, mocked, caplog):
    mocked.get(URL + "?token=s3cret-query", status=401, payload={"message": "Bad credentials"})
    caplog.set_level(logging.DEBUG, logger="integrations")
    with pytest.raises(UpstreamRefused):
        await http.request("GitHub", "GET", URL, params={"token": "s3cret-query"},
                           headers={"Authorization": "Bearer s3cret-token"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GitHub GET /v1/things -> 401 (attempt 1)" in text
    assert "s3cret" not in text


async def test_a_hanging_upstream_fails_within_its_budget(session):
    """Real sockets and real time: a server that answers after 5 s, a 0.2 s timeout, 0.5 s budget."""
    async with FakeWebhookTarget("secret") as slow:
        slow.delay = 5.0
        client = HttpClient(session, backoff_base=0.05)
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout):
            await client.request("Webhook", "GET", slow.base_url + "/status/x", timeout=0.2, deadline=0.5,
                                 retry_safe=True)
        assert asyncio.get_running_loop().time() - started < 1.5
