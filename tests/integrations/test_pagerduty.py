"""PagerDutyPager: Events API v2 bodies, limits, retries and refusals; on-call lookups; and against
FakePagerDuty."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest
from yarl import URL

from bot.sandbox.fakes import FAKE_ROUTING_KEY, FAKE_TOKEN, FakePagerDuty
from integrations.base import Pager
from integrations.errors import ConfigurationError, UpstreamRefused, UpstreamTimeout
from integrations.pagerduty import PagerDutyPager, dedup_key_for

EVENTS = "https://events.pagerduty.test/v2/enqueue"
ONCALLS = re.compile(r"^https://api\.pagerduty\.test/oncalls(\?.*)?$")
KEY = "0123456789abcdef0123456789abcdef"
ACCEPTED = {"status": "success", "message": "Event processed", "dedup_key": "inc-1"}


def pager(http, **kwargs) -> PagerDutyPager:
    kwargs.setdefault("routing_key", KEY)
    return PagerDutyPager(http, events_url="https://events.pagerduty.test", api_url="https://api.pagerduty.test",
                          **kwargs)


def sent(mocked, url=EVENTS):
    return [call.kwargs["json"] for call in mocked.requests[("POST", URL(url))]]


async def test_trigger_acknowledge_resolve_bodies(http, mocked):
    mocked.post(EVENTS, status=202, payload=ACCEPTED, repeat=True)
    adapter = pager(http, client_url="https://discord.example.test")
    assert isinstance(adapter, Pager)
    key = await adapter.trigger("inc-1", "orders is down", severity="critical", source="opscord",
                                details={"commander": "@alice"}, links=[("Incident thread", "https://x.test/t")])
    await adapter.acknowledge("inc-1")
    await adapter.resolve("inc-1")
    assert key == "inc-1"
    trigger, ack, resolve = sent(mocked)
    assert trigger == {
        "routing_key": KEY, "event_action": "trigger", "dedup_key": "inc-1", "client": "Opscord",
        "client_url": "https://discord.example.test",
        "payload": {"summary": "orders is down", "source": "opscord", "severity": "critical",
                    "custom_details": {"commander": "@alice"}},
        "links": [{"text": "Incident thread", "href": "https://x.test/t"}],
    }
    assert ack == {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "inc-1"}
    assert resolve == {"routing_key": KEY, "event_action": "resolve", "dedup_key": "inc-1"}


async def test_limits_summary_dedup_key_and_payload_size(http, mocked):
    mocked.post(EVENTS, status=202, payload={"status": "success"}, repeat=True)
    long_key = "k" * 300
    returned = await pager(http).trigger(long_key, "s" * 2000, severity="info", source="x",
                                         details={"blob": "x" * 600_000})
    body = sent(mocked)[0]
    assert len(body["payload"]["summary"]) == 1024 and body["payload"]["summary"].endswith("…")
    assert len(body["dedup_key"]) <= 255 and returned == body["dedup_key"] == dedup_key_for(long_key)
    assert dedup_key_for("k" * 299 + "j") != body["dedup_key"]
    assert body["payload"]["custom_details"] == {"note": "details omitted: the event would exceed 512 KB"}
    assert dedup_key_for("short") == "short"


async def test_400_is_refused_without_retry(http, mocked, clock):
    mocked.post(EVENTS, status=400, payload={"status": "invalid event", "message": "Event object is invalid",
                                             "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"]})
    with pytest.raises(UpstreamRefused) as caught:
        await pager(http).trigger("k", "s", severity="error", source="x")
    assert str(caught.value) == ("PagerDuty refused the event (400: Event object is invalid: Length of "
                                 "'routing_key' is incorrect (should be 32 characters))")
    assert clock.sleeps == [] and len(sent(mocked)) == 1


async def test_429_5xx_and_timeouts_are_retried(http, mocked, clock):
    mocked.post(EVENTS, status=429, payload={"status": "throttle event", "message": "slow down"},
                headers={"Retry-After": "7"})
    mocked.post(EVENTS, status=503, payload={"message": "unavailable"})
    mocked.post(EVENTS, exception=asyncio.TimeoutError())
    mocked.post(EVENTS, status=202, payload=ACCEPTED)
    assert await pager(http).trigger("inc-1", "s", severity="warning", source="x") == "inc-1"
    assert clock.sleeps[0] == 7.0 and len(clock.sleeps) == 3
    assert len({str(body) for body in sent(mocked)}) == 1  # the same event each time

    mocked.post(EVENTS, status=429, payload={"status": "throttle event", "message": "slow down"}, repeat=True)
    with pytest.raises(UpstreamRefused, match=r"^PagerDuty is rate limiting requests \(429: slow down\)$"):
        await pager(http).resolve("inc-1")
    mocked.clear()
    mocked.post(EVENTS, exception=asyncio.TimeoutError(), repeat=True)
    with pytest.raises(UpstreamTimeout, match="did not answer the event"):
        await pager(http).resolve("inc-2")


async def test_routing_key_never_appears_in_errors_or_logs(http, mocked, caplog):
    caplog.set_level("DEBUG")
    mocked.post(EVENTS, status=400, payload={"message": f"routing key {KEY} is disabled"})
    with pytest.raises(UpstreamRefused) as caught:
        await pager(http).trigger("k", "s", severity="info", source="x")
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY not in caught.value.upstream_message and "***" in str(caught.value)
    assert KEY not in caplog.text


async def test_oncall_lookup(http, mocked):
    page1 = {"oncalls": [
        {"user": {"id": "P2", "name": "Bob Builder", "summary": "Bob Builder"}, "escalation_level": 2,
         "start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"},
        {"user": {"id": "P1", "summary": "Alice"}, "escalation_level": 1, "start": None, "end": None},
    ], "more": True}
    page2 = {"oncalls": [{"user": {"id": "P1", "summary": "Alice"}, "escalation_level": 1}], "more": False}
    mocked.get(ONCALLS, payload=page1)
    mocked.get(ONCALLS, payload=page2)
    rows = await pager(http, api_token="rest-token", escalation_policy_ids=["PPOL1"]).oncall()
    assert [(r.user_id, r.name, r.escalation_level, r.end) for r in rows] == [
        ("P1", "Alice", 1, None), ("P2", "Bob Builder", 2, datetime(2026, 1, 8, tzinfo=UTC))]
    first = next(iter(mocked.requests.values()))[0]
    assert first.kwargs["headers"] == {"Authorization": "Token token=rest-token",
                                       "Accept": "application/vnd.pagerduty+json;version=2"}
    params = first.kwargs["params"]
    assert ("escalation_policy_ids[]", "PPOL1") in params and ("include[]", "users") in params
    assert ("earliest", "true") in params


async def test_oncall_needs_a_token_and_reports_a_refused_one(http, mocked):
    with pytest.raises(ConfigurationError, match="needs a REST API token"):
        await pager(http).oncall()
    mocked.get(ONCALLS, status=401, payload={"error": {"message": "Unauthorized", "code": 2006}})
    with pytest.raises(UpstreamRefused) as caught:
        await pager(http, api_token="rest-token").oncall()
    assert str(caught.value) == "PagerDuty rejected the API token (401: Unauthorized)"


async def test_end_to_end_against_fake_pagerduty(http, clock):
    async with FakePagerDuty() as pd:
        pd.add_oncall("Alice", 1, policy_id="PPOL1")
        pd.add_oncall("Bob", 2, policy_id="PPOL1", end="2026-02-01T00:00:00Z")
        pd.add_oncall("Carol", 1, policy_id="OTHER")
        adapter = PagerDutyPager(http, routing_key=FAKE_ROUTING_KEY, api_token=FAKE_TOKEN,
                                 escalation_policy_ids=["PPOL1"], events_url=pd.base_url, api_url=pd.base_url)

        key = await adapter.trigger("inc-20260304-db", "db down", severity="critical", source="opscord")
        await adapter.trigger(key, "db still down", severity="critical", source="opscord")
        alert = pd.alerts[key]
        assert (alert.status, alert.opened, len(alert.payloads), alert.summary) == ("triggered", 1, 2, "db still down")
        await adapter.acknowledge(key)
        assert alert.status == "acknowledged"
        await adapter.resolve(key)
        assert alert.status == "resolved"
        await adapter.resolve(key)  # no open alert: dropped, not an error
        assert len(pd.dropped) == 1
        await adapter.trigger(key, "db down again", severity="error", source="opscord")
        assert (alert.status, alert.opened) == ("triggered", 2)

        pd.rate_limit_next(1, retry_after=2)
        await adapter.acknowledge(key)
        assert alert.status == "acknowledged" and 2.0 in clock.sleeps
        pd.fail_next(1, 400)
        with pytest.raises(UpstreamRefused, match=r"^PagerDuty refused the event \(400: Event object is invalid: "
                                                  r"injected failure 400\)$"):
            await adapter.resolve(key)
        with pytest.raises(UpstreamRefused, match="Invalid routing key"):
            await PagerDutyPager(http, routing_key="wrong", events_url=pd.base_url).resolve(key)

        assert [(o.name, o.escalation_level) for o in await adapter.oncall()] == [("Alice", 1), ("Bob", 2)]
