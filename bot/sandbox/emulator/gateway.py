"""The gateway websocket: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME and dispatches.

Every frame is sent as TEXT whatever ``compress`` the client asked for (discord.py accepts plain
text in every mode). Each session numbers its dispatches and keeps the recent ones, so a client
whose connection was dropped can RESUME and receive what it missed, as on Discord; tests can also
hold dispatches back (a stalled link: the bot hears nothing) and release them later. Reaction events
go only to sessions whose IDENTIFY ``intents`` include ``GUILD_MESSAGE_REACTIONS`` (1 << 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque

from aiohttp import WSMsgType, web

from bot.sandbox.emulator.models import JSON
from bot.sandbox.emulator.payloads import guild_create_payload, member_payload, scheduled_event_payload, user_payload
from bot.sandbox.emulator.state import EmulatorState

_log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 8, 9, 10, 11
DECODE_ERROR, NOT_AUTHENTICATED, AUTHENTICATION_FAILED, DISALLOWED_INTENTS = 4002, 4003, 4004, 4014
GUILD_MEMBERS = 1 << 1
REPLAY_BUFFER = 5000
GUILD_MESSAGE_REACTIONS = 1 << 10
EVENT_INTENTS = {
    "MESSAGE_REACTION_ADD": GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE_ALL": GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE_EMOJI": GUILD_MESSAGE_REACTIONS,
}
"""Events sent only to sessions that IDENTIFYed with the intent (the emulator has guild messages only)."""


class Connection:
    """One websocket; frames go through a queue so dispatches keep their order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        """Start the writer task for ``ws``."""
        self.ws = ws
        self.transport = request.transport
        self.session: Session | None = None
        self.dropped = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    def send(self, frame: str) -> None:
        """Queue a serialized frame."""
        self.queue.put_nowait(frame)

    async def _write(self) -> None:
        while (frame := await self.queue.get()) is not None:
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def stop(self) -> None:
        """Stop the writer after the queued frames."""
        self.queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
            await asyncio.wait_for(self.writer, 1.0)


class Session:
    """An identified gateway session: sequence numbers and the replay buffer for RESUME."""

    def __init__(self, intents: int) -> None:
        """Create a session with a random id."""
        self.id = secrets.token_hex(16)
        self.intents = intents
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=REPLAY_BUFFER)
        self.connection: Connection | None = None
        self.ready = False
        self.ended = False
        self.held_from: int | None = None

    @property
    def held(self) -> bool:
        """Whether dispatches are being held back (the bot sees nothing until :meth:`release`)."""
        return self.held_from is not None

    def hold(self) -> None:
        """Keep numbering and buffering dispatches, but send none."""
        if self.held_from is None:
            self.held_from = self.seq + 1

    def release(self) -> None:
        """Send every held dispatch, in order, and go back to sending at once."""
        first, self.held_from = self.held_from, None
        if first is not None and self.connection is not None:
            for number, frame in self.buffer:
                if number >= first:
                    self.connection.send(frame)

    def wants(self, event: str) -> bool:
        """Whether the intents this session identified with cover ``event``."""
        needed = EVENT_INTENTS.get(event, 0)
        return self.intents & needed == needed

    def events(self) -> list[str]:
        """The names of the dispatches this session was sent (the recent ones kept for RESUME), in order."""
        return [json.loads(frame)["t"] for _, frame in self.buffer]

    def dispatch(self, event: str, data: JSON) -> None:
        """Number, remember and (when connected) send a dispatch."""
        self.seq += 1
        frame = json.dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data})
        self.buffer.append((self.seq, frame))
        if self.connection is not None and self.held_from is None:
            self.connection.send(frame)


