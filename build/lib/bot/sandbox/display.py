"""Messages as text, the way Discord would show them to one member.

Content (mentions and ``<t:…>`` timestamps resolved), embeds (title, description, fields, footer),
buttons as ``[✅ Approve] [❌ Reject]``, attachments by name and size.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from bot.sandbox.emulator.models import JSON, Message
from bot.sandbox.emulator.state import EmulatorState

_MENTION = re.compile(r"<(@!?|@&|#)(\d+)>")
_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
INDENT = "  "


def visible_to(message: Message, user_id: int) -> bool:
    """Whether ``user_id`` sees the message (ephemeral messages are seen by one member only)."""
    return not message.ephemeral or message.ephemeral_for == user_id


def relative_time(seconds: float) -> str:
    """``in 30 minutes`` / ``5 seconds ago``, as Discord's relative timestamps read."""
    ahead = seconds >= 0
    span = abs(seconds)
    unit, size = next(((u, s) for u, s in (("day", 86400), ("hour", 3600), ("minute", 60)) if span >= s),
                      ("second", 1))
    count = round(span / size)
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {text}" if ahead else f"{text} ago"


class Renderer:
    """Turns emulator messages into console lines; names come from the emulator's state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def text(self, raw: str) -> str:
        """Mentions as ``@name``/``#name``, timestamps as local time or ``in 30 minutes``."""

        def mention(match: re.Match[str]) -> str:
            kind, ident = match.group(1), int(match.group(2))
            if kind == "#":
                channel = self.state.channels.get(ident)
                return f"#{channel.name}" if channel else match.group(0)
            if kind == "@&":
                for guild in self.state.guilds.values():
                    if ident in guild.roles:
                        return f"@{guild.roles[ident].name}"
                return match.group(0)
            user = self.state.users.get(ident)
            return f"@{user.username}" if user else match.group(0)

        def timestamp(match: re.Match[str]) -> str:
            moment = int(match.group(1))
            if match.group(2) == "R":
                return relative_time(moment - time.time())
            return datetime.fromtimestamp(moment).astimezone().strftime("%Y-%m-%d %H:%M %Z")

        return _TIMESTAMP.sub(timestamp, _MENTION.sub(mention, raw))

    def header(self, message: Message, *, edited: bool = False) -> str:
        """``Opscord · #deployments · msg 123`` with ``(only you can see this)`` / ``(edited)``."""
        author = self.state.users.get(message.author_id)
        channel = self.state.channels.get(message.channel_id)
        parts = [author.username if author else f"user {message.author_id}",
                 f"#{channel.name}" if channel else f"channel {message.channel_id}", f"msg {message.id}"]
        line = " · ".join(parts)
        if edited:
            line += " (edited)"
        if message.ephemeral:
            line += " (only you can see this)"
        return line + ":"

    def lines(self, message: Message, *, edited: bool = False) -> list[str]:
        """The message as console lines: a header, then its body indented."""
        body: list[str] = []
        if message.loading and not message.has_body():
            body.append(f"{self.header_name(message)} is thinking…")
        if message.content:
            body.extend(self.text(message.content).splitlines())
        for embed in message.embeds:
            body.extend(self.embed(embed))
        for attachment in message.attachments:
            size = int(attachment.get("size") or len(attachment.get("content") or b""))
            body.append(f"📎 {attachment.get('filename', 'file')} ({human_size(size)})")
        buttons = self.buttons(message)
        if buttons:
            body.append(buttons)
        return [self.header(message, edited=edited), *(INDENT + line for line in body)]

    def header_name(self, message: Message) -> str:
        """The author's name."""
        author = self.state.users.get(message.author_id)
        return author.username if author else "the bot"

    def embed(self, embed: JSON) -> list[str]:
        """An embed as a block marked with ``│``."""
        out: list[str] = []
        if embed.get("author", {}).get("name"):
            out.append(str(embed["author"]["name"]))
        if embed.get("title"):
            out.append(f"**{embed['title']}**")
        if embed.get("description"):
            out.extend(self.text(str(embed["description"])).splitlines())
        for item in embed.get("fields") or []:
            value = self.text(str(item.get("value", ""))).splitlines() or [""]
            out.append(f"{item.get('name', '')}: {value[0]}")
            out.extend(INDENT + line for line in value[1:])
        if embed.get("footer", {}).get("text"):
            out.append(f"— {embed['footer']['text']}")
        return ["│ " + line for line in out]

    def buttons(self, message: Message) -> str:
        """``[✅ Approve] [❌ Reject]``; disabled buttons say so, link buttons show their URL."""
        shown = []
        for item in message.walk_components():
            if item.get("type") != 2:
                continue
            emoji = (item.get("emoji") or {}).get("name")
            label = " ".join(str(p) for p in (emoji, item.get("label")) if p)
            if item.get("url"):
                label += f" → {item['url']}"
            if item.get("disabled"):
                label += " (disabled)"
            shown.append(f"[{label}]")
        return " ".join(shown)


def human_size(size: int) -> str:
    """``512 B``, ``1.2 KB``, ``3.4 MB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
