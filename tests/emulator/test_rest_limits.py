"""The emulator's REST rules, driven with raw HTTP: Discord's limits, interaction callback rules, threads."""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.emulator.validation import PayloadError, check_choices
from tests.emulator.conftest import TOKEN, World
from tests.emulator.testbot import OpsTestBot

AUTH = {"Authorization": f"Bot {TOKEN}"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None, *, auth: bool = True,
               **kwargs: Any) -> tuple[int, Any]:
    headers = AUTH if auth else {}
    async with http.request(method, url, json=body, headers=headers, **kwargs) as response:
        if response.status == 204:
            return 204, None
        assert response.headers["Content-Type"] == "application/json"
        return response.status, await response.json()


def button(custom_id: str, label: str = "Go") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


def row(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(items)}


TOO_BIG = [
    ({"content": "x" * 2001}, "content: Must be 2000 or fewer"),
    ({"embeds": [{"title": "t"}] * 11}, "embeds: Must be 10 or fewer"),
    ({"embeds": [{"title": "t" * 257}]}, "embeds.0.title"),
    ({"embeds": [{"description": "d" * 4097}]}, "embeds.0.description"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields: Must be 25 or fewer"),
    ({"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]}, "embeds.0.fields.0.name"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value"),
    ({"embeds": [{"footer": {"text": "f" * 2049}}]}, "embeds.0.footer.text"),
    ({"embeds": [{"author": {"name": "a" * 257}}]}, "embeds.0.author.name"),
    ({"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, "exceeds maximum size of 6000"),
    ({"components": [row(button(f"b{i}")) for i in range(6)]}, "components: Must be 5 or fewer"),
    ({"components": [row(*[button(f"b{i}") for i in range(6)])]}, "components.0.components"),
    ({"components": [row(button("same"), button("same"))]}, "is duplicated"),
    ({"components": [row(button("b", label="l" * 81))]}, "components.0.components.0.label"),
    ({"components": [row(button("c" * 101))]}, "components.0.components.0.custom_id"),
    ({"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}}, "allowed_mentions.users"),
]


@pytest.mark.parametrize(("payload", "expected"), TOO_BIG, ids=[e for _, e in TOO_BIG])
async def test_channel_message_limits(world: World, http: aiohttp.ClientSession, payload: dict[str, Any],
                                      expected: str) -> None:
    status, body = await call(http, "POST", f"{world.emu.api_base_url}/channels/{world.channel.id}/messages", payload)
    assert status == 400 and body["code"] == 50035 and body["message"] == "Invalid Form Body"
    assert len(world.emu.violations) == 1 and expected in world.emu.violations[0]
    assert world.emu.messages(world.channel.id) == []
    world.emu.violations.clear()


async def test_empty_message_and_multipart_files(world: World, http: aiohttp.ClientSession) -> None:
    url = f"{world.emu.api_base_url}/channels/{world.channel.id}/messages"
    status, body = await call(http, "POST", url, {"content": ""})
    assert (status, body["code"]) == (400, 50006)
    world.emu.violations.clear()
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps({"content": "log", "attachments": [{"id": 0, "filename": "a.log"}]}))
    form.add_field("files[0]", b"line 1\nline 2\n", filename="a.log", content_type="application/octet-stream")
    async with http.post(url, data=form, headers=AUTH) as response:
        assert response.status == 200
        sent = await response.json()
    message = world.emu.get_message(int(sent["id"]))
    assert message.attachments[0]["filename"] == "a.log" and message.attachments[0]["content"] == b"line 1\nline 2\n"
    assert sent["attachments"][0]["size"] == 14 and "content" not in sent["attachments"][0]


async def test_command_sync_limits(world: World, http: aiohttp.ClientSession) -> None:
    url = f"{world.emu.api_base_url}/applications/{world.emu.application_id}/guilds/{world.guild.id}/commands"
    option = {"type": 3, "name": "o", "description": "d"}
    bad = [
        {"name": "Deploy", "description": "d"},
        {"name": "x" * 33, "description": "d"},
        {"name": "ok", "description": "d" * 101},
        {"name": "many", "description": "d", "options": [option | {"name": f"o{i}"} for i in range(26)]},
    ]
    for command in bad:
        status, body = await call(http, "PUT", url, [command])
        assert (status, body["code"]) == (400, 50035), command
    assert len(world.emu.violations) == 4
    world.emu.violations.clear()
    status, body = await call(http, "PUT", url, [{"name": "deploy", "description": "Deploy", "options": [option]}])
    assert status == 200 and body[0]["id"] and body[0]["application_id"] == str(world.emu.application_id)
    again = (await call(http, "PUT", url, [{"name": "deploy", "description": "Deploy again"}]))[1]
    assert again[0]["id"] == body[0]["id"]
    assert world.emu.synced_commands(world.guild.id)[0]["description"] == "Deploy again"
    global_url = f"{world.emu.api_base_url}/applications/{world.emu.application_id}/commands"
    assert (await call(http, "PUT", global_url, []))[0] == 200
    assert world.emu.global_command_puts == 1


def test_autocomplete_choice_limits() -> None:
    check_choices([{"name": f"c{i}", "value": f"c{i}"} for i in range(25)])
    with pytest.raises(PayloadError, match="25 or fewer"):
        check_choices([{"name": f"c{i}", "value": i} for i in range(26)])
    with pytest.raises(PayloadError, match="choices.0.name"):
        check_choices([{"name": "", "value": "v"}])
    with pytest.raises(PayloadError, match="choices.0.name"):
        check_choices([{"name": "n" * 101, "value": "v"}])


async def test_callback_and_webhook_rules(world: World, bot: OpsTestBot, http: aiohttp.ClientSession) -> None:
    emu = world.emu
    h = await emu.run_command(world.guild.id, world.channel.id, world.alice.id, "hold")
    callback = f"{emu.api_base_url}/interactions/{h.id}/{h.token}/callback"
    webhook = f"{emu.api_base_url}/webhooks/{emu.application_id}/{h.token}"
    status, body = await call(http, "POST", webhook, {"content": "too early"}, auth=False, params={"wait": "1"})
    assert (status, body["code"]) == (404, 10015)
    status, body = await call(http, "POST", callback, {"type": 8, "data": {"choices": []}}, auth=False)
    assert (status, body["code"]) == (400, 50035)  # autocomplete answer to a slash command
    status, body = await call(http, "POST", callback, {"type": 4, "data": {"content": "ok"}}, auth=False,
                              params={"with_response": "1"})
    assert status == 200 and body["interaction"]["id"] == str(h.id) and body["resource"]["type"] == 4
    assert body["resource"]["message"]["content"] == "ok"
    status, body = await call(http, "POST", callback, {"type": 4, "data": {"content": "twice"}}, auth=False)
    assert (status, body["code"]) == (400, 40060)
    status, sent = await call(http, "POST", webhook, {"content": "more", "flags": 64}, auth=False,
                              params={"wait": "true"})
    assert status == 200 and sent["flags"] == 64
    assert h.followups[0].ephemeral and h.followups[0].ephemeral_for == world.alice.id
    status, edited = await call(http, "PATCH", f"{webhook}/messages/@original", {"content": "edited"}, auth=False)
    assert status == 200 and edited["content"] == "edited" and h.original and h.original.edited == 1
    assert (await call(http, "GET", f"{webhook}/messages/{sent['id']}", auth=False))[0] == 200
    assert (await call(http, "DELETE", f"{webhook}/messages/{sent['id']}", auth=False))[0] == 204
    assert h.followups == []
    assert (await call(http, "GET", f"{webhook}/messages/{sent['id']}", auth=False))[0] == 404
    h.dispatched_at -= 15 * 60  # the token is valid for 15 minutes
    status, body = await call(http, "POST", webhook, {"content": "late"}, auth=False, params={"wait": "1"})
    assert (status, body["code"]) == (401, 50027)
    assert [v.split(": ", 1)[1][:9] for v in emu.violations] == [
        "404 10015", "50035 typ", "400 40060", "404 10008", "401 50027"
    ]
    emu.violations.clear()


async def test_threads_events_pins_reactions(world: World, http: aiohttp.ClientSession) -> None:
    emu, api = world.emu, world.emu.api_base_url
    channel = f"{api}/channels/{world.channel.id}"
    assert (await call(http, "POST", f"{channel}/threads", {"name": "t" * 101}))[0] == 400
    assert (await call(http, "POST", f"{channel}/threads", {"name": "t", "auto_archive_duration": 30}))[0] == 400
    status, thread = await call(http, "POST", f"{channel}/threads", {"name": "inc-1", "auto_archive_duration": 60})
    assert status == 201 and thread["type"] == 12 and thread["thread_metadata"]["auto_archive_duration"] == 60
    assert (await call(http, "POST", f"{api}/channels/{thread['id']}/messages", {"content": "in thread"}))[0] == 200
    assert [m.content for m in emu.messages(int(thread["id"]))] == ["in thread"]
    status, archived = await call(http, "PATCH", f"{api}/channels/{thread['id']}", {"archived": True})
    assert archived["thread_metadata"]["archived"] and emu.get_channel(int(thread["id"])).archived
    _, message = await call(http, "POST", f"{channel}/messages", {"content": "starter"})
    status, started = await call(http, "POST", f"{channel}/messages/{message['id']}/threads", {"name": "from msg"})
    assert status == 201 and started["id"] == message["id"] and started["type"] == 11
    assert emu.get_message(int(message["id"])).thread_id == int(started["id"])
    assert (await call(http, "PUT", f"{channel}/pins/{message['id']}"))[0] == 204
    assert (await call(http, "PUT", f"{channel}/messages/pins/{message['id']}"))[0] == 204
    assert emu.pins[world.channel.id] == [int(message["id"])]
    emoji = "%E2%9C%85"  # ✅, percent-encoded as discord.py sends it
    assert (await call(http, "PUT", f"{channel}/messages/{message['id']}/reactions/{emoji}/@me"))[0] == 204
    assert emu.reactions[int(message["id"])] == ["\N{WHITE HEAVY CHECK MARK}"]
    assert (await call(http, "DELETE", f"{channel}/messages/{message['id']}/reactions/{emoji}/@me"))[0] == 204
    assert emu.reactions[int(message["id"])] == []
    start = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=1)
    event = {"name": "Postmortem", "privacy_level": 2, "entity_type": 3, "scheduled_start_time": start.isoformat(),
             "scheduled_end_time": (start + datetime.timedelta(hours=1)).isoformat(), "channel_id": None,
             "entity_metadata": {"location": "Zoom"}}
    events = f"{api}/guilds/{world.guild.id}/scheduled-events"
    for broken in ({"entity_metadata": None}, {"scheduled_end_time": None}, {"channel_id": str(world.channel.id)},
                   {"scheduled_start_time": "2001-01-01T00:00:00Z"}, {"privacy_level": 1}):
        assert (await call(http, "POST", events, event | broken))[0] == 400, broken
    status, created = await call(http, "POST", events, event)
    assert status == 200 and created["status"] == 1 and emu.scheduled_events[0].name == "Postmortem"
    assert len(emu.violations) == 7
    emu.violations.clear()


async def test_guild_reads(world: World, http: aiohttp.ClientSession) -> None:
    api = f"{world.emu.api_base_url}/guilds/{world.guild.id}"
    assert (await call(http, "GET", api))[1]["name"] == "Opscord Test"
    assert [c["name"] for c in (await call(http, "GET", f"{api}/channels"))[1]] == ["deployments"]
    member = (await call(http, "GET", f"{api}/members/{world.alice.id}"))[1]
    assert member["user"]["username"] == "alice" and member["roles"] == [str(world.lead.id)]
    roles = (await call(http, "GET", f"{api}/roles"))[1]
    assert {r["name"] for r in roles} == {"@everyone", "team-lead"} and roles[0]["id"] == str(world.guild.id)
    assert (await call(http, "GET", f"{world.emu.api_base_url}/channels/{world.channel.id}", auth=False))[0] == 401
    assert (await call(http, "GET", f"{api}/members/123"))[1]["code"] == 10007
    assert len(world.emu.violations) == 2
    world.emu.violations.clear()
