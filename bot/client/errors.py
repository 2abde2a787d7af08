"""The one error path for commands and clicks: one plain ephemeral sentence, logged, and audited once.

An error that reached a service or the pipeline was audited there (it says so); everything else —
a value discord.py could not convert, a check that failed before any service ran, an unexpected
bug — is audited here, with an error reference in the log for the unexpected.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.client.calls import family_of
from bot.errors import UNSTORABLE, MissingCapability, OpscordError
from bot.pipeline import Invocation
from bot.pipeline.entries import call_entry, storable, was_audited
from bot.pipeline.types import AlreadyHandled
from bot.store.changes import Fenced
from bot.text import clip
from integrations.errors import IntegrationError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bot.client")
_NONE = discord.AllowedMentions.none()
MESSAGE_MAX = 2000  # Discord's limit on a message's content
UNKNOWN_INTERACTION = 10062
"""Discord's error code for an interaction that can no longer be answered."""


def describe_error(error: BaseException) -> tuple[str, str, bool]:
    """(result, sentence, unexpected) for a failure."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, (MissingCapability, OpscordError)):
        return original.result, original.message, False
    if isinstance(original, app_commands.TransformerError):
        name = getattr(original, "value", "")
        return "invalid", f"That value is not valid here: {str(name)[:100]}.", False
    if isinstance(original, app_commands.NoPrivateMessage):
        return "denied", "Opscord commands work in the server, not in direct messages.", False
    if isinstance(original, app_commands.CommandOnCooldown):
        return "denied", f"Slow down: try again in {original.retry_after:.0f} s.", False
    if isinstance(original, app_commands.CheckFailure):
        return "denied", "You are not allowed to run this command here.", False
    if isinstance(original, IntegrationError):
        return "failed", str(original), False
    if isinstance(original, UnicodeError):
        return "invalid", UNSTORABLE, False
    if isinstance(original, discord.HTTPException):  # e.g. the first reply came after Discord's 3 s
        return "failed", f"Discord did not take the reply ({original.status}); nothing was done.", False
    return "error", "", True


async def answer_failure(app: App, interaction: discord.Interaction[Any], call: Invocation,
                         error: BaseException) -> None:
    """Audit the failure (unless that was done already), then tell the member in one sentence."""
    result, sentence, unexpected = describe_error(error)
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, (AlreadyHandled, Fenced)):  # replicas: the other delivery, or the new leader, answers
        log.info("%r by %s not handled here: %s", call.command, interaction.user, type(original).__name__)
        return
    if (family := family_of(interaction)) is not None:
        app.metrics.command(family, result)
    if unexpected:
        ref = secrets.token_hex(4)
        sentence = f"Something went wrong running {call.command.split(' ')[0]}; it was logged as error {ref}."
        log.error("%r by %s (%s) failed [ref %s]", call.command, interaction.user, interaction.user.id, ref,
                  exc_info=original)
    else:
        log.info("%r by %s refused: %s", call.command, interaction.user, sentence)
    if not was_audited(original):
        try:
            await app.journal.record(storable(call_entry(call, result, error=sentence)))
        except Exception:
            log.exception("could not audit the failed command %r", call.command)
    if isinstance(original, discord.NotFound) and original.code == UNKNOWN_INTERACTION:
        return  # the interaction is gone (the answer came after Discord's 3 s): nobody is left to tell
    sentence = clip(sentence, MESSAGE_MAX)  # the refusal itself must always land
    try:
        if interaction.response.is_done():
            await interaction.followup.send(sentence, ephemeral=True, allowed_mentions=_NONE)
        else:
            await interaction.response.send_message(sentence, ephemeral=True, allowed_mentions=_NONE)
    except discord.HTTPException as exc:
        log.warning("could not tell %s about the failure: %s", interaction.user, exc)
