"""How a card and a queued post become a Discord message: text, buttons, and exactly who is pinged.

`allowed_mentions` names exactly the roles or the member a message means to ping and nothing else,
so no text — typed by a user or not — can ping anyone else. A card that calls on approvers ends
with their role mentions; a notice to a requester starts with theirs.
"""

from __future__ import annotations

import discord

from bot.client.buttons import view_for
from bot.config import OpscordConfig
from bot.pipeline import Card

NOBODY = discord.AllowedMentions.none()


def role_ids(client: discord.Client, config: OpscordConfig, capabilities: tuple[str, ...]) -> list[int]:
    """The Discord role ids the configured guild gives these capabilities (names resolved from the cache)."""
    guild = client.get_guild(config.guild.id)
    found: list[int] = []
    for capability in capabilities:
        for ref in config.roles.get(capability, []):
            if isinstance(ref, int) or str(ref).isdigit():
                found.append(int(ref))
            elif guild is not None:
                role = discord.utils.get(guild.roles, name=str(ref))
                if role is not None:
                    found.append(role.id)
    return list(dict.fromkeys(found))


class Rendered:
    """A card as Discord takes it."""

    def __init__(self, client: discord.Client, config: OpscordConfig, card: Card) -> None:
        roles = role_ids(client, config, card.ping_roles) if card.ping_roles else []
        calls = "\n" + " ".join(f"<@&{role}>" for role in roles) if roles else ""
        self.content = (card.text[: 2000 - len(calls)] + calls) if calls else card.text[:2000]
        self.view = view_for(card)
        self.allowed_mentions = (discord.AllowedMentions(everyone=False, users=False, replied_user=False,
                                                         roles=[discord.Object(r) for r in roles])
                                 if roles else NOBODY)


def notice(text: str, ping_user: str | None) -> tuple[str, discord.AllowedMentions]:
    """A post, with the one member it pings (if any) named first and allowed alone."""
    if ping_user is None or not ping_user.isdigit():
        return text[:2000], NOBODY
    mention = f"<@{ping_user}> "
    allowed = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                      users=[discord.Object(int(ping_user))])
    return (mention + text)[:2000], allowed
