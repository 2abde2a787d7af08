"""Requests end to end through the pipeline: validation, access, policy, locks at acceptance, runs, outcomes."""

import asyncio
import json

import pytest

from bot.config import parse_config
from bot.pipeline import Refused
from bot.store import Change
from bot.store.changes import UpdateOperation
from integrations.base import OperationRequest, OperationResult
from tests.helpers import state
from tests.pipeline.conftest import CHANNEL, Screen, alice, bob, dave, erin, inp, raw_config, world_for


async def test_staging_deploy_runs_at_once(world):
    op = await world.request(alice, inp("deploy", version="v1.2.3"))
    assert op.status == "approved"
    assert world.screen.shown[0].text == ("🚀 Deploy order-service v1.2.3 to staging · requested by @alice\n"
                                          "Deploying order-service v1.2.3...")
    done = await world.finish(op.id)
    assert done.status == "succeeded" and done.outcome.startswith("✅ Deploy complete. Health check passed.")
    assert json.loads((world.state / "order-service-staging.json").read_text())["version"] == "v1.2.3"
    started, success = await world.rows()
    assert (started.result, success.result) == ("started", "success")
    assert (success.user, success.command, success.channel, success.approved_by) == (
        "@alice", "/deploy order-service v1.2.3 staging", "#deployments", None)
    assert started.extra["interaction_id"] and started.extra["request_id"] == op.id
    stored = await world.app.store.operation(op.id)
    assert (stored.message_channel_id, stored.message_id) == (CHANNEL, "1001")


async def test_the_lock_is_held_from_acceptance(world):
    (world.state).mkdir(exist_ok=True)
    (world.state / "block").touch()
    first = await world.request(alice, inp("deploy", version="v1.0.0"))
    lock = await world.app.store.lock("order-service", "staging")
    assert lock is not None and lock.operation_id == first.id  # before the provider even started
    with pytest.raises(Refused, match=r"locked by @alice \(/deploy order-service v1.0.0 staging\)"):
        await world.request(erin, inp("deploy", version="v1.0.1"))
    (world.state / "block").unlink()
    assert (await world.finish(first.id)).status == "succeeded"
    assert await world.app.store.lock("order-service", "staging") is None
    assert [r.result for r in await world.rows()] == ["started", "locked", "success"]


async def test_a_burst_on_one_target_runs_one_and_refuses_the_rest_before_saying_deploying(world):
    (world.state).mkdir(exist_ok=True)
    (world.state / "block").touch()
    screens = [Screen() for _ in range(30)]
    results = await asyncio.gather(*(world.request(alice, inp("deploy", version=f"v1.0.{i}"), screen=screens[i])
                                     for i in range(30)), return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 1 and all(isinstance(r, Refused) for r in results if r not in accepted)
    assert sum(1 for s in screens for c in s.shown if "Deploying" in c.text) == 1
    (world.state / "block").unlink()
    await world.finish(accepted[0].id)


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"service": "nope"}, "Unknown service 'nope'"),
    ({"environment": "qa"}, "is not deployed to 'qa'"),
    ({"version": "v1; rm -rf /"}, "does not match"),
    ({"version": "1.2"}, "does not match"),
])
async def test_validation_refusals_are_audited(world, kw, fragment):
    args = {"version": "v1.0.0", **kw}
    with pytest.raises(Refused, match=fragment):
        await world.request(alice, inp("deploy", **args))
    [row] = await world.rows()
    assert row.result == "invalid" and fragment in row.extra["error"] and row.user == "@alice"
    assert world.screen.shown == []


async def test_permission_and_bounds_refusals(world):
    with pytest.raises(Refused, match="operator role"):
        await world.request(dave, inp("deploy", version="v1.0.0"))
    with pytest.raises(Refused, match="between 2 and 20; got 50"):
        await world.request(alice, inp("scale", replicas=50))
    assert [r.result for r in await world.rows()] == ["denied", "invalid"]


async def test_a_request_that_cannot_be_stored_fails_alone(world):
    """A lone surrogate cannot be written as UTF-8: only that command fails, not the others beside it."""
    bad = inp("deploy", version="v1.0.0", service="order-service\ud800")
    good = [inp("deploy", service=s, version="v1.0.0") for s in ("payment-service", "api-gateway")]
    results = await asyncio.gather(world.request(alice, bad), *(world.request(alice, g, screen=Screen())
                                                                 for g in good), return_exceptions=True)
    assert isinstance(results[0], (Refused, UnicodeError))
    assert all(not isinstance(r, BaseException) for r in results[1:])
    for op in results[1:]:
        assert (await world.finish(op.id)).status == "succeeded"
    assert (await world.app.store.verify()).ok


