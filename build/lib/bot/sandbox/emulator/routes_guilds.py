"""Guild routes: the guild, its channels, members and roles, and scheduled events."""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.emulator.http_utils import (
    UNKNOWN_EVENT,
    UNKNOWN_GUILD,
    UNKNOWN_MEMBER,
    not_found,
    read_body,
    reply,
    snowflake,
    state_of,
)
from bot.sandbox.emulator.models import Guild, ScheduledEvent
from bot.sandbox.emulator.payloads import (
    channel_payload,
    guild_payload,
    member_payload,
    role_payload,
    scheduled_event_payload,
)
from bot.sandbox.emulator.state import EmulatorState
from bot.sandbox.emulator.validation import Problems, check_scheduled_event

routes = web.RouteTableDef()
EVENT_STATUSES = frozenset({1, 2, 3, 4})


def _guild(request: web.Request) -> Guild:
    guild = state_of(request).guilds.get(snowflake(request, "guild"))
    if guild is None:
        raise not_found(UNKNOWN_GUILD, "Guild")
    return guild


@routes.get("/api/v10/guilds/{guild}")
async def get_guild(request: web.Request) -> web.Response:
    """The guild with its roles."""
    guild = _guild(request)
    return reply(guild_payload(guild) | {"approximate_member_count": len(guild.members)})


@routes.get("/api/v10/guilds/{guild}/channels")
async def get_channels(request: web.Request) -> web.Response:
    """The guild's channels (threads are listed by /threads/active)."""
    return reply([channel_payload(c) for c in _guild(request).channels.values() if not c.is_thread])


@routes.get("/api/v10/guilds/{guild}/threads/active")
async def get_active_threads(request: web.Request) -> web.Response:
    """Threads that are not archived."""
    threads = [c for c in _guild(request).channels.values() if c.is_thread and not c.archived]
    return reply({"threads": [channel_payload(t) for t in threads], "members": []})


@routes.get("/api/v10/guilds/{guild}/members/{user}")
async def get_member(request: web.Request) -> web.Response:
    """One member."""
    member = _guild(request).members.get(snowflake(request, "user"))
    if member is None:
        raise not_found(UNKNOWN_MEMBER, "Member")
    return reply(member_payload(member))


@routes.get("/api/v10/guilds/{guild}/members")
async def list_members(request: web.Request) -> web.Response:
    """Members in id order (``limit``, ``after``)."""
    after = int(request.query.get("after", 0))
    limit = max(1, min(1000, int(request.query.get("limit", 1))))
    members = sorted((m for m in _guild(request).members.values() if m.id > after), key=lambda m: m.id)
    return reply([member_payload(m) for m in members[:limit]])


@routes.get("/api/v10/guilds/{guild}/roles")
async def get_roles(request: web.Request) -> web.Response:
    """The guild's roles."""
    return reply([role_payload(r) for r in _guild(request).roles.values()])


def _event_json(state: EmulatorState, event: ScheduledEvent) -> dict[str, object]:
    return scheduled_event_payload(event, state.users[event.creator_id])


@routes.post("/api/v10/guilds/{guild}/scheduled-events")
async def create_event(request: web.Request) -> web.Response:
    """Create a scheduled event (status 1, scheduled) after checking Discord's rules."""
    state = state_of(request)
    guild = _guild(request)
    payload, _ = await read_body(request)
    check_scheduled_event(payload, channel_ids=set(guild.channels))
    event = ScheduledEvent(
        id=state.ids.next(), guild_id=guild.id, name=payload["name"], entity_type=int(payload["entity_type"]),
        scheduled_start_time=payload["scheduled_start_time"], creator_id=state.bot_user.id,
        privacy_level=int(payload["privacy_level"]), description=payload.get("description"),
        channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
        scheduled_end_time=payload.get("scheduled_end_time"), entity_metadata=payload.get("entity_metadata"),
    )
    state.scheduled_events[event.id] = event
    data = _event_json(state, event)
    state.dispatch("GUILD_SCHEDULED_EVENT_CREATE", data)
    return reply(data)


@routes.get("/api/v10/guilds/{guild}/scheduled-events")
async def list_events(request: web.Request) -> web.Response:
    """The guild's scheduled events."""
    state = state_of(request)
    guild = _guild(request)
    return reply([_event_json(state, e) for e in state.scheduled_events.values() if e.guild_id == guild.id])


def _event(request: web.Request) -> ScheduledEvent:
    guild = _guild(request)
    event = state_of(request).scheduled_events.get(snowflake(request, "event"))
    if event is None or event.guild_id != guild.id:
        raise not_found(UNKNOWN_EVENT, "Guild Scheduled Event")
    return event


@routes.get("/api/v10/guilds/{guild}/scheduled-events/{event}")
async def get_event(request: web.Request) -> web.Response:
    """One scheduled event."""
    return reply(_event_json(state_of(request), _event(request)))


@routes.patch("/api/v10/guilds/{guild}/scheduled-events/{event}")
async def edit_event(request: web.Request) -> web.Response:
    """Edit a scheduled event (name, description, times, location, status)."""
    state = state_of(request)
    event = _event(request)
    payload, _ = await read_body(request)
    problems = Problems()
    if "name" in payload:
        problems.length("name", payload["name"], 100, minimum=1)
    if "status" in payload and payload["status"] not in EVENT_STATUSES:
        problems.add("status", "Value must be one of {1, 2, 3, 4}.")
    problems.raise_if_any()
    for key in ("name", "description", "scheduled_start_time", "scheduled_end_time", "entity_metadata"):
        if key in payload:
            setattr(event, key, payload[key])
    event.status = int(payload.get("status", event.status))
    data = _event_json(state, event)
    state.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", data)
    return reply(data)


@routes.delete("/api/v10/guilds/{guild}/scheduled-events/{event}")
async def delete_event(request: web.Request) -> web.Response:
    """Delete a scheduled event."""
    state = state_of(request)
    event = _event(request)
    del state.scheduled_events[event.id]
    state.dispatch("GUILD_SCHEDULED_EVENT_DELETE", _event_json(state, event))
    return web.Response(status=204)
