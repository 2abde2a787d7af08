"""User text made safe to echo into Discord: no markdown breakage, no mention syntax, no hidden reordering.

Everything a person typed (a version, an incident title, an update, a filter) passes through
`shown` before it reaches a message, an embed, a thread name or a status page. Pings are decided
by `allowed_mentions` alone; this only makes sure that typed text can never look like — or,
should `allowed_mentions` ever widen, become — a mention.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_MARKDOWN = re.compile(r"([\\*_~`|\[\]])")
_LINE_START = re.compile(r"^(\s*)([#>-])", re.MULTILINE)  # headings, quotes and list items start a line
_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>|<(/[^:>]+):(\d+)>", re.IGNORECASE)
_INVISIBLE = {"Cf"}  # format characters: zero-width spaces and joiners, bidi embeddings and overrides
ZWSP = "\u200b"
ELLIPSIS = "…"


def _visible(text: str) -> str:
    """Drop format characters (bidi overrides, zero-width joiners) and control characters but newlines."""
    return "".join(ch for ch in text if ch == "\n" or not (unicodedata.category(ch) in _INVISIBLE
                                                          or unicodedata.category(ch) == "Cc"))


def _defuse(match: re.Match[str]) -> str:
    if match.group(1):
        return f"@{ZWSP}{match.group(1)}"
    if match.group(2):
        return f"<{match.group(2)}{ZWSP}{match.group(3)}>"
    return f"<{match.group(4)}{ZWSP}:{match.group(5)}>"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


_REMEMBERED = 300
"""Texts up to this long are remembered once made safe: the same names, commands and versions come back in
every /audit recent and card, and the escaping is pure (a long text is made safe again each time)."""


def shown(text: str, limit: int = 200, *, one_line: bool = True) -> str:
    """Typed text as it may appear in a message: visible characters only, markdown and mentions escaped."""
    if len(text) <= _REMEMBERED:
        return _shown_remembered(text, limit, one_line)
    return _shown(text, limit, one_line)


def _shown(text: str, limit: int, one_line: bool) -> str:
    text = _visible(text)
    if one_line:
        text = " ".join(text.split())
    text = clip(text, limit)
    return _MENTION.sub(_defuse, _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text)))


_shown_remembered = functools.lru_cache(maxsize=4096)(_shown)


def quoted(text: str, limit: int = 60) -> str:
    """Typed text named in a refusal: `'nope'`, shown escaped (a typed mention or markdown stays inert)."""
    return f"'{shown(text, limit)}'"


def thread_name(text: str, limit: int = 100) -> str:
    """Typed text as a thread or event name: visible, one line, no mention syntax (names are not markdown)."""
    return clip(_MENTION.sub(_defuse, " ".join(_visible(text).split())), limit)
