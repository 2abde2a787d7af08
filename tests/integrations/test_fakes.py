"""The fakes' shared machinery (error injection, delays, recording) and the patch helpers."""

from __future__ import annotations

import asyncio

import pytest

from bot.sandbox.fakes import FAKE_TOKEN, FakeArgoCD, FakeGitHub, FakeKubernetes
from bot.sandbox.fakes.patches import PatchError, json_patch, merge_patch, strategic_merge_patch

AUTH = {"Authorization": f"Bearer {FAKE_TOKEN}"}


async def test_fail_next_always_fail_rate_limit_and_recording(session):
    async with FakeArgoCD() as argo:
        argo.add_app("orders-staging")
        url = f"{argo.base_url}/api/v1/applications/orders-staging"
        argo.fail_next(2, 503)
        for _ in range(2):
            async with session.get(url, headers=AUTH) as resp:
                assert resp.status == 503
                assert await resp.json() == {"error": "injected failure 503", "code": 14,
                                             "message": "injected failure 503"}
        async with session.get(url, headers=AUTH) as resp:
            assert resp.status == 200
        argo.rate_limit_next(retry_after=2)
        async with session.get(url, headers=AUTH) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "2"
        argo.always_fail(500, body="plain text failure", path="/api/v1/applications/other")
        async with session.get(url, headers=AUTH) as resp:
            assert resp.status == 200  # the injection only matches its path
        async with session.get(f"{argo.base_url}/api/v1/applications/other", headers=AUTH) as resp:
            assert resp.status == 500 and await resp.text() == "plain text failure"
        argo.clear_failures()
        assert len(argo.requests_to("GET", "/api/v1/applications/orders-staging")) == 5
        assert argo.requests[0].headers["Authorization"] == AUTH["Authorization"]


async def test_delay(session):
    async with FakeGitHub() as github:
        github.delay = 0.2
        started = asyncio.get_running_loop().time()
        async with session.get(f"{github.base_url}/repos/a/b/actions/runs/1") as resp:
            assert resp.status == 401
        assert asyncio.get_running_loop().time() - started >= 0.2


async def test_kubernetes_status_error_shape(session):
    async with FakeKubernetes() as kube:
        async with session.get(f"{kube.base_url}/apis/apps/v1/namespaces/x/deployments/y", headers=AUTH) as resp:
            body = await resp.json()
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": 'deployments.apps "y" not found', "reason": "NotFound", "code": 404}


def test_merge_patch_and_strategic_merge_patch():
    target = {"a": {"b": 1, "c": 2}, "containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "2"}]}
    patch = {"a": {"c": None, "d": 3}, "containers": [{"name": "y", "image": "3"}]}
    assert merge_patch(target, patch) == {"a": {"b": 1, "d": 3}, "containers": [{"name": "y", "image": "3"}]}
    assert strategic_merge_patch(target, patch)["containers"] == [{"name": "x", "image": "1"},
                                                                  {"name": "y", "image": "3"}]
    assert target["a"] == {"b": 1, "c": 2}  # inputs are not modified


def test_json_patch():
    doc = {"metadata": {"annotations": {}}, "items": [1, 2]}
    out = json_patch(doc, [{"op": "add", "path": "/metadata/annotations/a~1b", "value": "x"},
                           {"op": "replace", "path": "/items/0", "value": 9},
                           {"op": "test", "path": "/items/1", "value": 2}])
    assert out == {"metadata": {"annotations": {"a/b": "x"}}, "items": [9, 2]}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/items/0", "value": 5}])
