"""The gateway protocol, driven with a raw websocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulator.conftest import TOKEN, World


@pytest.fixture
async def ws(world: World) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as session:
        url = f"{world.emu.gateway_url}?v=10&encoding=json&compress=zlib-stream"
        async with session.ws_connect(url) as socket:
            yield socket


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=2)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def identify(ws: aiohttp.ClientWebSocketResponse, token: str = TOKEN) -> None:
    assert (await receive(ws))["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": token, "intents": 513, "properties": {}}})


async def test_hello_heartbeat_identify_ready(world: World, ws: aiohttp.ClientWebSocketResponse) -> None:
    assert (await receive(ws))["d"]["heartbeat_interval"] > 0
    await ws.send_json({"op": 1, "d": None})
    assert (await receive(ws)) == {"op": 11}
    await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {}}})
    ready = await receive(ws)
    assert (ready["t"], ready["s"]) == ("READY", 1)
    assert ready["d"]["resume_gateway_url"] == world.emu.gateway_url
    assert ready["d"]["guilds"] == [{"id": str(world.guild.id), "unavailable": True}]
    assert ready["d"]["application"] == {"id": str(world.emu.application_id), "flags": 0}
    guild = await receive(ws)
    assert (guild["t"], guild["s"]) == ("GUILD_CREATE", 2)
    assert guild["d"]["member_count"] == len(guild["d"]["members"]) == 3
    assert all("flags" in m for m in guild["d"]["members"])
    await world.emu.wait_ready()


async def test_request_members_echoes_nonce(world: World, ws: aiohttp.ClientWebSocketResponse) -> None:
    await identify(ws)
    await receive(ws)
    await receive(ws)
    await ws.send_json({"op": 8, "d": {"guild_id": str(world.guild.id), "query": "al", "limit": 0, "nonce": "n1"}})
    chunk = await receive(ws)
    assert chunk["t"] == "GUILD_MEMBERS_CHUNK" and chunk["d"]["nonce"] == "n1"
    assert [m["user"]["username"] for m in chunk["d"]["members"]] == ["alice"]


async def test_wrong_token_closes_4004(world: World, ws: aiohttp.ClientWebSocketResponse) -> None:
    await identify(ws, token="nope")
    msg = await ws.receive(timeout=2)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4004
    assert world.emu.violations == ["gateway: IDENTIFY with a wrong token"]
    world.emu.violations.clear()


async def test_resume_unknown_session_is_invalid(world: World, ws: aiohttp.ClientWebSocketResponse) -> None:
    assert (await receive(ws))["op"] == 10
    await ws.send_json({"op": 6, "d": {"token": TOKEN, "session_id": "nope", "seq": 3}})
    assert (await receive(ws)) == {"op": 9, "d": False, "s": None, "t": None}


async def test_the_members_intent_is_refused_when_the_portal_has_it_off(world: World,
                                                                         ws: aiohttp.ClientWebSocketResponse) -> None:
    world.emu.refuse_members_intent()
    assert (await receive(ws))["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 513 | (1 << 1), "properties": {}}})
    closed = await ws.receive(timeout=2)
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4014


async def test_a_guild_the_bot_was_not_invited_to(world: World, ws: aiohttp.ClientWebSocketResponse) -> None:
    other = world.emu.add_guild("Not invited", invite_bot=False)
    await identify(ws)
    ready = await receive(ws)
    assert {g["id"] for g in ready["d"]["guilds"]} == {str(world.guild.id)}
    headers = {"Authorization": f"Bot {TOKEN}"}
    app = world.emu.application_id
    async with aiohttp.ClientSession(headers=headers) as session:
        for guild_id, status, code in ((other.id, 403, 50001), (123, 404, 10004)):
            url = f"{world.emu.api_base_url}/applications/{app}/guilds/{guild_id}/commands"
            async with session.get(url) as resp:
                assert resp.status == status and (await resp.json())["code"] == code
    world.emu.violations.clear()
