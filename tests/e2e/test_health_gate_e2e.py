"""Health-gated deploys through Discord: a deploy that turns unhealthy within its watch is rolled back
automatically (through the pipeline, filed under @opscord for its requester), the open incident is
told and the requester pinged; a healthy one says so; a watch cut short by a stop ends and says so."""

import pytest

from tests.e2e.harness import Harness
from tests.helpers import example_raw, subject

PROD = {"service": "order-service", "environment": "production"}


async def gate_world(tmp_path, watch_minutes: float) -> Harness:
    raw = example_raw(tmp_path / "state")
    raw["health_gates"] = [{"environment": "production", "on_unhealthy": "rollback", "watch_minutes": watch_minutes,
                            "interval_seconds": 0.2}]
    h = Harness(tmp_path, raw)
    await h.start()
    return h


@pytest.fixture
async def gated(tmp_path, error_logs):
    h = await gate_world(tmp_path, watch_minutes=0.05)  # 3 s
    try:
        yield h
    finally:
        await h.stop()
    assert not h.emu.violations, h.emu.violations


async def approved_deploy(harness, version):
    h = await harness.run("alice", "deploy", {**PROD, "version": version})
    card = await h.wait_message(timeout=5)
    await harness.click("bob", card, "Approve")
    await harness.wait_message(card.id, "Deploy complete", timeout=15)
    return card


async def test_an_unhealthy_deploy_is_rolled_back_the_incident_told_and_the_requester_pinged(gated):
    first = await approved_deploy(gated, "v2.4.1")
    assert "🩺 Health gate: watching for 3 s" in gated.emu.get_message(first.id).content
    await gated.wait_message(first.id, "🩺 Health gate: healthy for 3 s", timeout=10)

    h = await gated.run("alice", "incident create", {"title": "Checkout slow", "severity": "sev2",
                                                     "service": "order-service"}, channel="incidents")
    await h.wait_message(timeout=10, predicate=lambda m: "Opened" in (m.content or ""))
    [thread] = gated.emu.threads
    card = await approved_deploy(gated, "v2.4.2")
    (gated.tmp_path / "state" / "sick-order-service-production-v2.4.2").touch()  # it turns bad after its check
    verdict = await gated.wait_message(card.id, "🩺 Health gate: unhealthy after", timeout=10)
    assert "34% of requests failing" in verdict.content and "rolling back to v2.4.1" in verdict.content
    assert "watching for" not in verdict.content  # the verdict replaced the watching line

    deployments = gated.channels["deployments"]
    rollback = await gated.emu.wait_until(lambda: next(
        (m for m in gated.emu.messages(deployments) if m.content.startswith("⏪ Roll back")), None), 10)
    rb_op = (await gated.app.store.operations("approved", "running", "succeeded"))[-1]
    assert subject(rollback) == (f"⏪ Roll back order-service in production from v2.4.2 to v2.4.1 · started by the "
                                 f"health gate for @alice · `{rb_op.id}`")
    assert int(rollback.message_reference["message_id"]) == card.id
    assert rollback.pinged == {"everyone": False, "roles": [], "users": []}
    done = await gated.wait_message(rollback.id, "Rollback complete", timeout=15)
    assert subject(done) == subject(rollback)

    alice = gated.users["alice"]
    pings = [m for m in gated.emu.messages(deployments) if m.pinged["users"] == [alice]
             and m.message_reference and int(m.message_reference["message_id"]) in (card.id, rollback.id)]
    texts = [m.content for m in pings]
    assert any(t.startswith(f"<@{alice}> your deploy — Deploy order-service v2.4.2 to production — turned unhealthy")
               and "rolling it back to v2.4.1" in t for t in texts), texts
    await gated.emu.wait_until(lambda: any("the health gate's rollback of your deploy" in m.content and
                                           "Rollback complete" in m.content for m in gated.emu.messages(deployments)),
                               10)
    told = [m.content for m in gated.emu.messages(thread.id)]
    assert any(t.startswith("🩺 `op-") and "Health gate: unhealthy after" in t for t in told), told
    await gated.emu.wait_until(lambda: any("/rollback order-service production" in m.content and "Rollback complete"
                                           in m.content for m in gated.emu.messages(thread.id)), 10)

    rows = await gated.export()
    mine = [r for r in rows if r.get("request_id") == rb_op.id]
    assert [(r["user"], r["result"]) for r in mine] == [("@opscord", "started"), ("@opscord", "success")]
    assert all(r["on_behalf_of"] == "@alice" and r["health_gate_of"] == card_op(rows, "v2.4.2") for r in mine)
    assert any(r["result"] == "health_unhealthy" and r["user"] == "@alice" for r in rows)
    facts = await gated.app.store.target("order-service", "production")
    assert facts.current_version == "v2.4.1"


def card_op(rows, version):
    return next(r["request_id"] for r in rows if r["result"] == "success" and r.get("version") == version
                and r["user"] == "@alice")


async def test_a_watch_cut_short_by_a_stop_ends_and_says_so(tmp_path, error_logs):
    harness = await gate_world(tmp_path, watch_minutes=10)
    try:
        card = await approved_deploy(harness, "v2.4.1")
        assert "🩺 Health gate: watching for 10 min" in harness.emu.get_message(card.id).content
        await harness.restart_bot()
        said = await harness.emu.wait_until(lambda: next(
            (m for m in harness.emu.messages(harness.channels["deployments"])
             if m.content.startswith("⚡ The health gate of")), None), 10)
        assert "ended after" in said.content and "of 10 min: Opscord was stopped" in said.content
        ended = await harness.wait_message(card.id, "⚡ Health gate: ended after", timeout=10)
        assert "watching for" not in ended.content
        assert (await harness.export())[-1]["result"] == "health_interrupted"
        assert await harness.app.store.watches("watching") == []
    finally:
        await harness.stop()
    assert not harness.emu.violations, harness.emu.violations
