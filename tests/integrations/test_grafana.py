"""Grafana: dashboard links and deploy annotations; and against FakeGrafana."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from yarl import URL

from bot.sandbox.fakes import FAKE_TOKEN, FakeGrafana
from integrations.errors import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.grafana import GrafanaAnnotator, dashboard_url

ROOT = "https://grafana.example.test"
ANNOTATIONS = f"{ROOT}/api/annotations"
WHEN = datetime(2026, 3, 4, 15, 23, 47, tzinfo=UTC)


def grafana(http, token="glsa_secret", **kwargs) -> GrafanaAnnotator:
    return GrafanaAnnotator(http, base_url=ROOT, token=token, **kwargs)


def posts(mocked):
    return mocked.requests.get(("POST", URL(ANNOTATIONS)), [])


async def test_dashboard_url(http):
    assert dashboard_url(ROOT + "/", "orders", "order-service", {"service": "orders", "env": "production"}) == (
        f"{ROOT}/d/orders/order-service?orgId=1&from=now-1h&to=now&var-service=orders&var-env=production")
    assert dashboard_url(ROOT, "a/b", variables={"q": "a&b=c d/é"}, time_from="now-6h") == (
        f"{ROOT}/d/a%2Fb?orgId=1&from=now-6h&to=now&var-q=a%26b%3Dc%20d%2F%C3%A9")
    assert grafana(http, dashboard_uid="orders").dashboard_url({"service": "orders"}) == (
        f"{ROOT}/d/orders?orgId=1&from=now-1h&to=now&var-service=orders")
    assert grafana(http).dashboard_url() is None


async def test_annotate_deploy(http, mocked):
    mocked.post(ANNOTATIONS, payload={"message": "Annotation added", "id": 42})
    ident = await grafana(http, dashboard_uid="orders").annotate_deploy(
        "orders", "production", "Deployed orders v2.4.1 (by @alice)", when=WHEN)
    assert ident == 42
    call = posts(mocked)[0]
    assert call.kwargs["json"] == {"text": "Deployed orders v2.4.1 (by @alice)",
                                   "tags": ["deploy", "orders", "production"], "time": 1772637827000,
                                   "dashboardUID": "orders"}
    assert call.kwargs["headers"] == {"Authorization": "Bearer glsa_secret"}


async def test_annotating_can_be_turned_off(http, mocked):
    assert await grafana(http, annotate=False).annotate_deploy("orders", "production", "x") is None
    assert await grafana(http, token=None).annotate_deploy("orders", "production", "x") is None
    assert not posts(mocked)


async def test_refusals_and_failures(http, mocked, clock):
    mocked.post(ANNOTATIONS, status=401, payload={"message": "Unauthorized"})
    with pytest.raises(UpstreamRefused) as caught:
        await grafana(http).annotate_deploy("orders", "staging", "x")
    assert str(caught.value) == "Grafana rejected the service-account token (401: Unauthorized)"

    mocked.post(ANNOTATIONS, status=500, payload={"message": "Failed to save annotation"})
    with pytest.raises(UpstreamUnavailable, match=r"failed while handling the annotation \(500: Failed to save"):
        await grafana(http).annotate_deploy("orders", "staging", "x")
    mocked.post(ANNOTATIONS, exception=asyncio.TimeoutError())
    with pytest.raises(UpstreamTimeout, match="did not answer the annotation"):
        await grafana(http).annotate_deploy("orders", "staging", "x")
    assert clock.sleeps == [] and len(posts(mocked)) == 3  # not idempotent: never re-posted

    mocked.post(ANNOTATIONS, status=429, payload={"message": "Too many requests"}, headers={"Retry-After": "2"})
    mocked.post(ANNOTATIONS, payload={"id": 7})
    assert await grafana(http).annotate_deploy("orders", "staging", "x") == 7
    assert clock.sleeps == [2.0]


async def test_end_to_end_against_fake_grafana(http):
    async with FakeGrafana() as fake:
        adapter = GrafanaAnnotator(http, base_url=fake.base_url, token=FAKE_TOKEN, dashboard_uid="orders")
        assert await adapter.annotate_deploy("orders", "production", "Deployed v2", when=WHEN) == 1
        assert fake.annotations == [{"id": 1, "text": "Deployed v2", "tags": ["deploy", "orders", "production"],
                                     "time": 1772637827000, "dashboardUID": "orders"}]
        with pytest.raises(UpstreamRefused, match=r"\(400: Failed to save annotation: text is required\)"):
            await adapter.add_annotation("", ["deploy"])
        fake.fail_next(1, 503)
        with pytest.raises(UpstreamUnavailable):
            await adapter.annotate_deploy("orders", "production", "Deployed v3")
        with pytest.raises(UpstreamRefused, match="rejected the service-account token"):
            await GrafanaAnnotator(http, base_url=fake.base_url, token="wrong").annotate_deploy("a", "b", "c")
