"""ArgoCDDeployer: sync and watch, rollback by history id, refusals; and against FakeArgoCD."""

from __future__ import annotations

import pytest
from yarl import URL

from bot.sandbox.fakes import FAKE_TOKEN, FakeArgoCD
from integrations.argocd import ArgoCDDeployer
from integrations.base import HealthStatus
from integrations.errors import ProviderFailed, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from tests.integrations.helpers import make_request

BASE = "https://argocd.example.test"
APP = f"{BASE}/api/v1/applications/orders-staging"


def deployer(http, clock, base=BASE, token="argo-secret", **kwargs) -> ArgoCDDeployer:
    return ArgoCDDeployer(http, base_url=base, token=token, sleep=clock.sleep, clock=clock, **kwargs)


def app(phase=None, health="Healthy", started=None, auto=False, history=(), message=""):
    state = {"metadata": {"name": "orders-staging"},
             "spec": {"syncPolicy": {"automated": {"prune": True}} if auto else {}},
             "status": {"health": {"status": health, "message": message}, "sync": {"status": "Synced"},
                        "history": [{"id": i, "revision": r} for i, r in enumerate(history)]}}
    if phase:
        state["status"]["operationState"] = {"phase": phase, "startedAt": started, "message": message}
    return state


async def test_deploy_syncs_and_waits_for_healthy(http, mocked, clock):
    mocked.get(APP, payload=app("Succeeded", started="2026-01-01T00:00:00Z"))  # before: an older operation
    mocked.post(f"{APP}/sync", payload=app())
    mocked.get(APP, payload=app("Succeeded", started="2026-01-01T00:00:00Z"))  # not picked up yet
    mocked.get(APP, payload=app("Running", "Progressing", started="2026-01-02T00:00:00Z"))
    mocked.get(APP, payload=app("Succeeded", "Progressing", started="2026-01-02T00:00:00Z"))
    mocked.get(APP, payload=app("Succeeded", "Healthy", started="2026-01-02T00:00:00Z"))
    result = await deployer(http, clock).deploy(make_request())
    assert result.ok
    assert result.summary == ("The deploy of orders v2.4.1 to staging succeeded: orders-staging is synced "
                              "to v2.4.1 and healthy.")
    assert result.url == f"{BASE}/applications/orders-staging"
    sync = mocked.requests[("POST", URL(f"{APP}/sync"))][0]
    assert sync.kwargs["json"] == {"revision": "v2.4.1", "prune": False, "dryRun": False}
    assert sync.kwargs["headers"]["Authorization"] == "Bearer argo-secret"


async def test_degraded_and_failed_syncs_are_failures(http, mocked, clock):
    mocked.get(APP, payload=app())
    mocked.post(f"{APP}/sync", payload=app())
    mocked.get(APP, payload=app("Succeeded", "Degraded", started="t1", message="Back-off pulling image"))
    result = await deployer(http, clock).deploy(make_request())
    assert not result.ok and "degraded (Back-off pulling image)" in result.summary

    mocked.get(APP, payload=app())
    mocked.post(f"{APP}/sync", payload=app())
    mocked.get(APP, payload=app("Failed", started="t2", message="one or more objects failed to apply"))
    result = await deployer(http, clock).deploy(make_request())
    assert result.summary == ("The deploy of orders v2.4.1 to staging failed: Argo CD could not sync "
                              "orders-staging (one or more objects failed to apply).")


@pytest.mark.parametrize(
    ("status", "body", "sentence"),
    [
        (400, {"error": "another operation is already in progress", "code": 9},
         "Argo CD refused the deploy: another operation is already running on orders-staging"),
        (404, {"error": 'applications.argoproj.io "orders-staging" not found', "code": 5},
         "Argo CD has no application named orders-staging"),
        (403, {"error": "permission denied", "code": 7, "message": "permission denied"},
         "Argo CD denied the deploy on orders-staging (permission denied)"),
        (401, {"error": "no session information", "code": 16},
         "Argo CD rejected the token (401: no session information)"),
    ],
)
async def test_refusals_become_sentences(http, mocked, clock, status, body, sentence):
    mocked.get(APP, payload=app())
    mocked.post(f"{APP}/sync", status=status, payload=body)
    with pytest.raises(UpstreamRefused) as caught:
        await deployer(http, clock).deploy(make_request())
    assert str(caught.value) == sentence


