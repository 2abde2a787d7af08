"""Incidents end to end (real discord.py, the emulator, the real fakes): the seed's flow line by line, the
pinned opener, a commander handoff, a timeline, Statuspage failing at create and the retry told in
the thread; who is pinged (the on-call role on a new incident, nobody else); hostile text escaped."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import bot.incidents
from bot.incident_text import when_words
from bot.incidents import next_business_day
from bot.sandbox.emulator.models import EPHEMERAL_FLAG, PUBLIC_THREAD
from bot.sandbox.fakes import FakePagerDuty, FakeStatuspage
from bot.sandbox.fakes.base import FAKE_TOKEN
from bot.sandbox.fakes.pagerduty import FAKE_ROUTING_KEY
from tests.e2e.harness import Harness
from tests.helpers import example_raw

SEED_TITLE = "Payment processing failures"
NOBODY = {"everyone": False, "roles": [], "users": []}


@pytest.fixture
async def incident_world(tmp_path, error_logs):
    pager, page = FakePagerDuty(), FakeStatuspage()
    await pager.start()
    await page.start()
    page.add_component("cmp1", "Payments")
    raw = example_raw(tmp_path / "state")
    payment = raw["services"][1]
    payment["pager"] = {"events_url": pager.base_url, "team": "payment-team"}
    payment["status_page"] = {"page_id": "fakepage01", "api_url": page.api_url,
                              "component_ids": {"payment-service": ["cmp1"]}}
    payment["oncall_role"] = "payment-oncall"
    raw["incidents"] = {"timezone": "Europe/Berlin", "oncall_role": "oncall", "retry_seconds": 0.2,
                        "pager": {"events_url": pager.base_url, "team": "ops-team"}}
    h = Harness(tmp_path, raw, environ={"PATH": "/usr/bin:/bin", "PAGERDUTY_ROUTING_KEY": FAKE_ROUTING_KEY,
                                        "STATUSPAGE_API_KEY": FAKE_TOKEN})
    await h.start()
    try:
        yield h, pager, page
    finally:
        await h.stop()
        await pager.stop()
        await page.stop()
    assert not h.emu.violations, h.emu.violations


async def in_thread(harness, thread, user, command, options=None):
    """`user` runs an /incident command in the incident's thread; returns its reply."""
    await harness.settle()
    h = await harness.emu.run_command(harness.guild_id, thread.id, harness.users[user], command, options or {})
    await h.wait_response(timeout=5)
    return await h.wait_message(timeout=10)


def lines(message):
    return message.content.splitlines()


