"""KubernetesDeployer: image patch + rollout rule, scale subresource, rollback by ReplicaSet revision,
Status errors, auth; and end to end against FakeKubernetes."""

from __future__ import annotations

import json
import re
import shutil
import ssl

import pytest
from yarl import URL

from bot.sandbox.fakes import FAKE_TOKEN, FakeKubernetes
from integrations.base import HealthStatus
from integrations.errors import ConfigurationError, ProviderFailed, UpstreamRefused, UpstreamTimeout
from integrations.kubernetes import KubernetesDeployer, rollout_state
from integrations.kubernetes_auth import KubernetesAuth
from tests.integrations.helpers import make_request

API = "https://k8s.example.test:6443"
DEPLOY = f"{API}/apis/apps/v1/namespaces/staging/deployments/orders"
IMAGE = "registry.example.test/{service}:{version}"


def deployer(http, clock, api=API, token="kube-secret", **kwargs) -> KubernetesDeployer:
    return KubernetesDeployer(http, KubernetesAuth(api, token=token), image=kwargs.pop("image", IMAGE),
                              sleep=clock.sleep, clock=clock, **kwargs)


def deployment(generation=2, observed=2, replicas=3, updated=3, current=3, available=3, containers=("orders",),
               conditions=(), revision="4"):
    return {
        "metadata": {"name": "orders", "uid": "u-1", "generation": generation,
                     "annotations": {"deployment.kubernetes.io/revision": revision}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "orders"}},
                 "template": {"metadata": {"labels": {"app": "orders"}},
                              "spec": {"containers": [{"name": c, "image": f"{c}:old"} for c in containers]}}},
        "status": {"observedGeneration": observed, "replicas": current, "updatedReplicas": updated,
                   "availableReplicas": available, "conditions": list(conditions)},
    }


def calls(mocked, method, url):
    return mocked.requests.get((method, URL(url)), [])


@pytest.mark.parametrize(
    ("obj", "state"),
    [
        (deployment(generation=3, observed=2), "waiting"),
        (deployment(updated=1), "waiting"),
        (deployment(current=4), "waiting"),
        (deployment(available=2), "waiting"),
        (deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]), "failed"),
        (deployment(), "done"),
    ],
)
def test_rollout_rule_matches_kubectl(obj, state):
    assert rollout_state(obj)[0] == state


async def test_deploy_patches_the_image_and_follows_the_rollout(http, mocked, clock):
    mocked.get(DEPLOY, payload=deployment())
    mocked.patch(DEPLOY, payload=deployment(generation=3))
    mocked.get(DEPLOY, payload=deployment(generation=3, observed=2))
    mocked.get(DEPLOY, payload=deployment(generation=3, observed=3, updated=1, current=4))
    mocked.get(DEPLOY, payload=deployment(generation=3, observed=3))
    result = await deployer(http, clock).deploy(make_request())
    assert result.ok
    assert result.summary == ("The deploy of orders v2.4.1 to staging succeeded: orders in staging runs "
                              "registry.example.test/orders:v2.4.1 (3/3 replicas available).")
    patch = calls(mocked, "PATCH", DEPLOY)[0]
    assert patch.kwargs["headers"]["Content-Type"] == "application/strategic-merge-patch+json"
    assert patch.kwargs["headers"]["Authorization"] == "Bearer kube-secret"
    body = json.loads(patch.kwargs["data"])
    assert body["spec"] == {"template": {"spec": {"containers": [
        {"name": "orders", "image": "registry.example.test/orders:v2.4.1"}]}}}
    assert clock.sleeps == [2.0, 2.0]


async def test_container_choice(http, mocked, clock):
    mocked.get(DEPLOY, payload=deployment(containers=("orders", "sidecar")), repeat=True)
    with pytest.raises(ConfigurationError, match="has 2 containers; set `container`"):
        await deployer(http, clock).deploy(make_request())
    with pytest.raises(ConfigurationError, match="no container 'web' \\(it has orders, sidecar\\)"):
        await deployer(http, clock, container="web").deploy(make_request())


async def test_progress_deadline_exceeded_is_a_failed_result(http, mocked, clock):
    stuck = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded",
              "message": 'ReplicaSet "orders-7d9" has timed out progressing.'}]
    mocked.get(DEPLOY, payload=deployment())
    mocked.patch(DEPLOY, payload=deployment())
    mocked.get(DEPLOY, payload=deployment(updated=1, conditions=stuck))
    result = await deployer(http, clock).deploy(make_request())
    assert not result.ok
    assert result.summary.endswith('failed: ReplicaSet "orders-7d9" has timed out progressing..')


