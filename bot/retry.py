"""Background retries with backoff, for upstream calls that must land eventually (a page, a status page).

`Retries.start(key, attempt, give_up)` runs `attempt` again after `first` seconds, then after
twice that, and so on (at most `cap` apart), until it returns without raising or `limit` seconds
have passed; then `give_up` is told the last error. A key runs once at a time; `close()` cancels
everything (a restart picks up what is still missing, see `Incidents.resume`). Failures are
warnings, never errors: the upstream is down, not Opscord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Attempt = Callable[[int], Awaitable[None]]
"""One try, given its number (2 for the first retry); raises when it failed."""
GiveUp = Callable[[str, int], Awaitable[None]]
"""Told the last error and the number of tries when retrying stops."""


class Retries:
    """Keyed background retries, doubling the wait from `first` up to `cap`, for at most `limit` seconds."""

    def __init__(self, first: float, limit: float, cap: float = 300.0) -> None:
        self.first = first
        self.limit = limit
        self.cap = cap
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def pending(self, prefix: str) -> bool:
        """Whether a retry whose key starts with `prefix` is still running."""
        return any(key.startswith(prefix) for key in self._tasks)

    def start(self, key: str, attempt: Attempt, give_up: GiveUp) -> bool:
        """Retry `attempt` in the background under `key` (False when that key is already being retried)."""
        if key in self._tasks:
            return False
        self._tasks[key] = asyncio.create_task(self._run(key, attempt, give_up), name=f"retry {key}")
        return True

    async def _run(self, key: str, attempt: Attempt, give_up: GiveUp) -> None:
        deadline = time.monotonic() + self.limit
        delay, tries, last = self.first, 1, ""
        try:
            while True:
                await asyncio.sleep(delay)
                tries += 1
                try:
                    await attempt(tries)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any failure is retried; the reason is kept for the give-up note
                    last = str(exc) or type(exc).__name__
                    log.warning("retry %d of %s failed: %s", tries - 1, key, last)
                else:
                    log.info("%s landed on try %d", key, tries)
                    return
                if time.monotonic() + delay > deadline:
                    break
                delay = min(delay * 2, self.cap)
            self._tasks.pop(key, None)
            log.warning("gave up on %s after %d tries: %s", key, tries, last)
            await give_up(last, tries)
        finally:
            self._tasks.pop(key, None)

    async def wait(self) -> None:
        """Until every retry running now has finished (tests)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def close(self) -> None:
        """Cancel every retry."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
