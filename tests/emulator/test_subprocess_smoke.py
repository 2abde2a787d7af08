"""Smoke test: the bot in a separate process (as the sandbox runs it) connects and answers."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.emulator.conftest import TOKEN, World

ROOT = Path(__file__).resolve().parents[2]


async def test_bot_in_a_subprocess_answers(world: World) -> None:
    env = os.environ | {
        "EMULATOR_API_BASE": world.emu.api_base_url,
        "EMULATOR_GATEWAY": world.emu.gateway_url,
        "EMULATOR_GUILD_ID": str(world.guild.id),
        "EMULATOR_TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.emulator.subprocess_bot", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await world.emu.wait_ready(timeout=10)
        h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
        assert (await h.wait_message()).content == "pong"
    finally:
        process.terminate()
        _, stderr = await process.communicate()
    assert b"Traceback" not in stderr, stderr.decode()
