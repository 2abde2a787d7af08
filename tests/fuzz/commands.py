"""The slash commands, enumerated from the cogs' app command tree, and strategies for their options.

The list is read from the extensions themselves (every `cogs/` module, every command and group its
cogs declare), so a new command or option is fuzzed without touching these tests; the option
strategies are built from the definitions the bot synced (what Discord knows and enforces: types,
choices, lengths, ranges).
"""

from __future__ import annotations

import importlib
from typing import Any

from discord import app_commands
from discord.ext import commands
from hypothesis import strategies as st

from bot.client.bot import discover_extensions
from bot.sandbox.emulator.commands import BOOLEAN, CHANNEL, GROUP, INTEGER, NUMBER, STRING, SUBCOMMAND, USER
from bot.sandbox.emulator.models import JSON
from tests.fuzz.strategies import Vocabulary, hostile_text, integers, iso_moments, numbers

Command = app_commands.Command[Any, ..., Any]


def _walk(item: Command | app_commands.Group, prefix: list[str]) -> dict[str, Command]:
    if isinstance(item, app_commands.Group):
        return {path: cmd for child in item.commands for path, cmd in _walk(child, [*prefix, item.name]).items()}
    return {" ".join([*prefix, item.name]): item}


def slash_commands() -> dict[str, Command]:
    """Every leaf command ("audit recent", "deploy", …) the cogs declare."""
    found: dict[str, Command] = {}
    for extension in discover_extensions():
        module = importlib.import_module(extension)
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, commands.Cog) and value.__module__ == extension):
                continue
            prefix = [str(value.__cog_group_name__)] if value.__cog_is_app_commands_group__ else []
            for item in value.__cog_app_commands__:
                found.update(_walk(item, prefix))
    return found


def slash_paths() -> list[str]:
    """The leaf commands' paths, sorted."""
    return sorted(slash_commands())


def autocompleted_paths() -> list[str]:
    """The leaf commands with at least one autocompleted option."""
    return sorted(path for path, cmd in slash_commands().items() if any(p.autocomplete for p in cmd.parameters))


def leaf(synced: list[JSON], path: str) -> JSON:
    """The synced definition of a leaf command ("incident create" → the `create` subcommand)."""
    words = path.split()
    node = next(c for c in synced if c["name"] == words[0] and int(c.get("type", 1)) == 1)
    for word in words[1:]:
        node = next(o for o in node.get("options") or [] if o["name"] == word and o["type"] in (SUBCOMMAND, GROUP))
    return node


def option_value(vocab: Vocabulary, option: JSON, members: list[int], channels: list[int]) -> st.SearchStrategy[Any]:
    """A value Discord would deliver for ``option``: a choice, or any value of its type within its bounds."""
    if option.get("choices"):
        return st.sampled_from([c["value"] for c in option["choices"]])
    kind = option["type"]
    if kind == STRING:
        text = hostile_text(vocab, option["name"], min_size=option.get("min_length", 0),
                            max_size=option.get("max_length", 6000))
        if option["name"] == "since":
            text = st.one_of(text, iso_moments())
        return text
    if kind == INTEGER:
        return integers(option.get("min_value"), option.get("max_value"))
    if kind == NUMBER:
        return numbers(option.get("min_value"), option.get("max_value"))
    if kind == BOOLEAN:
        return st.booleans()
    if kind == USER:
        return st.sampled_from(members)
    if kind == CHANNEL:
        return st.sampled_from(channels)
    raise AssertionError(f"no strategy for option type {kind} ({option['name']}): add one")


def options_for(vocab: Vocabulary, definition: JSON, members: list[int],
                channels: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    """Every required option, and any subset of the optional ones."""
    required = {o["name"]: option_value(vocab, o, members, channels)
                for o in definition.get("options") or [] if o.get("required")}
    optional = {o["name"]: option_value(vocab, o, members, channels)
                for o in definition.get("options") or [] if not o.get("required")}
    return st.fixed_dictionaries(required, optional=optional)
