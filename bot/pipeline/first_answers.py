"""First answers go first: background work waits, briefly, while people wait for their first answer.

Discord drops a command whose first answer has not arrived within 3 s ("The application did not
respond"): the member sees nothing and the request is gone. The work behind an answered request has
no such deadline — a deploy that starts 300 ms later, or a card edited a moment later, loses
nothing. In a burst (an incident storm: hundreds of /status, /deploy and /incident update at
once) both compete for the one event loop, so the work that can wait does: starting a queued
operation, editing cards and showing queue positions each first let the commands that arrived
before them be answered — for at most `LONGEST_WAIT`, so a steady stream of commands slows
background work down but never stops it. Nothing is skipped or reordered; it only starts later.
"""

from __future__ import annotations

import asyncio
import contextlib

LONGEST_WAIT = 1.0
"""The longest a piece of background work waits for the commands ahead of it to be answered."""


class FirstAnswers:
    """How many commands are between arriving and their handler's end; a way for other work to wait for none."""

    def __init__(self) -> None:
        self._unanswered = 0
        self._none = asyncio.Event()
        self._none.set()

    @property
    def unanswered(self) -> int:
        """Commands received whose handler has not finished yet."""
        return self._unanswered

    def arrived(self) -> None:
        """A command was received (count it before its handler is even scheduled)."""
        self._unanswered += 1
        self._none.clear()

    def answered(self) -> None:
        """Its handler ended (it answered, or failed and said so)."""
        self._unanswered = max(0, self._unanswered - 1)
        if self._unanswered == 0:
            self._none.set()

    async def after_them(self, longest: float = LONGEST_WAIT) -> None:
        """Return once no command is waiting for its answer, or after `longest` seconds regardless."""
        if self._unanswered == 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(longest):
                await self._none.wait()
