"""The pipeline without Discord: real SQLite, the real command provider running the demo script."""

import asyncio
import json

import aiohttp
import pytest

from bot.audit import AuditLog
from bot.operations import OperationStore
from bot.permissions import Authorizer
from bot.pipeline import Actor, ActorRole, OperationInput, Pipeline, PipelineRefusal
from bot.providers import ProviderRegistry
from integrations.http import HttpClient
from tests.helpers import example_config

OPS, LEAD, DBA, VIEW = ActorRole(1, "ops"), ActorRole(2, "team-lead"), ActorRole(3, "dba"), ActorRole(4, "engineering")
alice = Actor("11", "alice", (OPS,))
bob = Actor("12", "bob", (LEAD,))
carol = Actor("13", "carol", (DBA,))
dave = Actor("14", "dave", (VIEW,))


class Shown:
    def __init__(self):
        self.texts = []

    async def show(self, op, text, *, final, disable=False):
        self.texts.append((op.id, text, final))

    async def announce(self, text):
        self.texts.append(("announce", text, True))


@pytest.fixture
async def pipeline(tmp_path, db, audit):
    config = example_config(tmp_path / "state")
    async with aiohttp.ClientSession() as session:
        p = Pipeline(config=config, store=OperationStore(db), audit=audit, authorizer=Authorizer(config),
                     providers=ProviderRegistry(config, HttpClient(session)), notifier=Shown())
        yield p
        await p.close()


def inp(action, service="order-service", environment="staging", **kw):
    words = [f"/{action}", service, *(str(v) for v in kw.values()), environment]
    return OperationInput(action=action, service=service, environment=environment, command=" ".join(words),
                          channel_id="5", channel_name="deployments", **kw)


async def rows(audit: AuditLog):
    return [r async for r in audit.iter_rows()]


async def test_staging_deploy_runs_at_once(pipeline, audit, tmp_path):
    sub = await pipeline.submit(inp("deploy", version="v1.2.3"), alice)
    assert sub.state == "run"
    op = await pipeline.execute(sub.op.id)
    assert op.status == "succeeded"
    state = json.loads((tmp_path / "state" / "order-service-staging.json").read_text())
    assert state["version"] == "v1.2.3"
    [row] = await rows(audit)
    assert (row.result, row.approved_by, row.channel) == ("success", None, "#deployments")
    assert row.command == "/deploy order-service v1.2.3 staging"
    assert "Health check passed" in pipeline.notifier.texts[-1][1]


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"service": "nope"}, "Unknown service 'nope'"),
    ({"environment": "qa"}, "is not deployed to 'qa'"),
    ({"version": "v1; rm -rf /"}, "does not match"),
    ({"version": "1.2"}, "does not match"),
])
async def test_validation_refusals_are_audited(pipeline, audit, kw, fragment):
    args = {"version": "v1.0.0", **kw}
    with pytest.raises(PipelineRefusal, match=fragment):
        await pipeline.submit(inp("deploy", **args), alice)
    [row] = await rows(audit)
    assert row.result == "invalid" and fragment in row.extra["error"]


async def test_permission_refusal(pipeline, audit):
    with pytest.raises(PipelineRefusal, match="operator role"):
        await pipeline.submit(inp("deploy", version="v1.0.0"), dave)
    assert (await rows(audit))[0].result == "denied"


async def test_replica_bounds(pipeline):
    with pytest.raises(PipelineRefusal, match="between 2 and 20; got 50"):
        await pipeline.submit(inp("scale", replicas=50), alice)


async def test_production_deploy_needs_a_team_lead(pipeline, audit):
    sub = await pipeline.submit(inp("deploy", environment="production", version="v2.4.1"), alice)
    assert sub.state == "approval" and sub.op.approvals_required == 1
    own = await pipeline.approve(sub.op.id, alice)
    assert own.refused and "your own" in own.text
    other = await pipeline.approve(sub.op.id, carol)
    assert other.refused and "team lead" in other.text
    ok = await pipeline.approve(sub.op.id, bob)
    assert ok.run and ok.text.startswith("✅ Approved by @bob. Deploying order-service v2.4.1")
    op = await pipeline.execute(sub.op.id)
    assert op.status == "succeeded"
    results = [(r.result, r.user, r.approved_by) for r in await rows(audit)]
    assert results == [("requested", "@alice", None), ("denied", "@alice", None), ("denied", "@carol", None),
                       ("approved", "@bob", None), ("success", "@alice", "@bob")]


