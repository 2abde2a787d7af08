"""Approve, Reject, Confirm, Cancel and expiry: distinct people, idempotent repeats, the request's own message."""

import asyncio
import json

from bot.pipeline import Actor, MessageRef
from bot.store import Change
from bot.store.changes import TakeLock, UpdateOperation
from tests.helpers import state
from tests.pipeline.conftest import LEAD, alice, bob, carol, dave, inp


async def test_migrate_needs_two_distinct_approvers_and_a_repeat_changes_nothing(world):
    op = await world.request(alice, inp("migrate", environment="production"))
    first = await world.click(bob, op.id, "approve")
    assert "1/2 approved: @bob" in first.shown[0].text
    again = await world.click(bob, op.id, "approve")
    assert again.told == ["You already approved — 1 of 2."] and again.shown == []
    done = await world.click(carol, op.id, "approve")
    assert state(done.shown[0]) == "✅ Approved by @bob and @carol. Migrating order-service in production..."
    assert (await world.finish(op.id)).status == "succeeded"
    rows = await world.rows()
    assert [r.result for r in rows] == ["requested", "approved", "duplicate", "approved", "success"]
    assert rows[2].user == "@bob" and rows[2].extra["click"] == "approve"
    assert rows[-1].approved_by == "@bob, @carol"


async def test_a_reject_is_filed_under_the_rejecter(world):
    op = await world.request(alice, inp("migrate", environment="production"))
    await world.click(bob, op.id, "approve")
    rejected = await world.click(carol, op.id, "reject")
    assert state(rejected.shown[0]).startswith("❌ Rejected by @carol")
    row = (await world.rows())[-1]
    assert (row.result, row.user, row.extra["request_id"]) == ("rejected", "@carol", op.id)
    assert row.command == f"click reject on {op.id}" and row.extra["request_command"] == op.command
    late = await world.click(bob, op.id, "approve")
    assert late.told == ["This request is already rejected."]


async def test_the_requester_withdraws_with_reject(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v1.0.0"))
    screen = await world.click(alice, op.id, "reject")
    assert state(screen.shown[0]).startswith("↩️ Withdrawn by @alice")
    assert (await world.app.store.operation(op.id)).status == "cancelled"


async def test_twenty_simultaneous_approvals_execute_once(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v3.0.0"))
    leads = [Actor(str(100 + i), f"lead{i}", (LEAD,)) for i in range(20)]
    for lead in leads:
        world.members.actors[lead.id] = lead
    await asyncio.gather(*(world.click(lead, op.id, "approve") for lead in leads))
    assert (await world.finish(op.id)).status == "succeeded"
    calls = [json.loads(line)["argv"] for line in (world.state / "calls.jsonl").read_text().splitlines()]
    assert [c[0] for c in calls].count("deploy") == 1
    results = [r.result for r in await world.rows()]
    assert results.count("approved") == 1 and results.count("denied") == 19


async def test_a_click_from_another_guild_or_message_changes_nothing(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v1.0.0"))
    elsewhere = await world.click(bob, op.id, "reject", guild_id="777")
    assert elsewhere.told == ["That button does not belong to this request's message; nothing was changed."]
    forged = await world.click(bob, op.id, "approve", message=MessageRef("5", "999999"))
    assert forged.told == elsewhere.told
    assert (await world.app.store.operation(op.id)).status == "pending_approval"
    rows = await world.rows()
    assert [(r.result, r.user) for r in rows[1:]] == [("denied", "@bob"), ("denied", "@bob")]


async def test_an_expired_request_cannot_be_approved(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v2.0.0"))
    await world.app.store.apply(Change.of(UpdateOperation(op.id, {"expires_at": "2000-01-01T00:00:00.000Z"})))
    out = await world.click(bob, op.id, "approve")
    assert out.told == ["This request has expired; run the command again."]
    assert [r.result for r in await world.rows()][-2:] == ["expired", "expired"]
    assert (await world.app.store.operation(op.id)).status == "expired"


async def test_the_sweeper_expires_waiting_requests(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v2.0.0"))
    await world.app.store.apply(Change.of(UpdateOperation(op.id, {"expires_at": "2000-01-01T00:00:00.000Z"})))
    assert await world.app.pipeline.expire_due() == 1
    stored = await world.app.store.operation(op.id)
    assert stored.status == "expired" and stored.shown_revision < stored.revision  # its message must show it


async def test_an_approver_who_lost_the_role_voids_the_approval(world):
    op = await world.request(alice, inp("migrate", environment="production"))
    await world.click(bob, op.id, "approve")
    world.members.actors[bob.id] = Actor(bob.id, "bob")  # bob is no longer a team lead
    await world.click(carol, op.id, "approve")
    done = await world.finish(op.id)
    assert done.status == "failed" and "no longer holds an approver role" in done.outcome
    assert await world.app.store.lock("payment-service", "production") is None


async def test_the_last_approval_says_so_when_the_target_is_locked(world):
    waiting = await world.request(alice, inp("deploy", environment="production", version="v1.0.0"))
    await world.app.store.apply(Change.of(TakeLock("order-service", "production", "op-0000000000", "carol", "x")))
    screen = await world.click(bob, waiting.id, "approve")
    assert state(screen.shown[0]).startswith("❌ Deploy not started: order-service in production is locked by @carol")
    assert (await world.app.store.operation(waiting.id)).status == "failed"
    assert [r.result for r in await world.rows()][-2:] == ["approved", "locked"]


async def test_a_viewer_cannot_reject(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v1.0.0"))
    assert (await world.click(dave, op.id, "reject")).told == ["Only a team lead can reject this request."]
