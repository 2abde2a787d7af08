"""Reactions by members and by the bot: the gateway events discord.py parses, counts, and the intent."""

from __future__ import annotations

from typing import Any

import aiohttp
import discord
import pytest

from bot.sandbox.emulator.models import ADD_REACTIONS
from tests.emulator.conftest import TOKEN, BotRunner, World
from tests.emulator.testbot import OpsTestBot

CHECK, CROSS = "\N{WHITE HEAVY CHECK MARK}", "\N{CROSS MARK}"
AUTH = {"Authorization": f"Bot {TOKEN}"}


def text_channel(bot: OpsTestBot, world: World) -> discord.TextChannel:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def summary(message: discord.Message) -> list[tuple[str, int, bool]]:
    return [(str(r.emoji), r.count, r.me) for r in message.reactions]


async def test_member_reactions_reach_the_bot_like_clicks(world: World, bot: OpsTestBot) -> None:
    emu, alice = world.emu, world.alice
    assert bot.user is not None
    channel = text_channel(bot, world)
    message = await channel.send("deploy web to prod? react to decide")
    await message.add_reaction(CHECK)
    await message.add_reaction(CROSS)
    await emu.react(message.id, alice.id, CHECK)

    raw = await emu.wait_until(lambda: next((p for p in bot.raw_reactions if p.user_id == alice.id), None))
    assert raw.event_type == "REACTION_ADD" and raw.emoji.name == CHECK and raw.emoji.id is None
    assert (raw.message_id, raw.channel_id, raw.guild_id) == (message.id, channel.id, world.guild.id)
    assert raw.message_author_id == bot.user.id and raw.burst is False and raw.type is discord.ReactionType.normal
    assert raw.member is not None and raw.member.name == "alice"
    assert world.lead.id in [role.id for role in raw.member.roles]
    # The bot's own reactions arrive too, before alice's.
    assert [(p.user_id, str(p.emoji)) for p in bot.raw_reactions] == [
        (bot.user.id, CHECK), (bot.user.id, CROSS), (alice.id, CHECK)
    ]
    assert emu.get_message(message.id).reactions == {CHECK: [bot.user.id, alice.id], CROSS: [bot.user.id]}
    assert emu.reactions[message.id] == [CHECK, CROSS]
    assert bot.cached_reactions[-1] == ("add", CHECK, 2, alice.id)  # the cached message counts along

    fetched = await channel.fetch_message(message.id)
    assert summary(fetched) == [(CHECK, 2, True), (CROSS, 1, True)]
    assert sorted([u.id async for u in fetched.reactions[0].users()]) == sorted([bot.user.id, alice.id])

    await emu.unreact(message.id, alice.id, CHECK)
    removed = await emu.wait_until(lambda: next((p for p in bot.raw_reactions if p.event_type == "REACTION_REMOVE"),
                                                None))
    assert removed.user_id == alice.id and removed.member is None and removed.emoji.name == CHECK
    assert removed.guild_id == world.guild.id and removed.message_author_id is None
    assert bot.cached_reactions[-1] == ("remove", CHECK, 1, alice.id)
    assert summary(await channel.fetch_message(message.id)) == [(CHECK, 1, True), (CROSS, 1, True)]


async def test_bot_removes_and_clears_reactions(world: World, bot: OpsTestBot) -> None:
    emu, alice, bob = world.emu, world.alice, world.bob
    message = await text_channel(bot, world).send("approve?")
    await emu.react(message.id, alice.id, CHECK)
    await emu.react(message.id, bob.id, CHECK)
    await emu.react(message.id, bob.id, CROSS)
    member = bot.get_guild(world.guild.id).get_member(bob.id)  # type: ignore[union-attr]
    assert member is not None
    await message.remove_reaction(CHECK, member)  # bob may not approve: the bot takes it away
    await emu.wait_until(lambda: any(p.event_type == "REACTION_REMOVE" for p in bot.raw_reactions))
    assert emu.get_message(message.id).reactions == {CHECK: [alice.id], CROSS: [bob.id]}
    await message.clear_reaction(CROSS)
    assert emu.get_message(message.id).reactions == {CHECK: [alice.id]}
    await message.clear_reactions()
    assert emu.get_message(message.id).reactions == {}
    cached = await emu.wait_until(lambda: next((m for m in bot.cached_messages if m.id == message.id), None))
    await emu.wait_until(lambda: cached.reactions == [])
    assert "reactions" not in emu.state.message_json(emu.get_message(message.id))


