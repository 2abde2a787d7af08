"""Write units: atomic, conflicts roll back alone, a change that cannot be stored fails alone, ids allocated."""

import asyncio

import pytest

from bot.store import AuditEntry, Change, Operation, Store
from bot.store.changes import Append, CreateOperation, RecordDecision, ReserveIncident, TakeLock, UpdateIncident


def entry(command: str, **extra) -> AuditEntry:
    return AuditEntry(user="@alice", command=command, result="success", extra=extra)


async def test_a_change_that_cannot_be_encoded_fails_alone_in_its_batch(store: Store):
    bad = store.append(entry("/deploy \ud800"))
    good = [store.append(entry(f"/audit recent {i}")) for i in range(20)]
    results = await asyncio.gather(bad, *good, return_exceptions=True)
    assert isinstance(results[0], UnicodeEncodeError)
    assert [r.id for r in results[1:]] == list(range(1, 21))  # committed, and the chain has no gap
    assert (await store.verify()).ok


async def test_a_conflict_rolls_the_whole_change_back(store: Store):
    first = await store.apply(Change.of(TakeLock("svc", "prod", "op-1", "alice", "h"), Append(entry("/a"))))
    second = await store.apply(Change.of(Append(entry("/b")), TakeLock("svc", "prod", "op-2", "bob", "h")))
    assert first.ok and not second.ok and second.conflict.reason == "lock"
    assert second.conflict.lock.operation_id == "op-1" and second.conflict.lock.holder_name == "alice"
    assert [r.command async for r in store.audit_rows()] == ["/a"]  # /b was rolled back with its lock


async def test_one_decision_per_person(store: Store):
    op = Operation(id="op-1", action="migrate", policy_action="migrate", service="svc", environment="prod",
                   version=None, previous_version=None, replicas=None, current_replicas=None, command="/migrate",
                   requester_id="11", requester_name="alice", guild_id=None, channel_id=None, channel_name=None,
                   approvals_required=2, approver_roles=("team_lead",), confirm=False, status="pending_approval",
                   created_at="2026-03-04T15:23:47.000Z")
    assert (await store.apply(Change.of(CreateOperation(op)))).ok
    assert (await store.apply(Change.of(RecordDecision("op-1", "12", "bob", "approve")))).ok
    again = await store.apply(Change.of(RecordDecision("op-1", "12", "bob", "reject")))
    assert again.conflict.reason == "decided" and again.conflict.decision.decision == "approve"


async def test_concurrent_incident_ids_never_collide(store: Store):
    changes = [Change.of(ReserveIncident("inc-20260304-payment", "Payment", "sev1", None, str(i), f"u{i}"))
               for i in range(20)]
    applied = await asyncio.gather(*(store.apply(c) for c in changes))
    ids = [a.incident_id for a in applied]
    assert len(set(ids)) == 20 and ids[0] == "inc-20260304-payment" and "inc-20260304-payment-20" in ids


async def test_incident_fields_are_checked(store: Store):
    applied = await store.apply(Change.of(ReserveIncident("inc-x", "X", "sev2", None, "1", "u")))
    with pytest.raises(ValueError, match="cannot change"):
        await store.apply(Change.of(UpdateIncident(applied.incident_id, {"title": "renamed"})))


async def test_a_large_group_commit_is_one_chain(store: Store):
    rows = await asyncio.gather(*(store.append(entry(f"/x {i}", service="order-service")) for i in range(5000)))
    assert len({r.hash for r in rows}) == 5000
    recent = await store.audit_recent(3, service="order-service")
    assert [r.id for r in recent] == [5000, 4999, 4998]


async def test_a_member_filter_finds_rows_by_id_and_older_rows_by_label(store: Store):
    await store.append(AuditEntry(user="@bob", command="/old", result="success"))  # before member ids were kept
    for i in range(3):
        await store.append(entry(f"/mine {i}", user_id="12"))
        await store.append(AuditEntry(user="@bob", command=f"/theirs {i}", result="success", extra={"user_id": "99"}))
    rows = await store.audit_recent(10, user_id="12", user="@bob")
    assert [r.command for r in rows] == ["/mine 2", "/mine 1", "/mine 0", "/old"]  # not the other @bob's
    assert [r.command for r in await store.audit_recent(2, user_id="12", user="@bob")] == ["/mine 2", "/mine 1"]


async def test_incident_events_are_kept_in_order_with_their_row(store):
    from bot.store.changes import RecordIncidentEvent
    applied = await store.apply(Change.of(ReserveIncident("inc-y", "Y", "sev1", None, "1", "erin")))
    iid = applied.incident_id
    await store.apply(Change.of(UpdateIncident(iid, {"status": "investigating", "announcement_id": "5",
                                                     "announcement_channel_id": "4", "statuspage_url": "https://s"}),
                                RecordIncidentEvent(iid, "created", "Y", "1", "erin", "investigating"),
                                Append(entry("/incident create Y"))))
    await store.apply(Change.of(RecordIncidentEvent(iid, "update", "found it", "1", "erin", "identified")))
    events = await store.incident_events(iid)
    assert [(e.kind, e.text, e.status) for e in events] == [("created", "Y", "investigating"),
                                                             ("update", "found it", "identified")]
    incident = await store.incident(iid)
    assert (incident.announcement_channel_id, incident.announcement_id, incident.statuspage_url) == ("4", "5",
                                                                                                   "https://s")
    with pytest.raises(ValueError, match="unknown incident event"):
        await store.apply(Change.of(RecordIncidentEvent(iid, "gossip")))
    assert len(await store.incident_events(iid)) == 2


async def test_deploys_between_finds_the_deploys_around_a_time(store):
    from bot.store.changes import StartDeploy
    from bot.times import now_iso
    before = now_iso()
    for service in ("svc", "other"):
        op = Operation(id=f"op-{service}", action="deploy", policy_action="deploy", service=service,
                       environment="prod", version="v1.0.0", previous_version=None, replicas=None,
                       current_replicas=None, command="/deploy", requester_id="1", requester_name="alice",
                       guild_id=None, channel_id=None, channel_name=None, approvals_required=0, approver_roles=(),
                       confirm=False, status="running", created_at=before)
        await store.apply(Change.of(CreateOperation(op), StartDeploy(op)))
    after = now_iso()
    assert [d.service for d in await store.deploys_between(before, after)] == ["svc", "other"]
    assert [d.operation_id for d in await store.deploys_between(before, after, "svc")] == ["op-svc"]
    assert await store.deploys_between("2000-01-01T00:00:00.000Z", "2000-01-02T00:00:00.000Z") == []
