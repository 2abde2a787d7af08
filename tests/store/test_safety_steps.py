"""Break-glass reviews, health watches and commit times: the same steps and conflicts on both backends."""

from bot.store import Change, HealthWatch, Operation, Review, Store
from bot.store.changes import (
    AcknowledgeReview,
    CloseReview,
    CreateOperation,
    EndWatch,
    FinishDeploy,
    OpenReview,
    StartDeploy,
    StartWatch,
    UpdateReview,
)


def operation(op_id: str, **fields) -> Operation:
    values = dict(id=op_id, action="deploy", policy_action="deploy", service="svc", environment="prod",
                  version="v2", previous_version="v1", replicas=None, current_replicas=None, command="/deploy svc v2 prod",
                  requester_id="11", requester_name="erin", guild_id=None, channel_id=None, channel_name=None,
                  approvals_required=0, approver_roles=("team_lead",), confirm=False, status="approved",
                  created_at="2026-03-04T15:23:47.000Z")
    values.update(fields)
    return Operation(**values)


def review(op_id: str) -> Review:
    return Review(op_id=op_id, incident_id="inc-1", service="svc", environment="prod", subject="🚀 Deploy svc v2 to prod",
                  reason="payments down", actor_id="11", actor_name="erin", reviewer_roles=("team_lead",), required=2,
                  opened_at="2026-03-04T15:23:47.000Z", due_at="2026-03-05T15:23:47.000Z")


async def test_a_review_is_acknowledged_once_per_person_then_closed(store: Store):
    op = operation("op-1", break_glass="payments down")
    assert (await store.apply(Change.of(CreateOperation(op), OpenReview(review("op-1"))))).ok
    assert (await store.operation("op-1")).break_glass == "payments down"
    assert [r.op_id for r in await store.unshown_reviews()] == ["op-1"]  # no message yet
    assert (await store.apply(Change.of(AcknowledgeReview("op-1", "12", "bob")))).ok
    again = await store.apply(Change.of(AcknowledgeReview("op-1", "12", "bob")))
    assert again.conflict is not None and again.conflict.reason == "decided"
    assert (await store.apply(Change.of(AcknowledgeReview("op-1", "13", "frank"), CloseReview("op-1")))).ok
    late = await store.apply(Change.of(AcknowledgeReview("op-1", "14", "gina")))
    assert late.conflict is not None and late.conflict.reason == "status"
    closed = await store.review("op-1")
    assert closed is not None and closed.closed_at is not None and closed.revision == 4
    assert [a.reviewer_name for a in closed.acks] == ["bob", "frank"]
    assert await store.reviews(open_only=True) == [] and len(await store.reviews(open_only=False)) == 1
    assert not (await store.apply(Change.of(CloseReview("op-1")))).ok


async def test_a_review_message_and_its_reminder_are_bookkeeping(store: Store):
    await store.apply(Change.of(CreateOperation(operation("op-2")), OpenReview(review("op-2"))))
    await store.apply(Change.of(UpdateReview("op-2", {"message_channel_id": "5", "message_id": "6"},
                                             shown_revision=1)))
    assert await store.unshown_reviews() == []
    await store.apply(Change.of(UpdateReview("op-2", {"reminded_at": "2026-03-05T15:30:00.000Z"}, touch=True)))
    [due] = await store.unshown_reviews()
    assert due.reminder_id is None and due.shown_revision < due.revision
    await store.apply(Change.of(UpdateReview("op-2", {"reminder_id": "7"}, shown_revision=due.revision)))
    assert await store.unshown_reviews() == []


async def test_a_watch_ends_once(store: Store):
    await store.apply(Change.of(CreateOperation(operation("op-3"))))
    watch = HealthWatch(op_id="op-3", service="svc", environment="prod", on_unhealthy="rollback",
                        started_at="2026-03-04T15:23:47.000Z", until="2026-03-04T15:33:47.000Z", status="watching",
                        holder="host:1:2")
    assert (await store.apply(Change.of(StartWatch(watch)))).ok
    assert [w.op_id for w in await store.watches("watching")] == ["op-3"]
    assert (await store.apply(Change.of(EndWatch("op-3", "unhealthy", "34% failing", "op-4")))).ok
    second = await store.apply(Change.of(EndWatch("op-3", "interrupted", "stopped")))
    assert second.conflict is not None and second.conflict.reason == "status"
    [ended] = await store.watches("unhealthy")
    assert ended.rollback_op_id == "op-4" and ended.holder is None and ended.finished_at is not None


async def test_a_deploy_keeps_the_commit_time_its_provider_reported(store: Store):
    op = operation("op-5", status="running")
    await store.apply(Change.of(CreateOperation(op), StartDeploy(op)))
    await store.apply(Change.of(FinishDeploy("op-5", "succeeded", committed_at="2026-03-04T14:00:00Z")))
    [record] = await store.deploy_history("svc", "prod")
    assert record.committed_at == "2026-03-04T14:00:00Z" and record.status == "succeeded"
