"""/healthz, /readyz and /metrics served next to the bot, read as Prometheus would read them."""

import asyncio
import contextlib

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import discord_app, open_foundation
from bot.client import OpsBot
from bot.settings import Settings
from bot.web import StatusServer
from tests.e2e.harness import TOKEN


@pytest.fixture
async def status(harness):
    server = StatusServer(harness.bot)
    await server.start("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.port}"
    await server.stop()


async def scrape(session, base):
    """{(name, labels as a sorted tuple): value} of every sample, parsed with prometheus_client's parser."""
    async with session.get(f"{base}/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name, **labels):
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def test_healthz_readyz_and_metrics(harness, status):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{status}/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "alive"
        async with session.get(f"{status}/readyz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ready", "discord": "connected", "store": "writable",
                                         "recovery": "done"}
        before = await scrape(session, status)

        h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.0",
                                                  "environment": "staging"})
        await harness.wait_message((await h.wait_message(timeout=5)).id, "complete")
        await harness.run("dave", "deploy", {"service": "order-service", "version": "v1.0.0",
                                             "environment": "staging"})
        h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.1",
                                                  "environment": "production"})
        msg = await h.wait_message(timeout=5)
        await harness.click("bob", msg, "Approve")
        await harness.wait_message(msg.id, "complete")
        await harness.settle()
        after = await scrape(session, status)
        for _ in range(50):  # a run's duration is observed when its task ends, just after its last edit
            if total(after, "opscord_operation_duration_seconds_count", action="deploy") - total(
                    before, "opscord_operation_duration_seconds_count", action="deploy") >= 2:
                break
            await asyncio.sleep(0.1)
            after = await scrape(session, status)

    def moved(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("opscord_first_response_seconds_count") == 4  # three commands and a click
    assert moved("opscord_first_response_seconds_bucket", le="3.0") == 4  # all within Discord's 3 s
    assert moved("opscord_commands_total", family="deploy", result="ok") == 2
    assert moved("opscord_commands_total", family="deploy", result="denied") == 1
    assert moved("opscord_operation_duration_seconds_count", action="deploy", outcome="succeeded") == 2
    assert moved("opscord_approvals_total", decision="approve") == 1
    assert moved("opscord_approval_wait_seconds_count", outcome="approved") == 1
    assert moved("opscord_upstream_request_seconds_count", system="discord", outcome="ok") >= 4
    assert value(after, "opscord_discord_connected") == 1 and value(after, "opscord_ready") == 1
    assert value(after, "opscord_locks_held") == 0 and value(after, "opscord_waiting_requests") == 0
    assert value(after, "opscord_open_incidents") == 0 and value(after, "opscord_store_writer_queue_depth") == 0
    assert value(after, "opscord_operations", status="succeeded") == 2
    assert value(after, "opscord_audit_rows_appended_total", result="denied") == 1
    assert total(after, "opscord_build_info") == 1
    assert total(after, "process_cpu_seconds_total") > 0 and total(after, "python_info") == 1


async def test_readyz_is_false_until_recovery_is_done_and_the_gateway_connected(harness_without_bot):
    harness = harness_without_bot
    settings = Settings(discord_token=TOKEN, opscord_db=harness.tmp_path / "opscord.db")
    async with open_foundation(settings, harness.config) as base:
        bot = OpsBot(discord_app(base), guild_ready_timeout=0.1)
        recovering = asyncio.Event()
        release = asyncio.Event()
        recover = bot.app.pipeline.recover

        async def slow_recover():
            recovering.set()
            await release.wait()
            return await recover()

        bot.app.pipeline.recover = slow_recover
        server = StatusServer(bot)
        await server.start("127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.port}/readyz"
        task = None
        try:
            async with aiohttp.ClientSession() as session:
                async def readyz():
                    async with session.get(url) as resp:
                        return resp.status, await resp.json()

                assert await readyz() == (503, {"status": "not ready", "discord": "disconnected",
                                                "store": "writable", "recovery": "running"})
                task = asyncio.create_task(bot.start(TOKEN))
                await asyncio.wait_for(recovering.wait(), 10)
                status, body = await readyz()
                assert status == 503 and body["recovery"] == "running" and body["discord"] == "disconnected"
                release.set()
                await asyncio.wait_for(bot.wait_until_ready(), 10)
                assert (await readyz())[0] == 200
                await bot.close()
                status, body = await readyz()
                assert status == 503 and body["discord"] == "disconnected" and body["recovery"] == "done"
        finally:
            await bot.close()
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
            await server.stop()
