"""The demo guild built from the config, and messages rendered as a member sees them."""

from bot.config import parse_config
from bot.sandbox.display import Renderer, relative_time
from bot.sandbox.emulator import DiscordEmulator
from bot.sandbox.emulator.models import Message
from bot.sandbox.world import build_world
from tests.helpers import example_raw


def test_world_follows_the_example_config(tmp_path):
    emu = DiscordEmulator("t" * 24)
    world = build_world(emu, parse_config(example_raw(tmp_path)))
    guild = emu.get_guild(world.guild_id)
    assert world.config.guild.id == world.guild_id
    assert list(world.channels) == ["deployments", "incidents", "audit", "general"]
    assert sorted(world.roles) == ["dba", "engineering", "incident-commander", "oncall", "ops", "payment-oncall",
                                   "team-lead"]  # the on-call roles of [incidents] and payment-service too
    assert world.member_roles == {"alice": ["ops"], "bob": ["team-lead"], "carol": ["dba"], "dave": ["engineering"],
                                  "erin": ["incident-commander"]}
    bob = guild.members[world.users["bob"]]
    assert [guild.roles[r].name for r in bob.roles] == ["team-lead"]
    assert world.home_channel == "deployments"


def test_role_and_channel_ids_in_the_config_are_remapped(tmp_path):
    raw = example_raw(tmp_path)
    raw["roles"] = {"operator": [111], "team_lead": ["leads"], "viewer": ["everyone-else"]}
    raw["channels"] = {"deployments": 222, "incidents": "incidents", "audit": "audit", "operations": ["ship-it"]}
    raw["access"] = {"audit": ["viewer", "operator", "team_lead"]}
    raw["policy"] = [{"action": "*", "environment": "*"}]
    raw.pop("break_glass")  # it names incident_commander and team_lead, which this config does not map
    emu = DiscordEmulator("t" * 24)
    world = build_world(emu, parse_config(raw))
    new_role = world.roles["operator"]
    assert world.config.roles["operator"] == [new_role]
    assert world.config.roles["team_lead"] == ["leads"]
    assert world.config.channels.deployments == world.channels["deployments"]
    assert "ship-it" in world.channels and world.home_channel == "deployments"
    assert world.member_roles["alice"] == ["operator"] and world.member_roles["carol"] == []


def test_rendering_content_buttons_embeds_attachments():
    emu = DiscordEmulator("t" * 24)
    guild = emu.add_guild("G")
    chan = emu.add_channel(guild.id, "deployments")
    bob = emu.add_member(guild.id, "bob")
    message = Message(
        id=5, channel_id=chan.id, guild_id=guild.id, author_id=emu.bot_user.id,
        content=f"Approved by <@{bob.id}> in <#{chan.id}>",
        embeds=[{"title": "Status", "description": "all good", "fields": [{"name": "version", "value": "v1"}]}],
        components=[{"type": 1, "components": [
            {"type": 2, "style": 3, "label": "Approve", "emoji": {"name": "✅"}, "custom_id": "a"},
            {"type": 2, "style": 4, "label": "Reject", "emoji": {"name": "❌"}, "custom_id": "r", "disabled": True},
        ]}],
        attachments=[{"filename": "audit.jsonl", "size": 2048}],
        flags=64, ephemeral_for=bob.id,
    )
    lines = Renderer(emu.state).lines(message, edited=True)
    assert lines == [
        "Opscord · #deployments · msg 5 (edited) (only you can see this):",
        "  Approved by @bob in #deployments",
        "  │ **Status**",
        "  │ all good",
        "  │ version: v1",
        "  📎 audit.jsonl (2.0 KB)",
        "  [✅ Approve] [❌ Reject (disabled)]",
    ]


def test_relative_times():
    assert relative_time(1800) == "in 30 minutes"
    assert relative_time(-1) == "1 second ago"
    assert relative_time(7200) == "in 2 hours"
