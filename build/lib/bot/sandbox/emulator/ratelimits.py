"""429s on demand: the next N requests matching a route answer "You are being rate limited".

What discord.py 2.7 needs to retry a 429 rather than raise: a ``Via`` header and a JSON body (exact
``application/json``) with ``retry_after`` (``http.py`` for bot routes; ``webhook/async_.py`` for
interaction callbacks and the interaction webhook). ``"global": true`` in the body — not the
``X-RateLimit-Global`` header — makes the bot-route client hold every other request for that long.
Both clients try a request at most five times, so five 429s in a row for one request fail it.

As on Discord, interaction endpoints (the callback and the interaction-token webhook) are not bound
by the global rate limit (topics/rate-limits, "Global Rate Limit"); per-route limits still apply.
A global rule therefore never answers them, and arming one only for them is refused.

Every 429 served is kept as a :class:`RateLimitHit`, which also records the status of the client's
next request to the same method and path: the retry, and whether it landed.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Literal

from bot.sandbox.emulator.models import JSON

RateLimitScope = Literal["user", "shared", "global"]
API_PREFIX = "/api/v10"
INTERACTION_PREFIXES = ("/interactions/", "/webhooks/")
VIA = "1.1 google"
ANY = "*"


def api_path(path: str) -> str | None:
    """``path`` without the ``/api/v10`` prefix, or None for paths outside the REST API."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX):] or "/"
    return None


def is_interaction_endpoint(path: str) -> bool:
    """Whether an API path (without prefix) is an interaction endpoint; the emulator's webhooks all are."""
    return path.startswith(INTERACTION_PREFIXES)


@dataclass
class RateLimitHit:
    """One 429 served: to which request, why, and what the client's retry got."""

    method: str
    path: str
    scope: RateLimitScope
    retry_after: float
    bucket: str
    ticket: int
    served_at: float = field(default_factory=time.monotonic)
    retried_status: int | None = None
    retried_after_s: float | None = None

    @property
    def is_global(self) -> bool:
        """Whether this was the global rate limit."""
        return self.scope == "global"

    @property
    def landed(self) -> bool:
        """Whether the client retried and the retry succeeded (2xx)."""
        return self.retried_status is not None and 200 <= self.retried_status < 300

    def headers(self) -> dict[str, str]:
        """The response headers Discord sends with this kind of 429."""
        headers = {"Content-Type": "application/json", "Via": VIA, "Retry-After": str(math.ceil(self.retry_after))}
        if self.is_global:
            return headers | {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}
        return headers | {
            "X-RateLimit-Limit": "1",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
            "X-RateLimit-Bucket": self.bucket,
            "X-RateLimit-Scope": self.scope,
        }

    def body(self) -> JSON:
        """The JSON body: ``message``, ``retry_after`` (seconds, a float) and ``global``."""
        message = "The resource is being rate limited." if self.scope == "shared" else "You are being rate limited."
        return {"message": message, "retry_after": self.retry_after, "global": self.is_global}


@dataclass
class RateLimitRule:
    """Answer the next ``remaining`` requests matching ``method`` and ``pattern`` with a 429.

    ``pattern`` is an API path without ``/api/v10``; a ``{name}`` segment matches any one segment
    (``/channels/{channel}/messages/{message}``), ``*`` matches every path, and ``method`` ``*`` every method.
    """

    method: str
    pattern: str
    remaining: int
    retry_after: float
    scope: RateLimitScope
    bucket: str
    hits: list[RateLimitHit] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request (API path without prefix) falls under this rule."""
        if self.method not in (ANY, method.upper()):
            return False
        if self.scope == "global" and is_interaction_endpoint(path):
            return False
        if self.pattern == ANY:
            return True
        wanted, got = self.pattern.strip("/").split("/"), path.strip("/").split("/")
        return len(wanted) == len(got) and all(
            w == g or (w.startswith("{") and w.endswith("}")) for w, g in zip(wanted, got, strict=True)
        )

    @property
    def exhausted(self) -> bool:
        """Whether every 429 of this rule has been served."""
        return self.remaining == 0

    @property
    def landed(self) -> bool:
        """Whether every 429 was served and the request it struck last then succeeded."""
        return self.exhausted and bool(self.hits) and self.hits[-1].landed


class RateLimiter:
    """The armed rules, every 429 served, and the bookkeeping that ties a 429 to its retry."""

    def __init__(self) -> None:
        """Start with no rules."""
        self.rules: list[RateLimitRule] = []
        self.hits: list[RateLimitHit] = []
        self._tickets = itertools.count(1)
        self._unsettled: dict[tuple[str, str], list[RateLimitHit]] = {}

    def arm(
        self, method: str, pattern: str, *, count: int, retry_after: float, scope: RateLimitScope,
        bucket: str | None = None,
    ) -> RateLimitRule:
        """Add a rule (checked in the order armed); see :meth:`DiscordEmulator.rate_limit`."""
        if count < 1 or retry_after < 0:
            raise ValueError("count must be at least 1 and retry_after not negative")
        if scope not in ("user", "shared", "global"):
            raise ValueError(f"scope must be 'user', 'shared' or 'global', not {scope!r}")
        pattern = api_path(pattern) or pattern
        if pattern != ANY and not pattern.startswith("/"):
            raise ValueError(f"path {pattern!r} must start with '/' (an API path such as /channels/{{channel}})")
        if scope == "global" and pattern != ANY and is_interaction_endpoint(pattern):
            raise ValueError(
                "Discord never applies the global rate limit to interaction endpoints (callbacks and the "
                "interaction webhook); use scope='user' for a per-route 429 there"
            )
        method = method.upper()
        name = bucket or hashlib.blake2s(f"{method} {pattern}".encode(), digest_size=8).hexdigest()
        rule = RateLimitRule(method, pattern, count, retry_after, scope, name)
        self.rules.append(rule)
        return rule

    def ticket(self) -> int:
        """Number a request as it arrives; a 429 is settled by the next request numbered after it."""
        return next(self._tickets)

    def take(self, method: str, path: str, ticket: int) -> RateLimitHit | None:
        """The 429 this request gets, if an armed rule matches it."""
        relative = api_path(path)
        if relative is None:
            return None
        for rule in self.rules:
            if rule.remaining and rule.matches(method, relative):
                rule.remaining -= 1
                hit = RateLimitHit(method.upper(), relative, rule.scope, rule.retry_after, rule.bucket, ticket)
                rule.hits.append(hit)
                self.hits.append(hit)
                self._unsettled.setdefault((hit.method, relative), []).append(hit)
                return hit
        return None

    def settle(self, method: str, path: str, ticket: int, status: int, arrived_at: float) -> None:
        """Record ``status`` as the retry of every earlier 429 on the same method and path.

        ``arrived_at`` (``time.monotonic()``) is when this request arrived: ``retried_after_s`` shows
        the client waited for ``retry_after`` before retrying.
        """
        pending = self._unsettled.get((method.upper(), api_path(path) or ""), [])
        for hit in [h for h in pending if h.ticket < ticket]:
            hit.retried_status = status
            hit.retried_after_s = arrived_at - hit.served_at
            pending.remove(hit)
