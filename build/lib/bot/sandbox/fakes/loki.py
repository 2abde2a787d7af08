"""A fake Grafana Loki: stores pushed lines per label set and answers ``query_range`` for simple
LogQL: a stream selector (``{a="b", c!="d", e=~"f.*"}``) and line filters (``|= "x"``, ``!= "x"``,
``|~ "re"``, ``!~ "re"``). Values are parsed as Go string literals (escapes included), and a
malformed query is refused with 400 and a text/plain message, as Loki does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.sandbox.fakes.base import FakeServer

__all__ = ["FakeLoki", "LogQLError", "parse_go_string", "parse_logql"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
            "d": 86400 * 10**9, "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}
_HOUR_NS = 3600 * 10**9


class LogQLError(ValueError):
    """A query the fake cannot parse (Loki answers 400)."""


def parse_go_string(text: str, start: int) -> tuple[str, int]:
    """Read the Go string literal (``"…"`` or raw ```…```) at ``start``; return (value, end)."""
    quote = text[start:start + 1]
    if quote == "`":
        end = text.find("`", start + 1)
        if end < 0:
            raise LogQLError(f"unterminated raw string at col {start + 1}")
        return text[start + 1:end], end + 1
    if quote != '"':
        raise LogQLError(f"syntax error at col {start + 1}: expected a quoted string")
    out = bytearray()
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return out.decode("utf-8", "replace"), i + 1
        if char == "\n":
            raise LogQLError(f"newline in string at col {i + 1}")
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        escape = text[i + 1:i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
        elif escape and escape in "x01234567":  # one byte: \xHH or \OOO
            hexa = escape == "x"
            digits = text[i + 2:i + 4] if hexa else text[i + 1:i + 4]
            number = _number(digits, 16 if hexa else 8, 2 if hexa else 3)
            if number is None or number > 255:
                raise LogQLError(f"invalid escape at col {i + 1}")
            out.append(number)
            i += 4
        elif escape in ("u", "U"):  # one code point
            width = 4 if escape == "u" else 8
            number = _number(text[i + 2:i + 2 + width], 16, width)
            if number is None or 0xD800 <= number < 0xE000 or number > 0x10FFFF:
                raise LogQLError(f"invalid escape \\{escape} at col {i + 1}")
            out += chr(number).encode()
            i += 2 + width
        else:
            raise LogQLError(f"unknown escape sequence \\{escape} at col {i + 1}")
    raise LogQLError("unterminated string")


def _number(digits: str, base: int, width: int) -> int | None:
    """``digits`` as a number when there are exactly ``width`` valid digits."""
    try:
        return int(digits, base) if len(digits) == width and digits.isalnum() else None
    except ValueError:
        return None


_TESTS: dict[str, Callable[[str, str], bool]] = {
    "=": lambda text, value: text == value,
    "!=": lambda text, value: text != value,
    "=~": lambda text, value: re.fullmatch(value, text) is not None,
    "!~": lambda text, value: re.fullmatch(value, text) is None,
    "|= line": lambda text, value: value in text,
    "!= line": lambda text, value: value not in text,
    "|~ line": lambda text, value: re.search(value, text) is not None,
    "!~ line": lambda text, value: re.search(value, text) is None,
}


@dataclass(frozen=True)
class _Test:
    """One label matcher or line filter: ``op`` applied to ``value``."""

    op: str
    value: str

    def matches(self, text: str) -> bool:
        """Whether ``text`` (a label value or a line) passes."""
        return _TESTS[self.op](text, self.value)


@dataclass(frozen=True)
class _Query:
    matchers: dict[str, _Test]
    filters: list[_Test]

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(test.matches(labels.get(name, "")) for name, test in self.matchers.items())

    def keeps(self, line: str) -> bool:
        return all(test.matches(line) for test in self.filters)


def parse_logql(query: str) -> _Query:
    """Parse ``{matchers} filters…`` (raises ``LogQLError`` like Loki's parse errors)."""
    i = _skip(query, 0)
    if query[i:i + 1] != "{":
        raise LogQLError("syntax error: unexpected token, expected {")
    matchers: dict[str, _Test] = {}
    i = _skip(query, i + 1)
    while query[i:i + 1] != "}":
        name = _NAME.match(query, i)
        if name is None:
            raise LogQLError(f"syntax error at col {i + 1}: expected a label name")
        i = _skip(query, name.end())
        op = next((o for o in ("=~", "!~", "!=", "=") if query.startswith(o, i)), None)
        if op is None:
            raise LogQLError(f"syntax error at col {i + 1}: expected =, !=, =~ or !~")
        value, i = parse_go_string(query, _skip(query, i + len(op)))
        matchers[name.group(0)] = _checked(op, value)
        i = _skip(query, i)
        if query[i:i + 1] == ",":
            i = _skip(query, i + 1)
        elif query[i:i + 1] != "}":
            raise LogQLError(f"syntax error at col {i + 1}: expected , or }}")
    filters: list[_Test] = []
    i = _skip(query, i + 1)
    while i < len(query):
        op = next((o for o in ("|=", "!=", "|~", "!~") if query.startswith(o, i)), None)
        if op is None:
            raise LogQLError(f"syntax error at col {i + 1}: unexpected {query[i:i + 10]!r}")
        value, i = parse_go_string(query, _skip(query, i + 2))
        filters.append(_checked(f"{op} line", value))
        i = _skip(query, i)
    if not matchers or all(test.matches("") for test in matchers.values()):
        raise LogQLError("queries require at least one regexp or equality matcher that does not have an "
                         'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
                         'but app=~".+" will')
    return _Query(matchers, filters)


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _checked(op: str, value: str) -> _Test:
    if "~" in op:
        try:
            re.compile(value)
        except re.error as exc:
            raise LogQLError(f"invalid regex {value!r}: {exc}") from None
    return _Test(op, value)


class FakeLoki(FakeServer):
    """Loki's push and range-query endpoints.

    Args:
        token: When set, the only accepted bearer token.
        org_id: When set, the required ``X-Scope-OrgID``.
        max_entries: ``max_entries_limit_per_query``.

    Attributes:
        streams: label set (sorted tuple of pairs) → list of (timestamp ns, line).
    """

    def __init__(self, *, token: str | None = None, org_id: str | None = None, max_entries: int = 5000) -> None:
        super().__init__()
        self.token = token
        self.org_id = org_id
        self.max_entries = max_entries
        self.streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}

    def push(self, labels: Mapping[str, str], line: str, at: datetime | int | None = None) -> None:
        """Store one line (``at``: a datetime, nanoseconds, or now)."""
        ns = time.time_ns() if at is None else at if isinstance(at, int) else int(at.timestamp() * 10**9)
        self.streams.setdefault(tuple(sorted(labels.items())), []).append((ns, line))

    def error_body(self, status: int, message: str) -> Any:
        """Loki's errors are plain text."""
        return message

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        """A text/plain error, as Loki sends."""
        return web.Response(status=status, text=message, headers=headers)

    def setup_routes(self, app: web.Application) -> None:
        """Push and range query."""
        app.router.add_post("/loki/api/v1/push", self._push)
        app.router.add_get("/loki/api/v1/query_range", self._query_range)

    def _refuse_auth(self, request: web.Request) -> web.Response | None:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.error(401, "unauthorized")
        if self.org_id and request.headers.get("X-Scope-OrgID") != self.org_id:
            return self.error(401, "no org id")
        return None

    async def _push(self, request: web.Request) -> web.Response:
        if (refused := self._refuse_auth(request)) is not None:
            return refused
        try:
            for stream in json.loads(await request.read())["streams"]:
                for ns, line in stream["values"]:
                    self.push(stream["stream"], str(line), int(ns))
        except (ValueError, KeyError, TypeError) as exc:
            return self.error(400, f"error parsing push request: {exc}")
        return web.Response(status=204)

    async def _query_range(self, request: web.Request) -> web.Response:
        if (refused := self._refuse_auth(request)) is not None:
            return refused
        params = request.query
        try:
            query = parse_logql(params.get("query", ""))
            limit = int(params.get("limit", "100"))
            direction = params.get("direction", "backward")
            if direction not in ("backward", "forward"):
                raise LogQLError(f"invalid direction {direction!r}")
            end = _timestamp(params["end"]) if "end" in params else time.time_ns()
            start = _timestamp(params["start"]) if "start" in params else \
                end - (_duration(params["since"]) if "since" in params else _HOUR_NS)
        except (LogQLError, ValueError) as exc:
            return self.error(400, f"parse error : {exc}")
        if limit > self.max_entries:
            return self.error(400, f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                                   f"({limit} > {self.max_entries})")
        hits = [(ns, labels, line) for labels, lines in self.streams.items() if query.selects(dict(labels))
                for ns, line in lines if start <= ns < end and query.keeps(line)]
        hits.sort(key=lambda hit: hit[0], reverse=direction == "backward")
        grouped: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for ns, labels, line in hits[:limit]:
            grouped.setdefault(labels, []).append([str(ns), line])
        result = [{"stream": dict(labels), "values": values} for labels, values in grouped.items()]
        return self.json_response(200, {"status": "success", "data": {"resultType": "streams", "result": result,
                                                                      "stats": {}}})


def _timestamp(value: str) -> int:
    """Nanoseconds from ns digits, float seconds or RFC 3339."""
    if value.isdigit():
        return int(value) if len(value) > 12 else int(value) * 10**9
    try:
        return int(float(value) * 10**9)
    except ValueError:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 10**9)


def _duration(value: str) -> int:
    """Nanoseconds of a duration such as ``1h30m`` or ``3600s``."""
    parts: list[tuple[str, str]] = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise LogQLError(f"invalid duration {value!r}")
    return sum(int(float(number) * _UNIT_NS[unit]) for number, unit in parts)
