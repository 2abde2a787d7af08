"""Step-up confirmation in Discord: a modal that asks for the service name before a request is submitted.

`/deploy …` on a policy row with `confirm_phrase = true` answers with a modal instead of a card; the
request is submitted when the modal is, with what was typed, and the pipeline decides (a wrong
phrase is refused with one ephemeral sentence, audited). A modal lives in this process only: one
submitted after it timed out, or after a restart, is answered with a plain sentence too.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import discord

from bot.client.calls import invocation_of
from bot.client.errors import answer_failure
from bot.client.replies import InteractionReply
from bot.pipeline import Invocation, OperationInput
from bot.pipeline.entries import call_entry
from bot.text import clip

PREFIX = "opscord:phrase:"
GONE = "This confirmation form is no longer open (it timed out, or Opscord restarted); run the command again."
_NONE = discord.AllowedMentions.none()


class PhraseForms:
    """The step-up modals this process opened, and until when they may be submitted."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def opened(self, custom_id: str, seconds: float) -> None:
        """A modal was sent; forget the ones long past (a submitted modal stays known until its time is up)."""
        now = time.monotonic()
        self._until = {key: until for key, until in self._until.items() if until > now - 60}
        self._until[custom_id] = now + seconds + 5  # past discord.py's own timeout: never both answer

    def open(self, custom_id: str) -> bool:
        """Whether a modal with this custom_id is still open here."""
        return self._until.get(custom_id, 0.0) > time.monotonic()

    async def answer_stale(self, interaction: discord.Interaction[Any]) -> None:
        """Answer the submit of a step-up modal this process does not hold (discord.py would drop it)."""
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if interaction.type is not discord.InteractionType.modal_submit or not custom_id.startswith(PREFIX) \
                or self.open(custom_id):
            return
        from bot.client.bot import app_of

        app = app_of(interaction.client)
        call = invocation_of(interaction, command="[step-up form]")
        await app.journal.record(call_entry(call, "expired", error=GONE))
        await interaction.response.send_message(GONE, ephemeral=True, allowed_mentions=_NONE)


class PhraseModal(discord.ui.Modal):
    """"Type the service name to confirm"; submitting it submits the request with what was typed."""

    def __init__(self, inp: OperationInput, call: Invocation, phrase: str, timeout: float) -> None:
        verb = inp.action if inp.action != "migrate" else "migrate the database of"
        super().__init__(title=clip(f"Confirm: {inp.action} in {inp.environment}", 45), timeout=timeout,
                         custom_id=PREFIX + secrets.token_hex(8))
        self.inp = inp
        self.command = call.command
        self.typed: discord.ui.TextInput[PhraseModal] = discord.ui.TextInput(
            custom_id="phrase", placeholder=clip(phrase, 100), min_length=1, max_length=100)
        self.add_item(discord.ui.Label(text="Type the service name to confirm",
                                       description=clip(f"To {verb} {phrase} in {inp.environment}, type {phrase}.",
                                                        100),
                                       component=self.typed))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Submit the request with the phrase; a refusal is one ephemeral sentence (audited by the pipeline)."""
        from bot.client.bot import app_of

        app = app_of(interaction.client)
        call = invocation_of(interaction, command=self.command)
        try:
            await app.pipeline.request(self.inp, call, InteractionReply(interaction), phrase=self.typed.value)
        except Exception as exc:
            await answer_failure(app, interaction, call, exc)


async def request_with_step_up(interaction: discord.Interaction[Any], inp: OperationInput) -> None:
    """Submit the request now, or — where its policy row wants a step-up — ask for the service name first."""
    from bot.client.bot import OpsBot, app_of

    app = app_of(interaction.client)
    call = invocation_of(interaction)
    phrase = await app.pipeline.step_up(inp, call)
    if phrase is None:
        await app.pipeline.request(inp, call, InteractionReply(interaction))
        return
    seconds = app.config.operations.confirm_minutes * 60.0
    modal = PhraseModal(inp, call, phrase, seconds)
    assert isinstance(interaction.client, OpsBot)
    interaction.client.phrase_forms.opened(modal.custom_id, seconds)
    await interaction.response.send_modal(modal)
