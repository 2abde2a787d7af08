"""/incident create → update → resolve: thread, PagerDuty, status page, postmortem event, audit."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.emulator.models import EPHEMERAL_FLAG, PUBLIC_THREAD
from bot.sandbox.fakes import FakePagerDuty, FakeStatuspage
from bot.sandbox.fakes.base import FAKE_TOKEN
from bot.sandbox.fakes.pagerduty import FAKE_ROUTING_KEY
from tests.e2e.harness import Harness
from tests.helpers import example_raw


@pytest.fixture
async def incident_world(tmp_path, error_logs):
    pager, page = FakePagerDuty(), FakeStatuspage()
    await pager.start()
    await page.start()
    page.add_component("cmp1", "Checkout")
    raw = example_raw(tmp_path / "state")
    raw["services"][1]["pager"] = {"events_url": pager.base_url}
    raw["services"][1]["status_page"] = {"page_id": "fakepage01", "api_url": page.api_url,
                                         "component_ids": {"payment-service": ["cmp1"]}}
    raw["incidents"] = {"timezone": "Europe/Berlin"}
    h = Harness(tmp_path, raw, environ={"PATH": "/usr/bin:/bin", "PAGERDUTY_ROUTING_KEY": FAKE_ROUTING_KEY,
                                        "STATUSPAGE_API_KEY": FAKE_TOKEN})
    await h.start()
    try:
        yield h, pager, page
    finally:
        await h.stop()
        await pager.stop()
        await page.stop()


async def test_incident_lifecycle(incident_world):
    harness, pager, page = incident_world
    h = await harness.run("erin", "incident create", {"title": "Checkout 500s for @everyone in EU!",
                                                      "severity": "sev2", "service": "payment-service"})
    reply = await h.wait_message(timeout=10, predicate=lambda m: "Opened" in (m.content or ""))
    assert reply.flags & EPHEMERAL_FLAG
    [thread] = harness.emu.threads
    assert thread.type == PUBLIC_THREAD and thread.name.startswith("inc-") and thread.name.endswith(
        "-checkout-500s-for-everyone-in-eu")
    announcement = harness.emu.messages(harness.channels["incidents"])[-1]
    assert announcement.content.startswith("🚨 **SEV2** · Checkout 500s for @everyone in EU!")
    assert announcement.allowed_mentions == {"parse": []}
    opened = harness.emu.messages(thread.id)[-1].content
    assert "📟 PagerDuty paged." in opened and "📢 Status page: investigating." in opened
    [alert] = pager.alerts.values()
    assert alert.status == "triggered" and alert.severity == "error" and alert.dedup_key == thread.name
    [status_incident] = page.incidents.values()
    assert status_incident["status"] == "investigating"

    h = await harness.emu.run_command(harness.guild_id, thread.id, harness.users["erin"], "incident update",
                                      {"text": "Bad config push identified", "status": "identified"})
    await h.wait_message(timeout=10, predicate=lambda m: "Posted" in (m.content or ""))
    assert "📣 Update by @erin — status: identified" in harness.emu.messages(thread.id)[-1].content
    assert status_incident["status"] == "identified"

    h = await harness.emu.run_command(harness.guild_id, thread.id, harness.users["erin"], "incident resolve",
                                      {"text": "Config rolled back"})
    done = await h.wait_message(timeout=10, predicate=lambda m: "Resolved" in (m.content or ""))
    assert done.content.startswith(f"Resolved {thread.name} after ")
    summary = harness.emu.messages(thread.id)[-1].content
    assert "PagerDuty resolved." in summary and "Status page: resolved." in summary and "🗓️ Postmortem" in summary
    assert alert.status == "resolved" and status_incident["status"] == "resolved"
    [event] = harness.emu.scheduled_events
    assert event.name.startswith("Postmortem: Checkout 500s") and event.entity_type == 3
    start = datetime.fromisoformat(event.scheduled_start_time).astimezone(ZoneInfo("Europe/Berlin"))
    assert (start.hour, start.minute) == (14, 0) and start.weekday() < 5 and start > datetime.now(UTC)
    rows = await harness.export()
    assert [(r["command"].split(" ")[1], r["result"]) for r in rows] == [
        ("create", "opening"), ("create", "success"), ("update", "success"), ("resolve", "success")]
    assert all(r["incident"] == thread.name for r in rows)


async def test_update_outside_a_thread_with_two_open_incidents_is_refused(incident_world):
    harness, _, _ = incident_world
    for title in ("Queue backlog", "DNS flaps"):
        h = await harness.run("erin", "incident create", {"title": title, "severity": "sev3"})
        await h.wait_message(timeout=10, predicate=lambda m: "Opened" in (m.content or ""))
    h = await harness.run("erin", "incident update", {"text": "still looking"}, channel="general")
    msg = await h.wait_message(timeout=5)
    assert msg.content.startswith("Run this in the incident's thread; open incidents: inc-")
    dave = await harness.run("dave", "incident create", {"title": "x", "severity": "sev3"})
    assert "You need one of these roles to use /incident" in (await dave.wait_message(timeout=5)).content
    assert [r["result"] for r in await harness.export()][-2:] == ["invalid", "denied"]


async def test_operations_on_the_service_are_posted_into_its_open_incident(incident_world):
    harness, _, _ = incident_world
    h = await harness.run("erin", "incident create", {"title": "Card declines", "severity": "sev1",
                                                      "service": "payment-service"})
    await h.wait_message(timeout=10, predicate=lambda m: "Opened" in (m.content or ""))
    [thread] = harness.emu.threads
    h = await harness.run("alice", "deploy", {"service": "payment-service", "version": "v5.0.1",
                                              "environment": "staging"})
    await harness.wait_message((await h.wait_message(timeout=5)).id, "complete")
    await harness.emu.wait_until(lambda: "🔧" in harness.emu.messages(thread.id)[-1].content)
    posted = harness.emu.messages(thread.id)[-1].content
    assert posted.startswith("🔧 `/deploy payment-service v5.0.1 staging` by @alice in staging:\n✅ Deploy complete")
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v5.0.1",
                                              "environment": "staging"})
    await harness.wait_message((await h.wait_message(timeout=5)).id, "complete")
    await harness.settle()
    assert "order-service" not in harness.emu.messages(thread.id)[-1].content
