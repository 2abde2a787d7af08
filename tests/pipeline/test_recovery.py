"""Crash recovery: only operations whose holder is really gone; orphaned providers waited for or ended."""

import asyncio
import os
import subprocess
import sys

from bot.config import parse_config
from bot.processes import THIS_PROCESS, ProcessIdentity
from bot.store import Change, Operation
from bot.store.changes import CreateOperation, FreeLock, TakeLock
from bot.times import now_iso
from tests.pipeline.conftest import raw_config, world_for


def dead_process() -> ProcessIdentity:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessIdentity.of(child.pid)
    child.wait()
    return identity


def sleeper(op_id: str) -> subprocess.Popen[bytes]:
    """A provider process left behind: its own process group, carrying the request id like the real ones."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                            env={**os.environ, "OPSCORD_REQUEST_ID": op_id})


async def held(world, op_id: str, holder: str, provider: str | None = None) -> Operation:
    op = Operation(id=op_id, action="deploy", policy_action="deploy", service="order-service",
                   environment="staging", version="v1.0.0", previous_version=None, replicas=None,
                   current_replicas=None, command="/deploy order-service v1.0.0 staging", requester_id="11",
                   requester_name="alice", guild_id="900", channel_id="5", channel_name="deployments",
                   approvals_required=0, approver_roles=(), confirm=False, status="running", created_at=now_iso(),
                   holder=holder, provider_process=provider, message_channel_id="5", message_id="77")
    applied = await world.app.store.apply(Change.of(
        CreateOperation(op), TakeLock("order-service", "staging", op.id, "alice", holder)))
    assert applied.ok
    return op


async def test_an_operation_of_a_dead_process_is_interrupted(world):
    op = await held(world, "op-00000000a1", str(dead_process()))
    report = await world.app.pipeline.recover()
    assert report.interrupted == [op.id]
    stored = await world.app.store.operation(op.id)
    assert stored.status == "interrupted" and stored.outcome.startswith(
        "⚡ Interrupted: `/deploy order-service v1.0.0 staging` by @alice")
    assert stored.shown_revision < stored.revision  # its message will be edited to say so
    assert await world.app.store.lock("order-service", "staging") is None
    assert (await world.rows())[-1].result == "interrupted"
    [notice] = await world.app.store.unposted()
    assert notice.text.startswith("⚡ Interrupted") and notice.target is None


async def test_operations_a_live_process_holds_are_left_alone(world):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        op = await held(world, "op-00000000a2", str(ProcessIdentity.of(child.pid)))  # e.g. the CLI fallback
        report = await world.app.pipeline.recover()
        assert report.interrupted == [] and (await world.app.store.operation(op.id)).status == "running"
        assert await world.app.store.lock("order-service", "staging") is not None
    finally:
        child.kill()
        child.wait()
    assert (await world.app.pipeline.recover()).interrupted == [op.id]


async def test_a_reused_pid_is_not_mistaken_for_the_holder(world):
    live = ProcessIdentity.of(os.getppid())  # a live pid, but not the process that held the operation
    impostor = ProcessIdentity(live.host, live.pid, live.start + "0")
    op = await held(world, "op-00000000a3", str(impostor))
    assert (await world.app.pipeline.recover()).interrupted == [op.id]


async def test_the_own_process_of_an_earlier_bot_counts_as_gone(world):
    op = await held(world, "op-00000000a4", str(THIS_PROCESS))  # a bot restarted in the same process (tests)
    assert (await world.app.pipeline.recover()).interrupted == [op.id]


async def test_an_orphaned_provider_is_waited_for_and_keeps_the_lock(world):
    orphan = sleeper("op-00000000a5")
    try:
        op = await held(world, "op-00000000a5", str(dead_process()), str(ProcessIdentity.of(orphan.pid)))
        report = await world.app.pipeline.recover()
        assert report.waiting_for == [op.id]
        lock = await world.app.store.lock("order-service", "staging")
        assert lock is not None and lock.holder == str(THIS_PROCESS)  # no lock is held by a dead process
        assert (await world.app.store.operation(op.id)).status == "running"
        [notice] = await world.app.store.unposted()
        assert notice.text.startswith("⏳ `/deploy order-service v1.0.0 staging` by @alice: its provider was still")
    finally:
        orphan.kill()
        orphan.wait()
    await asyncio.wait_for(world.app.pipeline.recovery.wait_for_orphans(), 10)
    assert (await world.app.store.operation(op.id)).status == "interrupted"
    assert await world.app.store.lock("order-service", "staging") is None
    assert [r.result for r in await world.rows()] == ["waiting", "interrupted"]


async def test_an_orphan_found_only_by_its_request_id_still_counts(world):
    orphan = sleeper("op-00000000a6")
    try:
        op = await held(world, "op-00000000a6", str(dead_process()))  # died before recording the process
        assert (await world.app.pipeline.recover()).waiting_for == [op.id]
    finally:
        orphan.kill()
        orphan.wait()
    await asyncio.wait_for(world.app.pipeline.recovery.wait_for_orphans(), 10)


async def test_orphans_can_be_ended_instead(tmp_path):
    raw = raw_config(tmp_path)
    raw["operations"] = {"orphans": "end"}
    async with world_for(tmp_path, parse_config(raw)) as world:
        orphan = sleeper("op-00000000a7")
        op = await held(world, "op-00000000a7", str(dead_process()), str(ProcessIdentity.of(orphan.pid)))
        report = await world.app.pipeline.recover()
        assert report.ended == [op.id]
        assert orphan.wait(timeout=10) is not None
        stored = await world.app.store.operation(op.id)
        assert stored.status == "interrupted" and stored.outcome.startswith("🛑")
        assert await world.app.store.lock("order-service", "staging") is None


async def test_a_stale_lock_without_its_operation_is_freed(world):
    await world.app.store.apply(Change.of(TakeLock("api-gateway", "staging", "op-00000000ff", "bob", "x")))
    assert (await world.app.pipeline.recover()).freed_locks == 1
    assert await world.app.store.locks() == []


async def test_a_leaders_sweep_leaves_its_own_operations_and_settles_a_gone_holders(world):
    """After a takeover the leader sweeps again for what a deposed (stopped, then gone) leader held."""
    mine = await held(world, "op-00000000b1", str(THIS_PROCESS))
    report = await world.app.pipeline.recovery.recover(others_only=True)
    assert report.interrupted == [] and (await world.app.store.operation(mine.id)).status == "running"
    await world.app.store.apply(Change.of(FreeLock(mine.id)))
    theirs = await held(world, "op-00000000b2", str(dead_process()))
    report = await world.app.pipeline.recovery.recover(others_only=True)
    assert report.interrupted == [theirs.id]
    elsewhere = await held(world, "op-00000000b3", "other-host:4242:x.1")  # e.g. the CLI fallback on another host
    report = await world.app.pipeline.recovery.recover(others_only=True)
    assert report.interrupted == [] and (await world.app.store.operation(elsewhere.id)).status == "running"
