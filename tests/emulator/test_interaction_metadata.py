"""``interaction_metadata``: the bot finds, in channel history, the message that answered an interaction."""

from __future__ import annotations

import discord

from tests.emulator.conftest import World
from tests.emulator.testbot import OpsTestBot


async def answer_to(bot: OpsTestBot, world: World, interaction_id: int) -> list[discord.Message]:
    """What a bot would do after a restart: read history, keep the messages answering ``interaction_id``."""
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    history = [m async for m in channel.history(limit=50)]
    return [m for m in history if m.interaction_metadata is not None and m.interaction_metadata.id == interaction_id]


async def test_command_answer_found_in_history(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    other = await emu.run_command(world.guild.id, world.channel.id, world.bob.id, "ping")
    await h.wait_message()
    await other.wait_message()
    [message] = await answer_to(bot, world, h.id)
    assert h.original is not None and message.id == h.original.id
    metadata = message.interaction_metadata
    assert metadata is not None and metadata.type is discord.InteractionType.application_command
    assert metadata.user.id == world.alice.id and metadata.is_guild_integration()
    assert metadata.original_response_message_id is None and metadata.interacted_message_id is None
    cached = next(m for m in bot.cached_messages if m.id == message.id)  # MESSAGE_CREATE carried it too
    assert cached.interaction_metadata is not None and cached.interaction_metadata.id == h.id


async def test_followup_names_the_original(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "deploy-slow", {"service": "web"})
    followup = await h.wait_message(predicate=lambda m: m is not h.original)
    found = {m.id: m for m in await answer_to(bot, world, h.id)}
    assert h.original is not None and set(found) == {h.original.id, followup.id}
    assert found[h.original.id].interaction_metadata.original_response_message_id is None  # type: ignore[union-attr]
    assert found[followup.id].interaction_metadata.original_response_message_id == h.original.id  # type: ignore[union-attr]


async def test_button_answer_names_the_clicked_message(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    h = await emu.run_command(world.guild.id, world.channel.id, world.bob.id, "card", {"request": 9})
    card = await h.wait_message()
    click = await emu.click_button(card.id, "details:9", world.alice.id)
    answer = await click.wait_message()
    assert answer.id != card.id and answer.content == "details of request 9"
    [message] = await answer_to(bot, world, click.id)
    metadata = message.interaction_metadata
    assert metadata is not None and metadata.type is discord.InteractionType.component
    assert metadata.interacted_message_id == card.id and metadata.user.id == world.alice.id


async def test_modal_answer_names_the_interaction_that_opened_it(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    opened = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "reject")
    await opened.wait_response()
    submitted = await emu.submit_modal(opened, {"reason": "freeze week"})
    await submitted.wait_message()
    [message] = await answer_to(bot, world, submitted.id)
    metadata = message.interaction_metadata
    assert metadata is not None and metadata.type is discord.InteractionType.modal_submit
    assert metadata.modal_interaction is not None and metadata.modal_interaction.id == opened.id
    assert metadata.modal_interaction.type is discord.InteractionType.application_command


async def test_history_after_an_id_pages_forward_from_it(world, bot):
    """Discord answers `after` with the messages right after that id (newest first within the page)."""
    channel = bot.get_channel(world.channel.id)
    sent = [await channel.send(f"m{i}") for i in range(130)]
    after = [m.content async for m in channel.history(limit=5, after=sent[9], oldest_first=True)]
    assert after == ["m10", "m11", "m12", "m13", "m14"]
    everything = [m.content async for m in channel.history(limit=None, after=sent[0], oldest_first=True)]
    assert everything == [f"m{i}" for i in range(1, 130)]
    latest = [m.content async for m in channel.history(limit=3)]
    assert latest == ["m129", "m128", "m127"]
