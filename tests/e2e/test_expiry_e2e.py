"""Expiry and approver re-checks, through the emulator."""

import asyncio

from bot.sandbox.emulator.models import EPHEMERAL_FLAG


async def _expire_now(harness, op_id):
    async with harness.ctx.db.transaction() as conn:
        await conn.execute("UPDATE operations SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (op_id,))


async def _op_id(harness):
    async with harness.ctx.db.conn.execute("SELECT id FROM operations ORDER BY created_at DESC LIMIT 1") as cur:
        return (await cur.fetchone())[0]


async def test_expired_request_cannot_be_approved_and_buttons_are_disabled(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    msg = await h.wait_message(timeout=5)
    await _expire_now(harness, await _op_id(harness))
    click = await harness.click("bob", msg, "Approve")
    reply = await click.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG and "expired" in reply.content
    edited = harness.emu.get_message(msg.id)
    assert edited.content.startswith("⌛ Expired: Deploy order-service v2.4.1 to production was not approved in time.")
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
    assert done.content.startswith("❌ Migration failed: an approver no longer holds an approver role")
    assert (await harness.export())[-1]["result"] == "failed"


async def test_click_on_an_unknown_request_is_one_sentence_and_audited(harness):
    from bot.approvals import pending_view
    from bot.operations import Operation

    ghost = Operation(id="op-0000000000", action="deploy", policy_action="deploy", service="order-service",
                      environment="production", version="v1.0.0", previous_version=None, replicas=None,
                      current_replicas=None, command="/deploy", requester_id="1", requester_name="x", guild_id=None,
                      channel_id=None, channel_name=None, approvals_required=1, approver_roles=("team_lead",),
                      confirm=False, status="pending_approval", created_at="2026-01-01T00:00:00.000Z")
    channel = harness.bot.get_channel(harness.channels["deployments"])
    sent = await channel.send("an old approval message", view=pending_view(ghost))
    click = await harness.click("bob", harness.emu.get_message(sent.id), "Approve")
    reply = await click.wait_message(timeout=5)
    assert reply.content == "This request no longer exists."
    row = (await harness.export())[-1]
    assert row["result"] == "invalid" and row["command"] == "[approve] op-0000000000" and row["user"] == "@bob"
