"""Operations end to end: members run /deploy, /rollback, /scale, /migrate and click buttons."""

import asyncio
import json

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from tests.helpers import state, subject


def calls(harness, action=None):
    path = harness.tmp_path / "state" / "calls.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line)["argv"] for line in path.read_text().splitlines()]
    return [r for r in rows if action is None or r[0] == action]


async def final_message(harness, handle, fragment="complete", timeout=15):
    msg = await handle.wait_message(timeout=5)
    return await harness.wait_message(msg.id, fragment, timeout=timeout)


async def test_operator_deploys_to_staging_at_once(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.2.3",
                                              "environment": "staging"})
    assert h.response_type == 4 and h.responded_at_ms < 3000
    msg = await final_message(harness, h)
    assert subject(msg) == "🚀 Deploy order-service v1.2.3 to staging · requested by @alice"
    assert state(msg).startswith("✅ Deploy complete. Health check passed.")
    assert "https://grafana.example.com/d/orders/order-service" in msg.content
    assert calls(harness, "deploy")[0][1:4] == ["order-service", "staging", "v1.2.3"]
    row = (await harness.export())[-1]
    assert row["result"] == "success" and row["approved_by"] is None and row["user"] == "@alice"
    assert row["command"] == "/deploy order-service v1.2.3 staging" and row["channel"] == "#deployments"


async def test_production_deploy_waits_for_a_team_lead(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.4.1",
                                              "environment": "production"})
    msg = await h.wait_message(timeout=5)
    assert subject(msg) == "🚀 Deploy order-service v2.4.1 to production · requested by @alice"
    assert state(msg).startswith("Requires approval from a team lead.\n")
    assert [b["label"] for b in msg.buttons()] == ["Approve", "Reject"]
    assert not calls(harness)

    own = await harness.click("alice", msg, "Approve")
    reply = await own.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG and "cannot approve your own" in reply.content
    stranger = await harness.click("dave", msg, "Approve")
    reply = await stranger.wait_message(timeout=5)
    assert reply.flags & EPHEMERAL_FLAG and "Only a team lead can approve" in reply.content

    approve = await harness.click("bob", harness.emu.get_message(msg.id), "Approve")
    assert approve.response_type == 7
    edited = harness.emu.get_message(msg.id)
    assert subject(edited) == "🚀 Deploy order-service v2.4.1 to production · requested by @alice · approved by @bob"
    assert state(edited).startswith("✅ Approved by @bob. Deploying order-service v2.4.1...")
    assert edited.buttons() == []
    done = await harness.wait_message(msg.id, "Deploy complete")
    assert "Health check passed" in done.content
    rows = await harness.export()
    assert [r["result"] for r in rows] == ["requested", "denied", "denied", "approved", "success"]
    final = rows[-1]
    assert final["approved_by"] == "@bob" and final["user"] == "@alice" and final["channel"] == "#deployments"
    assert isinstance(final["duration_seconds"], (int, float)) and final["duration_seconds"] >= 0


async def test_migrate_needs_two_distinct_approvers_and_reject_ends_it(harness):
    h = await harness.run("alice", "migrate", {"service": "payment-service", "environment": "production"})
    msg = await h.wait_message(timeout=5)
    assert "Requires 2 approvals" in msg.content
    await harness.click("bob", msg, "Approve")
    assert "1/2 approved: @bob" in harness.emu.get_message(msg.id).content
    await harness.click("bob", harness.emu.get_message(msg.id), "Approve")
    assert "1/2 approved: @bob" in harness.emu.get_message(msg.id).content
    assert not calls(harness, "migrate")
    await harness.click("carol", harness.emu.get_message(msg.id), "Approve")
    await harness.wait_message(msg.id, "Migration complete")
    assert len(calls(harness, "migrate")) == 1
    assert (await harness.export())[-1]["approved_by"] == "@bob, @carol"

    h = await harness.run("alice", "migrate", {"service": "payment-service", "environment": "production"})
    msg2 = await h.wait_message(timeout=5)
    await harness.click("bob", msg2, "Approve")
    await harness.click("carol", harness.emu.get_message(msg2.id), "Reject")
    assert state(harness.emu.get_message(msg2.id)).startswith("❌ Rejected by @carol")
    assert harness.emu.get_message(msg2.id).buttons() == []
    assert len(calls(harness, "migrate")) == 1
    assert (await harness.export())[-1]["result"] == "rejected"