async def test_migrate_two_distinct_approvers_and_reject(pipeline):
    sub = await pipeline.submit(inp("migrate", environment="production"), alice)
    first = await pipeline.approve(sub.op.id, bob)
    assert "1/2 approved: @bob" in first.text and not first.run
    again = await pipeline.approve(sub.op.id, bob)
    assert "1/2" in again.text and not again.run
    done = await pipeline.approve(sub.op.id, carol)
    assert done.run and "@bob and @carol" in done.text

    sub2 = await pipeline.submit(inp("migrate", environment="production"), alice)
    await pipeline.approve(sub2.op.id, bob)
    rejected = await pipeline.reject(sub2.op.id, carol)
    assert rejected.finished and "Rejected by @carol" in rejected.text
    late = await pipeline.approve(sub2.op.id, bob)
    assert late.refused and "rejected" in late.text


async def test_twenty_simultaneous_approvals_execute_once(pipeline, tmp_path):
    sub = await pipeline.submit(inp("deploy", environment="production", version="v3.0.0"), alice)
    leads = [Actor(str(100 + i), f"lead{i}", (LEAD,)) for i in range(20)]
    outcomes = await asyncio.gather(*(pipeline.approve(sub.op.id, lead) for lead in leads))
    assert sum(o.run for o in outcomes) == 1


async def test_expired_request_cannot_be_approved(pipeline, db, audit):
    sub = await pipeline.submit(inp("deploy", environment="production", version="v2.0.0"), alice)
    async with db.transaction() as conn:
        await conn.execute("UPDATE operations SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?",
                           (sub.op.id,))
    out = await pipeline.approve(sub.op.id, bob)
    assert out.refused and "expired" in out.text
    assert [r.result for r in await rows(audit)][-2:] == ["expired", "expired"]


async def test_rollback_needs_history_then_confirmation(pipeline):
    with pytest.raises(PipelineRefusal, match="No previous successful deploy"):
        await pipeline.submit(inp("rollback"), alice)
    for version in ("v1.0.0", "v1.1.0"):
        sub = await pipeline.submit(inp("deploy", version=version), alice)
        await pipeline.execute(sub.op.id)
    sub = await pipeline.submit(inp("rollback"), alice)
    assert sub.state == "confirmation" and sub.op.version == "v1.0.0" and sub.op.previous_version == "v1.1.0"
    assert (await pipeline.confirm(sub.op.id, bob, True)).refused
    go = await pipeline.confirm(sub.op.id, alice, True)
    assert go.run
    op = await pipeline.execute(sub.op.id)
    assert op.status == "succeeded"
    assert await pipeline.store.current_version("order-service", "staging") == "v1.0.0"


async def test_scale_direction_decides_policy(pipeline):
    up = await pipeline.submit(inp("scale", environment="production", replicas=5), alice)
    assert up.state == "run" and up.op.current_replicas == 2 and up.op.policy_action == "scale_up"
    await pipeline.execute(up.op.id)
    down = await pipeline.submit(inp("scale", environment="production", replicas=3), alice)
    assert down.state == "approval" and down.op.current_replicas == 5


async def test_lock_refuses_second_operation(pipeline, tmp_path):
    (tmp_path / "state").mkdir(exist_ok=True)
    block = tmp_path / "state" / "block"
    block.touch()
    sub = await pipeline.submit(inp("deploy", version="v1.0.0"), alice)
    task = pipeline.start(sub.op)
    for _ in range(200):
        if await pipeline.store.lock_holder("order-service", "staging"):
            break
        await asyncio.sleep(0.01)
    with pytest.raises(PipelineRefusal, match="locked by @alice"):
        await pipeline.submit(inp("deploy", version="v1.0.1"), bob.__class__("15", "erin", (OPS,)))
    block.unlink()
    await task
    assert await pipeline.store.lock_holder("order-service", "staging") is None


