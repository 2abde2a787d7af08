"""GitHubActionsDeployer: dispatch, run discovery, polling, GitHub's refusals; and against FakeGitHub."""

from __future__ import annotations

import re

import pytest

from bot.sandbox.fakes import FAKE_TOKEN, FakeGitHub
from integrations.errors import ProviderFailed, UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.github_actions import GitHubActionsDeployer
from tests.integrations.helpers import make_request

API = "https://api.github.test"
WORKFLOW = f"{API}/repos/acme/orders/actions/workflows/deploy.yml"
DISPATCH = f"{WORKFLOW}/dispatches"
RUNS = re.compile(re.escape(f"{WORKFLOW}/runs") + r"\?.*")
RUN = f"{API}/repos/acme/orders/actions/runs/77"
RUN_JSON = {"id": 77, "run_number": 12, "status": "completed", "conclusion": "success",
            "html_url": "https://github.test/acme/orders/actions/runs/77"}


def deployer(http, clock, api=API, token="ghp_secret", **kwargs) -> GitHubActionsDeployer:
    workflows = kwargs.pop("workflows", {"deploy": "deploy.yml"})
    return GitHubActionsDeployer(http, repository="acme/orders", workflows=workflows, token=token, api_url=api,
                                 sleep=clock.sleep, clock=clock, **kwargs)


def sent(mocked, method, url):
    return [c for (m, u), calls in mocked.requests.items() if m == method and str(u).startswith(url) for c in calls]


async def test_dispatch_with_run_details_then_follow_the_run(http, mocked, clock):
    mocked.post(DISPATCH, status=200, payload={"workflow_run_id": 77, "run_url": RUN, "html_url": "h"})
    mocked.get(RUN, status=200, payload={**RUN_JSON, "status": "in_progress", "conclusion": None})
    mocked.get(RUN, status=200, payload=RUN_JSON)
    result = await deployer(http, clock).deploy(make_request())
    assert result.ok and result.url == RUN_JSON["html_url"]
    assert result.summary == "The deploy of orders v2.4.1 to staging succeeded (GitHub Actions run #12)."
    call = sent(mocked, "POST", DISPATCH)[0]
    assert call.kwargs["json"] == {"ref": "main", "return_run_details": True, "inputs": {
        "service": "orders", "environment": "staging", "request_id": "req-1234", "version": "v2.4.1"}}
    assert call.kwargs["headers"]["Authorization"] == "Bearer ghp_secret"
    assert call.kwargs["headers"]["X-GitHub-Api-Version"] == "2022-11-28"


async def test_falls_back_without_run_details_and_finds_the_run_by_request_id(http, mocked, clock):
    mocked.post(DISPATCH, status=422, payload={"message": 'Invalid request.\n\n"return_run_details" is not a '
                                                          "permitted key."})
    mocked.post(DISPATCH, status=204)
    mocked.get(RUNS, status=200, payload={"total_count": 0, "workflow_runs": []})
    mocked.get(RUNS, status=200, payload={"total_count": 2, "workflow_runs": [
        {"id": 76, "display_title": "deploy orders v2.4.0 [req-0001]"},
        {"id": 77, "display_title": "deploy orders v2.4.1 [req-1234]"}]})
    mocked.get(RUN, status=200, payload=RUN_JSON)
    provider = deployer(http, clock)
    assert (await provider.deploy(make_request())).ok
    posts = sent(mocked, "POST", DISPATCH)
    assert "return_run_details" in posts[0].kwargs["json"] and "return_run_details" not in posts[1].kwargs["json"]
    listing = sent(mocked, "GET", f"{WORKFLOW}/runs")[0]
    assert listing.kwargs["params"]["event"] == "workflow_dispatch"


@pytest.mark.parametrize(
    ("status", "message", "sentence"),
    [
        (422, "Workflow does not have 'workflow_dispatch' trigger",
         "GitHub refused to start deploy.yml: the workflow has no workflow_dispatch trigger"),
        (422, 'Unexpected inputs provided: ["request_id"]',
         'GitHub refused to start deploy.yml: the workflow does not accept the inputs Opscord sends '
         '(Unexpected inputs provided: ["request_id"])'),
        (404, "Not Found", "GitHub cannot find workflow deploy.yml in acme/orders (or the token cannot see it)"),
        (401, "Bad credentials", "GitHub rejected the token (401: Bad credentials)"),
        (403, "Resource not accessible by integration",
         "GitHub refused access to acme/orders (403: Resource not accessible by integration)"),
    ],
)
async def test_dispatch_refusals_become_clear_sentences(http, mocked, clock, status, message, sentence):
    mocked.post(DISPATCH, status=status, payload={"message": message, "documentation_url": "d"})
    with pytest.raises(UpstreamRefused) as caught:
        await deployer(http, clock).deploy(make_request())
    assert str(caught.value) == sentence
    assert "ghp_secret" not in str(caught.value)


