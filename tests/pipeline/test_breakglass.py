"""Break-glass without Discord (both backends): it skips a change freeze that refuses everyone else, needs a reason,
and opens its review with the incident thread told."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import parse_config
from bot.pipeline import Actor, ActorRole, Refused
from bot.store import Change
from bot.store.changes import ReserveIncident, UpdateIncident
from tests.pipeline.conftest import alice, inp, raw_config, world_for

ivan = Actor("16", "ivan", (ActorRole(6, "incident-commander"),))


def frozen_config(tmp_path):
    raw = raw_config(tmp_path)
    now = datetime.now(UTC)
    raw["freezes"] = [{"start": now - timedelta(hours=1), "end": now + timedelta(hours=1),
                       "environments": ["production"], "reason": "Black Friday"}]
    raw["break_glass"] = {"review_hours": 2, "acknowledgements": 1}
    return parse_config(raw)


async def open_incident(world, service="order-service"):
    applied = await world.app.store.apply(Change.of(ReserveIncident("inc-1", "Orders down", "sev1", service, ivan.id,
                                                                    ivan.name)))
    await world.app.store.apply(Change.of(UpdateIncident(applied.incident_id, {"status": "investigating",
                                                                              "thread_id": "4242"})))
    return applied.incident_id


async def test_break_glass_skips_a_freeze_that_refuses_everyone_else(tmp_path, backend):
    async with world_for(tmp_path, frozen_config(tmp_path), backend) as world:
        world.members.actors[ivan.id] = ivan
        incident = await open_incident(world)
        with pytest.raises(Refused, match="change freeze"):
            await world.request(alice, inp("deploy", environment="production", version="v2.4.2"))
        with pytest.raises(Refused, match="needs a reason"):
            await world.request(ivan, inp("deploy", environment="production", version="v2.4.2", break_glass="  "))
        op = await world.request(ivan, inp("deploy", environment="production", version="v2.4.2",
                                           break_glass="orders lost"))
        assert op.status == "approved" and op.break_glass == "orders lost" and op.approver_roles == ("team_lead",)
        assert (await world.finish(op.id)).status == "succeeded"
        review = await world.app.store.review(op.id)
        assert review.incident_id == incident and review.required == 1 and review.closed_at is None
        assert review.subject == "🚀 Deploy order-service v2.4.2 to production"
        started = next(r for r in await world.rows() if r.result == "started")
        assert started.extra["freeze"] == "Black Friday" and started.extra["break_glass"] == "orders lost"
        posts = [a for a in await world.app.store.unposted(limit=50) if a.target == "4242"]
        assert "the change freeze (Black Friday) was skipped too" in posts[0].text
        refused = [r for r in await world.rows() if r.result in ("frozen", "invalid")]
        assert [r.user for r in refused] == ["@alice", "@ivan"]


async def test_break_glass_needs_an_incident_of_that_service(tmp_path, backend):
    async with world_for(tmp_path, frozen_config(tmp_path), backend) as world:
        await open_incident(world, service="payment-service")
        with pytest.raises(Refused, match="needs an open incident for order-service"):
            await world.request(ivan, inp("rollback", environment="production", break_glass="now"))
