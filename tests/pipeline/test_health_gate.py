"""The health gate without Discord: `alert` tells and rolls nothing back; a watch whose process died is ended at
the next start and said so (both backends)."""

import asyncio
from datetime import UTC, datetime, timedelta

from bot.config import parse_config
from bot.store import Change, HealthWatch
from bot.store.changes import StartWatch
from bot.times import iso, now_iso
from tests.pipeline.conftest import alice, bob, inp, raw_config, world_for
from tests.pipeline.test_recovery import dead_process


def gated(tmp_path, on_unhealthy: str) -> dict:
    raw = raw_config(tmp_path)
    raw["health_gates"] = [{"environment": "production", "on_unhealthy": on_unhealthy, "watch_minutes": 0.05,
                            "interval_seconds": 0.1}]
    return raw


async def until_ended(world, op_id):
    for _ in range(100):
        if not [w for w in await world.app.store.watches("watching") if w.op_id == op_id]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the watch did not end")


async def test_alert_tells_the_requester_and_rolls_nothing_back(tmp_path, backend):
    async with world_for(tmp_path, parse_config(gated(tmp_path, "alert")), backend) as world:
        op = await world.request(alice, inp("deploy", environment="production", version="v2.4.66"))
        await world.click(bob, op.id, "approve")
        done = await world.finish(op.id)
        assert done.status == "failed" and "health check failed" in done.outcome  # deployed, but unhealthy
        await until_ended(world, op.id)
        after = await world.app.store.operation(op.id)
        assert "🩺 Health gate: unhealthy after" in after.outcome and "not rolled back (on_unhealthy = alert)" in \
            after.outcome
        assert [o.action for o in await world.app.store.operations("approved", "running", "succeeded")] == []
        told = [a for a in await world.app.store.unposted(limit=50) if a.ping_user == alice.id]
        assert any("turned unhealthy" in a.text and "did not roll it back" in a.text for a in told)
        assert (await world.rows())[-1].result == "health_unhealthy"


async def test_a_watch_left_by_a_dead_process_is_ended_and_said(tmp_path, backend):
    async with world_for(tmp_path, parse_config(gated(tmp_path, "rollback")), backend) as world:
        op = await world.request(alice, inp("deploy", environment="staging", version="v1.0.0"))
        await world.finish(op.id)  # staging is not gated: put a watch of another process on record
        now = now_iso()
        watch = HealthWatch(op_id=op.id, service="order-service", environment="staging", on_unhealthy="rollback",
                            started_at=now, until=iso(datetime.now(UTC) + timedelta(minutes=10)),
                            status="watching", holder=str(dead_process()))
        assert (await world.app.store.apply(Change.of(StartWatch(watch)))).ok
        report = await world.app.pipeline.recover()
        assert report.watches_ended == 1 and await world.app.store.watches("watching") == []
        [ended] = await world.app.store.watches("interrupted")
        assert "Opscord stopped while it watched" in ended.outcome
        posts = [a.text for a in await world.app.store.unposted(limit=50) if a.target is None]
        assert any(p.startswith(f"⚡ The health gate of `{op.id}`") for p in posts)
        assert "⚡ Health gate: ended after" in (await world.app.store.operation(op.id)).outcome
