"""POST /hooks/alertmanager: Alertmanager notifications open, update and resolve incidents, once per group."""

import asyncio

import aiohttp
import pytest

from bot.web import StatusServer
from tests.e2e.alert_payloads import TOKEN, alert, body, notification
from tests.e2e.harness import Harness
from tests.helpers import example_raw

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def alerts_config(**overrides):
    config = {"token_env": "OPSCORD_ALERTMANAGER_TOKEN", "channel": "alerts", "max_body_kib": 64,
              "rules": [{"labels": {"severity": "critical"}, "action": "incident", "resolve": True},
                        {"labels": {"severity": "warning"}, "action": "incident", "resolve": False},
                        {"labels": {}, "action": "notify"}]}
    config.update(overrides)
    return config


@pytest.fixture
async def hooked(tmp_path, error_logs):
    raw = example_raw(tmp_path / "state")
    raw["alerts"] = alerts_config()
    harness = Harness(tmp_path, raw, environ={"PATH": "/usr/bin:/bin"})
    await harness.start()
    server = StatusServer(harness.bot, environ={"OPSCORD_ALERTMANAGER_TOKEN": TOKEN})
    await server.start("127.0.0.1", 0)
    session = aiohttp.ClientSession()

    async def post(payload=None, *, data=None, headers=AUTH):
        async with session.post(f"http://127.0.0.1:{server.port}/hooks/alertmanager", headers=headers,
                                data=data if data is not None else body(payload)) as resp:
            return resp.status, await resp.json()

    try:
        yield harness, post
    finally:
        await session.close()
        await server.stop()
        await harness.stop()


async def incident_threads(harness):
    return [t for t in harness.emu.threads if t.name.startswith("inc-")]


async def test_one_incident_for_any_number_of_deliveries_then_resolved(hooked):
    harness, post = hooked
    status, answer = await post(notification())
    assert status == 201 and answer["result"] == "opened"
    incident_id = answer["incident"]
    for _ in range(3):
        assert await post(notification()) == (200, {"result": "duplicate", "incident": incident_id})
    [thread] = await incident_threads(harness)
    assert thread.name == incident_id and "payment-api-error-rate-above-5" in incident_id
    posts = "\n".join(m.content for m in harness.emu.messages(thread.id))
    assert "Payment API error rate above 5%" in posts and "5xx ratio is 7.2% over 5m" in posts
    assert "`service=payment-service`" in posts and "`severity=critical`" in posts
    assert "<http://prometheus.example:9090/graph?g0.expr=errors>" in posts
    announcement = harness.emu.messages(harness.channels["incidents"])[-1].content
    assert announcement.startswith("🚨 SEV-1 Incident Created: Payment API error rate above 5%")
    assert "Incident commander: @alertmanager/HighErrorRate" in announcement

    status, answer = await post(notification("resolved", alerts=[alert(status="resolved")]))
    assert (status, answer) == (200, {"result": "resolved", "incident": incident_id})
    assert (await harness.app.store.incident(incident_id)).status == "resolved"
    assert "Alert HighErrorRate resolved in Alertmanager" in harness.emu.messages(thread.id)[-1].content
    assert (await post(notification("resolved", alerts=[alert(status="resolved")])))[1]["result"] == "duplicate"

    rows = await harness.export()
    assert [r["result"] for r in rows] == ["opening", "success", "duplicate", "duplicate", "duplicate", "success",
                                           "duplicate"]
    assert {r["user"] for r in rows} == {"@alertmanager/HighErrorRate"}
    assert rows[1]["command"] == "alertmanager: firing HighErrorRate (payment-service)"
    assert harness.app.metrics.alerts_deduplicated._value.get() == 4

    status, answer = await post(notification())  # it fires again after it was resolved: a new incident
    assert status == 201 and answer["incident"] != incident_id


async def test_concurrent_deliveries_and_a_changed_group_key_never_open_a_second_incident(hooked):
    harness, post = hooked
    answers = await asyncio.gather(*(post(notification()) for _ in range(5)))
    assert sorted(a[1]["result"] for a in answers) == ["duplicate"] * 4 + ["opened"]
    status, answer = await post(notification(group_key='{}/{}:{alertname="HighErrorRate"}'))
    assert answer["result"] == "duplicate"  # same fingerprint, another group key
    status, answer = await post(notification(alerts=[alert(), alert("ffff000011112222", instance="b")]))
    assert answer["result"] == "updated"
    [thread] = await incident_threads(harness)
    assert "1 more alert(s) firing" in harness.emu.messages(thread.id)[-1].content
    assert "`instance=b`" in harness.emu.messages(thread.id)[-1].content


async def test_a_rule_that_does_not_resolve_posts_an_update(hooked):
    harness, post = hooked
    status, answer = await post(notification(severity="warning", alerts=[alert(severity="warning")]))
    assert status == 201
    incident = await harness.app.store.incident(answer["incident"])
    assert incident.severity == "sev3"
    status, answer = await post(notification("resolved", severity="warning",
                                             alerts=[alert(status="resolved", severity="warning")]))
    assert answer["result"] == "updated"
    incident = await harness.app.store.incident(answer["incident"])
    assert incident.status == "monitoring"
    update = harness.emu.messages(int(incident.thread_id))[-1].content
    assert update.startswith("📝 Update posted here (no status page configured) · Status: Monitoring")
    assert "Alert HighErrorRate resolved in Alertmanager." in update and update.endswith("— @alertmanager/HighErrorRate")


async def test_notify_rules_post_to_the_alerts_channel_once(hooked):
    harness, post = hooked
    payload = notification(severity="info", alerts=[alert(severity="info")])
    assert (await post(payload))[1] == {"result": "notified"}
    assert (await post(payload))[1] == {"result": "duplicate"}
    resolved = notification("resolved", severity="info", alerts=[alert(status="resolved", severity="info")])
    assert (await post(resolved))[1] == {"result": "notified"}
    posts = [m.content for m in harness.emu.messages(harness.channels["alerts"])]
    assert len(posts) == 2 and posts[0].startswith("🔔 FIRING: 🔔 Alert **HighErrorRate**")
    assert posts[1].startswith("✅ RESOLVED:") and await incident_threads(harness) == []


@pytest.mark.parametrize(("payload", "status", "reason"), [
    (b"not json", 400, "malformed notification: the body is not JSON"),
    (body({**notification(), "version": "3"}), 400, "version must be \"4\""),
    (body({**notification(), "alerts": []}), 400, "alerts must be a non-empty list"),
    (body({**notification(), "groupKey": 7}), 400, "groupKey must be a non-empty string"),
    (body(notification(service="billing", alerts=[alert(service="billing")])), 422, "unknown service 'billing'"),
    (b"x" * (65 * 1024), 413, "the body is larger than 64 KiB"),
])
async def test_bad_deliveries_are_refused_with_a_reason_and_audited(hooked, payload, status, reason):
    harness, post = hooked
    got, answer = await post(data=payload)
    assert got == status and answer["result"] == "invalid" and reason in answer["reason"]
    [row] = await harness.export()
    assert row["result"] == "invalid" and reason in row["error"] and row["user"].startswith("@alertmanager")
    assert await incident_threads(harness) == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
async def test_a_wrong_or_missing_token_is_refused_and_not_audited(hooked, headers):
    harness, post = hooked
    assert await post(notification(), headers=headers) == (401, {"result": "denied",
                                                                  "reason": "wrong or missing bearer token"})
    assert await harness.export() == []
