"""Channel routes: messages, threads and pins (Authorization: Bot <token> required)."""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.emulator.http_utils import (
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    DiscordError,
    no_content,
    not_found,
    read_body,
    read_message,
    reply,
    snowflake,
    state_of,
)
from bot.sandbox.emulator.models import JSON, PRIVATE_THREAD, PUBLIC_THREAD, THREAD_TYPES, Channel, Message
from bot.sandbox.emulator.payloads import channel_payload
from bot.sandbox.emulator.snowflake import iso_now
from bot.sandbox.emulator.state import EmulatorState
from bot.sandbox.emulator.validation import Problems, check_thread

routes = web.RouteTableDef()


def find_channel(request: web.Request) -> Channel:
    """The channel or thread named by the ``{channel}`` path parameter (404 10003 if unknown)."""
    channel = state_of(request).channels.get(snowflake(request, "channel"))
    if channel is None:
        raise not_found(UNKNOWN_CHANNEL, "Channel")
    return channel


def find_message(request: web.Request, channel: Channel) -> Message:
    """The ``{message}`` of ``channel`` (404 10008 if unknown, deleted or ephemeral)."""
    message = state_of(request).messages.get(snowflake(request, "message"))
    if message is None or message.channel_id != channel.id or message.ephemeral:
        raise not_found(UNKNOWN_MESSAGE, "Message")
    return message


def _thread_event(thread: Channel, *, created: bool = False) -> JSON:
    data = channel_payload(thread)
    if created:
        data["newly_created"] = True
    return data


@routes.get("/api/v10/channels/{channel}")
async def get_channel(request: web.Request) -> web.Response:
    """A channel or thread."""
    return reply(channel_payload(find_channel(request)))


@routes.patch("/api/v10/channels/{channel}")
async def edit_channel(request: web.Request) -> web.Response:
    """Rename/topic a channel, or rename, archive, lock a thread."""
    state = state_of(request)
    channel = find_channel(request)
    payload, _ = await read_body(request)
    if channel.is_thread:
        check_thread(payload, allowed_types=frozenset(), creating=False)
        channel.name = payload.get("name", channel.name)
        channel.auto_archive_duration = payload.get("auto_archive_duration", channel.auto_archive_duration)
        channel.invitable = payload.get("invitable", channel.invitable)
        channel.locked = payload.get("locked", channel.locked)
        if "archived" in payload and payload["archived"] != channel.archived:
            channel.archived = bool(payload["archived"])
            channel.archive_timestamp = iso_now()
        state.dispatch("THREAD_UPDATE", _thread_event(channel))
    else:
        problems = Problems()
        if "name" in payload:
            problems.length("name", payload["name"], 100, minimum=1)
        if payload.get("topic") is not None:
            problems.length("topic", payload["topic"], 1024)
        problems.raise_if_any()
        channel.name = payload.get("name", channel.name)
        channel.topic = payload.get("topic", channel.topic)
        state.dispatch("CHANNEL_UPDATE", channel_payload(channel))
    return reply(channel_payload(channel))


@routes.get("/api/v10/channels/{channel}/messages/pins")
async def list_pins(request: web.Request) -> web.Response:
    """Pinned messages, newest pin first (the current paginated shape)."""
    state = state_of(request)
    channel = find_channel(request)
    items = [
        {"pinned_at": state.pinned_at.get(mid, iso_now()), "message": state.message_json(state.messages[mid])}
        for mid in reversed(state.pins.get(channel.id, []))
        if mid in state.messages
    ]
    return reply({"items": items, "has_more": False})


@routes.get("/api/v10/channels/{channel}/pins")
async def list_pins_legacy(request: web.Request) -> web.Response:
    """Pinned messages (the older list shape)."""
    state = state_of(request)
    channel = find_channel(request)
    pinned = [state.messages[mid] for mid in reversed(state.pins.get(channel.id, [])) if mid in state.messages]
    return reply([state.message_json(m) for m in pinned])


@routes.put("/api/v10/channels/{channel}/pins/{message}")
@routes.put("/api/v10/channels/{channel}/messages/pins/{message}")
async def pin(request: web.Request) -> web.Response:
    """Pin a message."""
    state = state_of(request)
    message = find_message(request, find_channel(request))
    message.pinned = True
    pins = state.pins.setdefault(message.channel_id, [])
    if message.id not in pins:
        pins.append(message.id)
        state.pinned_at[message.id] = iso_now()
    return no_content()


