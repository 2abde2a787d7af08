"""Every HTTP adapter: a hanging upstream becomes UpstreamTimeout, a failing one opens its circuit."""

from __future__ import annotations

import asyncio
import re

import pytest

from integrations.argocd import ArgoCDDeployer
from integrations.errors import UpstreamTimeout, UpstreamUnavailable
from integrations.github_actions import GitHubActionsDeployer
from integrations.kubernetes import KubernetesDeployer
from integrations.kubernetes_auth import KubernetesAuth
from integrations.webhook import WebhookProvider
from tests.integrations.helpers import make_request

BASE = "https://upstream.example.test"
ANY = re.compile(re.escape(BASE) + r"/.*")


def build(kind, http, clock):
    timing = {"sleep": clock.sleep, "clock": clock}
    if kind == "webhook":
        return "The deploy webhook", WebhookProvider(http, f"{BASE}/hook", "s", **timing)
    if kind == "github":
        return "GitHub", GitHubActionsDeployer(http, repository="a/b", workflows={"deploy": "d.yml"}, token="t",
                                               api_url=BASE, **timing)
    if kind == "argocd":
        return "Argo CD", ArgoCDDeployer(http, base_url=BASE, token="t", **timing)
    return "Kubernetes", KubernetesDeployer(http, KubernetesAuth(BASE, token="t"), image="r/{service}:{version}",
                                            **timing)


KINDS = ["webhook", "github", "argocd", "kubernetes"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_request_timeout_is_an_upstream_timeout(http, mocked, clock, kind):
    system, provider = build(kind, http, clock)
    mocked.get(ANY, exception=asyncio.TimeoutError(), repeat=True)
    mocked.post(ANY, exception=asyncio.TimeoutError(), repeat=True)
    with pytest.raises(UpstreamTimeout) as caught:
        await provider.deploy(make_request())
    assert str(caught.value).startswith(f"{system} did not answer the")


@pytest.mark.parametrize("kind", KINDS)
async def test_repeated_5xx_opens_the_circuit(http, mocked, clock, kind):
    system, provider = build(kind, http, clock)
    mocked.get(ANY, status=503, repeat=True)
    mocked.post(ANY, status=503, repeat=True)
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable):
            await provider.deploy(make_request())
    sent = sum(len(calls) for calls in mocked.requests.values())
    with pytest.raises(UpstreamUnavailable) as caught:
        await provider.deploy(make_request())
    assert str(caught.value) == f"{system} is unavailable (circuit open after 5 failures)"
    assert sum(len(calls) for calls in mocked.requests.values()) == sent
