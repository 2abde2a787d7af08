"""Break-glass through Discord: refused outside an open incident and for anyone but an incident commander;
inside one it runs at once (approvals skipped, audited, the incident told, approvers pinged), and its
review in the audit channel is closed by two distinct team leads — never the actor — or reminded when
overdue, across a restart."""

import asyncio

import pytest

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from tests.e2e.harness import Harness
from tests.helpers import example_raw, subject

REASON = "payments failing, hotfix cannot wait"
DEPLOY = {"service": "order-service", "version": "v2.4.2", "environment": "production", "break_glass": REASON}


async def glass_world(tmp_path, review_hours: float):
    raw = example_raw(tmp_path / "state")
    raw["break_glass"] = {"review_hours": review_hours}
    h = Harness(tmp_path, raw)
    await h.start()
    h.users["ivan"] = h.emu.add_member(h.guild_id, "ivan", roles=[h.roles["incident-commander"]]).id
    return h


@pytest.fixture
async def glass(tmp_path, error_logs):
    h = await glass_world(tmp_path, review_hours=24)
    try:
        yield h
    finally:
        await h.stop()
    assert not h.emu.violations, h.emu.violations


async def open_incident(harness):
    h = await harness.run("ivan", "incident create", {"title": "Orders failing", "severity": "sev1",
                                                      "service": "order-service"}, channel="incidents")
    await h.wait_message(timeout=10, predicate=lambda m: "Opened" in (m.content or ""))
    [thread] = harness.emu.threads
    return thread


async def review_message(harness, fragment="Open break-glass review"):
    return await harness.emu.wait_until(lambda: next(
        (m for m in harness.emu.messages(harness.channels["audit"]) if fragment in (m.content or "")), None), 10)


async def test_break_glass_outside_an_incident_or_by_others_is_refused(glass):
    h = await glass.run("ivan", "deploy", DEPLOY)
    reply = await h.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG
    assert reply.content.startswith("Break-glass needs an open incident for order-service, and there is none")
    await open_incident(glass)
    h = await glass.run("alice", "deploy", DEPLOY)  # an operator, but no incident commander
    reply = await h.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG
    assert reply.content == "Only an incident commander can break glass; ask for approval as usual."
    assert await glass.app.store.operations("approved", "running", "succeeded") == []
    refusals = [r for r in await glass.export() if r["command"].startswith("/deploy")]
    assert [(r["user"], r["result"], r["break_glass"]) for r in refusals] == [
        ("@ivan", "denied", REASON), ("@alice", "denied", REASON)]


async def test_break_glass_in_an_incident_runs_and_two_team_leads_close_its_review(glass):
    thread = await open_incident(glass)
    h = await glass.run("ivan", "deploy", DEPLOY)
    card = await h.wait_message(timeout=5)
    lead = glass.roles["team-lead"]
    assert subject(card) == "🚀 Deploy order-service v2.4.2 to production · requested by @ivan · 🚨 break-glass"
    assert f"🚨 Break-glass ({REASON}): approvals and freezes skipped" in card.content
    assert card.pinged == {"everyone": False, "roles": [lead], "users": []}  # the approver it skipped, alone
    assert card.buttons() == []
    await glass.wait_message(card.id, "Deploy complete", timeout=15)

    told = await glass.emu.wait_until(lambda: next(
        (m for m in glass.emu.messages(thread.id) if m.content.startswith("🚨 Break-glass:")), None), 10)
    assert "Deploy order-service v2.4.2 to production by @ivan, at once — it needed approval from a team lead" \
           in told.content and f"Reason: {REASON}" in told.content
    review = await review_message(glass)
    assert review.pinged == {"everyone": False, "roles": [lead], "users": []}
    assert "0/2 acknowledged" in review.content and "2 team leads (not @ivan) acknowledge it by" in review.content
    status = await glass.run("dave", "status", {"service": "order-service"})
    embed = (await status.wait_message(timeout=10, predicate=lambda m: bool(m.embeds))).embeds[0]
    [field] = [f for f in embed["fields"] if f["name"] == "Open break-glass reviews"]
    assert "Deploy order-service v2.4.2 to production by @ivan" in field["value"] and "0/2" in field["value"]

    for who, sentence in (("ivan", "You broke the glass; other reviewers acknowledge it."),
                          ("dave", "Only a team lead can acknowledge this review.")):
        answer = await (await glass.click(who, review, "Acknowledge")).wait_message(timeout=5)
        assert answer.flags & EPHEMERAL_FLAG and answer.content == sentence
    await glass.click("bob", review, "Acknowledge")
    assert "1/2 acknowledged: @bob" in glass.emu.get_message(review.id).content
    again = await (await glass.click("bob", glass.emu.get_message(review.id), "Acknowledge")).wait_message(timeout=5)
    assert again.content == "You already acknowledged — 1 of 2."
    await glass.click("frank", glass.emu.get_message(review.id), "Acknowledge")
    closed = glass.emu.get_message(review.id)
    assert closed.content.startswith("✅ Break-glass review closed") and "Acknowledged by @bob and @frank." in \
        closed.content
    assert [b["disabled"] for b in closed.buttons()] == [True]
    await glass.emu.wait_until(lambda: any("is closed: acknowledged by @bob and @frank" in m.content
                                           for m in glass.emu.messages(thread.id)), 10)
    status = await glass.run("dave", "status", {"service": "order-service"})
    embed = (await status.wait_message(timeout=10, predicate=lambda m: bool(m.embeds))).embeds[0]
    assert not [f for f in embed["fields"] if f["name"] == "Open break-glass reviews"]

    rows = await glass.export()
    deploy = [r for r in rows if r.get("request_id") == card_op(rows)]
    started = next(r for r in deploy if r["result"] == "started")
    assert started["break_glass"] == REASON and started["incident"].startswith("inc-")
    assert started["skipped"] == "Requires approval from a team lead."
    assert next(r for r in deploy if r["result"] == "success")["break_glass"] == REASON
    clicks = [(r["user"], r["result"]) for r in rows if r.get("click") == "acknowledge"]
    assert clicks == [("@ivan", "denied"), ("@dave", "denied"), ("@bob", "acknowledged"), ("@bob", "duplicate"),
                      ("@frank", "acknowledged")]
    assert next(r for r in deploy if r["result"] == "review_closed")["acknowledged_by"] == "@bob, @frank"


