"""Injectable time: a clock, a sleep function and a deadline built from them.

Adapters poll upstreams and retry with backoff; taking ``clock`` and ``sleep`` as parameters lets
tests run those loops instantly with a fake clock (see ``tests/integrations/conftest.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Clock", "Deadline", "Sleep", "default_clock", "default_sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

default_clock: Clock = time.monotonic
default_sleep: Sleep = asyncio.sleep


class Deadline:
    """A point in time ``seconds`` from now on ``clock``."""

    def __init__(self, seconds: float, clock: Clock = default_clock) -> None:
        self.seconds = seconds
        self._clock = clock
        self._start = clock()
        self._end = self._start + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock())

    def elapsed(self) -> float:
        """Seconds since the deadline was created."""
        return self._clock() - self._start

    def expired(self) -> bool:
        """True once no time is left."""
        return self.remaining() <= 0.0
