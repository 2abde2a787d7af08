"""A /deploy sent the instant the bot can answer is never interrupted by its own process (20 starts).

Each start has recovery work waiting — the previous process was killed with a deploy running — so
the old race (recovery after READY, beside the first commands) would show here every time.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e.harness import TOKEN, Harness
from tests.helpers import example_raw, write_example_config

STARTS = 20


@pytest.fixture
async def emulator_only(tmp_path, error_logs):
    h = Harness(tmp_path, example_raw(tmp_path / "state"))
    await h.start(with_bot=False)
    try:
        yield h
    finally:
        await h.stop()


def start_bot(harness, tmp_path, config, round_no):
    env = {**os.environ, "DISCORD_TOKEN": TOKEN, "OPSCORD_CONFIG": str(config), "OPSCORD_DB": str(tmp_path / "o.db"),
           "DISCORD_API_BASE_URL": harness.emu.api_base_url, "DISCORD_GATEWAY_URL": harness.emu.gateway_url,
           "LOG_LEVEL": "WARNING", "OPSCORD_HTTP_LISTEN": "127.0.0.1:0"}
    log = (tmp_path / f"bot-{round_no}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


async def test_a_deploy_sent_at_ready_is_never_interrupted_by_its_own_process(emulator_only, tmp_path):
    harness = emulator_only
    state = tmp_path / "state"
    state.mkdir()
    config = write_example_config(tmp_path / "opscord.toml", state, guild_id=harness.guild_id)
    emu, guild, channel = harness.emu, harness.guild_id, harness.channels["deployments"]
    outcomes = []
    for n in range(STARTS):
        identified = emu.identify_count
        proc = start_bot(harness, tmp_path, config, n)
        try:
            await emu.wait_until(lambda: emu.identify_count > identified and emu.gateway.ready(), timeout=30)
            first = await emu.run_command(guild, channel, harness.users["alice"], "deploy", {
                "service": "payment-service", "version": f"v1.{n}.0", "environment": "staging"})
            message = await first.wait_message(timeout=5)
            done = await harness.wait_message(message.id, "✅ Deploy complete", timeout=20)
            outcomes.append(done.content.splitlines()[1])
            # Leave recovery work for the next start: a deploy whose provider is still running when killed.
            (state / "block").touch()
            blocked = await emu.run_command(guild, channel, harness.users["erin"], "deploy", {
                "service": "order-service", "version": f"v2.{n}.0", "environment": "staging"})
            await blocked.wait_response(timeout=5)
            await emu.wait_until(lambda: (state / "calls.jsonl").exists() and any(
                f"v2.{n}.0" in line for line in (state / "calls.jsonl").read_text().splitlines()), timeout=10)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            (state / "block").unlink(missing_ok=True)  # the orphaned provider ends soon after
    assert outcomes == ["✅ Deploy complete. Health check passed."] * STARTS
    statuses = {}
    conn = sqlite3.connect(tmp_path / "o.db")
    for version, status in conn.execute("SELECT version, status FROM operations WHERE service = 'payment-service'"):
        statuses[version] = status
    conn.close()
    assert statuses == {f"v1.{n}.0": "succeeded" for n in range(STARTS)}
    for n in range(STARTS):
        text = (tmp_path / f"bot-{n}.log").read_text(errors="replace")
        assert "Traceback" not in text and " ERROR " not in text, text[-2000:]
    calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
    assert sum(1 for c in calls if c["argv"][0] == "deploy" and c["argv"][1] == "payment-service") == STARTS
