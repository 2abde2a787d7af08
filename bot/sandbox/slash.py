"""Slash commands typed as in Discord, mapped onto the *synced* definitions (what Discord knows).

Subcommand words come first, then positional values in the definition's option order, with
``name:value`` accepted for any option. Values are typed per the option (integer, boolean, user …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.sandbox.emulator.models import JSON
from bot.sandbox.parsing import ConsoleError, said

SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

@dataclass(frozen=True)
class Invocation:
    """What the emulator needs to dispatch a command: its path ("audit recent") and typed options."""

    path: str
    options: dict[str, Any]


Lookup = Callable[[int, str], int | None]
"""``lookup(option_type, text)``: the id of the user, channel or role that ``text`` names, or None."""


def find_definition(commands: list[JSON], name: str) -> JSON:
    """The synced chat-input command called ``name``."""
    for command in commands:
        if command.get("name") == name and int(command.get("type", 1)) == 1:
            return command
    known = ", ".join(sorted(f"/{c['name']}" for c in commands if int(c.get("type", 1)) == 1))
    raise ConsoleError(f"unknown command {said('/' + name)}; the bot has {known or 'no commands'}")


def usage(label: str, node: JSON) -> str:
    """``/deploy <service> <version> <environment>``; subcommands joined with ``|``."""
    options: list[JSON] = node.get("options") or []
    subs = [o["name"] for o in options if o.get("type") in (SUBCOMMAND, GROUP)]
    if subs:
        return f"{label} {'|'.join(subs)}"
    parts = [f"<{o['name']}>" if o.get("required") else f"[{o['name']}]" for o in options]
    return " ".join([label, *parts])


def build_invocation(command: JSON, words: list[str] | tuple[str, ...], lookup: Lookup) -> Invocation:
    """Map the typed words onto ``command``'s options (subcommands, positionals, ``name:value``)."""
    path = [command["name"]]
    node = command
    rest = list(words)
    while any(o.get("type") in (SUBCOMMAND, GROUP) for o in node.get("options") or []):
        subs = {o["name"]: o for o in node["options"] if o.get("type") in (SUBCOMMAND, GROUP)}
        if not rest or rest[0].lower() not in subs:
            given = f" (not {rest[0]!r})" if rest else ""
            raise ConsoleError(f"/{' '.join(path)} needs a subcommand: {', '.join(subs)}{given}")
        node = subs[rest.pop(0).lower()]
        path.append(node["name"])
    label = "/" + " ".join(path)
    definitions: list[JSON] = node.get("options") or []
    by_name = {o["name"]: o for o in definitions}
    raw: dict[str, str] = {}
    positional: list[str] = []
    for word in rest:
        name, sep, value = word.partition(":")
        if sep and name.lower() in by_name:
            if name.lower() in raw:
                raise ConsoleError(f"option {name.lower()!r} of {label} is given twice")
            raw[name.lower()] = value
        else:
            positional.append(word)
    free = [o["name"] for o in definitions if o["name"] not in raw]
    if len(positional) > len(free):
        extra = " ".join(positional[len(free):])
        raise ConsoleError(f"too many values for {label} ({extra!r}); usage: {usage(label, node)}")
    raw.update(zip(free, positional, strict=False))
    missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in raw]
    if missing:
        raise ConsoleError(f"{label} is missing {', '.join(missing)}; usage: {usage(label, node)}")
    options = {name: typed_value(label, by_name[name], value, lookup) for name, value in raw.items()}
    return Invocation(" ".join(path), options)


def typed_value(label: str, definition: JSON, text: str, lookup: Lookup) -> Any:
    """``text`` as the option's type; ConsoleError naming the option when it does not fit."""
    name, kind = definition["name"], int(definition["type"])
    where = f"option {name!r} of {label}"
    value: Any = text
    if kind == INTEGER:
        try:
            value = int(text)
        except ValueError:
            raise ConsoleError(f"{where} takes a whole number, not {text!r}") from None
    elif kind == NUMBER:
        try:
            value = float(text)
        except ValueError:
            raise ConsoleError(f"{where} takes a number, not {text!r}") from None
    elif kind == BOOLEAN:
        if text.lower() not in _TRUE | _FALSE:
            raise ConsoleError(f"{where} takes true or false, not {text!r}")
        value = text.lower() in _TRUE
    elif kind in (USER, CHANNEL, ROLE, MENTIONABLE):
        found = lookup(kind, text.strip("<>@#&!"))
        if found is None:
            what = {USER: "member", CHANNEL: "channel", ROLE: "role"}.get(kind, "member or role")
            raise ConsoleError(f"{where}: no {what} {text!r}")
        value = found
    elif kind == ATTACHMENT:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConsoleError(f"{where} takes a file path; {text!r} is not a file")
        value = (path.name, path.read_bytes())
    choices: list[JSON] = definition.get("choices") or []
    if choices:
        for choice in choices:
            if value == choice["value"] or str(text).lower() == str(choice["name"]).lower():
                return choice["value"]
        raise ConsoleError(f"{where} must be one of {', '.join(str(c['name']) for c in choices)}")
    return value


def command_usages(commands: list[JSON]) -> list[str]:
    """One usage line per synced slash command (per subcommand for command groups), sorted."""
    lines: list[str] = []

    def walk(label: str, node: JSON) -> None:
        subs = [o for o in node.get("options") or [] if o.get("type") in (SUBCOMMAND, GROUP)]
        if not subs:
            lines.append(usage(label, node))
        for sub in subs:
            walk(f"{label} {sub['name']}", sub)

    for command in commands:
        if int(command.get("type", 1)) == 1:
            walk(f"/{command['name']}", command)
    return sorted(lines)


def command_paths(commands: list[JSON]) -> list[str]:
    """Every runnable path: "deploy", "audit recent" (for completion)."""
    paths: list[str] = []

    def walk(label: str, node: JSON) -> None:
        subs = [o for o in node.get("options") or [] if o.get("type") in (SUBCOMMAND, GROUP)]
        if not subs:
            paths.append(label)
        for sub in subs:
            walk(f"{label} {sub['name']}", sub)

    for command in commands:
        if int(command.get("type", 1)) == 1:
            walk(str(command["name"]), command)
    return sorted(paths)
