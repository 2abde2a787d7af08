"""Guard: every extension loads, command names are unique, and each family is one extension."""

import discord

from bot.app import discord_app, open_foundation
from bot.client import OpsBot
from bot.client.bot import discover_extensions
from bot.settings import Settings
from tests.helpers import example_config


def test_one_extension_per_family():
    assert discover_extensions() == ["cogs.audit", "cogs.deploy", "cogs.incident", "cogs.logs", "cogs.migrate", "cogs.scale",
                                    "cogs.status"]


async def test_all_extensions_load_without_clashing(tmp_path):
    config = example_config(tmp_path)
    async with open_foundation(Settings(opscord_db=tmp_path / "x.db"), config) as base:
        bot = OpsBot(discord_app(base))
        for ext in discover_extensions():
            await bot.load_extension(ext)  # a duplicate command name raises CommandAlreadyRegistered
        names = [c.name for c in bot.tree.get_commands()]
        assert len(names) == len(set(names))
        assert sorted(names) == ["audit", "deploy", "help", "incident", "logs", "migrate", "rollback", "scale", "status"]
        for command in bot.tree.walk_commands():
            assert 1 <= len(command.name) <= 32 and command.name == command.name.lower()
            assert 1 <= len(command.description) <= 100
        assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict()["parse"] == []
        await bot.close()


def test_bot_has_no_global_instance():
    import bot.client.bot as module
    assert not any(isinstance(v, discord.Client) for v in vars(module).values())
