"""Quorum slots, plans bound to approvals and the step-up phrase, through the pipeline (both backends)."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import FreezeWindow, parse_config
from bot.pipeline import Actor, states
from bot.pipeline.plans import Plan
from bot.processes import THIS_PROCESS
from bot.store import Change
from bot.store.changes import RecordDecision, TakeLock
from tests.helpers import state
from tests.pipeline.conftest import (
    DBA,
    LEAD,
    OPS,
    World,
    alice,
    bob,
    call,
    carol,
    command_of,
    inp,
    raw_config,
    world_for,
)

gina = Actor("16", "gina", (LEAD, DBA))
hank = Actor("17", "hank", (LEAD,))
cli_alice = Actor("11", "alice", (OPS,))


@pytest.fixture
async def gov(tmp_path, backend) -> AsyncIterator[World]:
    raw = raw_config(tmp_path)
    raw["policy"] = [{"action": "migrate", "environment": "production", "require": {"team_lead": 1, "dba": 1}},
                     {"action": "deploy", "environment": "production", "service": "api-gateway",
                      "approvals": 1, "approver_roles": ["team_lead"], "confirm_phrase": True},
                     *raw["policy"]]
    async with world_for(tmp_path, parse_config(raw), backend) as w:
        w.members.actors.update({gina.id: gina, hank.id: hank})
        yield w


def freeze_now() -> FreezeWindow:
    now = datetime.now(UTC)
    return FreezeWindow(start=now - timedelta(minutes=1), end=now + timedelta(hours=2), environments=["production"],
                        reason="Black Friday")


async def test_a_single_role_approver_completes_what_a_dual_role_one_started(gov):
    op = await gov.request(alice, inp("migrate", environment="production"))
    first = await gov.click(gina, op.id, "approve")
    assert state(first.shown[0]).splitlines()[1] == "team lead: @gina ✅ · DBA: waiting"
    done = await gov.click(bob, op.id, "approve")  # a team lead only: gina moves to the DBA slot
    assert state(done.shown[0]).startswith("✅ Approved by @gina and @bob. Migrating")
    assert (await gov.finish(op.id)).status == "succeeded"


async def test_an_approval_that_fills_no_open_slot_is_refused(gov):
    op = await gov.request(alice, inp("migrate", environment="production"))
    await gov.click(bob, op.id, "approve")
    refused = await gov.click(hank, op.id, "approve")  # a second team lead: the DBA slot is what is open
    assert refused.told == ["Your approval would fill no open slot: this request still needs a DBA."]
    assert (await gov.app.store.operation(op.id)).status == "pending_approval"
    rows = await gov.rows()
    assert (rows[-1].result, rows[-1].user) == ("denied", "@hank")
    _, decisions = await gov.app.store.operation_and_decisions(op.id)
    assert [(d.approver_name, d.roles) for d in decisions] == [("bob", ("team_lead",))]


async def test_the_run_start_rechecks_the_quorum_against_current_roles(gov):
    op = await gov.request(alice, inp("migrate", environment="production"))
    await gov.click(gina, op.id, "approve")
    gov.members.actors[gina.id] = Actor(gina.id, "gina", (LEAD,))  # no longer a DBA
    await gov.click(bob, op.id, "approve")  # at the click gina still counts as she approved: the run re-checks
    done = await gov.finish(op.id)
    assert done.status == "failed" and "no longer holds an approver role" in done.outcome


async def test_a_freeze_that_began_after_the_request_voids_the_last_approval(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v5.0.0"))
    assert Plan.load(op.plan).fact("freeze") == "none"
    world.app.pipeline.policy.freezes = (freeze_now(),)
    screen = await world.click(bob, op.id, "approve")
    assert state(screen.shown[0]) == (
        "🚫 Deploy not started: the plan changed since it was shown — a change freeze began: Black Friday until "
        f"{freeze_now().end:%Y-%m-%d %H:%M} UTC. The approvals are void; run the command again for a new plan.")
    assert (await world.app.store.operation(op.id)).status == "failed"
    assert await world.app.store.lock("order-service", "production") is None
    rows = await world.rows()
    assert [r.result for r in rows] == ["requested", "approved", "void"]
    assert rows[1].extra["plan"] == rows[2].extra["plan"] == Plan.load(op.plan).digest


async def test_a_changed_migration_voids_the_approvals(world):
    op = await world.request(alice, inp("migrate", environment="production"))
    assert Plan.load(op.plan).fact("migration") == "0001_order_service"
    await world.click(bob, op.id, "approve")
    world.state.mkdir(exist_ok=True)
    (world.state / "order-service-production.json").write_text(json.dumps({"migrations": 1, "replicas": 2}))
    screen = await world.click(carol, op.id, "approve")
    assert "the migration was 0001\\_order\\_service on the card and is 0002\\_order\\_service now" in \
        screen.shown[0].text
    calls = (world.state / "calls.jsonl").read_text()
    assert '"migrate"' not in calls  # only the read-only pending-migration command ran


async def test_a_confirmation_is_void_when_another_deploy_landed(world):
    for version in ("v1.0.0", "v1.1.0"):
        done = await world.request(alice, inp("deploy", version=version))
        await world.finish(done.id)
    rollback = await world.request(alice, inp("rollback"))
    assert Plan.load(rollback.plan).fact("version") == "v1.1.0 → v1.0.0"
    await world.finish((await world.request(alice, inp("deploy", version="v1.2.0"))).id)
    screen = await world.click(alice, rollback.id, "confirm")
    text = state(screen.shown[0])
    assert text.startswith("🚫 Rollback not started: the plan changed since it was shown — another deploy landed (")
    assert "the version change was v1.1.0 → v1.0.0 on the card and is v1.2.0 → v1.1.0 now" in text
    assert text.endswith("The confirmation is void; run the command again for a new plan.")


async def test_the_run_start_checks_the_plan_again(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v6.0.0"))
    await world.app.store.apply(Change.of(  # approved, not yet started (as a restart would find it)
        RecordDecision(op.id, bob.id, bob.name, "approve", ("team_lead",)),
        states.move(op.id, ("pending_approval",), "approved", holder=str(THIS_PROCESS)),
        TakeLock(op.service, op.environment, op.id, op.requester_name, str(THIS_PROCESS))))
    world.app.pipeline.policy.freezes = (freeze_now(),)
    done = await world.app.pipeline.runner.execute(op.id)
    assert done.status == "failed" and done.outcome.startswith("🚫 Deploy not started: the plan changed")
    assert (await world.rows())[-1].result == "void"
    assert await world.app.store.lock("order-service", "production") is None


async def test_a_waiting_card_shows_its_plan_and_a_plan_survives_the_store(world):
    world.state.mkdir(exist_ok=True)
    (world.state / "order-service-production.json").write_text(json.dumps({"replicas": 5}))
    op = await world.request(alice, inp("scale", environment="production", replicas=3))
    plan = Plan.load((await world.app.store.operation(op.id)).plan)
    assert plan is not None and plan.fact("replicas") == "5 → 3"
    assert Plan.load(plan.dump()) == plan
    card = world.screen.shown[-1].text
    assert f"📋 Plan `{plan.digest}`: replicas 5 → 3 · no change freeze" in card
    quick = await world.request(alice, inp("deploy", version="v1.0.0"))  # runs at once: nobody to bind
    assert quick.plan is None


async def test_the_step_up_phrase_is_checked_by_the_pipeline(gov):
    deploy = inp("deploy", service="api-gateway", environment="production", version="v2.0.0")
    assert await gov.app.pipeline.step_up(deploy, call(alice, command_of(deploy))) == "api-gateway"
    assert await gov.app.pipeline.step_up(inp("deploy", service="api-gateway", version="v2.0.0"),
                                          call(alice)) is None
    with pytest.raises(Exception, match="That is not the service name"):
        await gov.request(alice, deploy, phrase="order-service")
    from bot.fallback import cli_call

    with pytest.raises(Exception, match="run it again with --phrase api-gateway"):
        await gov.app.pipeline.request(deploy, cli_call(cli_alice, "/deploy api-gateway v2.0.0 production"),
                                       gov.screen)
    op = await gov.request(alice, deploy, phrase="api-gateway")
    assert op.status == "pending_approval"
    rows = await gov.rows()
    assert [(r.result, r.extra.get("step_up")) for r in rows] == [
        ("step_up", "asked for the service name"), ("denied", None), ("denied", None),
        ("requested", "service name typed")]


async def test_replicas_that_moved_void_the_approval(world):
    world.state.mkdir(exist_ok=True)
    target = world.state / "order-service-production.json"
    target.write_text(json.dumps({"replicas": 5}))
    op = await world.request(alice, inp("scale", environment="production", replicas=3))
    target.write_text(json.dumps({"replicas": 8}))  # someone scaled it meanwhile
    screen = await world.click(bob, op.id, "approve")
    assert "the replica change was 5 → 3 on the card and is 8 → 3 now" in screen.shown[0].text
