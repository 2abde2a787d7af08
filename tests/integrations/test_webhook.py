"""WebhookProvider: signed POSTs, status polling, errors; end to end against FakeWebhookTarget."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bot.sandbox.fakes import FakeWebhookTarget
from integrations.errors import UpstreamRefused, UpstreamTimeout, UpstreamUnavailable
from integrations.webhook import WebhookProvider
from tests.integrations.helpers import make_request

HOOK = "https://deploy.example.test/opscord/hook"


def provider(http, clock, url=HOOK, secret="s3cret", **kwargs) -> WebhookProvider:
    return WebhookProvider(http, url, secret, sleep=clock.sleep, clock=clock, **kwargs)


def posts(mocked):
    return [call for (method, url), calls in mocked.requests.items() if method == "POST" for call in calls]


async def test_post_is_signed_over_the_exact_body(http, mocked, clock):
    mocked.post(HOOK, status=200, payload={"status": "succeeded", "message": "deployed in 42 s"})
    result = await provider(http, clock).deploy(make_request())
    assert result.ok and result.summary == "The deploy of orders v2.4.1 to staging succeeded: deployed in 42 s."
    call = posts(mocked)[0]
    body = call.kwargs["data"]
    headers = call.kwargs["headers"]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Opscord-Signature"] == expected
    assert headers["X-Opscord-Request-Id"] == "req-1234"
    payload = json.loads(body)
    assert payload["action"] == "deploy" and payload["version"] == "v2.4.1" and payload["requester"] == "@alice"
    assert "s3cret" not in body.decode()


async def test_failed_status_gives_a_failed_result(http, mocked, clock):
    mocked.post(HOOK, status=200, payload={"status": "failed", "message": "health check failed"})
    result = await provider(http, clock).rollback(make_request("rollback"))
    assert not result.ok
    assert result.summary == "The rollback of orders in staging failed: health check failed."


async def test_running_is_polled_until_terminal(http, mocked, clock):
    mocked.post(HOOK, status=202, payload={"status": "running", "status_url": "/opscord/runs/7"})
    status = "https://deploy.example.test/opscord/runs/7"
    mocked.get(status, status=200, payload={"status": "running"})
    mocked.get(status, status=503)  # a transient failure while polling is retried
    mocked.get(status, status=200, payload={"status": "succeeded", "status_url": "/opscord/runs/7"})
    result = await provider(http, clock, poll_interval=5).scale(make_request("scale", replicas=4))
    assert result.ok and result.url == status
    assert clock.sleeps.count(5) == 2


async def test_running_without_status_url_means_accepted(http, mocked, clock):
    mocked.post(HOOK, status=202, payload={"status": "running", "message": "queued"})
    result = await provider(http, clock).migrate(make_request("migrate"))
    assert result.ok and result.details == {"state": "running"}
    assert result.summary == "The migration of orders in staging was accepted: queued."


async def test_budget_runs_out_while_running(http, mocked, clock):
    status = "https://deploy.example.test/runs/9"
    mocked.post(HOOK, status=200, payload={"status": "running", "status_url": status})
    mocked.get(status, status=200, payload={"status": "running", "status_url": status}, repeat=True)
    with pytest.raises(UpstreamTimeout, match=f"still running after 30 s; follow it at {status}"):
        await provider(http, clock, budget=30, poll_interval=5).deploy(make_request())


async def test_refusal_and_bad_answers(http, mocked, clock):
    mocked.post(HOOK, status=401, payload={"message": "invalid signature"})
    with pytest.raises(UpstreamRefused) as caught:
        await provider(http, clock).deploy(make_request())
    assert str(caught.value) == "The deploy webhook refused the deploy request (401: invalid signature)"
    mocked.post(HOOK, status=200, payload={"status": "done"})
    with pytest.raises(UpstreamUnavailable, match="unknown status 'done'"):
        await provider(http, clock).deploy(make_request())


async def test_post_is_not_retried_on_5xx_but_is_on_429(http, mocked, clock):
    mocked.post(HOOK, status=500)
    with pytest.raises(UpstreamUnavailable):
        await provider(http, clock).deploy(make_request())
    assert len(posts(mocked)) == 1
    mocked.post(HOOK, status=429, headers={"Retry-After": "1"})
    mocked.post(HOOK, status=200, payload={"status": "succeeded"})
    assert (await provider(http, clock).deploy(make_request())).ok
    assert clock.sleeps == [1.0]


async def test_end_to_end_against_the_fake_target(http, clock):
    async with FakeWebhookTarget("s3cret", running_polls=2, message="rolled out") as target:
        result = await provider(http, clock, url=target.url).deploy(make_request())
        assert result.ok and result.summary.endswith("succeeded: rolled out.")
        assert target.received[0]["service"] == "orders" and target.polls["req-1234"] == 2

        with pytest.raises(UpstreamRefused, match="401: invalid signature"):
            await provider(http, clock, url=target.url, secret="wrong").deploy(make_request(request_id="r2"))
        assert target.rejected == 1

        target.outcome = "failed"
        target.running_polls = 0
        result = await provider(http, clock, url=target.url).deploy(make_request(request_id="r3"))
        assert not result.ok
