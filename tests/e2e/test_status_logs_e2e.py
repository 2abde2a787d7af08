"""/status and /logs against FakePrometheus and FakeLoki."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox.emulator.models import EPHEMERAL_FLAG
from bot.sandbox.fakes import FakeLoki, FakePrometheus
from tests.e2e.harness import Harness
from tests.helpers import example_raw


@pytest.fixture
async def observed(tmp_path, error_logs):
    prom, loki = FakePrometheus(), FakeLoki()
    await prom.start()
    await loki.start()
    raw = example_raw(tmp_path / "state")
    raw["services"][0]["monitor"] = {"url": prom.base_url}
    raw["services"][0]["logs"] = {"url": loki.base_url}
    h = Harness(tmp_path, raw)
    await h.start()
    try:
        yield h, prom, loki
    finally:
        await h.stop()
        await prom.stop()
        await loki.stop()


async def test_status_shows_versions_health_locks_and_recent_deploys(observed):
    harness, prom, _ = observed
    prom.set_value("avg(up", 1.0)
    prom.set_value('code=~"5.."', 0.002)
    prom.set_value("histogram_quantile", 0.3)
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v3.1.0", "environment": "staging"})
    await harness.wait_message((await h.wait_message(timeout=5)).id, "complete")
    h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v3.1.0",
                                              "environment": "production"})
    await h.wait_message(timeout=5)  # waits for a team lead

    h = await harness.run("dave", "status", {"service": "order-service"})
    assert h.response_type == 5
    msg = await h.wait_message(timeout=10, predicate=lambda m: bool(m.embeds))
    assert msg.flags & EPHEMERAL_FLAG
    embed = msg.embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == "order-service — status"
    assert fields["staging"].startswith("version `v3.1.0`\n🟢 healthy")
    assert fields["production"].startswith("no deploy recorded\n🟢 healthy")
    assert "⏳ 1 request(s) waiting" in fields["production"]
    assert "✅ `v3.1.0` → staging by @alice" in fields["Recent deploys"]
    assert fields["Dashboard"] == "https://grafana.example.com/d/orders/order-service"
    assert (await harness.export())[-1]["command"] == "/status order-service"


async def test_status_of_an_unknown_service_is_refused(observed):
    harness, _, _ = observed
    h = await harness.run("dave", "status", {"service": "nope"})
    assert (await h.wait_message(timeout=5)).content.startswith("Unknown service 'nope'.")
    assert (await harness.export())[-1]["result"] == "invalid"


async def test_logs_with_filter_and_hostile_text(observed):
    harness, _, loki = observed
    now = datetime.now(UTC)
    labels = {"app": "order-service", "env": "production"}
    for i in range(5):
        loki.push(labels, f"GET /orders/{i} 200", now - timedelta(minutes=5 - i))
    loki.push(labels, 'ERROR payment "} or vector(1) # failed ```', now - timedelta(minutes=1))
    loki.push({"app": "order-service", "env": "staging"}, "ERROR not this one", now)
    h = await harness.run("dave", "logs", {"service": "order-service", "last": "15m", "filter": "ERROR"})
    msg = await h.wait_message(timeout=10, predicate=lambda m: " of order-service" in (m.content or ""))
    assert msg.content.startswith("1 line of order-service in production, last 15m, containing 'ERROR':")
    assert 'ERROR payment "} or vector(1) # failed `\u200b``' in msg.content
    assert "not this one" not in msg.content
    row = (await harness.export())[-1]
    assert row["command"] == "/logs order-service 15m ERROR" and row["lines"] == 1


async def test_logs_refusals(observed):
    harness, _, _ = observed
    h = await harness.run("dave", "logs", {"service": "order-service", "last": "forever"})
    assert (await h.wait_message(timeout=5)).content == "`last` must be a duration like 15m, 1h or 2d, not 'forever'."
    h = await harness.run("dave", "logs", {"service": "payment-service"})
    assert "payment-service has no log source configured" in (await h.wait_message(timeout=5)).content
    mallory = harness.emu.add_member(harness.guild_id, "mallory", roles=[]).id
    harness.users["mallory"] = mallory
    h = await harness.run("mallory", "logs", {"service": "order-service"})
    assert "You need one of these roles to use /logs" in (await h.wait_message(timeout=5)).content
    assert [r["result"] for r in await harness.export()] == ["invalid", "invalid", "denied"]


async def test_long_logs_show_the_newest_and_attach_all(observed):
    harness, _, loki = observed
    now = datetime.now(UTC)
    for i in range(150):
        loki.push({"app": "order-service", "env": "production"}, f"line {i:03d} " + "x" * 40,
                  now - timedelta(seconds=300 - i))
    h = await harness.run("dave", "logs", {"service": "order-service"})
    msg = await h.wait_message(timeout=10, predicate=lambda m: bool(m.attachments))
    assert msg.content.startswith("150 lines of order-service in production, last 1h (newest shown; all attached):")
    assert "line 149" in msg.content and "line 000" not in msg.content and len(msg.content) <= 2000
    [log_file] = msg.attachments
    assert log_file["filename"] == "order-service-production.log"
    assert log_file["content"].decode().count("\n") == 149


async def test_status_without_health_checks_answers_at_once_with_its_row_first(tmp_path, error_logs):
    """Nothing to ask outside Opscord: no "thinking…" defer, the embed is the first response."""
    raw = example_raw(tmp_path / "state")
    del raw["defaults"]["deploy"]["health"]  # every service but payment-service has its own
    del raw["services"][1]["deploy"]["health"]
    harness = Harness(tmp_path, raw)
    await harness.start()
    try:
        h = await harness.run("dave", "status", {"service": "payment-service"})
        assert h.response_type == 4  # CHANNEL_MESSAGE_WITH_SOURCE, not a deferred answer
        msg = await h.wait_message(timeout=5)
        assert msg.flags & EPHEMERAL_FLAG
        fields = {f["name"]: f["value"] for f in msg.embeds[0]["fields"]}
        assert fields["staging"] == "no deploy recorded\n⚪ no health check configured"
        assert (await harness.export())[-1]["command"] == "/status payment-service"
        h = await harness.run("dave", "status", {"service": "order-service"})  # it has one: deferred
        assert h.response_type == 5
    finally:
        await harness.stop()
