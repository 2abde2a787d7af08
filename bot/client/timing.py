"""How long each call to Discord takes, for /metrics, measured where discord.py makes it.

Interaction answers, followups and their edits go through discord.py's webhook adapter; everything
else through its `HTTPClient.request`. Both are timed here, per call (rate-limit waits and retries
included), instead of with an aiohttp trace on the session: a trace sends eight signals per request,
about 60 µs of CPU each time, on every first response of a burst.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bot.metrics import Metrics

Record = Callable[[str, str, float], None]


def outcome_of(exc: BaseException) -> str:
    """How a failed call ended, in the metric's words."""
    if isinstance(exc, discord.HTTPException):
        status = exc.status
        return "rate_limited" if status == 429 else "refused" if status < 500 else "unavailable"
    return "unavailable"


async def _timed(record: Record, url: str, call: Awaitable[Any]) -> Any:
    started = time.monotonic()
    try:
        result = await call
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
        record(url, outcome_of(exc), time.monotonic() - started)
        raise
    record(url, "ok", time.monotonic() - started)
    return result


class TimedWebhookAdapter(AsyncWebhookAdapter):
    """discord.py's webhook adapter (interaction callbacks, followups), each call timed."""

    def __init__(self, record: Record) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._record = record

    async def request(self, route: discord.http.Route, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        """The adapter's request, timed."""
        return await _timed(self._record, route.url, super().request(route, session, **kwargs))


def time_discord_calls(client: discord.Client, metrics: Metrics) -> None:
    """From now on (in this task and the tasks it starts), every call `client` makes to Discord is timed."""
    async_context.set(TimedWebhookAdapter(metrics.discord_call))
    rest = client.http.request

    async def request(route: discord.http.Route, **kwargs: Any) -> Any:
        return await _timed(metrics.discord_call, route.url, rest(route, **kwargs))

    client.http.request = request  # type: ignore[method-assign]