async def test_reaction_events_need_the_reactions_intent(world: World, runner: BotRunner) -> None:
    emu = world.emu
    intents = discord.Intents.default()
    intents.members = True
    intents.reactions = False
    bot = await runner.start(OpsTestBot(world.guild.id, intents=intents))
    assert isinstance(bot, OpsTestBot) and bot.user is not None
    [session] = emu.gateway_sessions
    assert session.intents == intents.value and not session.intents & (1 << 10)
    message = await text_channel(bot, world).send("approve?")
    await message.add_reaction(CHECK)
    await emu.react(message.id, world.alice.id, CHECK)
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    assert (await h.wait_message()).content == "pong"  # dispatched after the reactions, handled by now
    assert bot.raw_reactions == [] and bot.cached_reactions == []
    assert "INTERACTION_CREATE" in session.events() and "MESSAGE_REACTION_ADD" not in session.events()
    # Not announced, still there: the message shows the counts.
    fetched = await text_channel(bot, world).fetch_message(message.id)
    assert summary(fetched) == [(CHECK, 2, True)]


async def test_reaction_payloads_and_rules(world: World) -> None:
    emu, alice, bob = world.emu, world.alice, world.bob
    api = f"{emu.api_base_url}/channels/{world.channel.id}/messages"
    async with aiohttp.ClientSession() as http:

        async def call(method: str, url: str) -> tuple[int, Any]:
            async with http.request(method, url, headers=AUTH) as response:
                return response.status, (None if response.status == 204 else await response.json())

        async with http.post(api, json={"content": "vote"}, headers=AUTH) as response:
            message_id = int((await response.json())["id"])
        reactions = f"{api}/{message_id}/reactions"
        assert (await call("PUT", f"{reactions}/%E2%9C%85/@me"))[0] == 204
        assert (await call("PUT", f"{reactions}/%E2%9C%85/@me"))[0] == 204  # again: no change
        assert (await call("PUT", f"{reactions}/party:123/@me"))[0] == 204
        await emu.react(message_id, alice.id, CHECK)
        await emu.react(message_id, bob.id, "<:party:123>")
        _, body = await call("GET", f"{api}/{message_id}")
        assert body["reactions"] == [
            {"emoji": {"id": None, "name": CHECK}, "count": 2, "count_details": {"burst": 0, "normal": 2},
             "me": True, "me_burst": False, "burst_colors": []},
            {"emoji": {"id": "123", "name": "party", "animated": False}, "count": 2,
             "count_details": {"burst": 0, "normal": 2}, "me": True, "me_burst": False, "burst_colors": []},
        ]
        _, users = await call("GET", f"{reactions}/%E2%9C%85?limit=1")
        assert [u["id"] for u in users] == [str(min(emu.bot_user.id, alice.id))]
        assert (await call("GET", f"{reactions}/%F0%9F%8E%89"))[1] == []
        assert (await call("DELETE", f"{reactions}/%E2%9C%85/@me"))[0] == 204
        assert emu.get_message(message_id).reactions[CHECK] == [alice.id]

        for emoji in range(18):
            await emu.react(message_id, alice.id, chr(0x1F600 + emoji))
        status, body = await call("PUT", f"{reactions}/%F0%9F%8E%89/@me")
        assert (status, body["code"]) == (400, 30010)
        with pytest.raises(ValueError, match="20 different reactions"):
            await emu.react(message_id, bob.id, "\N{PARTY POPPER}")
        await emu.react(message_id, bob.id, CHECK)  # an existing emoji needs no free slot
    with pytest.raises(ValueError, match="already reacted"):
        await emu.react(message_id, bob.id, CHECK)
    with pytest.raises(ValueError, match="has not reacted"):
        await emu.unreact(message_id, bob.id, CROSS)
    with pytest.raises(ValueError, match="neither a unicode emoji"):
        await emu.react(message_id, bob.id, "not:an:emoji")
    emu.get_guild(world.guild.id).roles[world.guild.id].permissions &= ~ADD_REACTIONS
    other = await emu.post_message(world.channel.id, alice.id, "no new reactions here")
    with pytest.raises(ValueError, match="Add Reactions"):
        await emu.react(other.id, bob.id, CHECK)
    assert emu.violations == [f"PUT /api/v10/channels/{world.channel.id}/messages/{message_id}/reactions/"
                              f"\N{PARTY POPPER}/@me: 400 30010 Maximum number of reactions reached (20)"]
    emu.violations.clear()