async def test_a_failed_run_is_a_failed_result(http, mocked, clock):
    mocked.post(DISPATCH, status=200, payload={"workflow_run_id": 77})
    mocked.get(RUN, status=200, payload={**RUN_JSON, "conclusion": "failure"})
    result = await deployer(http, clock).deploy(make_request())
    assert not result.ok
    assert result.summary == "The deploy of orders v2.4.1 to staging failed: GitHub Actions run #12 ended with failure."


async def test_rate_limited_status_reads_honour_retry_after(http, mocked, clock):
    mocked.post(DISPATCH, status=200, payload={"workflow_run_id": 77})
    mocked.get(RUN, status=429, headers={"Retry-After": "7"}, payload={"message": "slow down"})
    mocked.get(RUN, status=200, payload=RUN_JSON)
    assert (await deployer(http, clock).deploy(make_request())).ok
    assert 7.0 in clock.sleeps


async def test_run_that_never_appears_times_out(http, mocked, clock):
    mocked.post(DISPATCH, status=204)
    mocked.get(RUNS, status=200, payload={"total_count": 0, "workflow_runs": []}, repeat=True)
    with pytest.raises(UpstreamTimeout, match="did not appear within 20 s .*run-name"):
        await deployer(http, clock, find_run_timeout=20).deploy(make_request())


async def test_run_outliving_the_budget_times_out(http, mocked, clock):
    mocked.post(DISPATCH, status=200, payload={"workflow_run_id": 77})
    mocked.get(RUN, status=200, payload={**RUN_JSON, "status": "in_progress", "conclusion": None}, repeat=True)
    with pytest.raises(UpstreamTimeout, match="still in_progress on GitHub Actions after 60 s; follow it at https"):
        await deployer(http, clock, budget=60, poll_interval=10).deploy(make_request())


async def test_rollback_reuses_the_deploy_workflow_with_the_previous_version(http, mocked, clock):
    mocked.post(DISPATCH, status=200, payload={"workflow_run_id": 77})
    mocked.get(RUN, status=200, payload=RUN_JSON)
    provider = deployer(http, clock)
    result = await provider.rollback(make_request("rollback", version=None, previous_version="v2.4.0"))
    assert result.ok
    assert sent(mocked, "POST", DISPATCH)[0].kwargs["json"]["inputs"]["version"] == "v2.4.0"
    with pytest.raises(ProviderFailed, match="no previous version is known"):
        await provider.rollback(make_request("rollback", version=None))


async def test_scale_sends_replicas_as_a_string(http, mocked, clock):
    scale = f"{API}/repos/acme/orders/actions/workflows/scale.yml/dispatches"
    mocked.post(scale, status=200, payload={"workflow_run_id": 77})
    mocked.get(RUN, status=200, payload=RUN_JSON)
    provider = deployer(http, clock, workflows={"deploy": "deploy.yml", "scale": "scale.yml"})
    assert (await provider.scale(make_request("scale", replicas=6))).ok
    assert sent(mocked, "POST", scale)[0].kwargs["json"]["inputs"]["replicas"] == "6"
    assert await provider.current_replicas("orders", "staging") is None


async def test_circuit_opens_when_github_keeps_failing(http, mocked, clock):
    mocked.post(DISPATCH, status=502, repeat=True)
    provider = deployer(http, clock)
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable, match="502"):
            await provider.deploy(make_request())
    with pytest.raises(UpstreamUnavailable, match=r"GitHub is unavailable \(circuit open after 5 failures\)"):
        await provider.deploy(make_request())


async def test_end_to_end_against_fake_github_with_and_without_run_details(http, clock):
    for run_details in (True, False):
        async with FakeGitHub(return_run_details=run_details, listing_lag=1, run_polls=3) as github:
            github.add_workflow("acme/orders", "deploy.yml")
            provider = deployer(http, clock, api=github.base_url, token=FAKE_TOKEN)
            result = await provider.deploy(make_request())
            assert result.ok, result.summary
            run = next(iter(github.runs.values()))
            assert run["inputs"]["version"] == "v2.4.1" and "req-1234" in run["display_title"]
            assert result.url == run["html_url"]


async def test_fake_github_enforces_the_contract(http, clock):
    async with FakeGitHub() as github:
        github.add_workflow("acme/orders", "deploy.yml", inputs=("service", "environment", "version"))
        github.add_workflow("acme/orders", "manual.yml", dispatch=False)
        github.add_workflow("acme/orders", "flaky.yml", conclusion="failure")
        good = deployer(http, clock, api=github.base_url, token=FAKE_TOKEN)
        with pytest.raises(UpstreamRefused, match="does not accept the inputs"):
            await good.deploy(make_request())
        manual = deployer(http, clock, api=github.base_url, token=FAKE_TOKEN, workflows={"deploy": "manual.yml"})
        with pytest.raises(UpstreamRefused, match="no workflow_dispatch trigger"):
            await manual.deploy(make_request())
        flaky = deployer(http, clock, api=github.base_url, token=FAKE_TOKEN, workflows={"deploy": "flaky.yml"})
        assert not (await flaky.deploy(make_request())).ok
        with pytest.raises(UpstreamRefused, match="rejected the token"):
            await deployer(http, clock, api=github.base_url, token="wrong").deploy(make_request())
