"""Discord answering 429 (per route and global) while Opscord works: every reply, edit, progress update,
notice and final state still lands, exactly once, and the audit rows say what the messages show.

discord.py tries a request five times; five 429s in a row make that request fail. Opscord's message
sync then edits the card again with backoff, and its outbox posts the notice again, until Discord
takes them (bot/client/sync.py). The emulator records every 429 it served and what the client's
next request to the same route got (`RateLimitHit.retried_status`).
"""

import asyncio

from tests.helpers import state

CALLBACK = "/interactions/{interaction}/{token}/callback"
FOLLOWUP = "/webhooks/{app}/{token}"
CHANNEL_MESSAGE = "/channels/{channel}/messages/{message}"
CHANNEL_MESSAGES = "/channels/{channel}/messages"


def block(harness):
    path = harness.tmp_path / "state" / "block"
    path.parent.mkdir(exist_ok=True)
    path.touch()
    return path


def rows_of(rows, op_id):
    return [(r["result"], r["user"]) for r in rows if r.get("request_id") == op_id]


def op_id_of(message):
    return message.buttons()[0]["custom_id"].rsplit(":", 1)[1]


async def test_five_429s_in_a_row_on_the_result_edit(harness):
    """The issue's case: the result edit fails outright once (five 429s), and still lands."""
    blocked = block(harness)
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "staging"})
    card = await h.wait_message(timeout=5)
    await harness.wait_message(card.id, "Running the provider", timeout=10)
    rule = harness.emu.rate_limit("PATCH", CHANNEL_MESSAGE, count=5, retry_after=0.05)
    blocked.unlink()
    done = await harness.wait_message(card.id, "✅ Deploy complete. Health check passed.", timeout=20)
    assert [hit.retried_status for hit in rule.hits] == [429, 429, 429, 429, 200]  # discord.py gave up; sync did not
    assert rule.landed and all(hit.path == f"/channels/{card.channel_id}/messages/{card.id}" for hit in rule.hits)
    assert done.buttons() == [] and "Running" not in done.content
    rows = await harness.export()
    op_id = next(r["request_id"] for r in rows if r["result"] == "started")
    assert rows_of(rows, op_id) == [("started", "@alice"), ("success", "@alice")]  # retries add no rows
    await asyncio.sleep(2.5)  # nothing edits it back
    assert harness.emu.get_message(card.id).content == done.content


async def test_every_reply_edit_progress_and_notice_lands_under_repeated_429s(harness):
    emu = harness.emu
    blocked = block(harness)
    rules = {
        "request reply": emu.rate_limit("POST", CALLBACK, count=2, retry_after=0.1),  # within Discord's 3 s
        "global": emu.rate_limit_global(count=3, retry_after=0.05),
    }
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    request = await h.wait_message(timeout=5)
    assert state(request).startswith("Requires approval from a team lead.")
    op_id = op_id_of(request)

    rules["click reply"] = emu.rate_limit("POST", CALLBACK, count=3, retry_after=0.1)
    rules["notice"] = emu.rate_limit("POST", CHANNEL_MESSAGES, count=5, retry_after=0.05)  # fails once: the outbox
    rules["progress"] = emu.rate_limit("PATCH", CHANNEL_MESSAGE, count=4, scope="shared", retry_after=0.05)
    click = await harness.click("bob", request, "Approve")
    assert click.response_type == 7
    running = await harness.wait_message(request.id, "⏳ Running the provider", timeout=15)
    seen = running.edited
    await emu.wait_until(lambda: emu.get_message(request.id).edited > seen, timeout=15)  # the clock moves on
    rules["result"] = emu.rate_limit("PATCH", CHANNEL_MESSAGE, count=5, retry_after=0.05)
    blocked.unlink()
    done = await harness.wait_message(request.id, "✅ Deploy complete. Health check passed.", timeout=25)
    await emu.wait_until(lambda: all(rule.exhausted for rule in rules.values())
                         and all(hit.retried_status is not None for hit in emu.rate_limit_hits), timeout=20)

    assert done.content.splitlines()[0].endswith("· approved by @bob") and done.buttons() == []
    notices = [m for m in emu.messages(harness.channels["deployments"])
               if m.message_reference and int(m.message_reference.get("message_id", 0)) == request.id]
    assert len(notices) == 1 and "was approved by @bob and is running" in notices[0].content  # once, not twice
    assert notices[0].pinged == {"everyone": False, "roles": [], "users": [harness.users["alice"]]}
    assert all(hit.retried_status is not None for hit in emu.rate_limit_hits)
    for name in ("notice", "result"):  # both failed outright once (five in a row), and landed later
        assert [hit.retried_status for hit in rules[name].hits] == [429, 429, 429, 429, rules[name].hits[-1].retried_status]
        assert rules[name].hits[-1].retried_status in (200, 201), name
    rows = await harness.export()
    assert rows_of(rows, op_id) == [("requested", "@alice"), ("approved", "@bob"), ("success", "@alice")]
    assert (await harness.app.store.verify()).ok


async def test_an_incident_opens_updates_and_resolves_under_429s(harness):
    emu = harness.emu
    rules = [
        emu.rate_limit("POST", "/channels/{channel}/messages/{message}/threads", count=7),  # > five in a row
        emu.rate_limit("PUT", "/channels/{channel}/messages/pins/{message}", count=2),
        emu.rate_limit("POST", CHANNEL_MESSAGES, count=4, scope="shared"),
        emu.rate_limit("POST", FOLLOWUP, count=3),
        emu.rate_limit_global(count=2),
    ]
    h = await harness.run("alice", "incident create", {"title": "Checkout errors", "severity": "sev2"},
                          channel="incidents")
    opened = await h.wait_message(timeout=15)
    assert opened.content.startswith("Opened inc-")
    [thread] = emu.threads
    rules.append(emu.rate_limit("POST", "/guilds/{guild}/scheduled-events", count=3))
    for command, options in (("incident update", {"text": "Found it", "status": "identified"}),
                             ("incident resolve", {"text": "Rolled back"})):
        handle = await emu.run_command(harness.guild_id, thread.id, harness.users["alice"], command, options)
        await handle.wait_response(timeout=5)
        await handle.wait_message(timeout=15)
    # stacked rules strike one request in turn, so a rule's last 429 may be followed by another rule's: what
    # counts is that every rule was spent and every 429 served was followed by a retry
    await emu.wait_until(lambda: all(rule.exhausted for rule in rules)
                         and all(hit.retried_status is not None for hit in emu.rate_limit_hits), timeout=20)
    in_thread = [m.content for m in emu.messages(thread.id)]
    assert any("Found it" in text for text in in_thread) and any("Rolled back" in text for text in in_thread)
    assert len(emu.state.scheduled_events) == 1  # the postmortem, once
    assert [m.id for m in emu.messages(harness.channels["incidents"])
            if m.content.startswith("🚨")] == [int(thread.id)]  # one announcement; the thread started from it
    assert emu.state.pins.get(thread.id), "the opener is pinned"
    results = [r["result"] for r in await harness.export() if r["command"].startswith("/incident")]
    assert results.count("success") == 3 and "error" not in results
