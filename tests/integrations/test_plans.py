"""Provider plans: what each adapter says it will do, without side effects (and only reads for context)."""

from __future__ import annotations

import pytest

from integrations.argocd import ArgoCDDeployer
from integrations.base import PlanContext, Planner
from integrations.command import CommandProvider
from integrations.errors import ProviderFailed
from integrations.github_actions import GitHubActionsDeployer
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubernetesAuth
from integrations.webhook import WebhookProvider
from tests.integrations.helpers import make_request
from tests.integrations.test_command import script
from tests.integrations.test_kubernetes import DEPLOY, deployment


async def test_github_actions_plans_its_workflow_and_ref_without_a_call(http, mocked, clock):
    gh = GitHubActionsDeployer(http, repository="acme/orders", workflows={"deploy": "deploy.yml"}, token="t",
                               ref="release", api_url="https://api.github.test", sleep=clock.sleep, clock=clock)
    plan = await gh.plan(make_request())
    assert plan.steps == ("GitHub Actions: deploy.yml on release in acme/orders with version v2.4.1",)
    assert not mocked.requests  # nothing was sent
    assert not isinstance(gh, PlanContext)
    with pytest.raises(ProviderFailed, match="No GitHub Actions workflow is configured to migrate"):
        await gh.plan(make_request("migrate", version=None))


async def test_argo_cd_plans_the_sync_target_and_reads_the_diff_summary(http, mocked, clock):
    argo = ArgoCDDeployer(http, base_url="https://argocd.example.test", token="argo-secret", sleep=clock.sleep,
                          clock=clock, prune=True)
    assert (await argo.plan(make_request())).steps == ("Argo CD: sync orders-staging to v2.4.1 with prune",)
    assert not mocked.requests
    mocked.get("https://argocd.example.test/api/v1/applications/orders-staging", payload={
        "spec": {"syncPolicy": {}},
        "status": {"sync": {"status": "OutOfSync", "revision": "3f9c2a71be04d1e5"}, "health": {"status": "Healthy"},
                   "resources": [{"kind": "Deployment", "status": "OutOfSync"}, {"kind": "Service", "status": "Synced"},
                                 {"kind": "ConfigMap", "status": "Synced"}]}})
    assert await argo.plan_context(make_request()) == (
        "Argo CD now: OutOfSync at 3f9c2a71be04, Healthy; 1 of 3 resources out of sync")
    assert [method for method, _ in mocked.requests] == ["GET"]  # one read, no sync


async def test_kubernetes_plans_the_image_and_reads_what_runs_now(http, mocked, clock):
    kube = KubernetesDeployer(http, KubernetesAuth("https://k8s.example.test:6443", token="kube-secret"),
                              image="registry.example.test/{service}:{version}", sleep=clock.sleep, clock=clock)
    assert (await kube.plan(make_request())).steps == (
        "Kubernetes: set the image of deployment staging/orders to registry.example.test/orders:v2.4.1",)
    assert (await kube.plan(make_request("scale", version=None, replicas=5))).steps == (
        "Kubernetes: scale deployment staging/orders to 5 replicas",)
    assert not mocked.requests
    mocked.get(DEPLOY, payload=deployment())
    assert await kube.plan_context(make_request()) == "Kubernetes now: orders runs orders:old; 3/3 replicas available"
    assert [method for method, _ in mocked.requests] == ["GET"]


async def test_a_webhook_plans_where_it_posts(http, clock):
    hook = WebhookProvider(http, "https://deploy.example.test/opscord/hook?token=x", "s3cret", sleep=clock.sleep,
                           clock=clock)
    assert (await hook.plan(make_request())).steps == (
        "The deploy webhook: POST the signed deploy request to deploy.example.test",)


async def test_the_command_provider_names_the_pending_migration(tmp_path):
    pending = script(tmp_path, "pending.sh", 'echo "checking $1"\necho "0042_add_refund_index"\n')
    provider = CommandProvider({"migrate": ["true"], "pending_migration": [pending, "{service}"]})
    assert isinstance(provider, Planner)
    assert (await provider.plan(make_request("migrate"))).migration == "0042_add_refund_index"
    assert (await provider.plan(make_request("deploy"))).migration is None  # only migrations have one
    failing = CommandProvider({"migrate": ["true"], "pending_migration": [script(tmp_path, "bad.sh", "exit 3\n")]})
    with pytest.raises(ProviderFailed, match=r"The pending-migration command failed \(exit 3\)"):
        await failing.plan(make_request("migrate"))
    assert (await CommandProvider({"migrate": ["true"]}).plan(make_request("migrate"))).migration is None
