"""REST plumbing: exact JSON content type, Discord-shaped errors, bodies (JSON or multipart), auth.

discord.py decodes a body as JSON only when ``Content-Type`` is exactly ``application/json``;
``web.json_response`` appends ``; charset=utf-8``, so every response goes through :func:`reply`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from bot.sandbox.emulator.models import JSON, Upload
from bot.sandbox.emulator.state import EmulatorState
from bot.sandbox.emulator.validation import PayloadError, check_message

_log = logging.getLogger(__name__)

STATE_KEY = web.AppKey("emulator_state", EmulatorState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNAUTHENTICATED_PREFIXES = ("/api/v10/interactions/", "/api/v10/webhooks/", "/attachments/", "/gateway")

UNKNOWN_CHANNEL, UNKNOWN_GUILD, UNKNOWN_MEMBER, UNKNOWN_MESSAGE = 10003, 10004, 10007, 10008
UNKNOWN_USER, UNKNOWN_WEBHOOK, UNKNOWN_EVENT, UNKNOWN_INTERACTION = 10013, 10015, 10070, 10062
ALREADY_ACKNOWLEDGED, INVALID_WEBHOOK_TOKEN, MISSING_ACCESS = 40060, 50027, 50001


class DiscordError(Exception):
    """An API error answered with ``status`` and ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        """Describe the error."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(code: int, what: str) -> DiscordError:
    """A 404 for an unknown entity (``Unknown Message`` and friends)."""
    return DiscordError(404, code, f"Unknown {what}")


def reply(data: Any, status: int = 200) -> web.Response:
    """A JSON response with the exact ``application/json`` content type."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def no_content() -> web.Response:
    """An empty 204."""
    return web.Response(status=204)


def state_of(request: web.Request) -> EmulatorState:
    """The emulator state behind this app."""
    return request.app[STATE_KEY]


def snowflake(request: web.Request, name: str) -> int:
    """A numeric path parameter; a non-number is an unknown entity."""
    raw = request.match_info[name]
    if not raw.isdigit():
        raise DiscordError(404, 0, f"404: Not Found ({name}={raw!r} is not a snowflake)")
    return int(raw)


async def read_body(request: web.Request) -> tuple[JSON, list[Upload]]:
    """Decode a JSON body, or a multipart body (``payload_json`` plus ``files[n]`` parts)."""
    if request.content_type.startswith("multipart/"):
        payload: JSON = {}
        files: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(await part.text())
            elif name.startswith("files[") and name.endswith("]"):
                index = int(name[6:-1])
                content = bytes(await part.read(decode=False))
                files.append(Upload(index, part.filename or f"file{index}", content, part.headers.get("Content-Type")))
            else:
                raise PayloadError([(name, "Unexpected multipart field.")])
        return payload, files
    if not request.can_read_body:
        return {}, []
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise PayloadError([("", f"The request body is not valid JSON ({exc}).")]) from exc
    if isinstance(body, list):
        return {"items": body}, []
    if not isinstance(body, dict):
        raise PayloadError([("", "The request body must be a JSON object.")])
    return body, []


def _needs_auth(path: str) -> bool:
    return not path.startswith(UNAUTHENTICATED_PREFIXES)


@web.middleware
async def emulator_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the bot token, serve armed 429s, turn errors into Discord JSON, record refusals, wake tests."""
    state = state_of(request)
    arrived_at = time.monotonic()
    ticket = state.rate_limits.ticket()
    try:
        response = await _answer(request, handler, state, ticket)
        state.rate_limits.settle(request.method, request.path, ticket, response.status, arrived_at)
        return response
    finally:
        await state.notify()


async def _answer(request: web.Request, handler: Handler, state: EmulatorState, ticket: int) -> web.StreamResponse:
    where = f"{request.method} {request.path}"
    try:
        if _needs_auth(request.path) and request.headers.get("Authorization") != f"Bot {state.bot_token}":
            raise DiscordError(401, 0, "401: Unauthorized")
        hit = state.rate_limits.take(request.method, request.path, ticket)
        if hit is not None:
            return web.Response(body=json.dumps(hit.body()).encode(), status=429, headers=hit.headers())
        return await handler(request)
    except PayloadError as exc:
        state.violation(f"{where}: {exc.summary()}")
        return reply(exc.body(), exc.status)
    except DiscordError as exc:
        state.violation(f"{where}: {exc.status} {exc.code} {exc.message}")
        return reply({"code": exc.code, "message": exc.message}, exc.status)
    except web.HTTPException as exc:
        status = 404 if exc.status in (404, 405) else exc.status
        state.violation(f"{where}: {status} unknown route")
        return reply({"code": 0, "message": f"{status}: Not Found" if status == 404 else exc.reason}, status)
    except Exception as exc:
        # Never answer 500: discord.py retries 5xx with growing sleeps, hiding the failure.
        _log.exception("emulator: error handling %s", where)
        state.violation(f"{where}: emulator error {exc!r}")
        return reply({"code": 0, "message": f"emulator error: {exc!r}"}, 400)


async def read_message(request: web.Request, *, creating: bool) -> tuple[JSON, list[Upload]]:
    """A message body (JSON or multipart) checked against Discord's message limits."""
    payload, files = await read_body(request)
    check_message(payload, creating=creating, file_count=len(files))
    return payload, files