async def test_the_seeds_incident_flow(incident_world, monkeypatch):
    harness, pager, page = incident_world
    erin, frank = harness.users["erin"], harness.users["frank"]
    oncall = harness.roles["payment-oncall"]
    page.always_fail(500)  # Statuspage is down when the incident opens

    h = await harness.run("erin", "incident create", {"title": SEED_TITLE, "severity": "sev1",
                                                      "service": "payment-service"})
    reply = await h.wait_message(timeout=15, predicate=lambda m: "Opened" in (m.content or ""))
    [thread] = harness.emu.threads
    assert thread.type == PUBLIC_THREAD and thread.name.endswith("-payment-processing-failures")
    assert reply.flags & EPHEMERAL_FLAG and reply.pinged == NOBODY
    assert lines(reply)[0] == f"Opened {thread.name}: <#{thread.id}>"
    assert f"✅ Notified: <@&{oncall}> (pinged), PagerDuty (payment-team)." in reply.content
    assert "⚠️ Not notified: the status page: failed, retrying." in reply.content
    assert "The status page failed (" in reply.content and "the thread will be told" in reply.content

    [announcement] = harness.emu.messages(harness.channels["incidents"])
    assert lines(announcement)[:3] == [
        "🚨 SEV-1 Incident Created: Payment processing failures",
        f"Incident channel: <#{thread.id}> · Incident commander: <@{erin}>",
        "Status page not updated yet (retrying) · PagerDuty notified: payment-team"]
    assert announcement.pinged == {"everyone": False, "roles": [oncall], "users": []}  # on-call, and nobody else

    opener = harness.emu.messages(thread.id)[0]
    assert opener.pinned and harness.emu.state.pins[thread.id] == [opener.id]
    assert lines(opener)[0] == "🚨 SEV-1 · Payment processing failures"
    assert "[Dashboard](<https://grafana.example.com/d/payments/payment-service>)" in opener.content
    assert "Status page](" not in opener.content

    page.clear_failures()  # Statuspage comes back: the background retry lands and the thread is told
    told = await harness.emu.wait_until(
        lambda: next((m for m in harness.emu.messages(thread.id) if "📢 Status page updated" in m.content), None),
        timeout=10)
    assert told.content.startswith("📢 Status page updated: Investigating (it had failed; try ")
    [status_incident] = page.incidents.values()
    assert status_incident["status"] == "investigating" and status_incident["name"] == SEED_TITLE
    await harness.emu.wait_until(lambda: "Status page updated: Investigating · PagerDuty notified: payment-team"
                                 in harness.emu.get_message(announcement.id).content, timeout=5)
    await harness.emu.wait_until(lambda: f"[Status page](<{status_incident['shortlink']}>)"
                                 in harness.emu.get_message(opener.id).content, timeout=5)

    # The first update without a status moves investigating to identified.
    updated = await in_thread(harness, thread, "erin", "incident update", {"text": "Bad config push found"})
    assert updated.content == "📝 Update posted to status page · Status: Identified"
    post = harness.emu.messages(thread.id)[-1]
    assert lines(post) == ["📝 Update posted to status page · Status: Identified", "Bad config push found",
                           f"— <@{erin}>"]
    assert status_incident["status"] == "identified"
    assert status_incident["incident_updates"][0]["body"] == "Bad config push found"
    shown = harness.emu.get_message(announcement.id)
    assert lines(shown)[2] == "Status page updated: Identified · PagerDuty notified: payment-team"
    assert "Status: Identified" in lines(shown)[3]

    handed = await in_thread(harness, thread, "erin", "incident commander", {"member": frank})
    assert handed.content == f"👤 Incident commander: <@{frank}> (handed over from <@{erin}>)"
    assert harness.emu.messages(thread.id)[-1].content == f"{handed.content} by <@{erin}>"
    assert lines(harness.emu.get_message(announcement.id))[1] == (
        f"Incident channel: <#{thread.id}> · Incident commander: <@{frank}>")
    refused = await in_thread(harness, thread, "frank", "incident commander", {"member": harness.users["dave"]})
    assert "@dave cannot run /incident commands" in refused.content

    deploy = await harness.run("alice", "deploy", {"service": "payment-service", "version": "v5.0.1",
                                                   "environment": "staging"})
    await harness.wait_message((await deploy.wait_message(timeout=5)).id, "complete")

    later = datetime.now(UTC) + timedelta(minutes=23)

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return later if tz is not None else later.replace(tzinfo=None)

    monkeypatch.setattr(bot.incidents, "datetime", Later)
    resolved = await in_thread(harness, thread, "frank", "incident resolve", {"text": "Config rolled back"})
    zone = ZoneInfo("Europe/Berlin")
    words = when_words(next_business_day(later.astimezone(zone), 14), later.astimezone(zone))
    assert words in ("tomorrow 2 PM", "Monday 2 PM")
    seed_lines = ["✅ Incident resolved after 23 minutes · Duration: 23 min · Status page: Resolved",
                  f"Postmortem scheduled for {words} (Europe/Berlin)"]
    assert lines(resolved) == seed_lines
    assert lines(harness.emu.messages(thread.id)[-1])[:3] == [*seed_lines, "Config rolled back"]
    assert lines(harness.emu.get_message(announcement.id))[-1] == seed_lines[0]
    assert status_incident["status"] == "resolved"
    [alert] = pager.alerts.values()
    assert alert.status == "resolved" and alert.dedup_key == thread.name
    [event] = harness.emu.scheduled_events
    assert event.name == f"Postmortem: {SEED_TITLE}"
    monkeypatch.undo()

    timeline = await in_thread(harness, thread, "erin", "incident timeline")
    assert not timeline.flags & EPHEMERAL_FLAG and timeline.content == f"🧾 Timeline of {thread.name}"
    [attachment] = timeline.attachments
    assert attachment["filename"] == f"{thread.name}-timeline.md"
    document = attachment["content"].decode()
    assert document.startswith(f"# {thread.name}: SEV-1 Payment processing failures\n")
    kinds = [row.split(" | ")[1] for row in document.splitlines() if row.startswith("| 20")]
    assert kinds == ["created", "notified", "notified", "notified", "notified", "update", "commander", "deploy", "resolved",
                     "postmortem"]
    assert "| deploy | @alice | deploy payment-service v5.0.1 to staging: succeeded |" in document
    assert "| commander | @erin | @erin → @frank |" in document
    assert "| notified | Opscord | Status page updated: Investigating (try 2) |" in document

    rows = await harness.export()
    incident_rows = [(r["command"].split(" ")[1], r["result"]) for r in rows if r["command"].startswith("/incident")]
    assert incident_rows == [("create", "opening"), ("create", "notified"), ("create", "success"),
                             ("update", "success"), ("commander", "success"), ("commander", "invalid"),
                             ("resolve", "success"), ("timeline", "success")] or incident_rows == [
        ("create", "opening"), ("create", "success"), ("create", "notified"), ("update", "success"),
        ("commander", "success"), ("commander", "invalid"), ("resolve", "success"), ("timeline", "success")]
    assert {r["incident"] for r in rows if r["command"].startswith("/incident")} == {thread.name}