@pytest.mark.parametrize(
    ("code", "message", "sentence"),
    [
        (401, "Unauthorized", "Kubernetes rejected Opscord's credentials (401 Unauthorized)"),
        (403, 'deployments.apps "orders" is forbidden: User "system:serviceaccount:ops:opscord" cannot get',
         'Kubernetes forbids the deploy of orders in staging (deployments.apps "orders" is forbidden: User '
         '"system:serviceaccount:ops:opscord" cannot get)'),
        (404, 'deployments.apps "orders" not found', "Kubernetes has no deployment orders in namespace staging"),
        (409, "the object has been modified",
         "Kubernetes reported a conflict: orders in staging changed meanwhile; try again"),
        (422, "spec.template.spec.containers[0].image: Required value",
         "Kubernetes rejected the deploy of orders as invalid (spec.template.spec.containers[0].image: "
         "Required value)"),
    ],
)
async def test_status_errors_become_sentences(http, mocked, clock, code, message, sentence):
    mocked.get(DEPLOY, status=code, payload={"kind": "Status", "status": "Failure", "message": message,
                                             "reason": "X", "code": code})
    with pytest.raises(UpstreamRefused) as caught:
        await deployer(http, clock).deploy(make_request())
    assert str(caught.value) == sentence


async def test_scale_uses_the_scale_subresource_with_merge_patch(http, mocked, clock):
    mocked.patch(f"{DEPLOY}/scale", payload={"spec": {"replicas": 5}})
    mocked.get(DEPLOY, payload=deployment(replicas=5, generation=3, observed=3, updated=5, current=5,
                                          available=4))
    mocked.get(DEPLOY, payload=deployment(replicas=5, generation=3, observed=3, updated=5, current=5,
                                          available=5))
    result = await deployer(http, clock).scale(make_request("scale", replicas=5))
    assert result.ok and "runs 5 replicas (5/5 replicas available)" in result.summary
    patch = calls(mocked, "PATCH", f"{DEPLOY}/scale")[0]
    assert patch.kwargs["headers"]["Content-Type"] == "application/merge-patch+json"
    assert json.loads(patch.kwargs["data"]) == {"spec": {"replicas": 5}}
    mocked.get(f"{DEPLOY}/scale", payload={"spec": {"replicas": 5}})
    assert await deployer(http, clock).current_replicas("orders", "staging") == 5


