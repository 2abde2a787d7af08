"""The emulated Discord the bench drives: one emulator per bot process, each with the same guild.

Each bot under test gets an emulator of its own (same code, same loop, same guild shape), because
the emulator fans every INTERACTION_CREATE out to every connected bot: two bots on one emulator
would both answer. Only one side is driven at a time, so the idle one costs nothing but heartbeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.sandbox.emulator import DiscordEmulator

TOKEN = "bench-emulator-token-0123456789"  # noqa: S105 - the local emulator's token, not a secret
ROLE_NAMES = ("ops", "engineering", "team-lead", "dba", "incident-commander")
CHANNELS = ("deployments", "incidents", "audit")
MEMBERS = 8
SUBCOMMAND, GROUP = 1, 2


@dataclass
class BenchGuild:
    """A started emulator with one guild, one channel and a few operators who run the commands."""

    emu: DiscordEmulator
    guild_id: int
    channel_id: int
    users: list[int]

    @classmethod
    async def start(cls) -> BenchGuild:
        """Build the guild (members hold the operator role, so every command is allowed) and listen."""
        emu = DiscordEmulator(TOKEN)
        guild = emu.add_guild("Opscord Bench")
        roles = [emu.add_role(guild.id, name) for name in ROLE_NAMES]
        channels = [emu.add_channel(guild.id, name) for name in CHANNELS]
        ops, channel = roles[0], channels[0]
        users = [emu.add_member(guild.id, f"user{i}", roles=[ops.id]).id for i in range(MEMBERS)]
        await emu.start()
        return cls(emu, guild.id, channel.id, users)

    async def stop(self) -> None:
        """Close the gateway connections and stop listening."""
        await self.emu.stop()

    def synced(self) -> bool:
        """Whether the bot has put its commands to the guild."""
        return bool(self.emu.synced_commands(self.guild_id))

    def command_shapes(self) -> dict[str, list[tuple[str, int, bool]]]:
        """Each synced command path ("audit recent") with its options (name, type, required)."""
        shapes: dict[str, list[tuple[str, int, bool]]] = {}

        def walk(prefix: str, options: list[dict[str, Any]]) -> None:
            subs = [o for o in options if o.get("type") in (SUBCOMMAND, GROUP)]
            if not subs:
                shapes[prefix] = [(str(o["name"]), int(o["type"]), bool(o.get("required"))) for o in options]
            for sub in subs:
                walk(f"{prefix} {sub['name']}", list(sub.get("options") or []))

        for command in self.emu.synced_commands(self.guild_id):
            walk(str(command["name"]), list(command.get("options") or []))
        return shapes
