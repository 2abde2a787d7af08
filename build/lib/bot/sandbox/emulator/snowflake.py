"""Snowflake ids and timestamps in the formats Discord uses.

discord.py derives an interaction's expiry from the timestamp inside its id, so every id the
emulator hands out is a real snowflake built from the current time.
"""

from __future__ import annotations

import datetime
import itertools
import time

DISCORD_EPOCH_MS = 1_420_070_400_000
"""Milliseconds between the Unix epoch and 2015-01-01, the start of Discord's snowflakes."""


class SnowflakeFactory:
    """Hands out unique, increasing snowflakes stamped with the current time."""

    def __init__(self, worker_id: int = 1) -> None:
        """Create a factory; ``worker_id`` fills the worker bits so ids look realistic."""
        self._worker = (worker_id & 0x1F) << 17
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        """Return a new snowflake, strictly greater than every earlier one from this factory."""
        stamp = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (stamp << 22) | self._worker | (next(self._counter) & 0xFFF)
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def snowflake_time(snowflake: int) -> datetime.datetime:
    """Return the UTC creation time encoded in ``snowflake``."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def iso_now() -> str:
    """Return the current UTC time as the ISO 8601 string Discord sends."""
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def parse_iso(value: str) -> datetime.datetime:
    """Parse an ISO 8601 timestamp (``Z`` suffix accepted); naive values are taken as UTC."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed
