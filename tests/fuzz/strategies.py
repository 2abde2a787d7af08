"""Hostile values: unicode edge cases, mention and markdown syntax, 6,000-character values, extreme numbers and dates.

Every strategy mixes plausible values (a real service, a valid version) with hostile ones, so a
fuzzed command gets past the first check often enough to reach the code behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

DISCORD_INT_MAX = 2**53  # Discord's INTEGER and NUMBER options lie in [-2^53, 2^53]
STRING_MAX = 6000        # Discord's longest string option value

UNICODE_EDGES = [
    "\ud800", "\udfff", "a\ud83dz", "\udc00\ud800",          # lone (and reversed) surrogates
    "\u202e", "\u202egnp.exe", "\u2066x\u2069", "\u200f",     # bidi overrides, isolates, RTL mark
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",         # zero-width characters, BOM
    "\x00", "\x1b[31m", "\r\n", "\t", "\x7f", "\u0085", "\u2028",
    "e\u0301\u0301\u0301", "🧑‍🚀", "👩🏽‍💻", "🇺🇳", "\U0010ffff", "\ufffd", "\uffff",
    "שלום", "مرحبا", "ﷺ", "𝕏", "Ａ", "²", "①", "٣", "१२", "Ⅻ",   # scripts, and digits int() refuses or reads
]
MARKUP = [
    "@everyone", "@here", "@\u200beveryone", "`", "```", "``` ```", "**", "__", "~~", "||x||", "> q", ">>> q",
    "# h", "- item", "[x](https://example.com)", "<https://example.com>", "\\", "<t:0:R>", "<:e:1>",
    "</deploy:1>", "<#1>", ":", "\n\n\n",
]
INJECTIONS = [
    "'; DROP TABLE audit_log; --", "\" OR 1=1 --", "{service}", "{0}", "%s%n", "${HOME}", "$(id)", "`id`",
    "../../etc/passwd", "http://user:pass@host/", "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "Bearer abc.def.ghi", "op-0000000000", "op-ffffffffff", "op-", "None", "null", "true", "NaN", "-0",
]
NUMBERS_AS_TEXT = ["0", "-1", "1e309", "-1e309", "inf", "nan", "99999999999999999999999", "0x1f", "1_000", "٣"]
DATES = [
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31", "0001-01-01", "0000-00-00",
    "2026-02-30", "2026-03-01T25:00", "2026-03-01T12:00:00.123456789Z", "+275760-09-13", "2026-03-01T12:00Z",
    "2026-W10", "20260301", "2026-03-01 12:00:00 +0000", "1970-01-01T00:00:00Z", "2038-01-19T03:14:08Z",
    "2026-03-01T12:00:00+24:00", "now", "yesterday", "-1",
]
DURATIONS = ["1h", "15m", "2d", "0m", "0h", "-1h", "1.5h", "1 h", "h", "99999999999999999999d",
             "9223372036854775807m", "1e9h", "²h", "①h", "٣h", "१d", "30s", "1w", "1H"]
VERSIONS = ["v2.4.1", "v2.4.13", "v2.4.66", "v0.0.0", "v99999999999999999999.0.0", "2.4.1", "v2.4.1\n", "v2.4.1 "]
LONG_UNITS = ["a", "🧑‍🚀", "\u200b", "@everyone ", "`", "\ud800", "\u202ex", "*_", "é", "<@1> ", "\n"]
LONG_LENGTHS = [101, 1001, 2001, 4097, 5999, STRING_MAX]


@dataclass(frozen=True)
class Vocabulary:
    """What the world knows: values that get past validation, and the targets nothing may ping."""

    services: tuple[str, ...]
    environments: tuple[str, ...]
    target_user: int
    target_role: int
    known_ids: tuple[int, ...] = field(default_factory=tuple)

    def mentions(self) -> list[str]:
        """Mention syntax for the targets (in every form Discord parses)."""
        return [f"<@{self.target_user}>", f"<@!{self.target_user}>", f"<@&{self.target_role}>",
                f"<@&{self.target_role}>@everyone", f"<#{self.target_user}>"]

    def plausible(self, option: str) -> list[str]:
        """Values that fit the option's name: services for `service`, dates for `since` …"""
        name = option.lower()
        if "service" in name:
            return [*self.services, self.services[0].upper(), f" {self.services[0]} "]
        if "environment" in name:
            return [*self.environments, self.environments[-1].upper(), "prod"]
        if name == "version":
            return VERSIONS
        if name == "since":
            return DATES
        if name == "last":
            return DURATIONS
        return [*self.services, "Payment processing failures", "v2.4.1"]


def _any_characters() -> st.SearchStrategy[str]:
    return st.characters(exclude_categories=())  # surrogates (Cs) included


def hostile_text(vocab: Vocabulary, option: str = "", *, min_size: int = 0,
                 max_size: int = STRING_MAX) -> st.SearchStrategy[str]:
    """A string option's value: plausible, hostile, random or huge, cut to ``[min_size, max_size]``."""
    pieces = st.sampled_from([*UNICODE_EDGES, *MARKUP, *INJECTIONS, *NUMBERS_AS_TEXT, *vocab.mentions()])
    plausible = st.sampled_from(vocab.plausible(option))
    mixed = st.lists(st.one_of(pieces, plausible, st.text(_any_characters(), max_size=4)), min_size=1,
                     max_size=6).map("".join)
    long = st.builds(lambda unit, n, head: (head + unit * n)[:n], st.sampled_from(LONG_UNITS),
                     st.sampled_from(LONG_LENGTHS), st.one_of(st.just(""), plausible, pieces))
    value = st.one_of(plausible, pieces, mixed, st.text(_any_characters(), max_size=40), long)
    return value.map(lambda text: fit(text, min_size, max_size))


def fit(text: str, min_size: int, max_size: int) -> str:
    """``text`` cut to ``max_size`` and padded to ``min_size`` (Discord refuses other lengths itself)."""
    text = text[:max_size]
    return text + "x" * (min_size - len(text)) if len(text) < min_size else text


def integers(low: int | None, high: int | None) -> st.SearchStrategy[int]:
    """An INTEGER option: anywhere in its range, its bounds most of all (Discord's ±2^53 without bounds)."""
    low = -DISCORD_INT_MAX if low is None else low
    high = DISCORD_INT_MAX if high is None else high
    return st.one_of(st.sampled_from(sorted({low, high, max(low, min(high, 0)), max(low, min(high, 1))})),
                     st.integers(low, high))


def numbers(low: float | None, high: float | None) -> st.SearchStrategy[float]:
    """A NUMBER option (finite: JSON has no infinities), its bounds included."""
    low = -DISCORD_INT_MAX if low is None else low
    high = DISCORD_INT_MAX if high is None else high
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def iso_moments() -> st.SearchStrategy[str]:
    """ISO 8601 strings from year 1 to 9999 with any offset up to ±23:59 (the extremes overflow naive code)."""
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
    moments = st.datetimes(datetime.min, datetime.max, timezones=st.one_of(st.none(), st.just(UTC), offsets))
    return st.one_of(st.sampled_from(DATES), moments.map(lambda d: d.isoformat()),
                     moments.map(lambda d: d.date().isoformat()))
