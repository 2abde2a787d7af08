"""Clean starts: `python -m bot` against the emulator with each start failure prints one sentence saying
what to do, and exits (or retries with backoff, saying so) — no traceback unless LOG_LEVEL=DEBUG."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import pytest

from bot.sandbox.emulator import DiscordEmulator
from tests.conftest import ROOT
from tests.e2e.harness import TOKEN
from tests.helpers import write_example_config


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def emu():
    emulator = DiscordEmulator(TOKEN)
    emulator.guild = emulator.add_guild("Opscord Test")
    for name in ("deployments", "incidents", "audit"):
        emulator.add_channel(emulator.guild.id, name)
    await emulator.start()
    yield emulator
    await emulator.stop()


def environment(tmp_path, emu, *, guild_id, token=TOKEN, level="INFO", **overrides):
    config = write_example_config(tmp_path / "opscord.toml", tmp_path / "state", guild_id=guild_id)
    env = {**os.environ, "DISCORD_TOKEN": token, "OPSCORD_CONFIG": str(config), "OPSCORD_DB": str(tmp_path / "o.db"),
           "DISCORD_API_BASE_URL": emu.api_base_url, "DISCORD_GATEWAY_URL": emu.gateway_url, "LOG_LEVEL": level,
           "OPSCORD_HTTP_LISTEN": "127.0.0.1:0"}
    env.update(overrides)
    return env


async def start(env):
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def exits(env, timeout=30):
    proc = await start(env)
    try:
        output = (await asyncio.wait_for(proc.communicate(), timeout))[0].decode()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, output


def errors(output):
    return [line for line in output.splitlines() if " ERROR " in line]


def assert_clean(output):
    assert "Traceback" not in output, output
    assert "voice will NOT be supported" not in output, output
    assert TOKEN not in output


async def test_a_guild_id_that_is_not_the_bots(tmp_path, emu):
    code, output = await exits(environment(tmp_path, emu, guild_id=100000000000000001))
    assert code == 2, output
    [line] = errors(output)
    assert "The bot is not in the guild 100000000000000001 ([guild] id in the config)" in line
    assert f"https://discord.com/oauth2/authorize?client_id={emu.application_id}&scope=bot+applications.commands" \
           in line
    assert_clean(output)
    emu.violations.clear()


async def test_a_guild_the_bot_was_not_invited_to(tmp_path, emu):
    other = emu.add_guild("Elsewhere", invite_bot=False)
    code, output = await exits(environment(tmp_path, emu, guild_id=other.id))
    assert code == 2 and f"The bot is not in the guild {other.id}" in errors(output)[0]
    assert_clean(output)
    emu.violations.clear()


async def test_with_debug_the_traceback_is_shown(tmp_path, emu):
    code, output = await exits(environment(tmp_path, emu, guild_id=100000000000000001, level="DEBUG"))
    assert code == 2 and "The bot is not in the guild" in output and "Traceback" in output
    emu.violations.clear()


async def test_a_wrong_token(tmp_path, emu):
    code, output = await exits(environment(tmp_path, emu, guild_id=emu.guild.id, token="not-the-token-123456"))
    assert code == 2, output
    assert errors(output) == [errors(output)[0]] and "Discord refused the token (DISCORD_TOKEN)" in output
    assert_clean(output)
    emu.violations.clear()


async def test_the_members_intent_refused(tmp_path, emu):
    emu.refuse_members_intent()
    code, output = await exits(environment(tmp_path, emu, guild_id=emu.guild.id))
    assert code == 2, output
    [line] = errors(output)
    assert "Discord refused the Server Members intent" in line
    assert f"https://discord.com/developers/applications/{emu.application_id}/bot" in line
    assert_clean(output)


async def read_until(proc, fragment, count=1, timeout=30):
    seen = []

    async def reader():
        while sum(fragment in line for line in seen) < count:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError("the bot exited:\n" + "".join(seen))
            seen.append(line.decode())

    try:
        await asyncio.wait_for(reader(), timeout)
    except BaseException:
        proc.kill()  # never leave the bot running behind a failed test
        await proc.wait()
        raise
    return seen


async def stopped(proc, seen):
    proc.send_signal(signal.SIGTERM)
    rest = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
    return proc.returncode, "".join(seen) + rest


async def test_an_unreachable_gateway_is_retried_with_backoff_and_said(tmp_path, emu):
    port = closed_port()
    proc = await start(environment(tmp_path, emu, guild_id=emu.guild.id,
                                   DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/gateway"))
    seen = await read_until(proc, "is unreachable", count=2)
    code, output = await stopped(proc, seen)
    assert code == 0, output
    retries = [line for line in output.splitlines() if "is unreachable" in line]
    assert all(f"Discord's gateway at ws://127.0.0.1:{port}/gateway is unreachable" in line for line in retries)
    assert f"cannot connect to 127.0.0.1:{port}" in retries[0] and "retrying in" in retries[0]
    assert all(" WARNING " in line for line in retries) and errors(output) == []
    assert_clean(output)


async def test_an_unreachable_discord_api_is_waited_for(tmp_path, emu):
    port = closed_port()
    proc = await start(environment(tmp_path, emu, guild_id=emu.guild.id,
                                   DISCORD_API_BASE_URL=f"http://127.0.0.1:{port}/api/v10"))
    seen = await read_until(proc, "is unreachable", count=2, timeout=20)
    code, output = await stopped(proc, seen)
    assert code == 0, output
    assert f"Discord at http://127.0.0.1:{port}/api/v10 is unreachable (cannot connect" in output
    assert "retrying in 1 s" in output and "retrying in 2 s" in output and errors(output) == []
    assert_clean(output)