async def test_scale_up_runs_scale_down_waits_and_bounds(harness):
    h = await harness.run("alice", "scale", {"service": "api-gateway", "replicas": 6, "environment": "production"})
    up = await final_message(harness, h)
    assert state(up).startswith("✅ Scale complete")
    h = await harness.run("alice", "scale", {"service": "api-gateway", "replicas": 3, "environment": "production"})
    down = await h.wait_message(timeout=5)
    assert subject(down) == "📏 Scale api-gateway in production from 6 to 3 replicas · requested by @alice"
    assert state(down).startswith("Requires approval from a team lead.")
    await harness.click("bob", down, "Approve")
    await harness.wait_message(down.id, "Scale complete")
    h = await harness.run("alice", "scale", {"service": "api-gateway", "replicas": 99, "environment": "production"})
    refusal = await h.wait_message(timeout=5)
    assert refusal.flags & EPHEMERAL_FLAG
    assert refusal.content == "Replicas for api-gateway must be between 2 and 30; got 99."
    assert [c[3] for c in calls(harness, "scale")] == ["6", "3"]
    assert (await harness.export())[-1]["result"] == "invalid"


async def test_rollback_confirms_then_deploys_previous_version(harness):
    for version in ("v1.0.0", "v1.1.0"):
        h = await harness.run("alice", "deploy", {"service": "order-service", "version": version,
                                                  "environment": "staging"})
        await final_message(harness, h)
    h = await harness.run("alice", "rollback", {"service": "order-service", "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    assert subject(msg).startswith("⏪ Roll back order-service in staging from v1.1.0 to v1.0.0 · requested by")
    assert state(msg).startswith("Confirm to proceed.")
    other = await harness.click("erin", msg, "Confirm")
    assert "Only the requester" in (await other.wait_message(timeout=5)).content
    await harness.click("alice", harness.emu.get_message(msg.id), "Confirm")
    done = await harness.wait_message(msg.id, "Rollback complete")
    assert state(done).startswith("✅ Rollback complete. Health check passed.")
    assert calls(harness, "rollback")[0][1:4] == ["order-service", "staging", "v1.0.0"]


async def test_rollback_without_history_says_so(harness):
    h = await harness.run("alice", "rollback", {"service": "order-service", "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    assert msg.content == "No previous successful deploy of order-service in staging to roll back to."
    assert (await harness.export())[-1]["result"] == "invalid"


async def test_twenty_simultaneous_approvals_execute_once(harness):
    leads = [harness.emu.add_member(harness.guild_id, f"lead{i}", roles=[harness.roles["team-lead"]]).id
             for i in range(20)]
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v5.0.0",
                                              "environment": "production"})
    msg = await h.wait_message(timeout=5)
    approve = next(b for b in msg.buttons() if b["label"] == "Approve")
    handles = await asyncio.gather(*(harness.emu.click_button(msg.id, approve["custom_id"], uid) for uid in leads))
    await asyncio.gather(*(x.wait_response(timeout=5) for x in handles))
    await harness.wait_message(msg.id, "Deploy complete")
    await harness.settle()
    assert len(calls(harness, "deploy")) == 1
    rows = await harness.export()
    assert [r["result"] for r in rows].count("success") == 1
    assert sum(x.response_type == 7 for x in handles) == 1


async def test_old_approval_message_works_after_restart(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v2.0.0",
                                              "environment": "production"})
    msg = await h.wait_message(timeout=5)
    await harness.restart_bot()
    await harness.click("bob", harness.emu.get_message(msg.id), "Approve")
    await harness.wait_message(msg.id, "Deploy complete")
    assert calls(harness, "deploy")[0][3] == "v2.0.0"


async def test_second_deploy_while_one_runs_is_refused(harness):
    (harness.tmp_path / "state").mkdir(exist_ok=True)
    block = harness.tmp_path / "state" / "block"
    block.touch()
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v3.0.0",
                                              "environment": "staging"})
    first = await h.wait_message(timeout=5)
    await harness.emu.wait_until(lambda: calls(harness, "deploy"), timeout=10)
    h2 = await harness.run("erin", "deploy", {"service": "order-service", "version": "v3.0.1",
                                              "environment": "staging"})
    refusal = await h2.wait_message(timeout=5)
    assert refusal.flags & EPHEMERAL_FLAG
    assert "order-service in staging is locked by @alice (/deploy order-service v3.0.0 staging)" in refusal.content
    block.unlink()
    await harness.wait_message(first.id, "Deploy complete")
    rows = await harness.export()
    assert [r["result"] for r in rows] == ["started", "locked", "success"]