def card_op(rows):
    return next(r["request_id"] for r in rows if r["result"] == "started")


async def test_an_overdue_review_is_reminded_and_survives_a_restart(tmp_path, error_logs):
    harness = await glass_world(tmp_path, review_hours=0.0005)  # 1.8 s
    try:
        await open_incident(harness)
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        (state / "block").touch()  # alice's staging deploy holds the lock while it runs
        h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                                  "environment": "production"})
        request = await h.wait_message(timeout=5)
        await harness.click("bob", request, "Approve")
        await harness.wait_message(request.id, "Running the provider", timeout=10)
        locked = await (await harness.run("ivan", "deploy", DEPLOY)).wait_message(timeout=5)
        assert locked.flags & EPHEMERAL_FLAG and "is locked by @alice" in locked.content  # locks still apply
        (state / "block").unlink()
        await harness.wait_message(request.id, "Deploy complete", timeout=15)

        h = await harness.run("ivan", "deploy", DEPLOY)
        await harness.wait_message((await h.wait_message(timeout=5)).id, "Deploy complete", timeout=15)
        review = await review_message(harness)
        reminder = await harness.emu.wait_until(lambda: next(
            (m for m in harness.emu.messages(harness.channels["audit"]) if m.content.startswith("⏰")), None), 15)
        lead = harness.roles["team-lead"]
        assert "is overdue: 0/2 acknowledged" in reminder.content and reminder.pinged["roles"] == [lead]
        assert int(reminder.message_reference["message_id"]) == review.id
        await harness.wait_message(review.id, "⏰ overdue")

        await harness.restart_bot()
        await harness.click("bob", harness.emu.get_message(review.id), "Acknowledge")
        await harness.click("frank", harness.emu.get_message(review.id), "Acknowledge")
        await harness.wait_message(review.id, "✅ Break-glass review closed")
        await asyncio.sleep(0.5)
        reminders = [m for m in harness.emu.messages(harness.channels["audit"]) if m.content.startswith("⏰")]
        assert len(reminders) == 1  # once, not again after the restart
        results = [r["result"] for r in await harness.export()]
        assert results.count("review_overdue") == 1 and results.count("review_closed") == 1
    finally:
        await harness.stop()
    assert not harness.emu.violations, harness.emu.violations


async def test_help_and_policy_explain_describe_break_glass_as_configured(glass, capsys):
    from bot.__main__ import main
    from tests.helpers import write_example_config
    lines = (await (await glass.run("ivan", "help")).wait_message(timeout=5)).content.splitlines()
    [mine] = [line for line in lines if line.startswith("During an open incident")]
    assert "`/deploy … break_glass:<reason>` · `/rollback … break_glass:<reason>` · `/scale … break_glass:<reason>`" \
           in mine and "2 team leads then review it within 24 h" in mine
    lines = (await (await glass.run("bob", "help")).wait_message(timeout=5)).content.splitlines()
    assert "You review others' break-glass operations: 👀 Acknowledge in the audit channel (2 reviewers, within " \
           "24 h)." in lines
    assert not any(line.startswith("During an open incident") for line in lines)
    config = write_example_config(glass.tmp_path / "c.toml", glass.tmp_path / "state",
                                  replace={"review_hours = 24": "review_hours = 4"})
    capsys.readouterr()
    assert main(["policy", "explain", "scale_down", "production", "--config", str(config)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[1] == ("Requires approval from a team lead. Approvals expire after 30 minutes. Approvals are bound to "
                       "the plan on the request's card: if it changes before the run, they are void.")
    assert said[2] == ("Break-glass: an incident commander may run it at once with break_glass:<reason> while the "
                       "service has an open incident, skipping approvals, confirmation and freezes (never the lock); "
                       "then 2 team leads other than them acknowledge the review within 4 h.")
    assert main(["policy", "explain", "migrate", "production", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("Break-glass: not for migrate")
