"""LokiLogSource: LogQL quoting with hostile input, range queries, Loki's text/plain errors; and
against FakeLoki."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox.fakes import FakeLoki
from bot.sandbox.fakes.loki import LogQLError, parse_go_string, parse_logql
from integrations.errors import ConfigurationError, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.loki import LokiLogSource, logql_selector

BASE = "https://loki.example.test"
QUERY_URL = re.compile(r"^https://loki\.example\.test/loki/api/v1/query_range(\?.*)?$")

HOSTILE = [
    'say "hi"',
    "back\\slash\\",
    "{braces}",
    "multi\nline\r\n",
    '"} or vector(1) #',
    '"}) or vector(1) #',
    'x", app=~".+',
    "tab\tnul\x00bell\x07",
    "`backtick`",
    "ünïcødé ✓ 日本語 🚀",
    "\u2028line separator",
    "$1 ${x}",
]


def source(http, **kwargs) -> LokiLogSource:
    return LokiLogSource(http, base_url=BASE, **kwargs)


def streams(*items) -> dict:
    return {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": labels, "values": values} for labels, values in items]}}


def only_call(mocked):
    calls = [call for key, seen in mocked.requests.items() for call in seen]
    assert len(calls) == 1
    return calls[0]


def test_selector_quotes_values_and_filter():
    assert logql_selector({"app": "orders", "env": "production"}) == '{app="orders", env="production"}'
    assert logql_selector({"app": "orders"}, 'level="error"') == '{app="orders"} |= "level=\\"error\\""'


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_stay_one_quoted_value(hostile):
    selector = logql_selector({"app": hostile, "env": "prod"}, line_filter=hostile)
    parsed = parse_logql(selector)  # an independent Go-string-literal parser
    assert {name: test.value for name, test in parsed.matchers.items()} == {"app": hostile, "env": "prod"}
    assert [(f.op, f.value) for f in parsed.filters] == [("|= line", hostile)]
    assert "\n" not in selector and "\r" not in selector  # raw line breaks never reach the query


def test_lone_surrogates_become_replacement_characters():
    selector = logql_selector({"app": "a\ud800b"})
    assert parse_logql(selector).matchers["app"].value == "a\ufffdb"
    selector.encode("utf-8")  # sendable


@pytest.mark.parametrize("name", ["1app", "app-name", "a b", "", 'app"}', "app=", "ä"])
def test_invalid_label_names_are_refused(name):
    with pytest.raises(ConfigurationError) as caught:
        logql_selector({name: "x"})
    assert "is not a valid label name" in str(caught.value)


def test_selectors_matching_everything_are_refused():
    with pytest.raises(ConfigurationError, match="at least one label with a non-empty value"):
        logql_selector({"app": ""})
    with pytest.raises(ConfigurationError):
        logql_selector({})


def test_go_string_parser_understands_go_escapes():
    assert parse_go_string(r'"\x41\101\u00e9\U0001F680\a\v\\\""', 0) == ("AAé🚀\a\v\\\"", 34)
    assert parse_go_string("`raw \\n`", 0) == ("raw \\n", 8)
    for bad in ('"unterminated', '"bad \\q"', '"\\ud800"', '"new\nline"', "'single'"):
        with pytest.raises(LogQLError):
            parse_go_string(bad, 0)


async def test_query_sends_parameters_and_sorts_newest_first(http, mocked):
    mocked.get(QUERY_URL, payload=streams(
        ({"app": "orders", "pod": "a"}, [["1700000000000000300", "third"], ["1700000000000000100", "first"]]),
        ({"app": "orders", "pod": "b"}, [["1700000000000000200", "second"]]),
    ))
    lines = await source(http, org_id="tenant-1").query({"app": "orders"}, line_filter="error",
                                                         since=timedelta(minutes=30), limit=50)
    assert [line.line for line in lines] == ["third", "second", "first"]
    assert lines[1].labels == {"app": "orders", "pod": "b"}
    assert lines[0].timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    call = only_call(mocked)
    assert call.kwargs["params"] == [("query", '{app="orders"} |= "error"'), ("limit", "50"),
                                     ("direction", "backward"), ("since", "1800s")]
    assert call.kwargs["headers"] == {"X-Scope-OrgID": "tenant-1"}


async def test_forward_range_with_start_end_and_auth(http, mocked):
    mocked.get(QUERY_URL, payload=streams(({"app": "x"}, [["2", "b"], ["1", "a"]])))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = await source(http, token="loki-secret").query_range(
        '{app="x"}', start=start, end=start + timedelta(seconds=1), direction="forward", limit=10**6)
    assert [line.line for line in lines] == ["a", "b"]
    call = only_call(mocked)
    params = dict(call.kwargs["params"])
    assert params["start"] == "1767225600000000000" and params["end"] == "1767225601000000000"
    assert params["limit"] == "5000"  # capped at max_entries
    assert call.kwargs["headers"]["Authorization"] == "Bearer loki-secret"


async def test_basic_auth_header(http, mocked):
    mocked.get(QUERY_URL, payload=streams())
    await source(http, basic_auth=("reader", "pw")).query({"app": "x"})
    assert only_call(mocked).kwargs["headers"] == {"Authorization": "Basic cmVhZGVyOnB3"}


async def test_service_selector_fills_label_templates(http):
    loki = source(http, labels={"app": "{service}", "namespace": "shop-{environment}"})
    assert loki.service_selector("orders", "production") == {"app": "orders", "namespace": "shop-production"}
    with pytest.raises(ConfigurationError, match="not a valid label name"):
        source(http, labels={"bad-name": "{service}"})
    with pytest.raises(ConfigurationError, match="unknown placeholder"):
        source(http, labels={"app": "{version}"})


async def test_400_text_plain_is_a_refusal_and_not_retried(http, mocked, clock):
    text = "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER\n"
    mocked.get(QUERY_URL, status=400, body=text, content_type="text/plain")
    with pytest.raises(UpstreamRefused) as caught:
        await source(http).query({"app": "x"})
    assert str(caught.value) == ("Loki refused the query (400: parse error at line 1, col 8: syntax error: "
                                 "unexpected IDENTIFIER)")
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "text", "error", "sentence"),
    [
        (401, "no org id", UpstreamRefused, "Loki rejected the credentials (401: no org id)"),
        (499, "context canceled", UpstreamUnavailable, "Loki cancelled the query (499: context canceled)"),
        (504, "", UpstreamTimeout, "Loki timed out running the query (504); try a shorter time range"),
        (500, "too many outstanding requests", UpstreamUnavailable,
         "Loki failed while handling the query (500: too many outstanding requests)"),
    ],
)
async def test_error_statuses_become_sentences(http, mocked, status, text, error, sentence):
    mocked.get(QUERY_URL, status=status, body=text, content_type="text/plain", repeat=True)
    with pytest.raises(error) as caught:
        await source(http).query({"app": "x"})
    assert str(caught.value) == sentence


async def test_429_is_retried_after_retry_after(http, mocked, clock):
    mocked.get(QUERY_URL, status=429, body="Ingestion rate limit exceeded", content_type="text/plain",
               headers={"Retry-After": "3"})
    mocked.get(QUERY_URL, payload=streams(({"app": "x"}, [["1", "ok"]])))
    lines = await source(http).query({"app": "x"})
    assert [line.line for line in lines] == ["ok"] and clock.sleeps == [3.0]


async def test_timeouts_are_retried_then_reported(http, mocked, clock):
    mocked.get(QUERY_URL, exception=asyncio.TimeoutError())
    mocked.get(QUERY_URL, payload=streams())
    assert await source(http).query({"app": "x"}) == []
    mocked.get(QUERY_URL, exception=asyncio.TimeoutError(), repeat=True)
    with pytest.raises(UpstreamTimeout, match=r"^Loki did not answer the query within 5 s$"):
        await source(http, timeout=5).query({"app": "x"})


async def test_metric_results_are_refused(http, mocked):
    mocked.get(QUERY_URL, payload={"status": "success", "data": {"resultType": "matrix", "result": []}})
    with pytest.raises(UpstreamUnavailable, match="'matrix' results, not log lines"):
        await source(http).query_range('rate({app="x"}[1m])')


async def test_end_to_end_against_fake_loki(http):
    async with FakeLoki(token="t0ken", org_id="acme") as loki:
        now = datetime.now(UTC)
        loki.push({"app": "orders", "env": "production"}, "GET /orders 200", now - timedelta(minutes=3))
        loki.push({"app": "orders", "env": "production"}, 'ERROR payment said "no"', now - timedelta(minutes=2))
        loki.push({"app": "orders", "env": "staging"}, "ERROR staging only", now - timedelta(minutes=1))
        loki.push({"app": "orders", "env": "production"}, "ERROR too old", now - timedelta(hours=2))
        adapter = LokiLogSource(http, base_url=loki.base_url, token="t0ken", org_id="acme")

        lines = await adapter.service_logs("orders", "production")
        assert [line.line for line in lines] == ['ERROR payment said "no"', "GET /orders 200"]
        lines = await adapter.service_logs("orders", "production", direction="forward", since=timedelta(hours=3))
        assert [line.line for line in lines] == ["ERROR too old", "GET /orders 200", 'ERROR payment said "no"']
        lines = await adapter.service_logs("orders", "production", line_filter='said "no"')
        assert [line.line for line in lines] == ['ERROR payment said "no"']
        assert len(await adapter.service_logs("orders", "production", limit=1)) == 1

        # Injection attempts select nothing instead of everything.
        for hostile in HOSTILE:
            assert await adapter.service_logs(hostile, "production") == []
            assert await adapter.service_logs("orders", "production", line_filter=hostile) == []
        assert all(parse_logql(q["query"]) for q in (r.query for r in loki.requests_to("GET")))

        with pytest.raises(UpstreamRefused, match=r"^Loki refused the query \(400: parse error : "):
            await adapter.query_range('{app="orders"')
        with pytest.raises(UpstreamRefused, match=r"^Loki rejected the credentials \(401: no org id\)$"):
            await LokiLogSource(http, base_url=loki.base_url, token="t0ken").service_logs("orders", "production")
        loki.fail_next(1, 503)
        assert len(await adapter.service_logs("orders", "production")) == 2  # retried


async def test_fake_loki_push_endpoint_and_limits(session):
    async with FakeLoki(max_entries=10) as loki:
        push = {"streams": [{"stream": {"app": "a"}, "values": [[str(1_700_000_000 * 10**9), "pushed"]]}]}
        async with session.post(f"{loki.base_url}/loki/api/v1/push", data=json.dumps(push)) as resp:
            assert resp.status == 204
        assert loki.streams == {(("app", "a"),): [(1_700_000_000 * 10**9, "pushed")]}
        url = f"{loki.base_url}/loki/api/v1/query_range"
        params = {"query": '{app="a"}', "start": "1699999999", "end": "1700000001",
                  "limit": "10"}
        async with session.get(url, params=params) as resp:
            assert (await resp.json())["data"]["result"][0]["values"] == [["1700000000000000000", "pushed"]]
        async with session.get(url, params={**params, "limit": "11"}) as resp:
            assert resp.status == 400 and resp.content_type == "text/plain"
            assert "max entries limit per query exceeded" in await resp.text()
        async with session.get(url, params={"query": '{app=~".*"}'}) as resp:
            assert resp.status == 400 and "empty-compatible value" in await resp.text()
