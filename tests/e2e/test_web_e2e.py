"""/healthz and /metrics served next to the bot."""

import aiohttp
import pytest

from bot.web import StatusServer


@pytest.fixture
async def status(harness):
    server = StatusServer(harness.bot)
    await server.start("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.port}"
    await server.stop()


async def test_healthz_and_metrics(harness, status):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{status}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["status"] == "ok" and body["discord"] == "connected" and body["database"] == "ok"

        h = await harness.run("alice", "deploy", {"service": "order-service", "version": "v1.0.0",
                                                  "environment": "staging"})
        await harness.wait_message((await h.wait_message(timeout=5)).id, "complete")
        await harness.run("dave", "deploy", {"service": "order-service", "version": "v1.0.0",
                                             "environment": "staging"})
        await harness.settle()
        async with session.get(f"{status}/metrics") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
        assert "opscord_discord_connected 1" in text
        assert 'opscord_audit_rows_appended_total{result="success"} 1' in text
        assert 'opscord_audit_rows_appended_total{result="denied"} 1' in text
        assert 'opscord_operations{status="succeeded"} 1' in text
        assert "opscord_audit_head_row 3" in text and "opscord_locks_held 0" in text

        await harness.bot.close()
        async with session.get(f"{status}/healthz") as resp:
            assert resp.status == 503 and (await resp.json())["discord"] == "disconnected"
