"""Application commands: checking what the bot syncs, and turning a test's call into interaction data.

``run_command("audit recent", {"limit": 5})`` is resolved against the *synced* definitions, the
only thing Discord knows about, so a test fails when the bot's tree and its sync disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bot.sandbox.emulator.models import JSON
from bot.sandbox.emulator.validation import Problems

NAME_PATTERN = re.compile(r"^[-_'\w]{1,32}$")
SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11


class OptionResolver(Protocol):
    """What the command builder needs from the emulator's state to fill ``resolved``."""

    def resolve_user(self, guild_id: int, user_id: int) -> tuple[JSON, JSON | None] | None:
        """The user payload and, if they are a member, the member payload (without ``user``)."""

    def resolve_channel(self, channel_id: int) -> JSON | None:
        """The channel payload with ``permissions``."""

    def resolve_role(self, guild_id: int, role_id: int) -> JSON | None:
        """The role payload."""

    def upload(self, channel_id: int, filename: str, content: bytes) -> JSON:
        """Store an uploaded file and return its attachment payload."""


def _check_name(problems: Problems, path: str, name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name != name.lower():
        problems.add(f"{path}.name", f"Command name {name!r} must be 1-32 lowercase letters, digits, - or _.")


def _check_options(problems: Problems, path: str, options: list[JSON], *, level: int) -> None:
    if len(options) > 25:
        problems.add(f"{path}.options", "Must be 25 or fewer in length.")
    names = [o.get("name") for o in options]
    if len(set(names)) != len(names):
        problems.add(f"{path}.options", "Option names must be unique.")
    kinds = {o.get("type") for o in options}
    if kinds & {SUBCOMMAND, GROUP} and kinds - {SUBCOMMAND, GROUP}:
        problems.add(f"{path}.options", "Subcommands cannot be mixed with plain options.")
    seen_optional = False
    for i, option in enumerate(options):
        opt_path = f"{path}.options.{i}"
        _check_name(problems, opt_path, option.get("name"))
        problems.length(f"{opt_path}.description", option.get("description"), 100, minimum=1)
        kind = option.get("type")
        if (kind == GROUP and level > 0) or (kind == SUBCOMMAND and level > 1):
            problems.add(f"{opt_path}.type", "Subcommands nest at most group → subcommand.")
        if kind in (SUBCOMMAND, GROUP):
            children = option.get("options") or []
            if kind == GROUP and any(c.get("type") != SUBCOMMAND for c in children):
                problems.add(f"{opt_path}.options", "A group may only hold subcommands.")
            _check_options(problems, opt_path, children, level=level + 1)
            continue
        if kind not in range(3, 12):
            problems.add(f"{opt_path}.type", "Unknown option type.")
        if option.get("required"):
            if seen_optional:
                problems.add(f"{opt_path}.required", "Required options must be placed before optional ones.")
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            problems.add(f"{opt_path}.choices", "Must be 25 or fewer in length.")
        if choices and option.get("autocomplete"):
            problems.add(f"{opt_path}.autocomplete", "Autocomplete cannot be combined with choices.")
        for j, choice in enumerate(choices):
            problems.length(f"{opt_path}.choices.{j}.name", choice.get("name"), 100, minimum=1)
        for key in ("min_length", "max_length"):
            if option.get(key) is not None and not 0 <= int(option[key]) <= 6000:
                problems.add(f"{opt_path}.{key}", "Must be between 0 and 6000.")


def check_command_list(commands: Any) -> None:
    """Check a bulk-overwrite body: names 1-32 lowercase, descriptions 1-100, ≤25 options, no dupes."""
    problems = Problems()
    if not isinstance(commands, list):
        problems.add("", "Must be an array of commands.")
        problems.raise_if_any()
        return
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type", 1))
        name = command.get("name")
        if (kind, str(name)) in seen:
            problems.add(f"{i}.name", f"Application command names must be unique ({name!r}).")
        seen.add((kind, str(name)))
        if kind == 1:
            _check_name(problems, str(i), name)
            problems.length(f"{i}.description", command.get("description"), 100, minimum=1)
            _check_options(problems, str(i), command.get("options") or [], level=0)
        else:
            problems.length(f"{i}.name", name, 32, minimum=1)
    if sum(1 for c in commands if int(c.get("type", 1)) == 1) > 100:
        problems.add("", "At most 100 slash commands.")
    problems.raise_if_any()


def store_commands(
    incoming: list[JSON], previous: list[JSON], *, application_id: int, guild_id: int | None,
    new_id: Callable[[], int],
) -> list[JSON]:
    """Echo a bulk overwrite back with ids; a command keeps its id across syncs (same name and type)."""
    known = {(int(c.get("type", 1)), c["name"]): c["id"] for c in previous}
    stored = []
    for command in incoming:
        kind = int(command.get("type", 1))
        item = dict(command)
        item.update(
            id=known.get((kind, command["name"])) or str(new_id()),
            application_id=str(application_id),
            type=kind,
            version=str(new_id()),
            description=command.get("description", ""),
            options=command.get("options") or [],
        )
        if guild_id is not None:
            item["guild_id"] = str(guild_id)
        stored.append(item)
    return stored


def find_command(commands: list[JSON], name: str) -> JSON:
    """The synced chat-input command called ``name``; ValueError naming the known ones otherwise."""
    for command in commands:
        if command["name"] == name and int(command.get("type", 1)) == 1:
            return command
    known = sorted(c["name"] for c in commands)
    raise ValueError(f"no synced slash command {name!r}; synced: {known}")


class CommandDataBuilder:
    """Builds the ``data`` of an application-command or autocomplete interaction."""

    def __init__(self, resolver: OptionResolver, guild_id: int, channel_id: int) -> None:
        """Resolve users, channels, roles and attachments through ``resolver``."""
        self.resolver = resolver
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.resolved: dict[str, JSON] = {}

    def build(self, command: JSON, path: list[str], values: Mapping[str, Any], focused: str | None) -> JSON:
        """``path`` is the words after the command name (group and/or subcommand)."""
        label = command["name"]
        options_def: list[JSON] = command.get("options") or []
        wrappers: list[JSON] = []
        for word in path:
            option = next((o for o in options_def if o["name"] == word and o["type"] in (SUBCOMMAND, GROUP)), None)
            if option is None:
                subs = [o["name"] for o in options_def if o["type"] in (SUBCOMMAND, GROUP)]
                raise ValueError(f"/{label} has no subcommand or group {word!r}; it has {subs}")
            label = f"{label} {word}"
            wrappers.append({"name": word, "type": option["type"], "options": []})
            options_def = option.get("options") or []
        if any(o["type"] in (SUBCOMMAND, GROUP) for o in options_def):
            subs = [o["name"] for o in options_def]
            raise ValueError(f"/{label} needs a subcommand: one of {subs}")
        leaf = self._leaf_options(label, options_def, values, focused)
        for wrapper in reversed(wrappers):
            wrapper["options"] = leaf
            leaf = [wrapper]
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1, "options": leaf}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if self.resolved:
            data["resolved"] = self.resolved
        return data

    def _leaf_options(
        self, label: str, definitions: list[JSON], values: Mapping[str, Any], focused: str | None
    ) -> list[JSON]:
        by_name = {o["name"]: o for o in definitions}
        for name in values:
            if name not in by_name:
                raise ValueError(f"/{label} has no option {name!r}; options: {sorted(by_name)}")
        if focused is not None:
            if focused not in values:
                raise ValueError(f"focused option {focused!r} needs a value (what the user has typed)")
            if not by_name[focused].get("autocomplete"):
                raise ValueError(f"option {focused!r} of /{label} has no autocomplete")
        else:
            missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"/{label} is missing required options {missing}")
        result = []
        for definition in definitions:
            name = definition["name"]
            if name not in values:
                continue
            if name == focused:
                result.append({"name": name, "type": definition["type"], "value": str(values[name]), "focused": True})
            else:
                value = self._typed(label, definition, values[name])
                result.append({"name": name, "type": definition["type"], "value": value})
        return result

    def _typed(self, label: str, definition: JSON, value: Any) -> Any:
        name, kind = definition["name"], definition["type"]
        where = f"option {name!r} of /{label}"
        if kind == STRING:
            if not isinstance(value, str):
                raise ValueError(f"{where} is a string, got {value!r}")
            low, high = definition.get("min_length", 0), definition.get("max_length", 6000)
            if not low <= len(value) <= high:
                raise ValueError(f"{where} must be {low}-{high} characters long")
        elif kind in (INTEGER, NUMBER):
            allowed = int if kind == INTEGER else int | float
            if isinstance(value, bool) or not isinstance(value, allowed):
                raise ValueError(f"{where} is {'an integer' if kind == INTEGER else 'a number'}, got {value!r}")
            low, high = definition.get("min_value"), definition.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"{where} must lie in [{low}, {high}], got {value}")
        elif kind == BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(f"{where} is a boolean, got {value!r}")
        else:
            return self._snowflake_option(where, definition, value)
        choices = definition.get("choices") or []
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{where} must be one of {[c['value'] for c in choices]}, got {value!r}")
        return value

    def _snowflake_option(self, where: str, definition: JSON, value: Any) -> str:
        kind = definition["type"]
        if kind == ATTACHMENT:
            if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes)):
                raise ValueError(f"{where} is an attachment: pass (filename, bytes)")
            attachment = self.resolver.upload(self.channel_id, str(value[0]), value[1])
            self.resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            return str(attachment["id"])
        raw = getattr(value, "id", value)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{where} takes an id or a model with .id, got {value!r}")
        if kind in (USER, MENTIONABLE) and (found := self.resolver.resolve_user(self.guild_id, raw)):
            self.resolved.setdefault("users", {})[str(raw)] = found[0]
            if found[1] is not None:
                self.resolved.setdefault("members", {})[str(raw)] = found[1]
            return str(raw)
        if kind in (ROLE, MENTIONABLE) and (role := self.resolver.resolve_role(self.guild_id, raw)):
            self.resolved.setdefault("roles", {})[str(raw)] = role
            return str(raw)
        if kind == CHANNEL and (channel := self.resolver.resolve_channel(raw)):
            types = definition.get("channel_types")
            if types and channel["type"] not in types:
                raise ValueError(f"{where} accepts channel types {types}, got {channel['type']}")
            self.resolved.setdefault("channels", {})[str(raw)] = channel
            return str(raw)
        raise ValueError(f"{where}: no such {'user' if kind == USER else 'entity'} {raw}")
