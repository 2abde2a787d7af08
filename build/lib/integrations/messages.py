"""Short, secret-free messages from upstream error bodies and connection failures."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from integrations.scrub import Scrubber

__all__ = ["MESSAGE_LIMIT", "connection_reason", "upstream_message"]

MESSAGE_LIMIT = 200


_SHAPES_ONLY = Scrubber()


def upstream_message(body: bytes, limit: int = MESSAGE_LIMIT, scrubber: Scrubber = _SHAPES_ONLY) -> str:
    """Extract a short human message from an error body (JSON or text/plain; HTML is ignored).

    The message is scrubbed (credential shapes, and the secrets ``scrubber`` knows) before it is
    shortened, so a secret cut at the limit cannot leave a piece of itself behind.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    message = ""
    if text[0] in "{[":
        try:
            message = _json_message(json.loads(text))
        except ValueError:
            message = ""
    elif not text.startswith("<"):
        message = next((line.strip() for line in text.splitlines() if line.strip()), "")
    message = scrubber.text(" ".join(message.split()))
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _json_message(payload: Any) -> str:
    """Find the message in the error shapes of the upstreams we speak to."""
    if isinstance(payload, list):
        return "; ".join(part for part in map(_json_message, payload[:3]) if part)
    if isinstance(payload, str):
        return payload
    if not isinstance(payload, dict):
        return ""
    main = ""
    for key in ("message", "error_description", "error", "detail"):
        value = payload.get(key)
        if isinstance(value, dict):
            value = _json_message(value)
        if isinstance(value, str) and value:
            main = value
            break
    extras = payload.get("errors")
    details = _json_message(extras) if isinstance(extras, list) else ""
    if details and details not in main:
        return f"{main}: {details}" if main else details
    return main


def connection_reason(exc: aiohttp.ClientError) -> str:
    """A short, secret-free reason for a connection-level failure."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return (exc.os_error.strerror or "connection failed").lower()
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "incomplete answer"
    return type(exc).__name__
