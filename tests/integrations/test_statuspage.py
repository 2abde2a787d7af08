"""AtlassianStatuspage: incident bodies, reuse by correlation id, 420/429, error shapes; and against
FakeStatuspage."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from bot.sandbox.fakes import FAKE_PAGE_ID, FAKE_TOKEN, FakeStatuspage
from integrations.base import StatusPage
from integrations.errors import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.statuspage import AtlassianStatuspage

API = "https://api.statuspage.test/v1"
PAGE = f"{API}/pages/pg1"
UNRESOLVED = f"{PAGE}/incidents/unresolved"
KEY = "sp-api-key-secret"


def page(http, **kwargs) -> AtlassianStatuspage:
    return AtlassianStatuspage(http, page_id="pg1", api_key=KEY, api_url=API, **kwargs)


def incident(ident="inc1", status="investigating", **extra) -> dict:
    return {"id": ident, "name": "Orders down", "status": status, "shortlink": f"https://stspg.io/{ident}", **extra}


def calls(mocked, method, url):
    return mocked.requests.get((method, URL(url)), [])


async def test_create_sends_the_incident_and_checks_for_a_duplicate_first(http, mocked):
    mocked.get(UNRESOLVED, payload=[incident("other", metadata={"opscord": {"correlation_id": "someone-else"}})])
    mocked.post(f"{PAGE}/incidents", status=201, payload=incident())
    adapter = page(http, impact_override="major")
    assert isinstance(adapter, StatusPage)
    created = await adapter.create_incident("Orders down", "We are investigating.",
                                            components={"c1": "major_outage"}, correlation_id="inc-20260304-db")
    assert (created.id, created.status, created.url) == ("inc1", "investigating", "https://stspg.io/inc1")
    post = calls(mocked, "POST", f"{PAGE}/incidents")[0]
    assert post.kwargs["headers"] == {"Authorization": f"OAuth {KEY}"}
    assert post.kwargs["json"] == {"incident": {
        "name": "Orders down", "status": "investigating", "body": "We are investigating.",
        "deliver_notifications": True, "component_ids": ["c1"], "components": {"c1": "major_outage"},
        "impact_override": "major", "metadata": {"opscord": {"correlation_id": "inc-20260304-db"}},
    }}


async def test_create_reuses_the_incident_carrying_our_correlation_id(http, mocked):
    mocked.get(UNRESOLVED, payload=[incident("mine", "identified", metadata={"opscord": {"correlation_id": "c-1"}})])
    found = await page(http).create_incident("Orders down", "body", correlation_id="c-1")
    assert (found.id, found.status) == ("mine", "identified")
    assert not calls(mocked, "POST", f"{PAGE}/incidents")


async def test_a_lost_create_answer_looks_again_before_failing(http, mocked, clock):
    mocked.get(UNRESOLVED, payload=[])
    mocked.post(f"{PAGE}/incidents", status=502, payload={"message": "bad gateway"})
    mocked.get(UNRESOLVED, payload=[incident("late", metadata={"opscord": {"correlation_id": "c-2"}})])
    assert (await page(http).create_incident("n", "b", correlation_id="c-2")).id == "late"
    assert len(calls(mocked, "POST", f"{PAGE}/incidents")) == 1  # never re-posted: no idempotency

    mocked.get(UNRESOLVED, payload=[])
    mocked.post(f"{PAGE}/incidents", exception=asyncio.TimeoutError())
    mocked.get(UNRESOLVED, payload=[])
    with pytest.raises(UpstreamTimeout, match="did not answer the incident"):
        await page(http).create_incident("n", "b", correlation_id="c-3")


async def test_long_names_and_bodies_are_cut(http, mocked):
    mocked.post(f"{PAGE}/incidents", status=201, payload=incident())
    await page(http).create_incident("n" * 300, "b" * 30000)
    body = calls(mocked, "POST", f"{PAGE}/incidents")[0].kwargs["json"]["incident"]
    assert len(body["name"]) == 255 and len(body["body"]) == 25000 and body["name"].endswith("…")
    assert "metadata" not in body and "impact_override" not in body


async def test_update_resolve_and_component_status(http, mocked):
    mocked.patch(f"{PAGE}/incidents/inc1", payload=incident(status="identified"))
    updated = await page(http).update_incident("inc1", "Found it.", status="identified")
    assert updated.status == "identified"
    assert calls(mocked, "PATCH", f"{PAGE}/incidents/inc1")[0].kwargs["json"] == {
        "incident": {"body": "Found it.", "deliver_notifications": True, "status": "identified"}}

    mocked.get(f"{PAGE}/incidents/inc1", payload=incident(components=[{"id": "c1"}, {"id": "c2"}]))
    mocked.patch(f"{PAGE}/incidents/inc1", payload=incident(status="resolved"))
    assert (await page(http).resolve_incident("inc1", "Fixed.")).status == "resolved"
    assert calls(mocked, "PATCH", f"{PAGE}/incidents/inc1")[1].kwargs["json"] == {"incident": {
        "status": "resolved", "body": "Fixed.", "deliver_notifications": True, "component_ids": ["c1", "c2"],
        "components": {"c1": "operational", "c2": "operational"}}}

    mocked.patch(f"{PAGE}/components/c1", payload={"id": "c1", "status": "degraded_performance"})
    await page(http).set_component_status("c1", "degraded_performance")
    assert calls(mocked, "PATCH", f"{PAGE}/components/c1")[0].kwargs["json"] == {
        "component": {"status": "degraded_performance"}}


@pytest.mark.parametrize("status", [420, 429])
async def test_rate_limits_are_retried_after_retry_after(http, mocked, clock, status):
    mocked.patch(f"{PAGE}/components/c1", status=status, payload={"message": "Rate limit exceeded"},
                 headers={"Retry-After": "1"})
    mocked.patch(f"{PAGE}/components/c1", payload={"id": "c1"})
    await page(http).set_component_status("c1", "operational")
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize(
    ("status", "body", "sentence"),
    [
        (401, {"error": "Could not authenticate"}, "Statuspage rejected the API key (401: Could not authenticate)"),
        (404, {"message": "The requested resource could not be found."},
         "Statuspage has no such page, incident or component (incidents/nope; 404: The requested resource could "
         "not be found.)"),
        (422, {"error": "Status is not included in the list"},
         "Statuspage refused the incident update (422: Status is not included in the list)"),
        (400, {"message": "Bad request"}, "Statuspage refused the incident update (400: Bad request)"),
    ],
)
async def test_errors_in_either_shape_become_sentences(http, mocked, status, body, sentence):
    mocked.patch(f"{PAGE}/incidents/nope", status=status, payload=body)
    with pytest.raises(UpstreamRefused) as caught:
        await page(http).update_incident("nope", "x", status="identified")
    assert str(caught.value) == sentence


async def test_api_key_never_appears_in_errors_or_logs(http, mocked, caplog):
    caplog.set_level("DEBUG")
    mocked.patch(f"{PAGE}/components/c1", status=500, payload={"error": f"bad key {KEY}"}, repeat=True)
    with pytest.raises(UpstreamUnavailable) as caught:
        await page(http).set_component_status("c1", "operational")
    assert KEY not in str(caught.value) and "***" in str(caught.value)
    assert KEY not in caplog.text


async def test_ids_are_one_path_segment(http, mocked):
    mocked.patch(f"{PAGE}/incidents/..%2F..%2Fadmin", payload=incident())
    await page(http).update_incident("../../admin", "x")
    assert calls(mocked, "PATCH", f"{PAGE}/incidents/..%2F..%2Fadmin")


async def test_end_to_end_against_fake_statuspage(http, clock):
    async with FakeStatuspage() as sp:
        sp.add_component("cmporders", "Orders API")
        sp.add_component("cmpcheckout", "Checkout")
        adapter = AtlassianStatuspage(http, page_id=FAKE_PAGE_ID, api_key=FAKE_TOKEN, api_url=sp.api_url,
                                      service_components={"orders": ["cmporders", "cmpcheckout"]})
        components = adapter.components_for("orders", "major_outage")
        created = await adapter.create_incident("Orders down", "Investigating.", components=components,
                                                correlation_id="inc-1")
        again = await adapter.create_incident("Orders down", "Investigating.", components=components,
                                              correlation_id="inc-1")
        assert again.id == created.id and len(sp.incidents) == 1
        stored = sp.incidents[created.id]
        assert stored["metadata"] == {"opscord": {"correlation_id": "inc-1"}} and stored["impact"] == "critical"
        assert sp.components["cmporders"]["status"] == "major_outage"

        sp.rate_limit_next(1, status=420, retry_after=2)
        assert (await adapter.update_incident(created.id, "Found it.", status="identified")).status == "identified"
        assert 2.0 in clock.sleeps
        await adapter.update_incident(created.id, "Fix deployed.", status="monitoring")
        resolved = await adapter.resolve_incident(created.id, "All good.")
        assert resolved.status == "resolved" and stored["resolved_at"]
        assert [u["status"] for u in stored["incident_updates"]] == ["resolved", "monitoring", "identified",
                                                                     "investigating"]
        assert {c["status"] for c in sp.components.values()} == {"operational"}

        fresh = await adapter.create_incident("Orders down", "Again.", correlation_id="inc-1")
        assert fresh.id != created.id  # the old one is resolved, so it is not reused

        await adapter.set_component_status("cmpcheckout", "degraded_performance")
        assert sp.components["cmpcheckout"]["status"] == "degraded_performance"
        with pytest.raises(UpstreamRefused, match="no such page, incident or component"):
            await adapter.update_incident("missing", "x")
        with pytest.raises(UpstreamRefused, match=r"^Statuspage refused the component update \(422: "):
            await adapter.set_component_status("cmpcheckout", "on_fire")  # type: ignore[arg-type]
        with pytest.raises(UpstreamRefused, match="rejected the API key"):
            await AtlassianStatuspage(http, page_id=FAKE_PAGE_ID, api_key="wrong", api_url=sp.api_url
                                      ).set_component_status("cmporders", "operational")
