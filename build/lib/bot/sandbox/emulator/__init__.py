"""A local Discord emulator: REST under ``/api/v10`` and the gateway websocket, in one aiohttp server.

The real discord.py client runs against it (set ``discord.http.Route.BASE`` to
:attr:`DiscordEmulator.api_base_url` and ``DiscordWebSocket.DEFAULT_GATEWAY`` to
:attr:`DiscordEmulator.gateway_url`); tests act as users and assert on what the bot did.
"""

from bot.sandbox.emulator.interactions import InteractionCallback, InteractionHandle
from bot.sandbox.emulator.models import Channel, Guild, Member, Message, Role, ScheduledEvent, User
from bot.sandbox.emulator.ratelimits import RateLimitHit, RateLimitRule
from bot.sandbox.emulator.server import DiscordEmulator

__all__ = [
    "Channel",
    "DiscordEmulator",
    "Guild",
    "InteractionCallback",
    "InteractionHandle",
    "Member",
    "Message",
    "RateLimitHit",
    "RateLimitRule",
    "Role",
    "ScheduledEvent",
    "User",
]
