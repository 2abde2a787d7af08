"""Reading console lines: ``as bob``, ``in #general``, ``click Approve``, ``/deploy …`` and the rest.

A slash command is only split into its name and words here; :mod:`bot.sandbox.slash` maps the
words onto the command's synced definition.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


class ConsoleError(Exception):
    """A line the console cannot act on; the message is the one line shown to the person."""


@dataclass(frozen=True)
class SwitchUser:
    """``as bob``."""

    name: str


@dataclass(frozen=True)
class SwitchChannel:
    """``in #general``."""

    name: str


@dataclass(frozen=True)
class Slash:
    """``/deploy order-service v2.4.1 production``: the words after the command name are resolved later."""

    name: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Click:
    """``click Approve`` or ``click Approve 1234567``."""

    label: str
    message_id: int | None = None


@dataclass(frozen=True)
class ShowMessages:
    """``messages [#channel] [N]``."""

    channel: str | None = None
    count: int = 5


@dataclass(frozen=True)
class ShowAudit:
    """``audit [N]``."""

    count: int = 10


@dataclass(frozen=True)
class Fill:
    """``type TEXT``: fill in and submit the form (modal) the bot opened."""

    text: str


@dataclass(frozen=True)
class Help:
    """``help``."""


@dataclass(frozen=True)
class Quit:
    """``quit``, ``exit`` (and end of input)."""


Action = SwitchUser | SwitchChannel | Slash | Click | Fill | ShowMessages | ShowAudit | Help | Quit


def split_words(line: str) -> list[str]:
    """Words as a shell would split them (quotes keep spaces); a clear error for unbalanced quotes."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise ConsoleError(f"cannot read the line: {str(exc).lower()}") from None


MAX_COUNT = 1000


def said(text: str) -> str:
    """Typed text echoed in a one-line error: as typed when printable, else quoted with escapes."""
    return text if text.isprintable() else repr(text)


def _is_number(word: str) -> bool:
    """Digits 0-9 only (``"²".isdigit()`` is true, yet ``int("²")`` fails)."""
    return word.isascii() and word.isdigit()


def _count(word: str, what: str) -> int:
    if not _is_number(word) or not 1 <= int(word) <= MAX_COUNT:
        raise ConsoleError(f"{what} must be a whole number from 1 to {MAX_COUNT}, not {word!r}")
    return int(word)


def parse_line(line: str) -> Action | None:
    """The action a line asks for; None for blank lines and ``#`` comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("/"):
        words = split_words(text[1:])
        if not words:
            raise ConsoleError("type a command after the slash, e.g. /deploy order-service v2.4.1 staging")
        return Slash(words[0].lower(), tuple(words[1:]))
    words = split_words(text)
    verb, args = words[0].lower(), words[1:]
    if verb in ("quit", "exit"):
        return Quit()
    if verb in ("help", "?"):
        return Help()
    if verb == "as" and len(args) == 1:
        return SwitchUser(args[0].lstrip("@").lower())
    if verb == "in" and len(args) == 1:
        return SwitchChannel(args[0].lstrip("#").lower())
    if verb == "click" and args:
        if len(args) > 1 and _is_number(args[-1]):
            return Click(" ".join(args[:-1]), int(args[-1]))
        return Click(" ".join(args))
    if verb == "type" and args:
        return Fill(" ".join(args))
    if verb == "messages" and len(args) <= 2:
        channel = next((a.lstrip("#") for a in args if not _is_number(a)), None)
        numbers = [a for a in args if _is_number(a)]
        return ShowMessages(channel, _count(numbers[0], "the count") if numbers else 5)
    if verb == "audit" and len(args) <= 1:
        return ShowAudit(_count(args[0], "the count") if args else 10)
    if verb in ("as", "in", "click", "type", "messages", "audit"):
        raise ConsoleError(f"usage: {USAGE[verb]}")
    raise ConsoleError(f"unknown console command {words[0]!r}; slash commands start with /, type help for more")


USAGE = {
    "as": "as USER — act as another demo member, e.g. as bob",
    "in": "in #CHANNEL — switch channel, e.g. in #general",
    "click": "click LABEL [MESSAGE_ID] — click a button, e.g. click Approve",
    "type": "type TEXT — fill in the form the bot opened (a step-up asks for the service name)",
    "messages": "messages [#CHANNEL] [N] — the last N messages (default 5)",
    "audit": "audit [N] — the last N audit rows (default 10)",
}
