"""`python -m bot` as a real process: it is killed mid-deploy; the next start reports `interrupted`."""

import asyncio
import json
import os
import signal
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e.harness import TOKEN, Harness
from tests.helpers import example_raw, write_example_config
from tests.helpers import state as card_state


@pytest.fixture
async def emulator_only(tmp_path, error_logs):
    h = Harness(tmp_path, example_raw(tmp_path / "state"))
    await h.start(with_bot=False)
    try:
        yield h
    finally:
        await h.stop()


async def test_killed_mid_operation_is_reported_interrupted(emulator_only, tmp_path):
    harness = emulator_only
    config = tmp_path / "opscord.toml"
    write_example_config(config, tmp_path / "state", guild_id=harness.guild_id)
    state = tmp_path / "state"
    state.mkdir()
    (state / "block").touch()
    env = {**os.environ, "DISCORD_TOKEN": TOKEN, "OPSCORD_CONFIG": str(config),
           "OPSCORD_DB": str(tmp_path / "opscord.db"), "DISCORD_API_BASE_URL": harness.emu.api_base_url,
           "DISCORD_GATEWAY_URL": harness.emu.gateway_url, "LOG_LEVEL": "INFO",
           "OPSCORD_HTTP_LISTEN": "127.0.0.1:0"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await harness.emu.wait_ready(timeout=20)
        await harness.emu.wait_until(lambda: harness.emu.synced_commands(harness.guild_id), timeout=20)
        await asyncio.sleep(0.3)  # the process finishes its start-up work (recovery) after READY
        h = await harness.emu.run_command(harness.guild_id, harness.channels["deployments"], harness.users["alice"],
                                          "deploy", {"service": "order-service", "version": "v7.0.0",
                                                     "environment": "staging"})
        await h.wait_response(timeout=5)
        first = await h.wait_message(timeout=5)
        await harness.emu.wait_until(lambda: (state / "calls.jsonl").exists(), timeout=10)
    finally:
        proc.send_signal(signal.SIGKILL)
        output = (await proc.communicate())[0].decode()
    provider_pid = json.loads((state / "calls.jsonl").read_text().splitlines()[0])["pid"]
    try:
        os.killpg(os.getpgid(provider_pid), signal.SIGKILL)
    except ProcessLookupError:
        pass
    assert "Traceback" not in output, output
    assert TOKEN not in output

    await harness.start_bot()
    notice = harness.emu.messages(harness.channels["deployments"])[-1]
    assert notice.content.startswith("⚡ Interrupted: `/deploy order-service v7.0.0 staging` by @alice")
    assert card_state(harness.emu.get_message(first.id)).startswith("⚡ Interrupted")
    assert await harness.app.store.lock("order-service", "staging") is None
    rows = await harness.export()
    assert rows[-1]["result"] == "interrupted" and rows[-1]["command"] == "/deploy order-service v7.0.0 staging"

    (state / "block").unlink()
    h = await harness.run("erin", "deploy", {"service": "order-service", "version": "v7.0.1",
                                             "environment": "staging"})
    msg = await h.wait_message(timeout=5)
    done = await harness.wait_message(msg.id, "Deploy complete")
    assert card_state(done).startswith("✅ Deploy complete")