async def test_rollback_picks_the_entry_before_the_current_one(http, mocked, clock):
    history = ("v2.3.0", "v2.4.0", "v2.4.1")
    mocked.get(APP, payload=app(history=history))
    mocked.post(f"{APP}/rollback", payload=app())
    mocked.get(APP, payload=app("Succeeded", started="t9", history=history))
    result = await deployer(http, clock).rollback(make_request("rollback"))
    assert result.ok and "synced to v2.4.0" in result.summary
    call = mocked.requests[("POST", URL(f"{APP}/rollback"))][0]
    assert call.kwargs["json"] == {"id": 1, "prune": False, "dryRun": False}


async def test_rollback_refused_while_auto_sync_is_on(http, mocked, clock):
    mocked.get(APP, payload=app(auto=True, history=("v1", "v2")))
    with pytest.raises(UpstreamRefused) as caught:
        await deployer(http, clock).rollback(make_request("rollback"))
    assert str(caught.value) == "Argo CD refused the rollback: auto-sync is enabled for orders-staging"
    mocked.get(APP, payload=app(history=("v1", "v2")))  # the server's own refusal reads the same
    mocked.post(f"{APP}/rollback", status=400,
                payload={"error": "rollback cannot be initiated when auto-sync is enabled", "code": 9})
    with pytest.raises(UpstreamRefused, match="auto-sync is enabled for orders-staging"):
        await deployer(http, clock).rollback(make_request("rollback"))


async def test_rollback_without_history(http, mocked, clock):
    mocked.get(APP, payload=app(history=("v1",)))
    with pytest.raises(ProviderFailed, match="no earlier deployment of orders-staging"):
        await deployer(http, clock).rollback(make_request("rollback"))


async def test_budget_and_transient_errors(http, mocked, clock):
    mocked.get(APP, payload=app())
    mocked.post(f"{APP}/sync", payload=app())
    mocked.get(APP, status=503)  # retried: reads are safe
    mocked.get(APP, status=429, headers={"Retry-After": "4"})
    mocked.get(APP, payload=app("Running", "Progressing", started="t1"), repeat=True)
    with pytest.raises(UpstreamTimeout, match=r"did not finish within 30 s \(orders-staging: operation Running, "
                                              r"health Progressing\)"):
        await deployer(http, clock, budget=30, poll_interval=5).deploy(make_request())
    assert 4.0 in clock.sleeps


async def test_circuit_breaker(http, mocked, clock):
    mocked.get(APP, status=500, repeat=True)
    provider = deployer(http, clock)
    with pytest.raises(UpstreamUnavailable):
        await provider.deploy(make_request())  # 4 attempts
    with pytest.raises(UpstreamUnavailable, match=r"\(500\)"):
        await provider.deploy(make_request())  # the 5th failure opens the circuit mid-call
    with pytest.raises(UpstreamUnavailable, match="circuit open after 5 failures"):
        await provider.deploy(make_request())


async def test_end_to_end_against_fake_argocd(http, clock):
    async with FakeArgoCD(sync_polls=3) as argo:
        argo.add_app("orders-staging", "v2.4.0", history=("v2.3.0",))
        provider = deployer(http, clock, base=argo.base_url, token=FAKE_TOKEN)
        assert (await provider.deploy(make_request())).ok
        fake = argo.apps["orders-staging"]
        assert fake.revision == "v2.4.1" and fake.health == "Healthy"

        result = await provider.rollback(make_request("rollback"))
        assert result.ok and fake.revision == "v2.4.0"

        fake.degraded_revisions.add("v3")
        assert not (await provider.deploy(make_request(version="v3"))).ok

        fake.auto_sync = True
        with pytest.raises(UpstreamRefused, match="auto-sync"):
            await provider.rollback(make_request("rollback"))

        with pytest.raises(UpstreamRefused, match="no application named orders-production"):
            await provider.deploy(make_request(environment="production"))


async def test_health_check_maps_argo_health(http, mocked, clock):
    for health in ("Healthy", "Progressing", "Degraded", "Unknown"):
        mocked.get(APP, payload=app(health=health))
    provider = deployer(http, clock)
    reports = [await provider.check("orders", "staging") for _ in range(4)]
    assert [r.status for r in reports] == [HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.DOWN,
                                           HealthStatus.UNKNOWN]
    assert reports[0].summary == "orders-staging is Healthy and Synced"
