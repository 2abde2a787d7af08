"""Domain exceptions. Each carries the one plain sentence the user sees."""

from __future__ import annotations

from discord import app_commands

UNSTORABLE = "That text cannot be stored (it is not valid Unicode); nothing was done."
"""The answer to a command whose text UTF-8 cannot hold (a lone surrogate), in Discord and in the CLI alike."""


class OpscordError(Exception):
    """Base for errors whose message is safe and meant for the user."""

    result = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(OpscordError):
    """The request is malformed: unknown service, bad version, replicas out of bounds, …"""

    result = "invalid"


class PermissionDenied(OpscordError):
    """The member lacks the capability, or the channel is not allowed."""

    result = "denied"


class Frozen(OpscordError):
    """A change freeze refuses the request."""

    result = "frozen"


class LockHeld(OpscordError):
    """Another operation holds the (service, environment) lock."""

    result = "locked"


class MissingCapability(app_commands.CheckFailure):
    """Raised by permission checks on commands; the message is the user's sentence."""

    result = "denied"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