async def test_rollback_restores_the_previous_revisions_template(http, mocked, clock):
    def replicaset(revision, image, uid="u-1"):
        return {"metadata": {"name": f"orders-{revision}", "ownerReferences": [{"uid": uid}],
                             "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
                "spec": {"template": {"metadata": {"labels": {"app": "orders", "pod-template-hash": "h"}},
                                      "spec": {"containers": [{"name": "orders", "image": image}]}}}}

    mocked.get(DEPLOY, payload=deployment(revision="4"))
    mocked.get(re.compile(re.escape(f"{API}/apis/apps/v1/namespaces/staging/replicasets") + r"\?.*"),
               payload={"items": [replicaset(2, "orders:v1"), replicaset(3, "orders:v2"),
                                  replicaset(4, "orders:v3"), replicaset(9, "other", uid="u-2")]})
    mocked.patch(DEPLOY, payload=deployment())
    mocked.get(DEPLOY, payload=deployment())
    result = await deployer(http, clock).rollback(make_request("rollback"))
    assert result.ok and "is back at revision 3" in result.summary
    patch = calls(mocked, "PATCH", DEPLOY)[0]
    assert patch.kwargs["headers"]["Content-Type"] == "application/json-patch+json"
    ops = json.loads(patch.kwargs["data"])
    assert ops[0] == {"op": "replace", "path": "/spec/template", "value": {
        "metadata": {"labels": {"app": "orders"}}, "spec": {"containers": [{"name": "orders", "image": "orders:v2"}]}}}
    assert ops[1]["path"] == "/metadata/annotations/kubernetes.io~1change-cause"


async def test_rate_limit_and_budget(http, mocked, clock):
    mocked.get(DEPLOY, status=429, headers={"Retry-After": "3"}, payload={"kind": "Status", "code": 429})
    mocked.get(DEPLOY, payload=deployment())
    mocked.patch(DEPLOY, payload=deployment())
    mocked.get(DEPLOY, payload=deployment(updated=1), repeat=True)
    with pytest.raises(UpstreamTimeout, match=r"did not finish within 10 s \(1 of 3 replicas updated\)"):
        await deployer(http, clock, budget=10).deploy(make_request())
    assert clock.sleeps[0] == 3.0


async def test_names_are_checked_before_they_reach_a_url(http, mocked, clock):
    with pytest.raises(ConfigurationError, match="not a valid deployment name"):
        await deployer(http, clock).deploy(make_request(service="../../secrets"))
    assert not mocked.requests


async def test_token_file_is_reread_on_every_call(tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")
    auth = KubernetesAuth(API, token_file=token)
    assert await auth.headers() == {"Authorization": "Bearer first"}
    token.write_text("rotated")
    assert await auth.headers() == {"Authorization": "Bearer rotated"}


def test_in_cluster_configuration(tmp_path):
    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    shutil.copy(bundle, tmp_path / "ca.crt")
    (tmp_path / "token").write_text("t")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT_HTTPS": "6443"}
    auth = KubernetesAuth.in_cluster(env, account_dir=tmp_path)
    assert auth.api_url == "https://10.0.0.1:6443" and isinstance(auth.ssl, ssl.SSLContext)
    with pytest.raises(ConfigurationError, match="KUBERNETES_SERVICE_HOST"):
        KubernetesAuth.in_cluster({}, account_dir=tmp_path)
    (tmp_path / "ca.crt").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="CA file"):
        KubernetesAuth.in_cluster(env, account_dir=tmp_path)


async def test_end_to_end_against_fake_kubernetes(http, clock, tmp_path):
    async with FakeKubernetes(rollout_polls=3) as kube:
        fake = kube.add_deployment("staging", "orders", image="registry.example.test/orders:v2.4.0",
                                   replicas=3, history=("registry.example.test/orders:v2.3.0",))
        token = tmp_path / "token"
        token.write_text(FAKE_TOKEN)
        provider = KubernetesDeployer(http, KubernetesAuth(kube.base_url, token_file=token), image=IMAGE,
                                      sleep=clock.sleep, clock=clock)
        result = await provider.deploy(make_request())
        assert result.ok, result.summary
        assert fake.image == "registry.example.test/orders:v2.4.1" and fake.revision == 3

        kube.token = "rotated"
        token.write_text("rotated")
        assert (await provider.rollback(make_request("rollback"))).ok
        assert fake.image == "registry.example.test/orders:v2.4.0" and fake.revision == 4

        assert (await provider.scale(make_request("scale", replicas=5))).ok
        assert fake.replicas == 5 and await provider.current_replicas("orders", "staging") == 5

        fake.stalled = True
        result = await provider.deploy(make_request(version="v9"))
        assert not result.ok and "timed out progressing" in result.summary

        with pytest.raises(UpstreamRefused, match="no deployment orders in namespace production"):
            await provider.deploy(make_request(environment="production"))


async def test_fake_kubernetes_refuses_what_the_api_server_refuses(session):
    async with FakeKubernetes() as kube:
        kube.add_deployment("staging", "orders", image="orders:v1")
        url = f"{kube.base_url}/apis/apps/v1/namespaces/staging/deployments/orders"
        auth = {"Authorization": f"Bearer {FAKE_TOKEN}"}
        async with session.patch(f"{url}/scale", json={"spec": {"replicas": 2}}, headers=auth) as resp:
            assert resp.status == 415 and (await resp.json())["reason"] == "UnsupportedMediaType"
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "orders", "image": ""}]}}}}
        async with session.patch(url, data=json.dumps(patch), headers={
                **auth, "Content-Type": "application/strategic-merge-patch+json"}) as resp:
            assert resp.status == 422 and "image: Required value" in (await resp.json())["message"]
        async with session.get(url) as resp:
            assert resp.status == 401
        kube.fail_next(1, 403)
        async with session.get(url, headers=auth) as resp:
            body = await resp.json()
            assert resp.status == 403 and body["kind"] == "Status" and body["reason"] == "Forbidden"


async def test_rollback_without_an_earlier_revision(http, clock):
    async with FakeKubernetes() as kube:
        kube.add_deployment("staging", "orders", image="registry.example.test/orders:v1")
        provider = deployer(http, clock, api=kube.base_url, token=FAKE_TOKEN)
        with pytest.raises(ProviderFailed, match="no earlier revision of orders in staging"):
            await provider.rollback(make_request("rollback"))


async def test_rollback_prefers_the_requested_previous_version(http, clock):
    async with FakeKubernetes(rollout_polls=1) as kube:
        fake = kube.add_deployment("staging", "orders", image="registry.example.test/orders:v3",
                                   history=("registry.example.test/orders:v1", "registry.example.test/orders:v2"))
        provider = deployer(http, clock, api=kube.base_url, token=FAKE_TOKEN)
        assert (await provider.rollback(make_request("rollback", previous_version="v1"))).ok
        assert fake.image == "registry.example.test/orders:v1"


async def test_health_check_from_the_deployment(http, mocked, clock):
    mocked.get(DEPLOY, payload=deployment())
    mocked.get(DEPLOY, payload=deployment(available=1))
    mocked.get(DEPLOY, payload=deployment(available=0))
    mocked.get(DEPLOY, status=403, payload={"kind": "Status", "message": "forbidden", "code": 403})
    provider = deployer(http, clock)
    statuses = [(await provider.check("orders", "staging")).status for _ in range(4)]
    assert statuses == [HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.DOWN, HealthStatus.UNKNOWN]