class GatewayHub:
    """Accepts gateway websockets and fans dispatches out to every live session."""

    def __init__(self, state: EmulatorState, heartbeat_interval_ms: int = 41250) -> None:
        """Serve ``state``'s guilds; ``url`` is filled in once the server listens."""
        self.state = state
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.identify_count = 0
        self.resume_count = 0

    def dispatch(self, event: str, data: JSON) -> None:
        """Send a dispatch to every session that has not ended and has its intent (queued while disconnected)."""
        for session in self.sessions.values():
            if session.ready and not session.ended and session.wants(event):
                session.dispatch(event, data)

    def hold(self) -> None:
        """Hold back dispatches to every live session: to the bot, Discord has gone quiet."""
        for session in self.sessions.values():
            if not session.ended:
                session.hold()

    def release(self) -> None:
        """Deliver every held dispatch, in order."""
        for session in self.sessions.values():
            session.release()

    def ready(self) -> bool:
        """Whether a connected client has identified and received its guilds."""
        return any(s.ready and not s.ended and s.connection is not None for s in self.sessions.values())

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one websocket until it closes."""
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(ws, request)
        self.connections.add(conn)
        hello = {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
        conn.send(json.dumps(hello))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        frame = None
                    if not isinstance(frame, dict):
                        self.state.violation("gateway: a frame that is not a JSON object")
                        await ws.close(code=DECODE_ERROR, message=b"Error while decoding payload.")
                        break
                    await self._on_frame(conn, frame)
                    await self.state.notify()
                elif msg.type is WSMsgType.BINARY:
                    self.state.violation("gateway: binary frame received (only JSON text is expected)")
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                # 1000 from the client means it logged off. aiohttp's client also answers *our*
                # close frame with 1000, so a session the emulator dropped stays resumable.
                if ws.close_code == 1000 and not conn.dropped:
                    session.ended = True
            await conn.stop()
            await self.state.notify()
        return ws

    async def _on_frame(self, conn: Connection, frame: JSON) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            conn.send(json.dumps({"op": HEARTBEAT_ACK}))
        elif op == IDENTIFY:
            if not isinstance(data, dict) or data.get("token") != self.state.bot_token:
                self.state.violation("gateway: IDENTIFY with a wrong token")
                await conn.ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
                return
            intents = int(data.get("intents") or 0)
            if intents & GUILD_MEMBERS and not self.state.members_intent:  # not enabled in the developer portal
                await conn.ws.close(code=DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
                return
            self._identify(conn, intents)
        elif op == RESUME:
            if not isinstance(data, dict) or data.get("token") != self.state.bot_token:
                self.state.violation("gateway: RESUME with a wrong token")
                await conn.ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
                return
            self._resume(conn, str(data.get("session_id")), int(data.get("seq") or 0))
        elif conn.session is None and op not in (3, 4):
            await conn.ws.close(code=NOT_AUTHENTICATED, message=b"Not authenticated.")
        elif op == REQUEST_MEMBERS and isinstance(data, dict):
            self._members_chunk(conn.session, data)
        elif op not in (3, 4):  # presence and voice state updates are accepted and ignored
            self.state.violation(f"gateway: unknown op {op}")

    def _identify(self, conn: Connection, intents: int) -> None:
        session = Session(intents)
        self.sessions[session.id] = session
        session.connection = conn
        conn.session = session
        state = self.state
        user = user_payload(state.bot_user) | {"verified": True, "mfa_enabled": False, "flags": 0}
        session.dispatch(
            "READY",
            {
                "v": 10,
                "user": user,
                "guilds": [{"id": str(g), "unavailable": True} for g in state.guilds if state.bot_in(g)],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.url,
                "application": {"id": str(state.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "geo_ordered_rtc_regions": [],
            },
        )
        for guild in (g for g in state.guilds.values() if state.bot_in(g.id)):
            events = [
                scheduled_event_payload(e, state.users[e.creator_id])
                for e in state.scheduled_events.values()
                if e.guild_id == guild.id
            ]
            session.dispatch("GUILD_CREATE", guild_create_payload(guild, events))
        session.ready = True
        self.identify_count += 1

    def _resume(self, conn: Connection, session_id: str, seq: int) -> None:
        session = self.sessions.get(session_id)
        if session is None or session.ended:
            conn.send(json.dumps({"op": INVALID_SESSION, "d": False, "s": None, "t": None}))
            return
        if session.connection is not None and session.connection is not conn:
            session.connection.session = None
        session.connection = conn
        conn.session = session
        for number, frame in session.buffer:
            if number > seq and (session.held_from is None or number < session.held_from):
                conn.send(frame)
        session.dispatch("RESUMED", {})
        self.resume_count += 1

    def _members_chunk(self, session: Session | None, data: JSON) -> None:
        if session is None:
            return
        guild = self.state.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            self.state.violation(f"gateway: REQUEST_GUILD_MEMBERS for unknown guild {data.get('guild_id')}")
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {int(u) for u in data["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif data.get("query"):
            members = [m for m in members if m.username.lower().startswith(str(data["query"]).lower())]
        if data.get("limit"):
            members = members[: int(data["limit"])]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [member_payload(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def drop(self, *, abort: bool = True) -> None:
        """Cut every connection (abort the TCP stream, or close with 4000); sessions stay resumable."""
        connections = list(self.connections)
        for conn in connections:
            conn.dropped = True
            if abort and conn.transport is not None:
                conn.transport.abort()
            else:
                await conn.ws.close(code=4000, message=b"Emulator dropped the connection.")
        await self.state.wait_until(lambda: not (self.connections & set(connections)), 5.0, "dropped sockets")

    async def close_all(self) -> None:
        """Close every connection for shutdown (1001, going away)."""
        for conn in list(self.connections):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close(code=1001, message=b"Emulator stopping.")
