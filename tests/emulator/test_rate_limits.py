"""429s on demand: the headers discord.py needs, and the real client retrying until every request lands."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from tests.emulator.conftest import TOKEN, World
from tests.emulator.testbot import OpsTestBot

AUTH = {"Authorization": f"Bot {TOKEN}"}
CALLBACK = "/interactions/{interaction}/{token}/callback"
ORIGINAL = "/webhooks/{app}/{token}/messages/@original"
CHANNEL_MESSAGE = "/channels/{channel}/messages/{message}"


def text_channel(bot: OpsTestBot, world: World) -> discord.TextChannel:
    channel = bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_per_route_and_global_429_shapes(world: World) -> None:
    emu = world.emu
    url = f"{emu.api_base_url}/channels/{world.channel.id}"
    rule = emu.rate_limit("GET", "/channels/{channel}", retry_after=1.5)
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=AUTH) as response:
            assert response.status == 429
            assert response.headers["Content-Type"] == "application/json" and response.headers["Via"]
            assert response.headers["Retry-After"] == "2" and response.headers["X-RateLimit-Scope"] == "user"
            assert response.headers["X-RateLimit-Remaining"] == "0"
            assert response.headers["X-RateLimit-Reset-After"] == "1.500"
            assert response.headers["X-RateLimit-Bucket"] == rule.bucket
            assert "X-RateLimit-Global" not in response.headers
            assert await response.json() == {"message": "You are being rate limited.", "retry_after": 1.5,
                                              "global": False}
        async with http.get(url, headers=AUTH) as response:
            assert response.status == 200
        assert rule.exhausted and rule.landed and rule.hits[0].retried_status == 200
        assert rule.hits[0].path == f"/channels/{world.channel.id}"

        emu.rate_limit_global(retry_after=0.25)
        async with http.get(url, headers=AUTH) as response:
            assert response.status == 429
            assert response.headers["X-RateLimit-Global"] == "true"
            assert response.headers["X-RateLimit-Scope"] == "global" and response.headers["Via"]
            assert "X-RateLimit-Bucket" not in response.headers
            assert (await response.json())["global"] is True

        emu.rate_limit("*", "*", scope="shared")
        async with http.get(url) as response:  # no token: 401 first, no 429 spent on it
            assert response.status == 401
        async with http.get(url, headers=AUTH) as response:
            assert response.headers["X-RateLimit-Scope"] == "shared"
            assert (await response.json())["message"] == "The resource is being rate limited."
    assert [h.scope for h in emu.rate_limit_hits] == ["user", "global", "shared"]
    assert emu.violations == [f"GET /api/v10/channels/{world.channel.id}: 401 0 401: Unauthorized"]
    emu.violations.clear()


def test_global_limit_cannot_be_armed_on_interaction_endpoints(world: World) -> None:
    for path in (CALLBACK, ORIGINAL, "/webhooks/{app}/{token}"):
        with pytest.raises(ValueError, match="interaction endpoints"):
            world.emu.rate_limit("POST", path, scope="global")
    with pytest.raises(ValueError, match="must start with '/'"):
        world.emu.rate_limit("GET", "channels/{channel}")


async def test_message_edit_retried_after_per_route_429s(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    message = await text_channel(bot, world).send("deploying")
    rule = emu.rate_limit("PATCH", CHANNEL_MESSAGE, count=2, retry_after=0.1)
    await message.edit(content="deployed")
    stored = emu.get_message(message.id)
    assert stored.content == "deployed" and stored.edited == 1
    assert [h.retried_status for h in rule.hits] == [429, 200] and rule.landed
    assert all(h.retried_after_s is not None and h.retried_after_s >= 0.09 for h in rule.hits)
    assert {h.path for h in rule.hits} == {f"/channels/{world.channel.id}/messages/{message.id}"}


async def test_global_limit_spares_interactions_and_the_bot_waits_it_out(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    rule = emu.rate_limit_global(retry_after=0.1)
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    assert (await h.wait_message()).content == "pong"
    assert rule.hits == [] and rule.remaining == 1  # the callback was not struck
    await text_channel(bot, world).send("after the global limit")
    [hit] = rule.hits
    assert hit.is_global and hit.landed and hit.path == f"/channels/{world.channel.id}/messages"
    assert [m.content for m in emu.messages(world.channel.id)] == ["pong", "after the global limit"]


async def test_interaction_callback_retried_within_the_window(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    rule = emu.rate_limit("POST", CALLBACK, count=2, retry_after=0.2)
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    assert (await h.wait_message()).content == "pong"
    assert [hit.retried_status for hit in rule.hits] == [429, 200]
    assert h.refused == [] and h.responded_at_ms is not None and h.responded_at_ms >= 390


async def test_replies_edits_and_progress_updates_all_land(world: World, bot: OpsTestBot) -> None:
    emu, channel_id = world.emu, world.channel.id
    rules = [
        emu.rate_limit("POST", CALLBACK),
        emu.rate_limit("PATCH", ORIGINAL, count=3),  # three in a row on the first progress edit
        emu.rate_limit("POST", "/webhooks/{app}/{token}"),
        emu.rate_limit_global(),
        emu.rate_limit("PATCH", CHANNEL_MESSAGE, count=2, scope="shared"),
    ]
    h = await emu.run_command(world.guild.id, channel_id, world.alice.id, "progress", {"steps": 4})
    await emu.wait_until(lambda: all(rule.landed for rule in rules))
    original = h.original
    assert original is not None and original.content == "step 4/4" and original.edited == 4
    assert not original.loading
    assert [m.content for m in h.followups] == ["done after 4 steps"]
    assert [m.content for m in emu.messages(channel_id)] == ["step 4/4", "done after 4 steps", "progress: 4/4"]
    assert emu.messages(channel_id)[-1].edited == 1
    assert len(emu.rate_limit_hits) == 8 and all(hit.retried_status is not None for hit in emu.rate_limit_hits)


async def test_five_429s_in_a_row_fail_the_request(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    rule = emu.rate_limit("POST", "/channels/{channel}/messages", count=5, retry_after=0.01)
    with pytest.raises(discord.HTTPException) as failure:
        await text_channel(bot, world).send("never lands")
    assert failure.value.status == 429
    assert emu.messages(world.channel.id) == []
    assert [h.retried_status for h in rule.hits] == [429, 429, 429, 429, None] and not rule.landed