async def test_hostile_version_is_refused_before_any_shell(harness):
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1; rm -rf /",
                                              "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    assert msg.content.startswith("Version 'v1; rm -rf /' does not match order-service's version pattern")
    assert calls(harness) == []
    row = (await harness.export())[-1]
    assert row["result"] == "invalid" and row["command"] == "/deploy order-service v1; rm -rf / staging"


async def test_operator_role_is_required(harness):
    h = await harness.run("dave", "deploy", {"service": "order-service", "version": "v1.0.0",
                                             "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    assert msg.flags & EPHEMERAL_FLAG and "operator role for staging" in msg.content
    assert (await harness.export())[-1]["result"] == "denied"


async def test_autocomplete(harness):
    emu = harness.emu
    choices = await emu.autocomplete(harness.guild_id, harness.channels["deployments"], harness.users["alice"],
                                     "deploy", {"service": "pay"}, focused="service")
    assert [c["value"] for c in choices] == ["payment-service"]
    choices = await emu.autocomplete(harness.guild_id, harness.channels["deployments"], harness.users["alice"],
                                     "deploy", {"service": "order-service", "environment": "pro"},
                                     focused="environment")
    assert [c["value"] for c in choices] == ["production"]


async def test_a_row_can_require_approval_and_then_confirmation(tmp_path, error_logs):
    from tests.e2e.harness import Harness
    from tests.helpers import example_raw, state

    raw = example_raw(tmp_path / "state")
    raw["policy"] = [{"action": "migrate", "environment": "production", "approvals": 1,
                      "approver_roles": ["dba"], "confirm": True}]
    harness = Harness(tmp_path, raw)
    await harness.start()
    try:
        h = await harness.run("alice", "migrate", {"service": "order-service", "environment": "production"})
        msg = await h.wait_message(timeout=5)
        assert "Requires approval from a DBA. The requester then confirms." in msg.content
        await harness.click("carol", msg, "Approve")
        after = harness.emu.get_message(msg.id)
        assert "✅ Approved by @carol. @alice, confirm to proceed." in after.content
        assert [b["label"] for b in after.buttons()] == ["Confirm", "Cancel"]
        assert not calls(harness, "migrate")
        refused = await harness.click("carol", after, "Confirm")
        assert "Only the requester" in (await refused.wait_message(timeout=5)).content
        await harness.click("alice", harness.emu.get_message(msg.id), "Confirm")
        done = await harness.wait_message(msg.id, "Migration complete")
        assert state(done).startswith("✅ Migration complete")
        assert len(calls(harness, "migrate")) == 1
        assert (await harness.export())[-1]["approved_by"] == "@carol"
    finally:
        await harness.stop()


async def test_a_change_freeze_refuses_production_deploys(tmp_path, error_logs):
    from datetime import UTC, datetime, timedelta

    from tests.e2e.harness import Harness
    from tests.helpers import example_raw

    raw = example_raw(tmp_path / "state")
    now = datetime.now(UTC)
    raw["freezes"] = [{"start": now - timedelta(hours=1), "end": now + timedelta(hours=5),
                       "environments": ["production"], "reason": "Black Friday"}]
    harness = Harness(tmp_path, raw)
    await harness.start()
    try:
        h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.0",
                                                  "environment": "production"})
        msg = await h.wait_message(timeout=5)
        assert msg.flags & EPHEMERAL_FLAG
        assert msg.content.startswith("production is in a change freeze until ") and "(Black Friday)" in msg.content
        assert (await harness.export())[-1]["result"] == "frozen"
        assert not calls(harness)
    finally:
        await harness.stop()
