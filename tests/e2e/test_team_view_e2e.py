"""What the team sees of an operation: the seed's lines, the subject kept, progress, pings, reactions, /help."""

import asyncio

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from tests.helpers import state, subject

SUBJECT = "🚀 Deploy order-service v2.4.1 to production · requested by @alice"


async def test_the_seeds_lines_the_subject_kept_and_live_progress(harness):
    state_dir = harness.tmp_path / "state"
    state_dir.mkdir(exist_ok=True)
    (state_dir / "block").touch()
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    request = await h.wait_message(timeout=5)
    assert subject(request) == SUBJECT
    assert state(request).splitlines()[0] == "Requires approval from a team lead."
    lead = harness.roles["team-lead"]
    assert request.content.endswith(f"<@&{lead}>")
    assert request.pinged == {"everyone": False, "roles": [lead], "users": []}  # the approver role, alone

    await harness.click("bob", request, "Approve")
    approved = harness.emu.get_message(request.id)
    assert subject(approved) == f"{SUBJECT} · approved by @bob"
    assert state(approved).splitlines()[0] == "✅ Approved by @bob. Deploying order-service v2.4.1..."
    notice = await harness.emu.wait_until(lambda: next(
        (m for m in harness.emu.messages(harness.channels["deployments"])
         if m.message_reference and int(m.message_reference.get("message_id", 0)) == request.id), None), timeout=5)
    assert notice.content.startswith(f"<@{harness.users['alice']}> your request")
    assert "was approved by @bob and is running" in notice.content
    assert notice.pinged == {"everyone": False, "roles": [], "users": [harness.users["alice"]]}

    running = await harness.wait_message(request.id, "⏳ Running the provider", timeout=10)
    edits, shown = running.edited, running.content
    later = await harness.emu.wait_until(lambda: (m := harness.emu.get_message(request.id)).edited > edits and m, 10)
    assert later.content != shown and subject(later) == f"{SUBJECT} · approved by @bob"  # the clock moved on
    assert "⏳ Running the provider · 0:0" in later.content
    (state_dir / "block").unlink()
    done = await harness.wait_message(request.id, "Deploy complete", timeout=15)
    assert subject(done) == f"{SUBJECT} · approved by @bob"
    assert state(done).splitlines() == ["✅ Deploy complete. Health check passed.",
                                        "Dashboard: <https://grafana.example.com/d/orders/order-service>"]
    assert done.buttons() == []


async def test_approvals_by_reaction(harness):
    dora = harness.emu.add_member(harness.guild_id, "dora", roles=[harness.roles["dba"]]).id
    h = await harness.run("alice", "migrate", {"service": "payment-service", "environment": "production"})
    request = await h.wait_message(timeout=5)
    await harness.emu.wait_until(lambda: set(harness.emu.get_message(request.id).reactions) >= {"✅", "❌"}, 5)

    async def react(user_id):
        await harness.emu.react(request.id, user_id, "✅")
        await harness.settle()
        await asyncio.sleep(0.2)

    await react(harness.users["alice"])   # her own request: refused, and her reaction taken off
    await harness.emu.wait_until(lambda: harness.users["alice"] not in harness.emu.get_message(request.id)
                                 .reactions.get("✅", []), 5)
    await react(harness.users["dave"])    # not an approver: ignored the same way
    await harness.emu.wait_until(lambda: harness.users["dave"] not in harness.emu.get_message(request.id)
                                 .reactions.get("✅", []), 5)
    assert "approved:" not in harness.emu.get_message(request.id).content
    await react(harness.users["carol"])   # a DBA
    await harness.wait_message(request.id, "1/2 approved: @carol")
    await react(dora)                     # a second, different DBA: it runs
    done = await harness.wait_message(request.id, "Migration complete", timeout=15)
    assert subject(done).endswith("approved by @carol and @dora")
    rows = [(r["result"], r["user"]) for r in await harness.export()]
    assert rows[:5] == [("requested", "@alice"), ("denied", "@alice"), ("denied", "@dave"), ("approved", "@carol"),
                        ("approved", "@dora")]


async def test_nothing_else_pings(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.0",
                                              "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    await harness.wait_message(msg.id, "Deploy complete")
    refused = await harness.run("dave", "deploy", {"service": "order-service", "version": "v1.0.1",
                                                   "environment": "staging"})
    await refused.wait_message(timeout=5)
    await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.2; @everyone <@&1>",
                                          "environment": "staging"})
    nobody = {"everyone": False, "roles": [], "users": []}
    assert all(m.pinged == nobody for m in harness.emu.state.messages.values())


async def test_help_says_what_each_member_can_do_here(harness):
    h = await harness.run("alice", "help")
    reply = await h.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG
    lines = reply.content.splitlines()
    assert lines[0] == "What you can do here:"
    deploy = next(line for line in lines if line.startswith("`/deploy"))
    assert "staging — runs at once" in deploy and "production — needs approval from a team lead" in deploy
    assert any(line.startswith("`/rollback") and "you confirm it" in line for line in lines)
    assert not any("approve others" in line for line in lines)
    h = await harness.run("bob", "help")
    lines = (await h.wait_message(timeout=5)).content.splitlines()
    assert not any(line.startswith("`/deploy") for line in lines)
    assert any("As a team lead you approve" in line for line in lines)
    assert (await harness.export())[-1]["command"] == "/help"