@routes.delete("/api/v10/channels/{channel}/pins/{message}")
@routes.delete("/api/v10/channels/{channel}/messages/pins/{message}")
async def unpin(request: web.Request) -> web.Response:
    """Unpin a message."""
    state = state_of(request)
    message = find_message(request, find_channel(request))
    message.pinned = False
    if message.id in state.pins.get(message.channel_id, []):
        state.pins[message.channel_id].remove(message.id)
    return no_content()


@routes.post("/api/v10/channels/{channel}/messages")
async def create_message(request: web.Request) -> web.Response:
    """Send a message (JSON or multipart with files) to a channel or thread."""
    state = state_of(request)
    channel = find_channel(request)
    payload, files = await read_message(request, creating=True)
    if channel.is_thread and channel.locked and channel.archived:
        raise DiscordError(403, 50083, "Thread is locked")
    payload["flags"] = int(payload.get("flags") or 0) & ~64  # ephemeral exists only for interactions
    message = state.create_message(channel.id, state.bot_user.id, payload, files)
    return reply(state.message_json(message))


@routes.get("/api/v10/channels/{channel}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Channel history as Discord pages it: newest first; with ``after``, the page right after that id."""
    state = state_of(request)
    channel = find_channel(request)
    history = sorted((m for m in state.channel_messages.get(channel.id, []) if not m.ephemeral), key=lambda m: m.id)
    if "before" in request.query:
        history = [m for m in history if m.id < int(request.query["before"])]
    limit = max(1, min(100, int(request.query.get("limit", 50))))
    if "after" in request.query and "before" not in request.query:
        page = [m for m in history if m.id > int(request.query["after"])][:limit]  # the oldest after it
    else:
        if "after" in request.query:
            history = [m for m in history if m.id > int(request.query["after"])]
        page = history[-limit:]
    return reply([state.message_json(m) for m in reversed(page)])


@routes.get("/api/v10/channels/{channel}/messages/{message}")
async def get_message(request: web.Request) -> web.Response:
    """One message."""
    return reply(state_of(request).message_json(find_message(request, find_channel(request))))


@routes.patch("/api/v10/channels/{channel}/messages/{message}")
async def edit_message(request: web.Request) -> web.Response:
    """Edit a message the bot sent."""
    state = state_of(request)
    message = find_message(request, find_channel(request))
    if message.author_id != state.bot_user.id:
        raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
    payload, files = await read_message(request, creating=False)
    state.edit_message(message, payload, files)
    return reply(state.message_json(message))


@routes.delete("/api/v10/channels/{channel}/messages/{message}")
async def delete_message(request: web.Request) -> web.Response:
    """Delete a message."""
    state = state_of(request)
    state.delete_message(find_message(request, find_channel(request)))
    return no_content()


def _new_thread(state: EmulatorState, parent: Channel, payload: JSON, *, kind: int, thread_id: int | None) -> Channel:
    if parent.is_thread:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    thread = Channel(
        id=thread_id or state.ids.next(), guild_id=parent.guild_id, name=str(payload["name"]), type=kind,
        parent_id=parent.id, owner_id=state.bot_user.id,
        auto_archive_duration=int(payload.get("auto_archive_duration") or 1440),
        invitable=bool(payload.get("invitable", True)),
    )
    state.channels[thread.id] = thread
    state.guilds[parent.guild_id].channels[thread.id] = thread
    state.dispatch("THREAD_CREATE", _thread_event(thread, created=True))
    return thread


@routes.post("/api/v10/channels/{channel}/threads")
async def create_thread(request: web.Request) -> web.Response:
    """A thread without a starter message: private (12) unless type 11 is asked for."""
    state = state_of(request)
    parent = find_channel(request)
    payload, _ = await read_body(request)
    check_thread(payload, allowed_types=THREAD_TYPES, creating=True)
    kind = int(payload.get("type") or PRIVATE_THREAD)
    thread = _new_thread(state, parent, payload, kind=kind, thread_id=None)
    return reply(channel_payload(thread), 201)


@routes.post("/api/v10/channels/{channel}/messages/{message}/threads")
async def create_message_thread(request: web.Request) -> web.Response:
    """A public thread started from a message; like Discord, the thread takes the message's id."""
    state = state_of(request)
    parent = find_channel(request)
    message = find_message(request, parent)
    payload, _ = await read_body(request)
    check_thread(payload, allowed_types=THREAD_TYPES, creating=True)
    if message.thread_id is not None:
        raise DiscordError(400, 160004, "A thread has already been created for this message")
    thread = _new_thread(state, parent, payload, kind=PUBLIC_THREAD, thread_id=message.id)
    thread.starter_message_id = message.id
    message.thread_id = thread.id
    return reply(channel_payload(thread), 201)
