"""Interaction latency and throughput: OpsBot vs a bare discord.py bot (the baseline), same run.

Run: .venv/bin/python benchmarks/bench_interactions.py [--n 300] [--burst 200]
Both bots run in-process against the local Discord emulator. The baseline answers `/ping` with a
constant; OpsBot answers `/audit recent` (a permission check, an SQLite query, an embed, and an
audit row group-committed with synchronous=FULL). Prints p50/p99 of dispatch → first response for
sequential commands, and commands/s for a concurrent burst (median of five), with OpsBot/baseline ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import discord
import yarl
from discord import app_commands

from bot.app import discord_app, open_foundation
from bot.client import OpsBot
from bot.config import parse_config
from bot.sandbox.emulator import DiscordEmulator
from bot.sandbox.tasks import busy_tasks
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - the emulator's token


class BareBot(discord.Client):
    """The baseline: the least a discord.py bot does to answer a slash command."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(guild_id)

        @self.tree.command(name="ping", description="pong", guild=self.guild)
        async def ping(interaction: discord.Interaction[Any]) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

    async def setup_hook(self) -> None:
        """Sync to the one guild."""
        await self.tree.sync(guild=self.guild)


async def settle() -> None:
    """Let handlers still writing their audit rows finish before the bot closes."""
    pending = busy_tasks()
    if pending:
        await asyncio.wait(pending, timeout=30)


async def measure(emu: DiscordEmulator, guild: int, channel: int, user: int, command: str, *, n: int, burst: int
                  ) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, burst commands/s)."""
    latencies = []
    for _ in range(n):
        handle = await emu.run_command(guild, channel, user, command, {})
        await handle.wait_response(timeout=5)
        latencies.append(handle.responded_at_ms or 0.0)
    rates = []
    for _ in range(5):  # the median of five bursts: one burst alone is noisy on a 2-core machine
        await settle()
        started = time.perf_counter()
        handles = await asyncio.gather(*(emu.run_command(guild, channel, user, command, {}) for _ in range(burst)))
        await asyncio.gather(*(h.wait_response(timeout=30) for h in handles))
        rates.append(burst / (time.perf_counter() - started))
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], statistics.median(rates)


async def main() -> None:
    """Run both and print the comparison."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    emu = DiscordEmulator(TOKEN)
    guild = emu.add_guild("Bench")
    viewer = emu.add_role(guild.id, "engineering")
    channel = emu.add_channel(guild.id, "deployments")
    user = emu.add_member(guild.id, "dave", roles=[viewer.id])
    await emu.start()
    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

    bare = BareBot(guild.id)
    task = asyncio.create_task(bare.start(TOKEN))
    await asyncio.wait_for(bare.wait_until_ready(), 10)
    base = await measure(emu, guild.id, channel.id, user.id, "ping", n=args.n, burst=args.burst)
    await settle()
    await bare.close()
    await task

    raw = tomllib.loads((ROOT / "opscord.example.toml").read_text())
    raw["guild"] = {"id": guild.id}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(discord_token=TOKEN, opscord_db=Path(tmp) / "bench.db")
        async with open_foundation(settings, parse_config(raw)) as base_resources:
            ops = OpsBot(discord_app(base_resources), guild_ready_timeout=0.1)
            task = asyncio.create_task(ops.start(TOKEN))
            await asyncio.wait_for(ops.wait_until_ready(), 10)
            ours = await measure(emu, guild.id, channel.id, user.id, "audit recent", n=args.n, burst=args.burst)
            await settle()
            await ops.close()
            await task
    await emu.stop()

    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'burst cmd/s':>14}")
    print(f"{'bare bot /ping (baseline)':28}{base[0]:10.2f}{base[1]:10.2f}{base[2]:14.0f}")
    print(f"{'OpsBot /audit recent':28}{ours[0]:10.2f}{ours[1]:10.2f}{ours[2]:14.0f}")
    print(f"{'ratio (OpsBot/baseline)':28}{ours[0] / base[0]:10.2f}{ours[1] / base[1]:10.2f}{ours[2] / base[2]:14.2f}")


if __name__ == "__main__":
    asyncio.run(main())
