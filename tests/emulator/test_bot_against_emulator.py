"""A real discord.py bot against the emulator: login, sync, commands, components, limits, resume."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from tests.conftest import ErrorLogCollector
from tests.emulator.conftest import TOKEN, BotRunner, World
from tests.emulator.testbot import COMMANDS, OpsTestBot


async def test_login_syncs_to_the_guild_only(world: World, bot: OpsTestBot) -> None:
    names = sorted(c["name"] for c in world.emu.synced_commands(world.guild.id))
    assert names == sorted(command.name for command in COMMANDS)
    assert all(c["id"] and c["guild_id"] == str(world.guild.id) for c in world.emu.synced_commands(world.guild.id))
    assert world.emu.global_command_puts == 0
    assert bot.user is not None and bot.user.id == world.emu.bot_user.id
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.get_member(world.alice.id) is not None
    assert guild.chunked


async def test_slash_command_answered(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    callback = await h.wait_response()
    assert callback.type == 4 and h.response_type == 4
    assert h.original is not None and h.original.content == "pong"
    assert h.responded_at_ms is not None and h.responded_at_ms < 1000
    assert world.emu.messages(world.channel.id) == [h.original]


async def test_options_are_typed_per_synced_definition(world: World, bot: OpsTestBot) -> None:
    emu, g, c, a = world.emu, world.guild.id, world.channel.id, world.alice.id
    h = await emu.run_command(g, c, a, "echo", {"text": "hi", "times": 2, "loud": True})
    assert (await h.wait_message()).content == "HIHI (int, bool)"
    h = await emu.run_command(g, c, a, "audit recent", {"limit": 5})
    assert (await h.wait_message()).content == "recent limit=5 type=int"
    h = await emu.run_command(g, c, a, "audit export json", {"days": 2})
    message = await h.wait_message()
    assert message.attachments[0]["content"] == b'{"user": "@alice"}\n' * 2
    h = await emu.run_command(g, c, a, "whois", {"member": world.alice})
    assert (await h.wait_message()).content == "alice roles=team-lead"
    with pytest.raises(ValueError, match="integer"):
        await emu.run_command(g, c, a, "audit recent", {"limit": "5"})
    with pytest.raises(ValueError, match="no option 'count'"):
        await emu.run_command(g, c, a, "echo", {"text": "hi", "count": 1})
    with pytest.raises(ValueError, match="missing required"):
        await emu.run_command(g, c, a, "echo", {})
    with pytest.raises(ValueError, match="no synced slash command 'deploy'"):
        await emu.run_command(g, c, a, "deploy", {})
    with pytest.raises(ValueError, match="needs a subcommand"):
        await emu.run_command(g, c, a, "audit export", {})


async def test_deferred_then_edit_original_and_followup(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "deploy-slow",
                                    {"service": "web"})
    assert (await h.wait_response()).type == 5
    message = await h.wait_message()
    assert message is h.original and message.content == "deploy finished"
    assert message.embeds[0]["title"] == "Deployed web" and not message.loading
    followup = await h.wait_message(predicate=lambda m: m is not h.original)
    assert followup.content == "follow-up: dashboards updated"
    assert h.followups == [followup] and not h.ephemeral


async def test_ephemeral_flag(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.bob.id, "secret")
    message = await h.wait_message()
    assert h.ephemeral and message.ephemeral and message.ephemeral_for == world.bob.id
    assert message in world.emu.messages(world.channel.id)


async def test_file_attachment_bytes(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "audit export json")
    message = await h.wait_message()
    attachment = message.attachments[0]
    assert attachment["filename"] == "audit.jsonl"
    assert attachment["content"] == b'{"user": "@alice"}\n' * 7
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as response:
        assert await response.read() == attachment["content"]


async def test_autocomplete_choices(world: World, bot: OpsTestBot) -> None:
    choices = await world.emu.autocomplete(world.guild.id, world.channel.id, world.alice.id, "audit service",
                                           {"service": "ord"}, focused="service")
    assert choices == [{"name": "order-service", "value": "order-service"}, {"name": "orders-db", "value": "orders-db"}]


async def test_dynamic_button_survives_restart(world: World, runner: BotRunner, bot: OpsTestBot) -> None:
    emu = world.emu
    h = await emu.run_command(world.guild.id, world.channel.id, world.bob.id, "request", {"request": 42})
    message = await h.wait_message()
    assert message.buttons() == [
        {"custom_id": "approve:42", "label": "Approve", "style": 3, "disabled": False, "url": None},
        {"custom_id": "ack:42", "label": "Ack", "style": 2, "disabled": False, "url": None},
    ]
    await runner.stop(bot)
    await runner.start(OpsTestBot(world.guild.id))
    click = await emu.click_button(message.id, "approve:42", world.alice.id)
    assert (await click.wait_response()).type == 7
    assert emu.get_message(message.id).content == "request 42 approved by alice"
    assert emu.get_message(message.id).components == [] and emu.get_message(message.id).edited == 1


async def test_deferred_update_then_edit_of_clicked_message(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    h = await emu.run_command(world.guild.id, world.channel.id, world.bob.id, "request", {"request": 7})
    message = await h.wait_message()
    click = await emu.click_button(message.id, "ack:7", world.alice.id)
    assert (await click.wait_response()).type == 6
    edited = await click.wait_message()
    assert edited.id == message.id and edited.content == "request 7 acknowledged" and edited.edited == 1
    with pytest.raises(ValueError, match="no component 'nope'"):
        await emu.click_button(message.id, "nope", world.alice.id)


async def test_modal_submit(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "reject")
    assert (await h.wait_response()).type == 9
    submitted = await world.emu.submit_modal(h, {"reason": "freeze week"})
    assert (await submitted.wait_message()).content == "rejected: freeze week"


async def test_late_callback_is_refused(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "late")
    await world.emu.wait_until(lambda: bot.refusals, timeout=5)
    assert bot.refusals == [10062]
    assert h.callback is None and h.refused[0]["code"] == 10062
    assert len(world.emu.violations) == 1 and "10062" in world.emu.violations[0]
    world.emu.violations.clear()


async def test_oversize_message_is_refused_and_recorded(world: World, bot: OpsTestBot) -> None:
    h = await world.emu.run_command(world.guild.id, world.channel.id, world.alice.id, "huge")
    assert (await h.wait_message()).content == "shortened"
    assert bot.refusals == [50035]
    assert h.refused[0]["code"] == 50035
    assert h.refused[0]["message"] == "50035 data.content: Must be 2000 or fewer in length."
    assert world.emu.violations == [f"POST /api/v10/interactions/{h.id}/{h.token}/callback: {h.refused[0]['message']}"]
    world.emu.violations.clear()


async def test_unknown_route_is_404_json(world: World, bot: OpsTestBot) -> None:
    headers = {"Authorization": f"Bot {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{world.emu.api_base_url}/no/such/route", headers=headers) as response:
            assert response.status == 404
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["message"].startswith("404")
        async with session.get(f"{world.emu.api_base_url}/users/@me") as response:
            assert response.status == 401
    assert len(world.emu.violations) == 2 and "unknown route" in world.emu.violations[0]
    world.emu.violations.clear()


async def test_threads_reactions_pins_and_events(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "incident", {"title": "db-down"})
    await emu.wait_until(lambda: emu.scheduled_events)
    message = h.original
    assert message is not None
    [thread] = emu.threads
    assert thread.name == "inc-db-down" and thread.type == 11 and thread.parent_id == world.channel.id
    assert [m.content for m in emu.messages(thread.id)] == ["status: investigating"]
    assert emu.reactions[message.id] == ["\N{POLICE CARS REVOLVING LIGHT}"]
    assert emu.pins[world.channel.id] == [message.id]
    [event] = emu.scheduled_events
    assert event.entity_type == 3 and event.entity_metadata == {"location": "Zoom"} and event.status == 1
    assert bot.get_guild(world.guild.id).get_thread(thread.id) is not None  # type: ignore[union-attr]


async def test_resume_after_dropped_connection(world: World, bot: OpsTestBot) -> None:
    emu = world.emu
    await emu.drop_connections()
    # Dispatched while the bot is disconnected: it must arrive through RESUME's replay.
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    assert (await h.wait_message()).content == "pong"
    assert emu.resume_count == 1 and emu.identify_count == 1
    await emu.drop_connections(abort=False)
    await emu.wait_until(lambda: emu.resume_count == 2)
    h = await emu.run_command(world.guild.id, world.channel.id, world.bob.id, "echo", {"text": "still here"})
    assert (await h.wait_message()).content == "still here (int, bool)"


async def test_wrong_token_is_refused(world: World, runner: BotRunner) -> None:
    bot = OpsTestBot(world.guild.id)
    with pytest.raises(discord.LoginFailure):
        await bot.start("wrong-token")
    await bot.close()
    assert world.emu.violations == ["GET /api/v10/users/@me: 401 0 401: Unauthorized"]
    world.emu.violations.clear()


async def test_held_dispatches_stall_the_bot_then_arrive_in_order(world: World, bot: OpsTestBot,
                                                                  error_logs: ErrorLogCollector) -> None:
    emu = world.emu
    emu.hold_dispatches()
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "echo", {"text": "first"})
    later = await emu.run_command(world.guild.id, world.channel.id, world.bob.id, "echo", {"text": "second"})
    with pytest.raises(TimeoutError):
        await h.wait_response(timeout=0.3)
    [session] = emu.gateway_sessions
    assert session.held and session.events()[-2:] == ["INTERACTION_CREATE", "INTERACTION_CREATE"]
    emu.release_dispatches()
    assert (await h.wait_message()).content == "first (int, bool)"
    assert (await later.wait_message()).content == "second (int, bool)"
    assert [m.content for m in emu.messages(world.channel.id)] == ["first (int, bool)", "second (int, bool)"]

    # A stall longer than the 3 s window: the bot answers and Discord says Unknown interaction.
    emu.hold_dispatches()
    late = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "ping")
    late.dispatched_at -= 3.5
    emu.release_dispatches()
    await emu.wait_until(lambda: late.refused)
    assert late.callback is None and late.refused[0]["code"] == 10062
    await emu.wait_until(lambda: error_logs.records)  # discord.py logs the NotFound raised in the command
    assert "ping" in error_logs.records[0].getMessage()
    error_logs.records.clear()
    emu.violations.clear()