async def test_production_deploy_needs_a_team_lead(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v2.4.1"))
    assert op.status == "pending_approval" and world.screen.shown[0].buttons == "approval"
    assert world.screen.shown[0].text.startswith(
        "🚀 Deploy order-service v2.4.1 to production · requested by @alice\nRequires approval from a team lead.")
    assert (await world.click(alice, op.id, "approve")).told == ["You cannot approve your own request."]
    assert (await world.click(dave, op.id, "approve")).told == ["Only a team lead can approve this request."]
    screen = await world.click(bob, op.id, "approve")
    assert state(screen.shown[0]).startswith("✅ Approved by @bob. Deploying order-service v2.4.1...")
    assert (await world.finish(op.id)).status == "succeeded"
    results = [(r.result, r.user, r.approved_by) for r in await world.rows()]
    assert results == [("requested", "@alice", None), ("denied", "@alice", None), ("denied", "@dave", None),
                       ("approved", "@bob", None), ("success", "@alice", "@bob")]


async def test_rollback_needs_history_then_the_requesters_confirmation(world):
    with pytest.raises(Refused, match="No previous successful deploy"):
        await world.request(alice, inp("rollback"))
    for version in ("v1.0.0", "v1.1.0"):
        await world.finish((await world.request(alice, inp("deploy", version=version))).id)
    op = await world.request(alice, inp("rollback"))
    assert op.status == "pending_confirmation" and (op.version, op.previous_version) == ("v1.0.0", "v1.1.0")
    assert (await world.click(bob, op.id, "confirm")).told == ["Only the requester can confirm or cancel this."]
    screen = await world.click(alice, op.id, "confirm")
    assert state(screen.shown[0]).startswith("Confirmed by @alice. Rolling back order-service in staging to v1.0.0")
    assert (await world.finish(op.id)).status == "succeeded"
    assert (await world.app.store.target("order-service", "staging")).current_version == "v1.0.0"


async def test_scale_direction_decides_the_policy(world):
    up = await world.request(alice, inp("scale", environment="production", replicas=5))
    assert up.status == "approved" and up.current_replicas == 2 and up.policy_action == "scale_up"
    await world.finish(up.id)
    down = await world.request(alice, inp("scale", environment="production", replicas=3))
    assert down.status == "pending_approval" and down.current_replicas == 5


async def test_failed_deploy_and_failed_health_free_the_lock(tmp_path):
    raw = raw_config(tmp_path)
    raw["services"][2]["version_pattern"] = r"^v\d+\.\d+\.\d+(-[a-z]+)?$"
    async with world_for(tmp_path, parse_config(raw)) as world:
        bad = await world.finish((await world.request(alice, inp("deploy", service="api-gateway",
                                                                  version="v1.0.0-bad"))).id)
        assert bad.status == "failed" and bad.outcome.startswith("❌ Deploy failed:")
        sick = await world.finish((await world.request(alice, inp("deploy", service="api-gateway",
                                                                   version="v1.0.1-sick"))).id)
        assert sick.status == "failed" and "health check failed" in sick.outcome
        assert [r.result for r in await world.rows()] == ["started", "failed", "started", "failed"]
        assert await world.app.store.lock("api-gateway", "staging") is None


async def test_a_first_reply_that_fails_abandons_the_request(world):
    with pytest.raises(ConnectionError):
        await world.request(alice, inp("deploy", version="v1.0.0"), screen=Screen(fail=True))
    [op] = await world.app.store.operations("abandoned")
    assert await world.app.store.lock("order-service", "staging") is None
    assert [r.result for r in await world.rows()] == ["started", "abandoned"]
    assert not (world.state / "calls.jsonl").exists()  # nobody saw it, so it never ran
    assert op.outcome.startswith("❌ Not started")


async def test_operations_channel_restriction_and_operators_per_environment(tmp_path):
    raw = raw_config(tmp_path)
    raw["channels"]["operations"] = ["deployments"]
    raw["environments"][2]["operator_roles"] = ["team-lead"]  # only leads operate production
    async with world_for(tmp_path, parse_config(raw)) as world:
        with pytest.raises(Refused, match=r"Operations run only in #deployments\."):
            await world.request(alice, inp("deploy", version="v1.0.0"), channel_name="general", channel_id="9")
        with pytest.raises(Refused, match="operator role for production"):
            await world.request(alice, inp("scale", environment="production", replicas=5))
        assert (await world.request(bob, inp("scale", environment="production", replicas=5))).status == "approved"


async def test_stopping_refuses_new_requests(world):
    await world.app.pipeline.stop(grace=0)
    with pytest.raises(Refused, match="Opscord is restarting; try again in a minute."):
        await world.request(alice, inp("deploy", version="v1.0.0"))
    assert (await world.rows())[-1].result == "restarting"


async def test_graceful_stop_lets_a_run_finish_within_the_grace(world):
    op = await world.request(alice, inp("deploy", version="v1.0.0"))
    assert await world.app.pipeline.stop(grace=20) == 0
    assert (await world.app.store.operation(op.id)).status == "succeeded"


async def test_graceful_stop_interrupts_what_outlives_the_grace_and_ends_its_provider(world):
    world.state.mkdir(exist_ok=True)
    (world.state / "block").touch()
    op = await world.request(alice, inp("deploy", version="v1.0.0"))
    for _ in range(200):
        if (world.state / "calls.jsonl").exists():
            break
        await asyncio.sleep(0.02)
    pid = json.loads((world.state / "calls.jsonl").read_text().splitlines()[0])["pid"]
    assert await world.app.pipeline.stop(grace=0.2) == 1
    stored = await world.app.store.operation(op.id)
    assert stored.status == "interrupted" and stored.outcome.startswith("⚡ Interrupted")
    assert await world.app.store.lock("order-service", "staging") is None
    import os
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the provider process outlived the stop")
    assert (await world.rows())[-1].result == "interrupted"


async def test_display_bookkeeping_does_not_count_as_a_revision(world):
    op = await world.request(alice, inp("deploy", environment="production", version="v1.0.0"))
    stored = await world.app.store.operation(op.id)
    assert stored.shown_revision == stored.revision == 1
    await world.app.store.apply(Change.of(UpdateOperation(op.id, {"progress": "x"})))
    assert (await world.app.store.operation(op.id)).revision == 1


async def test_policy_explain_and_the_confirmation_agree_on_its_expiry(world, capsys):
    from bot.__main__ import main
    from bot.times import parse_iso
    from tests.conftest import EXAMPLE_CONFIG

    for version in ("v1.0.0", "v1.1.0"):
        await world.finish((await world.request(alice, inp("deploy", version=version))).id)
    op = await world.request(alice, inp("rollback"))
    minutes = (parse_iso(op.expires_at) - parse_iso(op.created_at)).total_seconds() / 60
    assert round(minutes) == world.app.config.operations.confirm_minutes == 2
    assert main(["policy", "explain", "rollback", "production", "--config", str(EXAMPLE_CONFIG)]) == 0
    assert "The requester has 2 minutes to confirm." in capsys.readouterr().out


class _Recording:
    """A deploy provider that remembers the requests it was handed."""

    def __init__(self) -> None:
        self.requests: list[OperationRequest] = []

    async def deploy(self, request: OperationRequest) -> OperationResult:
        self.requests.append(request)
        return OperationResult(True, "deployed")

    async def rollback(self, request: OperationRequest) -> OperationResult:
        self.requests.append(request)
        return OperationResult(True, "rolled back")


async def test_a_rollback_hands_the_provider_the_version_it_goes_back_to(world):
    # the providers read a rollback's previous_version as its target (GitHub Actions re-dispatches its deploy
    # workflow with it): it must be the version rolled back to, never the one rolled back from
    provider = _Recording()
    world.app.providers.overrides["order-service"] = provider
    for version in ("v1.0.0", "v1.1.0"):
        await world.finish((await world.request(alice, inp("deploy", version=version))).id)
    op = await world.request(alice, inp("rollback"))
    await world.click(alice, op.id, "confirm")
    assert (await world.finish(op.id)).status == "succeeded"
    deploys = [(r.action, r.version, r.previous_version) for r in provider.requests]
    assert deploys == [("deploy", "v1.0.0", None), ("deploy", "v1.1.0", "v1.0.0"), ("rollback", "v1.0.0", "v1.0.0")]
