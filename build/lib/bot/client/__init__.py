"""The Discord side: OpsBot, the error path, the request buttons, replies, and the message sync."""

from bot.client.bot import OpsBot, app_of

__all__ = ["OpsBot", "app_of"]