async def test_failed_deploy_and_failed_health(tmp_path, db, audit):
    from bot.config import parse_config
    from tests.helpers import example_raw
    raw = example_raw(tmp_path / "state")
    raw["services"][2]["version_pattern"] = r"^v\d+\.\d+\.\d+(-[a-z]+)?$"
    raw["services"][2]["deploy"]["show_output"] = True  # the script's last line joins the sentence
    config = parse_config(raw)
    async with aiohttp.ClientSession() as session:
        p = Pipeline(config=config, store=OperationStore(db), audit=audit, authorizer=Authorizer(config),
                     providers=ProviderRegistry(config, HttpClient(session)), notifier=Shown())
        bad = await p.submit(inp("deploy", service="api-gateway", version="v1.0.0-bad"), alice)
        assert (await p.execute(bad.op.id)).status == "failed"
        assert p.notifier.texts[-1][1].startswith("❌ Deploy failed:")
        assert "not found in the registry" in p.notifier.texts[-1][1]
        sick = await p.submit(inp("deploy", service="api-gateway", version="v1.0.1-sick"), alice)
        assert (await p.execute(sick.op.id)).status == "failed"
        assert "health check failed" in p.notifier.texts[-1][1]
    results = [(r.result, r.extra.get("error", "")) for r in await rows(audit)]
    assert [r for r, _ in results] == ["failed", "failed"]
    assert "not found in the registry" in results[0][1]
    assert await p.store.lock_holder("api-gateway", "staging") is None


async def test_recover_reports_interrupted(pipeline, audit):
    sub = await pipeline.submit(inp("deploy", version="v1.0.0"), alice)
    await pipeline.store.transition(sub.op.id, ("approved",), "running")
    await pipeline.store.acquire_lock("order-service", "staging", sub.op.id, "alice")
    lost = await pipeline.recover()
    assert [o.id for o in lost] == [sub.op.id]
    assert await pipeline.store.lock_holder("order-service", "staging") is None
    assert (await rows(audit))[-1].result == "interrupted"
    assert any(kind == "announce" for kind, *_ in pipeline.notifier.texts)


async def test_operations_channel_restriction(tmp_path, db, audit):
    from bot.config import parse_config
    from tests.helpers import example_raw
    raw = example_raw(tmp_path / "state")
    raw["channels"]["operations"] = ["deployments"]
    config = parse_config(raw)
    async with aiohttp.ClientSession() as session:
        p = Pipeline(config=config, store=OperationStore(db), audit=audit, authorizer=Authorizer(config),
                     providers=ProviderRegistry(config, HttpClient(session)))
        elsewhere = OperationInput(action="deploy", service="order-service", environment="staging",
                                   command="/deploy order-service v1.0.0 staging", version="v1.0.0",
                                   channel_id="9", channel_name="general")
        with pytest.raises(PipelineRefusal, match=r"Operations run only in #deployments\."):
            await p.submit(elsewhere, alice)
        assert (await rows(audit))[-1].result == "denied"
        here = OperationInput(action="deploy", service="order-service", environment="staging",
                              command="/deploy order-service v1.0.0 staging", version="v1.0.0",
                              channel_id="5", channel_name="deployments")
        assert (await p.submit(here, alice)).state == "run"


async def test_operator_roles_per_environment(tmp_path, db, audit):
    from bot.config import parse_config
    from tests.helpers import example_raw
    raw = example_raw(tmp_path / "state")
    raw["environments"][2]["operator_roles"] = ["team-lead"]  # only leads operate production
    config = parse_config(raw)
    async with aiohttp.ClientSession() as session:
        p = Pipeline(config=config, store=OperationStore(db), audit=audit, authorizer=Authorizer(config),
                     providers=ProviderRegistry(config, HttpClient(session)))
        with pytest.raises(PipelineRefusal, match="operator role for production"):
            await p.submit(inp("scale", environment="production", replicas=5), alice)
        assert (await p.submit(inp("scale", environment="production", replicas=5), bob)).state == "run"
        assert (await p.submit(inp("scale", environment="staging", replicas=5), alice)).state == "run"


async def test_recover_leaves_operations_a_live_process_runs(pipeline):
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sub = await pipeline.submit(inp("deploy", version="v1.0.0"), alice)
        await pipeline.store.transition(sub.op.id, ("approved",), "running", runner=f"{socket.gethostname()}:{child.pid}")
        await pipeline.store.acquire_lock("order-service", "staging", sub.op.id, "alice")
        assert await pipeline.recover() == []  # e.g. the CLI fallback is still running it
        assert await pipeline.store.lock_holder("order-service", "staging") is not None
    finally:
        child.kill()
        child.wait()
    assert [o.id for o in await pipeline.recover()] == [sub.op.id]
    assert await pipeline.store.lock_holder("order-service", "staging") is None