HOSTILE_PARTS = ("@everyone @here <@&{role}> <@{user}> <@!{user}> <#{channel}> ```py\n**boom**``` "
                 "||spoiler|| ~~x~~ > quote # head [link](https://evil.example) \u200b\u200d\u202e\u2066 ")


def hostile(harness) -> str:
    part = HOSTILE_PARTS.format(role=harness.roles["ops"], user=harness.users["bob"],
                                channel=harness.channels["general"])
    return (part * (6000 // len(part) + 1))[:6000]


def assert_defused(content: str, harness) -> None:
    assert "@everyone" not in content and "@here" not in content
    assert f"<@&{harness.roles['ops']}>" not in content and f"<@{harness.users['bob']}>" not in content
    assert f"<@!{harness.users['bob']}>" not in content and f"<#{harness.channels['general']}>" not in content
    assert "```" not in content and "||" not in content and "\u202e" not in content and "\u2066" not in content
    assert len(content) <= 2000


async def test_only_the_oncall_is_pinged_and_hostile_text_is_escaped_everywhere(incident_world):
    harness, _, page = incident_world
    oncall = harness.roles["payment-oncall"]
    text = hostile(harness)
    assert len(text) == 6000
    h = await harness.run("erin", "incident create", {"title": text, "severity": "sev2",
                                                      "service": "payment-service"})
    await h.wait_message(timeout=15, predicate=lambda m: "Opened" in (m.content or ""))
    [thread] = harness.emu.threads
    await in_thread(harness, thread, "erin", "incident update", {"text": text, "status": "monitoring"})
    await in_thread(harness, thread, "erin", "incident commander", {"member": harness.users["frank"]})
    await in_thread(harness, thread, "frank", "incident timeline")
    await in_thread(harness, thread, "frank", "incident resolve", {"text": text})
    await harness.settle()

    assert len(thread.name) <= 100 and "@" not in thread.name and "<" not in thread.name
    sent = [m for m in harness.emu.state.messages.values() if m.author_id == harness.emu.state.bot_user.id]
    assert len(sent) >= 10
    [announcement] = harness.emu.messages(harness.channels["incidents"])
    for message in sent:
        assert_defused(message.content, harness)
        if message.id == announcement.id:
            assert message.pinged == {"everyone": False, "roles": [oncall], "users": []}
        else:  # every other message (thread posts, replies, the timeline): nobody
            assert message.pinged == NOBODY, (message.content[:80], message.pinged)
        assert message.allowed_mentions is not None and message.allowed_mentions.get("parse") == []
    assert "@\u200beveryone" in announcement.content and "\\`\\`\\`" in announcement.content
    [attachment] = [a for m in sent for a in m.attachments]
    document = attachment["content"].decode()
    assert "@everyone" not in document and "```" not in document and "\u202e" not in document
    [status_incident] = page.incidents.values()
    public = [status_incident["name"], *(u["body"] for u in status_incident["incident_updates"])]
    for item in public:
        assert "@everyone" not in item and "<@&" not in item and "<@" not in item and "\u202e" not in item
    assert len(status_incident["name"]) <= 255


async def test_an_incident_without_a_service_uses_the_guild_defaults_and_says_what_was_not_notified(incident_world):
    harness, pager, page = incident_world
    h = await harness.run("erin", "incident create", {"title": "Queue backlog", "severity": "sev3"})
    reply = await h.wait_message(timeout=10, predicate=lambda m: "Opened" in (m.content or ""))
    oncall = harness.roles["oncall"]
    assert f"✅ Notified: <@&{oncall}> (pinged), PagerDuty (ops-team)." in reply.content
    assert "⚠️ Not notified: status page: none configured for [incidents.status_page]." in reply.content
    [alert] = pager.alerts.values()
    assert alert.severity == "warning" and not page.incidents
    [announcement] = harness.emu.messages(harness.channels["incidents"])
    assert lines(announcement)[2] == "No status page configured · PagerDuty notified: ops-team"
    assert announcement.pinged == {"everyone": False, "roles": [oncall], "users": []}


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


async def test_a_restart_resumes_what_an_open_incident_still_lacks(incident_world):
    harness, _, page = incident_world
    page.always_fail(500)
    h = await harness.run("erin", "incident create", {"title": "Card declines", "severity": "sev2",
                                                      "service": "payment-service"})
    await h.wait_message(timeout=15, predicate=lambda m: "Opened" in (m.content or ""))
    [thread] = harness.emu.threads
    await harness.stop_bot()  # the retry dies with the process
    page.clear_failures()
    await harness.start_bot()
    told = await harness.emu.wait_until(
        lambda: next((m for m in harness.emu.messages(thread.id) if "📢 Status page updated" in m.content), None),
        timeout=10)
    assert told.content.startswith("📢 Status page updated: Investigating")
    [status_incident] = page.incidents.values()
    assert status_incident["status"] == "investigating"
    rows = [r for r in await harness.export() if r["result"] == "notified"]
    assert [r["integration"] for r in rows] == ["status_page"]
