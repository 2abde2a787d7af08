"""How Opscord writes and reads times: UTC, ISO 8601 with a `Z`, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """A time as stored on operations: UTC, milliseconds, `Z` (sorts as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" off; not strftime: slower


def now_iso() -> str:
    """The current time, as `iso` writes it."""
    return iso(datetime.now(UTC))


def utc_timestamp(moment: datetime | None = None) -> str:
    """A time as in the audit export: UTC to the second with a `Z` (2026-03-04T15:23:47Z)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    """A time written by `iso` or `utc_timestamp`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds_since(text: str, now: datetime | None = None) -> float:
    """Seconds from a stored time until now (never negative), to the millisecond."""
    return round(max(0.0, ((now or datetime.now(UTC)) - parse_iso(text)).total_seconds()), 3)
