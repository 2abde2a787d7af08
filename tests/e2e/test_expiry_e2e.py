"""Expiry and approver re-checks, through the emulator."""

import asyncio

from bot.client.buttons import view_for
from bot.pipeline import Card
from bot.pipeline.states import PENDING
from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from bot.store import Change
from bot.store.changes import UpdateOperation
from tests.helpers import state, subject


async def _expire_now(harness, op_id):
    await harness.app.store.apply(Change.of(UpdateOperation(op_id, {"expires_at": "2000-01-01T00:00:00.000Z"})))


async def _op_id(harness):
    return (await harness.app.store.operations(*PENDING))[-1].id


async def test_expired_request_cannot_be_approved_and_buttons_are_disabled(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    msg = await h.wait_message(timeout=5)
    await _expire_now(harness, await _op_id(harness))
    click = await harness.click("bob", msg, "Approve")
    reply = await click.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG and "expired" in reply.content
    edited = await harness.wait_message(msg.id, "⌛ Expired")
    assert subject(edited).startswith("🚀 Deploy order-service v2.4.1 to production · requested by @alice")
    assert state(edited).startswith("⌛ Expired: not approved in time.")
    assert edited.buttons() and all(b.get("disabled") for b in edited.buttons())
    results = [r["result"] for r in await harness.export()]
    assert results == ["requested", "expired", "expired"]


async def test_sweeper_expires_pending_requests(harness):
    h = await harness.run("alice", "migrate", {"service": "order-service", "environment": "production"})
    msg = await h.wait_message(timeout=5)
    await _expire_now(harness, await _op_id(harness))
    await harness.wait_message(msg.id, "⌛ Expired", timeout=5)
    assert (await harness.export())[-1]["result"] == "expired"


async def test_approval_is_void_when_the_approver_lost_the_role(harness):
    h = await harness.run("alice", "migrate", {"service": "order-service", "environment": "production"})
    msg = await h.wait_message(timeout=5)
    await harness.click("bob", msg, "Approve")
    harness.emu.set_member_roles(harness.guild_id, harness.users["bob"], [])
    await asyncio.sleep(0.05)  # GUILD_MEMBER_UPDATE reaches the bot's cache
    await harness.click("carol", harness.emu.get_message(msg.id), "Approve")
    done = await harness.wait_message(msg.id, "failed")
    assert state(done).startswith("❌ Migration failed: an approver no longer holds an approver role")
    assert (await harness.export())[-1]["result"] == "failed"


async def test_click_on_an_unknown_request_is_one_sentence_and_audited(harness):
    channel = harness.bot.get_channel(harness.channels["deployments"])
    sent = await channel.send("an old approval message", view=view_for(Card("op-0000000000", "x", "approval")))
    click = await harness.click("bob", harness.emu.get_message(sent.id), "Approve")
    reply = await click.wait_message(timeout=5)
    assert reply.content == "This request no longer exists."
    row = (await harness.export())[-1]
    assert row["result"] == "invalid" and row["command"] == "click Approve on op-0000000000" and row["user"] == "@bob"
