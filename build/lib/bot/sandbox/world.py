"""The demo guild, built from the config: its channels, one role per configured role, five members.

The config names roles and channels by name or by ID. Names are created as they are; an ID cannot
be reproduced in the emulator, so a role or channel is created for it and the config is patched to
the new ID. The guild ID is patched in too, so the bot serves the demo guild.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import ChannelsConfig, GuildConfig, OpscordConfig, RoleRef
from bot.sandbox.emulator import DiscordEmulator

DEMO_MEMBERS: tuple[tuple[str, str], ...] = (
    ("alice", "operator"),
    ("bob", "team_lead"),
    ("carol", "dba"),
    ("dave", "viewer"),
    ("erin", "incident_commander"),
)
"""Demo members and the capability each one holds (through the config's first role for it)."""

EXTRA_CHANNELS = ("general",)


@dataclass
class DemoWorld:
    """What the sandbox built: names → IDs, and the config as patched for the demo guild."""

    guild_id: int
    config: OpscordConfig
    channels: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    member_roles: dict[str, list[str]] = field(default_factory=dict)
    home_channel: str = "general"


def _is_id(ref: RoleRef) -> bool:
    return isinstance(ref, int) or ref.isdigit()


class _Builder:
    """Creates roles and channels on demand and remembers how each config reference maps."""

    def __init__(self, emu: DiscordEmulator, guild_id: int) -> None:
        self.emu = emu
        self.guild_id = guild_id
        self.roles: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self._role_ids: dict[int, int] = {}
        self._channel_ids: dict[int, int] = {}

    def role(self, ref: RoleRef, fallback_name: str) -> RoleRef:
        """Ensure a role exists for ``ref``; the reference to put in the patched config."""
        if not _is_id(ref):
            name = str(ref)
            if name not in self.roles:
                self.roles[name] = self.emu.add_role(self.guild_id, name).id
            return name
        old = int(ref)
        if old not in self._role_ids:
            name = fallback_name if fallback_name not in self.roles else f"{fallback_name}-{old}"
            self.roles[name] = self._role_ids[old] = self.emu.add_role(self.guild_id, name).id
        return self._role_ids[old]

    def role_id(self, ref: RoleRef) -> int:
        """The demo role's ID for a (patched) reference."""
        return int(ref) if _is_id(ref) else self.roles[str(ref)]

    def channel(self, ref: str | int, fallback_name: str) -> str | int:
        """Ensure a text channel exists for ``ref``; the reference to put in the patched config."""
        if not (isinstance(ref, int) or ref.isdigit()):
            name = str(ref).lstrip("#")
            if name not in self.channels:
                self.channels[name] = self.emu.add_channel(self.guild_id, name).id
            return name
        old = int(ref)
        if old not in self._channel_ids:
            name = fallback_name if fallback_name not in self.channels else f"{fallback_name}-{old}"
            self.channels[name] = self._channel_ids[old] = self.emu.add_channel(self.guild_id, name).id
        return self._channel_ids[old]


def build_world(emu: DiscordEmulator, config: OpscordConfig) -> DemoWorld:
    """Create the demo guild in ``emu`` (before it starts) and return it with the patched config."""
    guild_name = config.guild.name or "Opscord Sandbox"
    guild = emu.add_guild(guild_name)
    build = _Builder(emu, guild.id)

    roles = {cap: [build.role(ref, cap.replace("_", "-")) for ref in refs] for cap, refs in config.roles.items()}
    environments = [
        env if env.operator_roles is None
        else env.model_copy(update={"operator_roles": [build.role(r, f"{env.name}-operator")
                                                       for r in env.operator_roles]})
        for env in config.environments
    ]
    chan = config.channels
    channels = ChannelsConfig(
        deployments=build.channel(chan.deployments, "deployments"),
        incidents=build.channel(chan.incidents, "incidents"),
        audit=build.channel(chan.audit, "audit"),
        operations=[build.channel(ref, "operations") for ref in chan.operations],
    )
    for name in EXTRA_CHANNELS:
        build.channel(name, name)

    world = DemoWorld(guild_id=guild.id, config=config, channels=build.channels, roles=build.roles)
    world.home_channel = next(n for n, cid in build.channels.items()
                              if channels.deployments in (n, cid))
    for username, capability in DEMO_MEMBERS:
        refs = roles.get(capability) or []
        role_ids = [build.role_id(refs[0])] if refs else []
        world.users[username] = emu.add_member(guild.id, username, roles=role_ids).id
        world.member_roles[username] = [name for name, rid in build.roles.items() if rid in role_ids]
    world.config = config.model_copy(update={
        "guild": GuildConfig(id=guild.id, name=guild_name),
        "roles": roles,
        "environments": environments,
        "channels": channels,
    })
    return world
